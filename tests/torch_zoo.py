"""A zoo of hand-written PyTorch encoders, random weights and small inputs, with their dense
Jacobians from ``torch.func.jacrev``: what the PyTorch graph's maps are checked against."""

import dataclasses

import numpy as np
import torch
from torch import nn
from torch.nn import functional


class BasicBlock(nn.Module):
    """ResNet's two 3x3 convolutions and the shortcut, strided and projected where it shrinks."""

    def __init__(self, inputs: int, outputs: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.downsample = None
        if stride != 1 or inputs != outputs:
            self.downsample = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + shortcut)


class ResNetEncoder(nn.Module):
    """ResNet-18's layout (a 7x7 stem, max pooling, four stages of two blocks, global average
    pooling and a linear head), narrower."""

    def __init__(self, channels: int = 1, width: int = 4, classes: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, width * 2, width * 4, width * 8]
        stages, inputs = [], width
        for stage, outputs in enumerate(widths):
            stride = 1 if stage == 0 else 2
            stages.append(
                nn.Sequential(BasicBlock(inputs, outputs, stride), BasicBlock(outputs, outputs, 1))
            )
            inputs = outputs
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inputs, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def double_conv(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, padding=1),
        nn.BatchNorm2d(outputs),
        nn.ReLU(),
        nn.Conv2d(outputs, outputs, 3, padding=1),
        nn.GroupNorm(2, outputs),
        nn.GELU(),
    )


class UNet(nn.Module):
    """A U-Net: two levels down by max pooling, up by bilinear and nearest interpolation, the
    skip connections concatenated, and a 1x1 head."""

    def __init__(self, channels: int = 1, width: int = 4, classes: int = 2):
        super().__init__()
        self.down1 = double_conv(channels, width)
        self.down2 = double_conv(width, width * 2)
        self.bottleneck = double_conv(width * 2, width * 4)
        self.up2 = double_conv(width * 6, width * 2)
        self.up1 = double_conv(width * 3, width)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        skip1 = self.down1(x)
        skip2 = self.down2(functional.max_pool2d(skip1, 2))
        y = self.bottleneck(functional.max_pool2d(skip2, 2))
        y = functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = self.up2(torch.cat([y, skip2], dim=1))
        y = functional.interpolate(y, scale_factor=2, mode="nearest")
        return self.head(self.up1(torch.cat([y, skip1], dim=1)))


class VAEEncoder(nn.Module):
    """A VAE's encoder: strided convolutions, a flattened dense layer and two heads, the mean
    and the log-variance."""

    def __init__(self, side: int = 16, latent: int = 4):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4, 8, 3, 2, 1),
            nn.ELU(),
            nn.Flatten(),
            nn.Linear(8 * (side // 4) ** 2, 16),
            nn.Tanh(),
        )
        self.mean = nn.Linear(16, latent)
        self.log_variance = nn.Linear(16, latent)

    def forward(self, x):
        hidden = self.features(x)
        return self.mean(hidden), self.log_variance(hidden)


class DenoisingAutoencoder(nn.Module):
    """The denoising autoencoder of the PyTorch tutorials: two convolutions and poolings down,
    two transposed convolutions up, a sigmoid at the end."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Dropout(0.25),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4, 8, 2, stride=2),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 2, stride=2),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


class VolumeEncoder(nn.Module):
    """A 3-D encoder of volumes: 3-D convolutions, batch normalisation, pooling of both kinds."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1),
            nn.BatchNorm3d(4),
            nn.SiLU(),
            nn.MaxPool3d(2),
            nn.Conv3d(4, 4, 3, padding=(1, 0, 1), dilation=(1, 1, 1)),
            nn.Softplus(),
            nn.AvgPool3d(2, padding=(0, 1, 0)),
        )

    def forward(self, x):
        return self.encoder(x)


class Mixed(nn.Module):
    """The rest of the operations: 1-D convolutions, grouped and dilated convolutions, reflect
    padding, layer normalisation over the width, softmax over the channels, hardtanh, mish,
    sigmoid gating, average and adaptive pooling of uneven sizes, subtraction and scaling."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, 6, 3, padding=2, dilation=2, padding_mode="reflect")
        self.grouped = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=3)
        self.norm = nn.LayerNorm(9)
        self.line = nn.Conv1d(6, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d((4, 3))
        self.code = nn.Sequential(nn.Hardtanh(-0.5, 0.5), nn.Mish())

    def forward(self, x):
        y = self.grouped(functional.relu6(self.conv(x)))
        y = self.norm(y) - 0.5 * torch.sigmoid(y) * y
        y = functional.softmax(y, dim=1) * 3.0
        y = functional.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=False)
        return self.code(self.pool(y))


@dataclasses.dataclass(frozen=True)
class Encoder:
    """A zoo member: the module, the submodule explained (None for the module's output), and
    the spatial sides and channels of its images."""

    module: nn.Module
    layer: str | None
    sides: tuple[int, ...]
    channels: int = 1


ZOO = {
    "resnet18": lambda: Encoder(ResNetEncoder(), "layer3", (32, 32)),
    "resnet18_head": lambda: Encoder(ResNetEncoder(), None, (32, 32)),
    "unet": lambda: Encoder(UNet(), None, (16, 16)),
    "vae_mean": lambda: Encoder(VAEEncoder(), "mean", (16, 16)),
    "denoising_autoencoder": lambda: Encoder(DenoisingAutoencoder(), "encoder", (16, 16)),
    "volume": lambda: Encoder(VolumeEncoder(), None, (8, 8, 8)),
    "mixed": lambda: Encoder(Mixed(), None, (18, 18), channels=3),
}


def build(family: str, seed: int = 0) -> Encoder:
    """A zoo member with random weights and random batch statistics, in eval mode."""
    torch.manual_seed(seed)
    encoder = ZOO[family]()
    for module in encoder.module.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    encoder.module.eval()
    return encoder


def image(encoder: Encoder, seed: int = 1) -> np.ndarray:
    """A random image in [0, 1], as the API takes it: grey without a channel axis."""
    rng = np.random.default_rng(seed)
    shape = encoder.sides if encoder.channels == 1 else (*encoder.sides, encoder.channels)
    return rng.uniform(0, 1, shape).astype(np.float32)


def output_of(module: nn.Module, layer: str | None, x: torch.Tensor) -> torch.Tensor:
    """The output of the submodule ``layer`` (the module's own for None) for the input ``x``."""
    if layer is None:
        return module(x)
    kept = []
    handle = module.get_submodule(layer).register_forward_hook(
        lambda _, __, output: kept.append(output)
    )
    try:
        module(x)
    finally:
        handle.remove()
    return kept[0]


def dense_column_norms(encoder: Encoder, x: np.ndarray) -> np.ndarray:
    """The norms of the Jacobian's columns, one per pixel over its channels, from
    ``torch.func.jacrev`` of the module itself."""
    array = x if encoder.channels > 1 else x[..., None]
    spatial = len(encoder.sides)
    nchw = torch.from_numpy(np.moveaxis(array, -1, 0)[None].copy())
    jacobian = torch.func.jacrev(lambda t: output_of(encoder.module, encoder.layer, t))(nchw)
    columns = jacobian.detach().reshape(-1, encoder.channels, *encoder.sides).double()
    norms = torch.sqrt(torch.sum(columns**2, dim=(0, 1))).numpy()
    assert norms.ndim == spatial
    return norms.astype(np.float32)
