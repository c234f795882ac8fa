"""Regions of a micrograph: named boolean masks of its phases, of labels drawn elsewhere, and of
the boundaries between them.

A region is a name and a boolean mask of the map's shape; a micrograph's regions are a dict from
name to mask, in the order they are reported. Phases are found with Otsu's threshold (two phases)
or multi-Otsu (more) on the micrograph after a light Gaussian smoothing, and named by grey level.
Label images made in ilastik, Weka or by hand hold one whole number per pixel, named by an
optional JSON object. The boundary is a region of its own that overlaps the regions it separates.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage
from skimage.filters import gaussian, threshold_multiotsu, threshold_otsu

from complexstep import defaults
from complexstep.errors import RegionError, SettingError

OTSU_BINS = 256
"""The grey-level histogram's bins Otsu's method splits, as scikit-image's default."""

BOUNDARY = "boundary"
"""The name of the region of pixels near a boundary between two regions."""

_NAMED_PHASES = {2: ("dark", "light"), 3: ("dark", "middle", "light")}


def phase_names(classes: int) -> tuple[str, ...]:
    """The names of ``classes`` phases, darkest first: "dark" and "light", "dark", "middle" and
    "light", or from four on "phase 1 (darkest)" ... "phase k (lightest)"."""
    if classes in _NAMED_PHASES:
        return _NAMED_PHASES[classes]
    names = [f"phase {number}" for number in range(1, classes + 1)]
    names[0] += " (darkest)"
    names[-1] += " (lightest)"
    return tuple(names)


def check_classes(classes: int) -> None:
    """Checks a number of phases.

    Raises:
        SettingError: unless it is a whole number from 2 to ``defaults.REGION_MAX_CLASSES``.
    """
    if not (isinstance(classes, int) and 2 <= classes <= defaults.REGION_MAX_CLASSES):
        raise SettingError(
            f"classes must be a whole number from 2 to {defaults.REGION_MAX_CLASSES}, not "
            f"{classes!r}: multi-Otsu takes seconds a micrograph for 5 phases, minutes for 6"
        )


def otsu_phases(
    image: np.ndarray, classes: int = defaults.REGION_CLASSES, sigma: float = defaults.REGION_SIGMA
) -> dict[str, np.ndarray]:
    """Splits a micrograph into phases by grey level, with Otsu's threshold or multi-Otsu.

    The micrograph is smoothed by a Gaussian first, so that noise does not scatter single pixels
    into the wrong phase; a pixel at a threshold goes to the darker phase.

    Args:
        image: a grey micrograph, 2-D.
        classes: how many phases, at least 2; 2 uses ``threshold_otsu``, more
            ``threshold_multiotsu``.
        sigma: the smoothing's standard deviation in pixels; 0 leaves the micrograph as it is.

    Returns:
        The phases, darkest first, named by ``phase_names``; every pixel lies in exactly one.

    Raises:
        SettingError: for fewer than 2 classes or a negative sigma.
        RegionError: if the micrograph has fewer grey levels (of ``OTSU_BINS``) than phases.
    """
    check_classes(classes)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise SettingError(f"sigma must be a number >= 0, not {sigma}")
    values = np.asarray(image, dtype=np.float64)
    if sigma > 0:
        values = gaussian(values, sigma=sigma, mode="nearest", preserve_range=True)
    if values.max() <= values.min():
        raise RegionError("the micrograph is of one grey level, so it has no phases")
    # Pixels are put in classes by their histogram bin, as Otsu's method splits the histogram;
    # comparing values with the bin centre scikit-image returns would move the pixels of the
    # threshold's bin that lie above its centre into the lighter phase.
    low, high = values.min(), values.max()
    bins = np.minimum(((values - low) / (high - low) * OTSU_BINS).astype(int), OTSU_BINS - 1)
    histogram = (np.bincount(bins.ravel(), minlength=OTSU_BINS), np.arange(OTSU_BINS))
    levels = int(np.count_nonzero(histogram[0]))
    if levels < classes:
        raise RegionError(f"the micrograph has {levels} grey levels, too few for {classes} phases")
    if classes == 2:
        thresholds = np.array([threshold_otsu(hist=histogram)])
    else:
        thresholds = threshold_multiotsu(hist=histogram, classes=classes)
    phase = np.digitize(bins, thresholds, right=True)
    return {name: phase == index for index, name in enumerate(phase_names(classes))}


def label_regions(labels: np.ndarray, names: dict[int, str] | None = None) -> dict[str, np.ndarray]:
    """The regions of a label image: one per label, in the order of the labels' values.

    Args:
        labels: a 2-D array of whole numbers.
        names: a name for each label; None names them "label <n>".

    Returns:
        The regions; every pixel lies in exactly one.

    Raises:
        RegionError: if ``names`` leaves a label of the image unnamed, or gives two labels one name.
    """
    values = np.unique(labels)
    if names is None:
        names = {int(value): f"label {value}" for value in values}
    unnamed = [int(value) for value in values if int(value) not in names]
    if unnamed:
        raise RegionError(
            f"label{'s' if len(unnamed) > 1 else ''} {', '.join(map(str, unnamed))} of the label "
            f"image {'have' if len(unnamed) > 1 else 'has'} no name (named: "
            f"{', '.join(map(str, sorted(names))) or 'none'})"
        )
    chosen = [names[int(value)] for value in values]
    if len(set(chosen)) < len(chosen):
        raise RegionError(f"two labels share one name among {', '.join(chosen)}")
    return {names[int(value)]: labels == value for value in values}


def read_labels(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Reads a label image: one whole number per pixel, from any single-channel image.

    Args:
        path: the label image (PNG, TIFF...; 8, 16 or 32 bits, or palette).
        shape: the shape it must have, that of the map it divides; None for any.

    Returns:
        The labels, an integer 2-D array.

    Raises:
        RegionError: if the image cannot be read, has colour channels or fractional values, or has
            another shape than ``shape``.
    """
    try:
        with Image.open(path) as image:
            image.load()
            labels = np.asarray(image)
    except UnidentifiedImageError:
        raise RegionError(f"cannot read label image {path}: not an image PIL can decode") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise RegionError(f"cannot read label image {path}: {error}") from None
    if labels.ndim != 2:
        raise RegionError(
            f"label image {path} has {labels.shape[-1]} channels; labels need one number a pixel"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise RegionError(f"label image {path} holds values that are not whole numbers")
        labels = labels.astype(np.int64)
    if shape is not None and labels.shape != tuple(shape):
        raise RegionError(
            f"label image {path} is {labels.shape[0]}x{labels.shape[1]} but its map is "
            f"{shape[0]}x{shape[1]}; labels must be drawn at the map's size"
        )
    return labels


def read_label_names(path: str | os.PathLike) -> dict[int, str]:
    """Reads the names of labels: a JSON object ``{"1": "ferrite", "2": "pearlite"}``.

    Raises:
        RegionError: if the file cannot be read, is not such an object, or a key is no whole number.
    """
    path = Path(path)
    try:
        text = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RegionError(f"cannot read label names {path}: {error}") from None
    if not isinstance(text, dict) or not all(isinstance(name, str) for name in text.values()):
        raise RegionError(f"label names {path} must be a JSON object of names, {{label: name}}")
    try:
        return {int(label): name for label, name in text.items()}
    except ValueError:
        raise RegionError(f"label names {path} has a key that is no whole number") from None


def boundary_width_in_pixels(width: float, pixel_size: float | None = None) -> float:
    """A boundary width in pixels, from pixels or, given the pixel size, from micrometres.

    Raises:
        SettingError: for a negative width or a pixel size that is not a positive number.
    """
    if not (math.isfinite(width) and width >= 0):
        raise SettingError(f"boundary width must be a number >= 0, not {width}")
    if pixel_size is None:
        return float(width)
    if not (math.isfinite(pixel_size) and pixel_size > 0):
        raise SettingError(f"pixel_size must be a number > 0, not {pixel_size}")
    return width / pixel_size


def boundary_region(regions: dict[str, np.ndarray], width: float) -> np.ndarray:
    """The pixels within ``width`` pixels of a boundary between two regions.

    The boundary runs between neighbouring pixels of different regions, so a pixel's centre lies
    ``d - 1/2`` from it, where ``d`` is the distance to the nearest pixel centre outside the
    pixel's region; a pixel is in the boundary region where that is at most ``width``. A
    straight boundary thus gets a band ``2 * width`` pixels wide for a whole ``width``, half on
    each side. The image's edges are no boundary.

    Args:
        regions: regions that do not overlap, such as ``otsu_phases`` or ``label_regions`` give.
        width: the half-width in pixels, >= 0; 0 makes an empty region.

    Returns:
        The boundary region's mask.
    """
    shape = next(iter(regions.values())).shape
    boundary = np.zeros(shape, dtype=bool)
    if width <= 0:
        return boundary
    for mask in regions.values():
        if mask.all() or not mask.any():
            continue
        distance = ndimage.distance_transform_edt(mask)
        boundary |= mask & (distance - 0.5 <= width)
    return boundary


def with_boundary(regions: dict[str, np.ndarray], width: float) -> dict[str, np.ndarray]:
    """The regions and, where ``width`` > 0, their ``boundary_region`` named ``BOUNDARY``.

    Raises:
        RegionError: if a region is already named ``BOUNDARY``.
    """
    if width <= 0:
        return dict(regions)
    if BOUNDARY in regions:
        raise RegionError(f"a region is already named {BOUNDARY!r}; rename it to add boundaries")
    return {**regions, BOUNDARY: boundary_region(regions, width)}
