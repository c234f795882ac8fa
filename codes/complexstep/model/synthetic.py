"""Seeded synthetic micrographs of ferrite-pearlite steel, so that a fresh clone runs end to end.

The real training data are optical micrographs of etched ferrite-pearlite steel, which cannot be
shipped with the code. This module draws look-alikes from a seed: light polygonal ferrite grains
with slightly different grey levels and fine etch relief, dark thin grain boundaries, dark pearlite
colonies along the boundaries with lamellae oriented differently in each grain, small dark
inclusions, a few polishing scratches, uneven illumination, optical blur and sensor noise. The
grey-level range, dark-phase fraction and boundary density were tuned to those of the real images,
so that the autoencoder meets the same kind of contrast it is meant for.

``folders.synthetic.fill_empty_folders`` writes them into the folders that hold no micrograph.
"""

import numpy as np
from PIL import Image
from skimage import filters

from complexstep.io.images import IMAGE_SIZE

SYNTHETIC_NAME = "synthetic_{index:04d}.png"


def generate_micrograph(rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """Draws one synthetic ferrite-pearlite micrograph.

    Args:
        rng: The source of randomness; the image depends on nothing else.
        size: The side of the square image in pixels.

    Returns:
        A grey uint8 array of shape (size, size).
    """
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32)
    # Real boundaries wander and wiggle rather than run straight, so the tessellation is drawn in
    # coordinates bent by a smooth random displacement with a finer ripple on top.
    bend, ripple = rng.uniform(2.0, 8.0), rng.uniform(0.5, 2.0)
    warped_rows = rows + bend * _smooth_noise(rng, size, size / 12)
    warped_rows += ripple * _smooth_noise(rng, size, size / 40)
    warped_columns = columns + bend * _smooth_noise(rng, size, size / 12)
    warped_columns += ripple * _smooth_noise(rng, size, size / 40)
    labels, boundary_distance = _voronoi(rng, warped_rows, warped_columns, size)
    grain_count = int(labels.max()) + 1

    ferrite_grey = rng.uniform(180.0, 235.0)
    image = ferrite_grey + rng.normal(0.0, 5.0, grain_count).astype(np.float32)[labels]
    image += _relief(rng, size)

    pearlite = _pearlite_mask(rng, boundary_distance, size)
    pearlite_grey = rng.uniform(35.0, 105.0)
    lamellae = _lamellae(rng, rows, columns, labels, grain_count)
    mottling = 10.0 * _smooth_noise(rng, size, 1.5)
    image = np.where(pearlite, pearlite_grey + lamellae + mottling, image)

    boundary_grey = rng.uniform(25.0, 75.0)
    darkening = _boundary_lines(rng, boundary_distance, pearlite, size)
    image += (boundary_grey - image) * darkening
    image = _add_inclusions(rng, image)
    image = _add_scratches(rng, image, rows, columns)
    image *= _illumination(rng, rows, columns, size)
    image = filters.gaussian(image, sigma=rng.uniform(0.6, 1.0), preserve_range=True)
    image += rng.normal(0.0, rng.uniform(1.5, 4.0), image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """White noise blurred to a correlation length of about ``scale`` pixels, with unit spread.

    Long correlation lengths are blurred on a coarser grid and enlarged, because a wide Gaussian
    on the full grid would cost several times the rest of the image.
    """
    step = max(1, int(scale / 2.0))
    coarse_size = -(-size // step)
    white = rng.standard_normal((coarse_size, coarse_size)).astype(np.float32)
    noise = filters.gaussian(white, sigma=scale / step, mode="wrap")
    if step > 1:
        enlarged = Image.fromarray(noise.astype(np.float32))
        noise = np.asarray(enlarged.resize((size, size), Image.Resampling.BICUBIC))
    return (noise - noise.mean()) / max(float(noise.std()), 1e-12)


def _voronoi(
    rng: np.random.Generator, rows: np.ndarray, columns: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Tessellates the image into grains around random seed points.

    Returns:
        The grain label of every pixel and its distance to the nearest grain boundary, which is
        the bisector between its nearest and second-nearest seed.
    """
    # Grain size varies a great deal between the real fields of view, from a few large grains to
    # dozens of small ones, hence a log-uniform count; seeds outside the frame let grains run off
    # its edges.
    grain_count = int(np.exp(rng.uniform(np.log(4.0), np.log(80.0))))
    margin = 0.25 * size
    seeds = rng.uniform(-margin, size + margin, (grain_count, 2)).astype(np.float32)
    # The nearest and second-nearest seed of every pixel are tracked seed by seed with in-place
    # masked copies, several times faster than sorting all the distances or indexing by masks.
    nearest = np.zeros(rows.shape, dtype=np.intp)
    second = np.zeros(rows.shape, dtype=np.intp)
    nearest_squared = np.full(rows.shape, np.inf, dtype=np.float32)
    second_squared = np.full(rows.shape, np.inf, dtype=np.float32)
    squared = np.empty_like(nearest_squared)
    column_term = np.empty_like(nearest_squared)
    closer_than_nearest = np.empty(rows.shape, dtype=bool)
    closer_than_second = np.empty(rows.shape, dtype=bool)
    for index, (seed_row, seed_column) in enumerate(seeds):
        np.square(rows - seed_row, out=squared)
        np.square(columns - seed_column, out=column_term)
        squared += column_term
        np.less(squared, second_squared, out=closer_than_second)
        np.less(squared, nearest_squared, out=closer_than_nearest)
        np.copyto(second, index, where=closer_than_second)
        np.copyto(second_squared, squared, where=closer_than_second)
        np.copyto(second, nearest, where=closer_than_nearest)
        np.copyto(second_squared, nearest_squared, where=closer_than_nearest)
        np.copyto(nearest, index, where=closer_than_nearest)
        np.copyto(nearest_squared, squared, where=closer_than_nearest)
    separation = np.linalg.norm(seeds[nearest] - seeds[second], axis=-1)
    boundary_distance = (second_squared - nearest_squared) / (2.0 * np.maximum(separation, 1e-6))
    return nearest, boundary_distance


def _relief(rng: np.random.Generator, size: int) -> np.ndarray:
    """The fine, obliquely lit orange-peel relief that etching leaves on ferrite."""
    bumps = _smooth_noise(rng, size, rng.uniform(1.0, 2.0))
    angle = rng.uniform(0.0, 2.0 * np.pi)
    slope_rows, slope_columns = np.gradient(bumps)
    shading = np.cos(angle) * slope_rows + np.sin(angle) * slope_columns
    return rng.uniform(2.5, 7.0) * shading / max(float(shading.std()), 1e-12)


def _pearlite_mask(
    rng: np.random.Generator, boundary_distance: np.ndarray, size: int
) -> np.ndarray:
    """Irregular pearlite colonies that grow from the grain boundaries into the grains.

    The colonies are the highest values of a smooth random field that favours pixels near a
    boundary, and their area fraction is drawn to spread like the dark fraction of the real images,
    from almost none to about a third.
    """
    fraction = np.clip(rng.beta(1.5, 15.0), 0.01, 0.35)
    reach = rng.uniform(6.0, 14.0)
    field = _smooth_noise(rng, size, rng.uniform(6.0, 14.0)) - boundary_distance / reach
    field += 0.15 * _smooth_noise(rng, size, 2.0)
    return field > np.quantile(field, 1.0 - fraction)


def _lamellae(
    rng: np.random.Generator,
    rows: np.ndarray,
    columns: np.ndarray,
    labels: np.ndarray,
    grain_count: int,
) -> np.ndarray:
    """Alternating ferrite and cementite plates, oriented at random in each grain's colony."""
    angles = rng.uniform(0.0, np.pi, grain_count).astype(np.float32)
    phases = rng.uniform(0.0, 2.0 * np.pi, grain_count).astype(np.float32)
    period = rng.uniform(2.5, 5.0)
    across = rows * np.cos(angles)[labels] + columns * np.sin(angles)[labels]
    return rng.uniform(6.0, 18.0) * np.sin(2.0 * np.pi * across / period + phases[labels])


def _boundary_lines(
    rng: np.random.Generator, boundary_distance: np.ndarray, pearlite: np.ndarray, size: int
) -> np.ndarray:
    """How far each pixel is pulled towards the boundary grey, from 0 (not at all) to 1.

    Grain boundaries and the rims of pearlite colonies are etched dark. Etching attacks boundaries
    unevenly, so their depth fades in and out along their length and some stretches all but vanish.
    """
    width = rng.uniform(0.8, 1.6)
    grain_boundaries = np.exp(-((boundary_distance / width) ** 2))
    strength = np.clip(0.8 + 0.5 * _smooth_noise(rng, size, 12.0), 0.0, 1.0)
    blurred_colonies = filters.gaussian(pearlite.astype(np.float32), sigma=1.0)
    colony_rims = 4.0 * blurred_colonies * (1.0 - blurred_colonies)
    return np.maximum(grain_boundaries * strength, 0.7 * colony_rims)


def _add_inclusions(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Adds small round dark non-metallic inclusions, each painted in a patch around it."""
    size = image.shape[0]
    patch_rows, patch_columns = np.mgrid[-4:5, -4:5].astype(np.float32)
    padded = np.pad(image, 4, mode="edge")
    for _ in range(rng.poisson(6.0)):
        row, column = rng.integers(0, size, 2)
        offset_row, offset_column = rng.uniform(-0.5, 0.5, 2)
        radius = rng.uniform(0.8, 2.5)
        distance = np.hypot(patch_rows - offset_row, patch_columns - offset_column)
        coverage = np.clip(radius + 0.5 - distance, 0.0, 1.0)
        patch = padded[row : row + 9, column : column + 9]
        patch += (rng.uniform(30.0, 80.0) - patch) * coverage
    return padded[4:-4, 4:-4]


def _add_scratches(
    rng: np.random.Generator, image: np.ndarray, rows: np.ndarray, columns: np.ndarray
) -> np.ndarray:
    """Adds a few faint straight polishing scratches."""
    size = image.shape[0]
    for _ in range(rng.poisson(1.0)):
        angle = rng.uniform(0.0, np.pi)
        centre_row, centre_column = rng.uniform(0.0, size, 2)
        across = (rows - centre_row) * np.cos(angle) - (columns - centre_column) * np.sin(angle)
        image = image - rng.uniform(5.0, 15.0) * np.exp(-((across / 0.7) ** 2))
    return image


def _illumination(
    rng: np.random.Generator, rows: np.ndarray, columns: np.ndarray, size: int
) -> np.ndarray:
    """The uneven brightness of a microscope field: a tilt plus a darker rim (vignetting)."""
    centre = size / 2.0
    tilt_angle = rng.uniform(0.0, 2.0 * np.pi)
    tilt_direction = np.cos(tilt_angle) * (rows - centre) + np.sin(tilt_angle) * (columns - centre)
    tilt = rng.uniform(0.0, 0.08) * tilt_direction / centre
    squared_radius = ((rows - centre) ** 2 + (columns - centre) ** 2) / (2.0 * centre**2)
    return 1.0 + tilt - rng.uniform(0.0, 0.1) * squared_radius
