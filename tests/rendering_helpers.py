"""Sample maps and an independent rendering of them, shared by the tests of stage 3.

Rendered colours are checked against the same values rendered here without the library: the map
scaled and smoothed with numpy and scipy, coloured through ``matplotlib.colormaps`` with a
``Normalize``, and compared with the decoded output at the centre of each map pixel's block.
"""

import json

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from PIL import Image
from scipy import ndimage

from complexstep.engines.wavelet_basis import WaveletBasis

# At 400 dpi each map pixel is a 4x4 block of output pixels, which keeps renders small and fast.
TEST_DPI = 400
BLOCK = TEST_DPI // 100
# JPEG at quality 95 with full chroma keeps block centres within a few levels of the true colour
# (mean below 1, at most 8 levels); a lower limit off by 0.01 or a sigma off by 0.5 exceeds these.
MEAN_TOLERANCE = 1.5
MAX_TOLERANCE = 12.0


def sample_map(height: int = 24, width: int = 24) -> np.ndarray:
    """An unscaled map with a hot spot on a gradient, with mild noise, like a stage 2 attribution.

    The gradient puts about half the smoothed values between the paper's limits, so that a wrong
    limit or sigma changes many colours rather than a few.
    """
    rows, columns = np.mgrid[0:height, 0:width]
    hot_spot = np.exp(-((rows - height * 0.3) ** 2 + (columns - width * 0.6) ** 2) / 18.0)
    gradient = 0.5 * columns / width + 0.3 * rows / height
    noise = np.random.default_rng(7).random((height, width))
    return 2.0 * hot_spot + gradient + 0.05 * noise + 2.0


def unit_map(side: int = 8) -> np.ndarray:
    """A small sample map scaled to [0, 1], for saving as a grey image."""
    values = sample_map(side, side)
    return (values - values.min()) / (values.max() - values.min())


def colours(values: np.ndarray, cmap: str, vmin: float, vmax: float) -> np.ndarray:
    """The 0..255 RGB colours a colormap gives values between two limits, clipped outside them."""
    rgba = matplotlib.colormaps[cmap](Normalize(vmin=vmin, vmax=vmax, clip=True)(values))
    return np.asarray(rgba)[..., :3] * 255.0


def expected_colours(
    raw: np.ndarray, sigma: float, cmap: str, vmin: float, vmax: float
) -> np.ndarray:
    """The 0..255 RGB colours of a map rendered the paper's way, computed without the library."""
    scaled = (raw - raw.min()) / (raw.max() - raw.min())
    smoothed = ndimage.gaussian_filter(scaled, sigma, mode="nearest") if sigma else scaled
    return colours(smoothed, cmap, vmin, vmax)


def read_rgb(image_path) -> np.ndarray:
    """The decoded pixels of an image, as float64 RGB."""
    with Image.open(image_path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def image_size(image_path) -> tuple[int, int]:
    """The width and height of an image file."""
    with Image.open(image_path) as image:
        return image.size


def block_centres(image_path, shape: tuple[int, int], block: int = BLOCK) -> np.ndarray:
    """The decoded RGB value at the centre of every map pixel's block of an output image: the
    whole picture in the paper's look, its left part where a colour bar stands at the right."""
    pixels = read_rgb(image_path)
    height, width = shape[0] * block, shape[1] * block
    assert pixels.shape[0] == height and pixels.shape[1] >= width
    centre = block // 2
    return pixels[centre:height:block, centre:width:block]


def assert_close_colours(actual: np.ndarray, expected: np.ndarray) -> None:
    """Fails unless two colour arrays agree within the JPEG tolerances."""
    difference = np.abs(actual - expected)
    assert difference.mean() < MEAN_TOLERANCE, difference.mean()
    assert difference.max() < MAX_TOLERANCE, difference.max()


def _longest_white_run(picture: np.ndarray) -> tuple[int, int]:
    """The length of the longest horizontal run of bright pixels, and the row it is on."""
    best = (0, -1)
    for row, line in enumerate(picture > 127):
        padded = np.concatenate([[False], line, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        if edges.size:
            best = max(best, (int(np.max(edges[1::2] - edges[::2])), row))
    return best


def save_grey(path, values: np.ndarray) -> None:
    """Writes values in [0, 1] as an 8-bit grey image, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(values * 255.0).astype(np.uint8)).save(path)


# Wavelet maps, as stage 2 writes them in the wavelet domain.
WAVELET_BASIS = WaveletBasis("haar", 2, (32, 48))


def save_wavelet_map(folder, stem: str, values: np.ndarray, basis: WaveletBasis = WAVELET_BASIS):
    """Writes a wavelet map and its summary as stage 2 does."""
    np.save(folder / f"{stem}.wavelet.npy", values.astype(np.float32))
    (folder / f"{stem}.wavelet.json").write_text(json.dumps(basis.summary(values)))
    return folder / f"{stem}.wavelet.npy"


def sample_wavelet_map() -> np.ndarray:
    """Attributions larger at coarse levels, as a smooth network's are."""
    values = np.random.default_rng(5).random(WAVELET_BASIS.shape)
    for block in WAVELET_BASIS.blocks:
        values[block.region] *= 4.0 ** (block.level - (block.key == "aa"))
    return values
