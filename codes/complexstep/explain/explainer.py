"""The ``Explainer``: what explaining one layer of one model needs, kept from image to image.

It checks its settings and images, and composes what makes a map: the layer's ``tiling.Tiling``
(the engine of each tile shape and the tiles of each image size), a domain (``domains``: what a
map attributes to) and a kind (``kinds``: which map it is). The domain and kind are given the
tiling, never the Explainer.
"""

import os
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from complexstep.engines import ignore_passes
from complexstep.errors import ImageError, SettingError
from complexstep.explain import domains
from complexstep.explain.jacobian import Jacobian
from complexstep.explain.settings import ExplainerSettings
from complexstep.explain.tiling import Tiling
from complexstep.model import torch_files
from complexstep.model.files import load_model
from complexstep.twin import geometry

if TYPE_CHECKING:
    import keras

_SIDES = {1: "(length)", 2: "(height, width)", 3: "(depth, height, width)"}


def as_images(
    images, unit_range: bool = True, spatial: int = 2, channels: int = 1
) -> tuple[np.ndarray, bool]:
    """Checks images and returns them as a float32 batch, and whether one image was given.

    Args:
        images: one image or a batch, float values in [0, 1]: for a grey micrograph
            ``(height, width)``, ``(n, height, width)`` or ``(n, height, width, 1)``; for a model
            of ``channels`` channels ``(height, width, channels)`` or ``(n, height, width,
            channels)``; volumes have ``depth`` before ``height``.
        unit_range: refuse values outside [0, 1]; without, any finite value is taken.
        spatial: the image's spatial axes, 2 for a micrograph, 3 for a volume.
        channels: the channels the model takes.

    Returns:
        ``(n, *sides)`` for grey images, ``(n, *sides, channels)`` otherwise.

    Raises:
        ImageError: for another shape, integer values, or values outside [0, 1].
    """
    array = np.asarray(images)
    sides = _SIDES[spatial]
    if channels == 1:
        if array.ndim == spatial + 2 and array.shape[-1] == 1:
            array = array[..., 0]
        single = array.ndim == spatial
        expected = f"one grey image {sides} or a batch (n, {sides[1:]} or (n, {sides[1:-1]}, 1)"
        shaped = array.ndim in (spatial, spatial + 1)
    else:
        single = array.ndim == spatial + 1
        expected = f"one image {sides[:-1]}, {channels}) or a batch (n, {sides[1:-1]}, {channels})"
        shaped = array.ndim in (spatial + 1, spatial + 2) and array.shape[-1] == channels
    if not shaped or 0 in array.shape:
        raise ImageError(f"images must be {expected}, not an array of shape {np.shape(images)}")
    if not np.issubdtype(array.dtype, np.floating):
        raise ImageError(
            f"images must hold floats in [0, 1], not {array.dtype}; divide 8-bit values by 255 "
            "and a microscope's 12- or 14-bit values by 4095 or 16383 (the largest their "
            "significant bits hold, as stage 2 reads them), or read the file with "
            "complexstep.io.images.read_image, which scales it so"
        )
    low, high = float(np.min(array)), float(np.max(array))
    inside = not unit_range or (low >= 0.0 and high <= 1.0)
    if not (np.all(np.isfinite(array)) and inside):
        wanted = "lie in [0, 1]" if unit_range else "be finite"
        raise ImageError(f"image values must {wanted}; these range from {low:g} to {high:g}")
    return np.asarray(array[None] if single else array, np.float32), single


class Explainer:
    """Explains one layer of one model, for images of every size the network takes.

    Args:
        model: a ``keras.Model``, the path of a ``.keras`` file, or ``"pretrained"``; or a
            ``torch.nn.Module`` in eval mode, a ``torch.export`` program, or the path of a
            ``.pt2`` archive of one (see ``complexstep.pytorch``).
        settings: which layer is explained, by which engine, and which map is made, an
            ``ExplainerSettings``; the defaults if None.
        keywords: fields of ``ExplainerSettings`` (``layer``, ``engine``, ``h``, ``batch_size``,
            ``tile_size``, ``images_per_call``, ``domain``, ``wavelet``, ``levels``, ``kind``,
            ``baseline``, ``blur_sigma``, ``integration_steps``, ``per_channel``) that replace
            those of ``settings``, as in ``Explainer(model, layer="code", kind="gradient-input")``.

    Attributes:
        settings: the ``ExplainerSettings`` that build this explainer again from its model, in
            another process (a Dask worker).
        domain: the domain, ``domains.Pixels`` or ``domains.Wavelets``.
        kind: the kind of map, a ``kinds.MapKind``.
        tiling: the layer's engines and tiles, a ``tiling.Tiling``.
        layer: the layer whose whole output is explained, from the settings.
        engine: the engine's name, one of ``defaults.ENGINES``, from the settings.
        h: the imaginary step of the complex-step engine, from the settings.
        images_per_call: images of one size explained in one compiled call on JAX, from the
            settings.
        per_channel: whether a model of several channels gets one map per channel, from the
            settings.
        spatial: the images' spatial axes, 2, or 3 for volumes, from the tiling.
        channels: the channels the model takes, from the tiling.
        step: the number the images' sides must be multiples of, from the tiling.

    Raises:
        ModelError, UnsupportedLayerError: if the model cannot be loaded or explained.
        SettingError: for an unknown engine, domain, kind or baseline, a step that is not
            positive, a wavelet that is unknown or not orthogonal, or a kind the domain or the
            model cannot make.
    """

    def __init__(
        self,
        model: "keras.Model | str | os.PathLike",
        settings: ExplainerSettings | None = None,
        **keywords,
    ):
        self.settings = ExplainerSettings.of(settings, **keywords)
        self.domain = self.settings.map_domain()
        self.kind = self.settings.map_kind(self.domain)
        self.model = load_model(model)
        self.tiling = Tiling(self.model, self.settings)
        if not self.tiling.is_chain and not isinstance(self.domain, domains.Pixels):
            raise SettingError(
                "wavelet maps are made for the paper's kind of network, a chain of stride-1 "
                "convolutions and 2x2 pooling; explain this one in the pixel domain"
            )
        if self.kind.weighted and (self.spatial, self.channels) != (2, 1):
            raise SettingError(
                f"{self.kind.name} maps weigh grey micrographs; explain this model's images with "
                "the complex-step kind"
            )

    # What the settings and the tiling hold, read from them rather than copied (see Attributes).
    layer = property(attrgetter("settings.layer"))
    engine = property(attrgetter("settings.engine"))
    h = property(attrgetter("settings.h"))
    images_per_call = property(attrgetter("settings.images_per_call"))
    per_channel = property(attrgetter("settings.per_channel"))
    spatial = property(attrgetter("tiling.spatial"))
    channels = property(attrgetter("tiling.channels"))
    step = property(attrgetter("tiling.step"))

    @property
    def backend(self) -> str:
        """The framework that computes the maps: Keras's backend, or "torch" for a PyTorch
        module, which Keras never sees."""
        if torch_files.is_pytorch(self.model):
            return "torch"
        import keras

        return keras.backend.backend()

    def check_size(self, *sides: int) -> None:
        """Checks that the network takes images of these spatial sides, and the domain too.

        Raises:
            ImageSizeError: naming the nearest sizes it takes, if not.
            SettingError: if the wavelet transform has more levels than the size takes.
        """
        self.tiling.check_size(*sides)
        self.domain.check_size(*sides)

    def passes(self, *sides: int) -> int:
        """How many passes an image of these sides takes, as ``attribute`` reports them.

        Raises:
            ImageSizeError, SettingError: as ``check_size``.
        """
        self.check_size(*sides)
        return self.kind.passes(self.tiling, self.domain, *sides)

    def describe_passes(self, *sides: int) -> str:
        """How an image of these sides is explained, in a few words: the passes and their kind."""
        return self.tiling.describe_passes(*sides)

    def jacobian_passes(self, height: int, width: int) -> int:
        """How many passes the Jacobian of an image of this size takes, as ``jacobian`` reports
        them."""
        return self.tiling.jacobian_passes(height, width)

    def attribute(self, image: np.ndarray, on_pass: Callable[[int], None] | None = None):
        """The map of one image, of the explainer's kind, float32 ``(height, width)``.

        In the wavelet domain, the attribution of every coefficient, in the layout of
        ``pywt.coeffs_to_array(pywt.wavedec2(image, wavelet, mode="periodization",
        level=levels))``.

        Args:
            image: float ``(height, width)`` with values in [0, 1], checked by ``as_images``.
            on_pass: called with the number of passes each time some finish.
        """
        images, _ = self.as_images(image)
        return self.attribute_many(images, on_pass)[0]

    def attribute_many(self, images, on_pass: Callable[[int], None] | None = None) -> np.ndarray:
        """The maps of a batch of images of one size, of the explainer's kind, float32
        ``(n, height, width)``."""
        batch, _ = self.as_images(images)
        self.check_size(*batch.shape[1 : 1 + self.spatial])
        return self.kind.maps(self.tiling, self.domain, batch, on_pass or ignore_passes)

    def from_plain(self, images, plain: np.ndarray) -> np.ndarray | None:
        """The maps of the explainer's kind from the paper's maps of the same images (as a
        ``Jacobian``'s ``column_norms`` gives them), with no pass of their own; None where the
        kind takes passes of its own.

        Args:
            images: as for ``attribute_many``, or one image.
            plain: the paper's maps of the images, of their shape.
        """
        if self.kind.integrated:
            return None
        batch, single = as_images(images)
        plain = np.asarray(plain, np.float32).reshape(batch.shape)
        maps = self.kind.of_plain(self.domain, batch, plain)
        return maps[0] if single else maps

    def mean_attribution(self, images, on_pass: Callable[[int], None] | None = None) -> np.ndarray:
        """The attribution map of the mean of the Jacobians at several images of one size,
        ``||(1/n) sum_i J(x_i) e_k||``, float32 ``(height, width)``, by the jacobian engine.

        Along a path of images this is what the integrated complex step needs, at the cost of one
        map per image.
        """
        batch, _ = self.as_images(images)
        return self.tiling.mean_map(batch, on_pass or ignore_passes)

    def jacobian(self, image: np.ndarray, on_pass: Callable[[int], None] | None = None) -> Jacobian:
        """The ``Jacobian`` of the layer's output with respect to one image."""
        images, _ = self.as_images(image)
        return self.tiling.jacobian(images[0], on_pass or ignore_passes)

    def vjp(self, image: np.ndarray, cotangent: np.ndarray) -> np.ndarray:
        """An output-shaped vector ``u`` times the layer's Jacobian at one image, ``J^T u``.

        This is the gradient of ``<f(x), u>`` with respect to the image, float32
        ``(height, width)``, equal to ``jacobian(image).vjp(u)`` but from one reverse pass per
        tile instead of the whole Jacobian.

        Raises:
            ImageError, ImageSizeError: as ``attribute``.
            SettingError: if ``cotangent`` does not have the output's shape.
        """
        images, _ = self.as_images(image)
        return self.tiling.vjp(images[0], np.asarray(cotangent, np.float32))

    def encode(self, images, unit_range: bool = True) -> np.ndarray:
        """The layer's output for images of one size, float32 ``(n, rows, columns, channels)``.

        Args:
            images: as for ``attribute``.
            unit_range: refuse values outside [0, 1]; False takes any finite values, for probes
                that step a pixel just past them.
        """
        batch, _ = self.as_images(images, unit_range)
        return self.tiling.encode(batch)

    def axis_geometry(self, length: int) -> geometry.AxisGeometry:
        """Where inputs' influence lands and outputs look, along an image axis of this length."""
        return self.tiling.axis_geometry(length)

    def as_images(self, images, unit_range: bool = True) -> tuple[np.ndarray, bool]:
        """``as_images`` for the images this model takes."""
        return as_images(images, unit_range, self.spatial, self.channels)
