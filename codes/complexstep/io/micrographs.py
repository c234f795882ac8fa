"""Reading micrographs as microscopes and labs keep them: bit depth, channels, pages, stacks,
pixel sizes and data bars.

Every stage reads an image through ``read_micrograph`` (or ``images.read_image``, which keeps only
its pixels), so that all of them see the same values in [0, 1]:

- TIFFs are read with tifffile, which knows their bit depth, their pages and the metadata that
  microscopes and image software write: FEI/Thermo Fisher's ``fei_metadata`` (the pixel size, and
  the scanned height that tells where the data bar burned into the bottom rows starts), Zeiss's
  ``sem_metadata`` (the pixel size), OME-XML's ``PhysicalSizeX``, ImageJ/Fiji's calibration (its
  ``unit`` with the resolution tags, in nm, µm, micron, mm, cm or inch) and the resolution tags
  in inch or centimetre units. Where tifffile lacks the codec of a compressed TIFF (LZW, JPEG),
  Pillow decodes its pixels and tifffile still reads its tags.
- Other formats (PNG, JPEG, BMP) are decoded by Pillow; they carry no pixel size.

A TIFF is converted as its tags say: white-is-zero pages are inverted, palette pages looked up in
their colour map, signed samples without negative values read as unsigned, and an extra sample
marked as alpha left out. Photometric interpretations that are not light intensities (CMYK
separations, colour filter arrays, CIE L*a*b*, LogLuv, masks, depth maps), uncompressed YCbCr,
complex and negative samples are refused on one line rather than guessed.

Integer images are scaled to [0, 1] by one of the ``defaults.INTENSITIES``: ``bits`` by the
significant bits (a 12-bit frame in a 16-bit file by 4095), ``dtype`` by the type's maximum (a
16-bit file by 65535) and ``percentile`` by a stretch between two percentiles of each image. 8-bit
images are scaled by 255 in both ``bits`` and ``dtype``. Floating-point images are taken as they
are, clipped to [0, 1].

A caller says what its model takes. ``channels``: a file with that many channels keeps them, as
(height, width, channels); for a grey model (one channel) a colour image becomes grey by the ITU-R
601 luma weights, other multi-channel images (detectors, element maps) by the mean of their
channels, each with a note, unless ``channel`` picks one. ``volume``: a multi-page TIFF, an
OME-TIFF with a Z axis, or a NumPy ``.npy`` array of (depth, height, width[, channels]) values
(which carries no bit depth or pixel size) is read whole as (depth, height, width); a 2-D model
reads one page at a time instead (``page``), and ``page_numbers`` and ``page_stem`` give the pages
a choice of ``defaults.PAGES`` means and the names of their results, ``<stem>_p<k>``.

The data bar is cropped before the pixels are returned: where the metadata gives the scanned
height, below it; where no metadata says, where the pixels show one (``find_data_bar``); or as
many rows as the caller asks. Resizing the frame and cropping it to multiples of the network's
step are left to the stages, which report them.
"""

import codecs
import dataclasses
import math
import os
import re
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from complexstep import defaults
from complexstep.errors import ComplexStepError, SettingError, UnreadableImageError

MAX_PIXELS = defaults.MAX_PIXELS
"""The most pixels an image may have before it is refused as unreadable.

A command raising the limit from a flag sets this; ``read_micrograph``'s ``max_pixels`` overrides
it for one call.
"""

LUMA = np.array([0.299, 0.587, 0.114])
"""The ITU-R 601 weights of red, green and blue in grey, as Pillow's conversion to "L" uses."""

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_MICROMETRES_PER_UNIT = {
    "m": 1e6,
    "cm": 1e4,
    "mm": 1e3,
    "µm": 1.0,
    "μm": 1.0,
    "um": 1.0,
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "nm": 1e-3,
    "pm": 1e-6,
    "Å": 1e-4,
    "inch": 25400.0,
    "in": 25400.0,
}
# TIFF's ResolutionUnit: 2 is the inch, 3 the centimetre; 1 (no unit) gives no length.
_MICROMETRES_PER_RESOLUTION_UNIT = {2: 25400.0, 3: 10000.0}
_REFUSED_PHOTOMETRIC = {
    tifffile.PHOTOMETRIC.SEPARATED: "CMYK ink separations, not light intensities",
    tifffile.PHOTOMETRIC.MASK: "a transparency mask",
    tifffile.PHOTOMETRIC.CFA: "a colour filter array not yet demosaiced",
    tifffile.PHOTOMETRIC.LINEAR_RAW: "a raw sensor image not yet demosaiced",
    tifffile.PHOTOMETRIC.CIELAB: "CIE L*a*b* colour",
    tifffile.PHOTOMETRIC.ICCLAB: "ICC L*a*b* colour",
    tifffile.PHOTOMETRIC.ITULAB: "ITU L*a*b* colour",
    tifffile.PHOTOMETRIC.LOGL: "LogL luminance",
    tifffile.PHOTOMETRIC.LOGLUV: "LogLuv colour",
    tifffile.PHOTOMETRIC.DEPTH_MAP: "a depth map",
    tifffile.PHOTOMETRIC.SEMANTIC_MASK: "a semantic mask",
}
_REFUSED_PILLOW_MODES = {"CMYK": "CMYK", "LAB": "L*a*b* colour", "HSV": "HSV colour"}


@dataclasses.dataclass(frozen=True)
class Micrograph:
    """A micrograph as read, with what the file said about it and what the reader did to it.

    Attributes:
        path: the file read.
        pixels: float32 values in [0, 1], after the data bar's crop and before any resize: of
            shape (height, width) for one channel, (height, width, channels) for more, and
            (depth, height, width) for a volume.
        pixel_size: the side of a pixel in micrometres, or None where neither the file nor the
            caller gave one.
        pixel_size_source: where the pixel size came from: "fei_metadata", "sem_metadata", "ome",
            "imagej" (ImageJ/Fiji's unit with the resolution tags), "resolution" (the TIFF
            resolution tags alone), "flag" (given by the caller) or None.
        size_read: the (height, width) of the page as stored, before any crop.
        cropped_rows: rows removed from the bottom of the page: a data bar.
        crop_source: why rows were removed: "fei_metadata" (the metadata's scanned height is
            less than the page's), "pixels" (``find_data_bar`` found a bar), "crop_bottom" (asked
            by the caller) or None.
        intensity: the scaling of integer values to [0, 1], one of ``defaults.INTENSITIES``.
        intensity_range: the stored values (low, high) that became 0 and 1: (0, 4095) for a
            12-bit frame read with "bits", the two percentiles with "percentile", (0, 1) for a
            floating-point image.
        bits: the bits per sample of the file (8, 16, 32), or None where Pillow gives none.
        page: the page read, counted from 0 (the first of a volume).
        pages: the number of pages in the file.
        notes: one-line remarks for the user about how the file was read.
        cropped_top: rows removed from the top of the page: a data bar found there.
        channels_read: how the file's samples became the pixels' channels: "grey", "RGB to grey
            by the ITU-R 601 luma weights", "channel 1 of 2", "3 channels", ...
        channel: the one channel of a multi-channel file read, or None.
        volume: whether the pixels are a volume, (depth, height, width[, channels]).
        resize_notes: one-line remarks on a resize ``resized`` made, after the reading's
            ``notes``: from what size to what, and any stretch.
    """

    path: Path
    pixels: np.ndarray
    pixel_size: float | None
    pixel_size_source: str | None
    size_read: tuple[int, int]
    cropped_rows: int
    crop_source: str | None
    intensity: str
    intensity_range: tuple[float, float]
    bits: int | None
    page: int
    pages: int
    notes: tuple[str, ...]
    cropped_top: int = 0
    channels_read: str = "grey"
    channel: int | None = None
    volume: bool = False
    resize_notes: tuple[str, ...] = ()

    def resize_notes_at(self, size: int) -> tuple[str, ...]:
        """What resampling the micrograph to (size, size) would say, without resampling it."""
        height, width = self.pixels.shape[:2]
        if (height, width) == (size, size):
            return ()
        notes = (f"resized {height}x{width} to {size}x{size}",)
        if self.pixel_size is not None and height != width:
            notes += (
                f"resizing {height}x{width} to {size}x{size} stretches it; the pixel size given "
                "is the width's",
            )
        return notes

    def resized(self, size: int) -> "Micrograph":
        """The micrograph resampled to (size, size), its pixel size scaled with its width, with
        ``resize_notes`` that say so.

        Raises:
            SettingError: for a volume, whose slices a 3-D model takes at their own size.
        """
        if self.volume:
            raise SettingError(f"cannot resize the volume {self.path}: read it at its own size")
        height, width = self.pixels.shape[:2]
        if (height, width) == (size, size):
            return self
        notes = self.resize_notes_at(size)
        if self.pixels.ndim == 3:
            pixels = np.stack(
                [resize(plane, size) for plane in np.moveaxis(self.pixels, -1, 0)], -1
            )
        else:
            pixels = resize(self.pixels, size)
        return dataclasses.replace(
            self,
            pixels=pixels,
            pixel_size=None if self.pixel_size is None else self.pixel_size * width / size,
            resize_notes=notes,
        )


def read_micrograph(
    path: str | os.PathLike,
    *,
    intensity: str = defaults.INTENSITY,
    crop_bottom: int | None = None,
    pixel_size: float | None = None,
    page: int = 0,
    channels: int = 1,
    channel: int | None = None,
    volume: bool = False,
    max_pixels: int | None = None,
) -> Micrograph:
    """Reads one page of an image file, or a TIFF stack whole, as values in [0, 1], with its
    pixel size.

    Args:
        path: a TIFF, PNG, JPEG or BMP file.
        intensity: how integer values are scaled to [0, 1], one of ``defaults.INTENSITIES``.
        crop_bottom: rows to remove from the bottom of the page (a data bar the metadata does not
            describe), in place of the crop the metadata or the pixels imply; 0 removes none;
            None crops what the metadata says, or where it says nothing, the bar
            ``find_data_bar`` finds.
        pixel_size: the side of a pixel in micrometres, used where the file gives none.
        page: the page to read, counted from 0; ignored for a volume.
        channels: the channels the model takes: 1 for a grey model, which gets (height, width);
            C > 1 for one that takes C channels, which gets (height, width, C) from a file of C
            channels (a grey file's one repeated, with a note).
        channel: the one channel of a multi-channel file a grey model reads, counted from 0;
            None converts them to grey.
        volume: read a multi-page TIFF or an OME-TIFF with a Z axis whole, as (depth, height,
            width), for a 3-D model; its pages must share one size. A ``.npy`` array is read as
            a volume only.
        max_pixels: the most pixels the page (a volume's slice) may have; None takes
            ``MAX_PIXELS``.

    Returns:
        The ``Micrograph``.

    Raises:
        SettingError: if ``intensity``, ``crop_bottom``, ``pixel_size``, ``page``,
            ``channels`` or ``channel`` is out of range for the file.
        UnreadableImageError: if the file cannot be decoded, has more than ``max_pixels`` pixels,
            holds NaN or infinite values, or stores what is not a light intensity.
    """
    if intensity not in defaults.INTENSITIES:
        raise SettingError(
            f"unknown intensity scaling {intensity!r}: choose one of "
            f"{', '.join(defaults.INTENSITIES)}"
        )
    if pixel_size is not None and not (math.isfinite(pixel_size) and pixel_size > 0):
        raise SettingError(f"the pixel size must be a positive number of µm, not {pixel_size}")
    if not (isinstance(channels, int) and channels >= 1):
        raise SettingError(f"a model takes 1 channel or more, not {channels!r}")
    path = Path(path)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    notes = []
    if volume:
        values, bits, pages, metadata = _read_volume(path, limit, notes)
        page = 0
    elif _is_tiff(path):
        values, bits, pages, metadata = _read_tiff(path, page, limit, notes)
    else:
        values, bits, pages, metadata = _read_with_pillow(path, page, limit)
    if pages > 1 and not volume:
        notes.append(f"{pages} pages; read page {page}")

    _check_finite(path, values)
    stored = values.dtype
    values, channels_read = _channels(path, values, channels, channel, volume, notes)
    size_read = values.shape[1:3] if volume else values.shape[:2]
    flat = values[0] if volume else values
    top, bottom, crop_source = _data_bar(path, metadata, flat, crop_bottom, notes)
    if top or bottom:
        rows = slice(top, size_read[0] - bottom)
        values = values[:, rows] if volume else values[rows]

    pixels, intensity_range = _scale(values, stored, bits, intensity, notes)

    file_size, source = metadata.get("pixel_size", (None, None))
    if file_size is None and pixel_size is not None:
        file_size, source = pixel_size, "flag"
    elif file_size is not None and pixel_size is not None:
        if not math.isclose(file_size, pixel_size, rel_tol=0.01):
            notes.append(
                f"the file gives a pixel size of {file_size:.4g} µm ({source}); "
                f"used it rather than {pixel_size:.4g} µm"
            )
    return Micrograph(
        path=path,
        pixels=pixels,
        pixel_size=file_size,
        pixel_size_source=source,
        size_read=(int(size_read[0]), int(size_read[1])),
        cropped_rows=bottom,
        crop_source=crop_source,
        intensity=intensity,
        intensity_range=intensity_range,
        bits=bits,
        page=page,
        pages=pages,
        notes=tuple(notes),
        cropped_top=top,
        channels_read=channels_read,
        channel=channel,
        volume=volume,
    )


def frame_size(
    path: str | os.PathLike, *, crop_bottom: int | None = None, page: int = 0
) -> tuple[int, int]:
    """The (height, width) ``read_micrograph`` gives a page, after the data bar's crop: from the
    file's header and tags alone where they or ``crop_bottom`` say where the bar is, and from the
    pixels where a bar may have to be found in them.

    Args:
        path: a TIFF, PNG, JPEG or BMP file.
        crop_bottom: as ``read_micrograph`` takes it.
        page: the page, counted from 0.

    Raises:
        SettingError: if ``crop_bottom`` or ``page`` is out of range for the file.
        UnreadableImageError: if the file cannot be read.
    """
    path = Path(path)
    try:
        if _is_tiff(path):
            with tifffile.TiffFile(path) as tiff:
                _check_page(path, page, len(tiff.pages))
                chosen = tiff.pages[page]
                height, width = int(chosen.imagelength), int(chosen.imagewidth)
                metadata = _tiff_metadata(tiff, chosen)
        else:
            width, height = _pillow_size(path)
            metadata = {}
    except ComplexStepError:
        raise
    except UnidentifiedImageError:
        raise _not_an_image(path) from None
    except (
        tifffile.TiffFileError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        KeyError,
    ) as error:
        raise UnreadableImageError.of(path, error) from None
    if crop_bottom is None and "scanned_rows" not in metadata:
        return read_micrograph(path, page=page).pixels.shape[:2]
    _, rows, _ = _data_bar(path, metadata, np.zeros((height, 1)), crop_bottom, [])
    return height - rows, width


def resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resamples grey values to (size, size) bilinearly with antialiasing, as Pillow does."""
    if pixels.shape == (size, size):
        return pixels
    resized = Image.fromarray(pixels, mode="F").resize((size, size), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def page_numbers(path: str | os.PathLike, pages: str | int = defaults.PAGE_CHOICE) -> list[int]:
    """The pages of a file a 2-D model explains, for a choice of ``defaults.PAGES`` or a page.

    Args:
        path: an image file.
        pages: "all" for every page, "first" for page 0, or a page counted from 0.

    Raises:
        SettingError: if ``pages`` is no such choice, or a page the file lacks.
        UnreadableImageError: if the file cannot be read.
    """
    check_pages(pages)
    path = Path(path)
    try:
        if _is_tiff(path):
            with tifffile.TiffFile(path) as tiff:
                count = len(tiff.pages)
        else:
            with Image.open(path) as image:
                count = getattr(image, "n_frames", 1)
    except UnidentifiedImageError:
        raise _not_an_image(path) from None
    except (tifffile.TiffFileError, OSError, ValueError) as error:
        raise UnreadableImageError.of(path, error) from None
    if pages == "all":
        return list(range(count))
    page = 0 if pages == "first" else pages
    _check_page(path, page, count)
    return [page]


def check_pages(pages: str | int) -> None:
    """Checks a choice of pages: one of ``defaults.PAGES`` or a page number from 0.

    Raises:
        SettingError: if it is neither.
    """
    if pages not in defaults.PAGES and not (isinstance(pages, int) and pages >= 0):
        raise SettingError(
            f"choose pages {', '.join(defaults.PAGES)} or a page number from 0, not {pages!r}"
        )


def page_stem(stem: str, page: int, pages: int) -> str:
    """The stem of a page's results: ``<stem>_p<k>`` for page k of a multi-page file, the stem
    itself for a file of one page."""
    return stem if pages == 1 else f"{stem}_p{page}"


def find_data_bar(grey: np.ndarray) -> int:
    """The rows of a data bar at the bottom of a grey image, found from its pixels alone; 0 where
    there is none. Flip the image to look at its top.

    A data bar is a band of rows that differs in kind from the frame above it: a flat background
    carrying text, logos or a scale bar, separated from the frame by a sharp straight edge.
    Values are binned in ``defaults.DATA_BAR_LEVELS`` levels of the image's range, and a row is
    *flat* where one level and its neighbours hold ``defaults.DATA_BAR_EDGE_FLATNESS`` of it. The
    band of the last r rows is a bar where r lies between ``defaults.DATA_BAR_LEAST`` and
    ``defaults.DATA_BAR_LARGEST`` of the height, and

    - its first row is flat: the straight edge (a margin of background, or a separator line);
    - none of the ``defaults.DATA_BAR_FRAME_ROWS`` rows above it is even
      ``defaults.DATA_BAR_FRAME_FLATNESS`` flat: they are the frame's;
    - the band's background level (the most common in its last ``DATA_BAR_LEAST`` rows) holds
      ``defaults.DATA_BAR_BACKGROUND`` of the band and ``defaults.DATA_BAR_ROW_BACKGROUND`` of
      every row of it that is not itself flat (a line).

    The tallest such band is the bar. A micrograph's rows are never that flat below such rows:
    none of the study's micrographs loses a row.

    Args:
        grey: stored values of shape (height, width).
    """
    height, width = grey.shape
    largest = int(height * defaults.DATA_BAR_LARGEST)
    least = max(2, math.ceil(height * defaults.DATA_BAR_LEAST))
    low, high = float(grey.min()), float(grey.max())
    above = defaults.DATA_BAR_FRAME_ROWS
    if high <= low or largest < least or height < largest + above:
        return 0
    region = grey[height - largest - above :]
    levels = np.rint((region - low) / (high - low) * defaults.DATA_BAR_LEVELS).astype(np.int64)
    rows, span = levels.shape[0], defaults.DATA_BAR_LEVELS + 1
    counts = np.bincount(
        (levels + np.arange(rows)[:, None] * span).ravel(), minlength=rows * span
    ).reshape(rows, span)
    near = counts.copy()
    near[:, 1:] += counts[:, :-1]
    near[:, :-1] += counts[:, 1:]
    near = near / width
    flatness = near.max(axis=1)
    background = near[:, np.argmax(counts[-least:].sum(axis=0))]
    # Candidate first rows e of the band, as indices into the region, with their conditions.
    edges = np.arange(above, rows - least + 1)
    frame_flat = np.lib.stride_tricks.sliding_window_view(flatness, above)[: len(edges)].max(1)
    from_end = np.cumsum(background[::-1])[::-1]
    marked = np.where(flatness >= defaults.DATA_BAR_EDGE_FLATNESS, 1.0, background)
    lowest_from_end = np.minimum.accumulate(marked[::-1])[::-1]
    is_bar = (
        (flatness[edges] >= defaults.DATA_BAR_EDGE_FLATNESS)
        & (frame_flat < defaults.DATA_BAR_FRAME_FLATNESS)
        & (from_end[edges] / (rows - edges) >= defaults.DATA_BAR_BACKGROUND)
        & (lowest_from_end[edges] >= defaults.DATA_BAR_ROW_BACKGROUND)
    )
    found = np.flatnonzero(is_bar)
    return int(rows - edges[found[0]]) if len(found) else 0


# Decoding: the stored values of one page, its bits, the page count and what the metadata says.


def _is_tiff(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            return file.read(4) in _TIFF_MAGIC
    except OSError as error:
        raise UnreadableImageError.of(path, error) from None


def _read_tiff(
    path: Path, page: int, limit: int, notes: list[str]
) -> tuple[np.ndarray, int, int, dict]:
    """Decodes one page of a TIFF with tifffile, as its tags say, falling back to Pillow for the
    pixels of compressions tifffile cannot decode alone."""
    try:
        with tifffile.TiffFile(path) as tiff:
            pages = len(tiff.pages)
            _check_page(path, page, pages)
            chosen = tiff.pages[page]
            _check_pixels(path, chosen.imagelength, chosen.imagewidth, limit)
            metadata = _tiff_metadata(tiff, chosen)
            _check_kind(path, chosen)
            try:
                values = chosen.asarray()
            except (ValueError, NotImplementedError, KeyError):
                # tifffile decodes only some compressions without the imagecodecs package.
                values = None
            bits = int(chosen.bitspersample)
            if values is not None:
                values, bits = _as_tagged(path, chosen, values, notes)
    except ComplexStepError:
        raise
    except (tifffile.TiffFileError, OSError, ValueError, KeyError) as error:
        raise UnreadableImageError.of(path, error) from None
    if values is None:
        values, _, _, _ = _read_with_pillow(path, page, limit)
    return values, bits, pages, metadata


def _check_kind(path: Path, page: tifffile.TiffPage) -> None:
    """Refuses pages whose samples are not light intensities tifffile's values can give."""
    photometric = page.photometric
    if photometric in _REFUSED_PHOTOMETRIC:
        raise UnreadableImageError(
            f"cannot read {path}: its photometric interpretation is {photometric.name} "
            f"({_REFUSED_PHOTOMETRIC[photometric]}); save it as grey or RGB"
        )
    if photometric == tifffile.PHOTOMETRIC.YCBCR and page.compression != 7:
        # JPEG-compressed YCbCr is decoded to RGB by the codec; stored YCbCr is not.
        raise UnreadableImageError(
            f"cannot read {path}: it stores uncompressed YCbCr samples; save it as RGB"
        )
    if page.sampleformat in (tifffile.SAMPLEFORMAT.COMPLEXINT, tifffile.SAMPLEFORMAT.COMPLEXIEEEFP):
        raise UnreadableImageError(
            f"cannot read {path}: its samples are complex numbers, not intensities"
        )


def _as_tagged(
    path: Path, page: tifffile.TiffPage, values: np.ndarray, notes: list[str]
) -> tuple[np.ndarray, int]:
    """A page's decoded values converted as its tags say, as (height, width) or (height, width,
    samples) light intensities, with their bits."""
    bits = int(page.bitspersample)
    if page.axes.startswith("S"):
        values = np.moveaxis(values, 0, -1)
    extra = tuple(page.extrasamples or ())
    if values.ndim == 3 and extra and extra[-1] in (1, 2):
        # An associated or unassociated alpha is transparency, not an intensity.
        values = values[..., : values.shape[-1] - 1]
        notes.append("left out its alpha channel")
        if values.shape[-1] == 1:
            values = values[..., 0]
    if page.photometric == tifffile.PHOTOMETRIC.PALETTE:
        colours = np.asarray(page.colormap)
        values, bits = np.moveaxis(colours[:, values], 0, -1), 16
        notes.append("looked up its palette colours")
    elif page.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        values = _inverted(values)
        notes.append("inverted its white-is-zero values")
    if page.sampleformat == tifffile.SAMPLEFORMAT.INT:
        if values.min() < 0:
            raise UnreadableImageError(
                f"cannot read {path}: its signed samples go down to {values.min()}; "
                "intensities are not negative"
            )
        values = values.astype(values.dtype.str.replace("i", "u"))
        notes.append(f"read its signed {bits}-bit samples, none negative, as unsigned")
    return values, bits


def _read_volume(path: Path, limit: int, notes: list[str]) -> tuple[np.ndarray, int, int, dict]:
    """Decodes a TIFF's first series as (depth, height, width[, samples]): its pages, or an
    OME-TIFF's Z axis; or a ``.npy`` array of that shape."""
    if _is_array(path):
        values = _array(path, limit)
        notes.append(f"read its {values.shape[0]} slices (the array's first axis) as one volume")
        return np.asarray(values), None, 1, {}
    if not _is_tiff(path):
        raise _no_volume(path)
    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            first = series.keyframe
            _check_pixels(path, first.imagelength, first.imagewidth, limit)
            _check_kind(path, first)
            metadata = _tiff_metadata(tiff, first)
            axes = series.axes
            values = series.asarray()
            bits = int(first.bitspersample)
            pages = len(tiff.pages)
    except ComplexStepError:
        raise
    except (tifffile.TiffFileError, OSError, ValueError, KeyError, NotImplementedError) as error:
        raise UnreadableImageError.of(path, error) from None
    # Samples and channels go last; every other axis but Y and X is depth.
    last = [axes.index(axis) for axis in "SC" if axis in axes]
    values = np.moveaxis(values, last, list(range(-len(last), 0))) if last else values
    # tifffile names pages that say nothing of what they are Q (or I): they are pages to a user.
    axis = _depth_axis(path, axes)
    depth = {"Q": "pages", "I": "pages"}.get(axis, axis)
    notes.append(f"read its {values.shape[0]} slices ({depth}) as one volume")
    return values, bits, pages, metadata


def _is_array(path: Path) -> bool:
    return path.suffix.lower() == ".npy"


def _array(path: Path, limit: int) -> np.ndarray:
    """A ``.npy`` volume, mapped from the file after its header is checked: real numbers of
    (depth, height, width[, channels]), no pickled objects.

    Raises:
        UnreadableImageError: for another array, or a file NumPy cannot read.
    """
    try:
        values = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UnreadableImageError.of(path, error) from None
    if values.ndim not in (3, 4) or 0 in values.shape:
        raise UnreadableImageError(
            f"cannot read {path} as a volume: its array of shape {values.shape} is not "
            "(depth, height, width) or (depth, height, width, channels)"
        )
    if values.dtype.kind not in "uif":
        raise UnreadableImageError(
            f"cannot read {path}: its values are {values.dtype}, not real intensities"
        )
    _check_pixels(path, values.shape[1], values.shape[2], limit)
    return values


def _no_volume(path: Path) -> SettingError:
    return SettingError(
        f"cannot read {path} as a volume: only TIFF stacks and .npy arrays hold one"
    )


def _depth_axis(path: Path, axes: str) -> str:
    """The one axis of a TIFF series that is a volume's depth: every axis but Y, X, samples and
    channels.

    Raises:
        SettingError: if there is not exactly one.
    """
    depth = "".join(axis for axis in axes if axis not in "SCYX")
    if len(depth) != 1:
        raise SettingError(
            f"cannot read {path} as a volume: its axes are {axes}, not one depth (Z) with Y and X"
        )
    return depth


def volume_size(path: str | os.PathLike, *, crop_bottom: int | None = None) -> tuple[int, int, int]:
    """The (depth, height, width) ``read_micrograph`` gives a volume, after its data bar's crop:
    from a TIFF stack's header and its first page as ``frame_size`` reads it, or from a ``.npy``
    array's header, and its pixels where a bar may have to be found in them.

    Raises:
        SettingError: if the file is no TIFF stack of one depth axis or ``.npy`` volume, or
            ``crop_bottom`` is out of range.
        UnreadableImageError: if the file cannot be read.
    """
    path = Path(path)
    if _is_array(path):
        if crop_bottom is None:
            return read_micrograph(path, volume=True).pixels.shape[:3]
        depth, height, width = _array(path, MAX_PIXELS).shape[:3]
        _, rows, _ = _data_bar(path, {}, np.zeros((height, 1)), crop_bottom, [])
        return depth, height - rows, width
    if not _is_tiff(path):
        raise _no_volume(path)
    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            axes, shape = series.axes, series.shape
    except (tifffile.TiffFileError, OSError, ValueError, KeyError, IndexError) as error:
        raise UnreadableImageError.of(path, error) from None
    depth = shape[axes.index(_depth_axis(path, axes))]
    return (int(depth), *frame_size(path, crop_bottom=crop_bottom))


def _pillow_size(path: Path) -> tuple[int, int]:
    """The (width, height) of an image Pillow reads, from its header alone: Pillow's own limit,
    which guards decoding, is lifted for it, as the pixels a reader allows are checked when it
    reads them."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as image:
            return image.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _read_with_pillow(
    path: Path, page: int, limit: int
) -> tuple[np.ndarray, int | None, int, dict]:
    """Decodes one frame of an image with Pillow into its stored values."""
    # Pillow refuses images over twice its own limit and warns over it; the reader refuses both,
    # so a command that raises the limit raises Pillow's too (its documented setting), for this
    # read alone: a process's other images keep Pillow's own.
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                pages = getattr(image, "n_frames", 1)
                _check_page(path, page, pages)
                image.seek(page)
                image.load()
                values, bits = _pillow_values(path, image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        declared = re.search(r"\((\d+) pixels\)", str(error))
        raise UnreadableImageError(
            _too_many_pixels(path, int(declared[1]) if declared else None, limit)
        ) from None
    except ComplexStepError:
        raise
    except UnidentifiedImageError:
        raise _not_an_image(path) from None
    except (OSError, ValueError, SyntaxError) as error:
        raise UnreadableImageError.of(path, error) from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return values, bits, pages, {}


def _pillow_values(path: Path, image: Image.Image) -> tuple[np.ndarray, int | None]:
    """The stored values of a decoded PIL image, grey or RGB, and their bits where the mode fixes
    them."""
    if image.mode in _REFUSED_PILLOW_MODES:
        raise UnreadableImageError(
            f"cannot read {path}: it stores {_REFUSED_PILLOW_MODES[image.mode]}; save it as grey "
            "or RGB"
        )
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16), 16
    if image.mode in ("I", "F"):
        return np.asarray(image), 32
    if image.mode in ("L", "1", "LA"):
        return np.asarray(image.convert("L")), 8
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return np.asarray(image.convert("RGB")), 8


def _inverted(values: np.ndarray) -> np.ndarray:
    """Values stored white-is-zero, turned black-is-zero."""
    if values.dtype.kind == "f":
        return 1.0 - values
    return np.iinfo(values.dtype).max - values


def _not_an_image(path: Path) -> UnreadableImageError:
    return UnreadableImageError(f"cannot read {path}: not an image PIL can decode")


def _check_page(path: Path, page: int, pages: int) -> None:
    if not 0 <= page < pages:
        raise SettingError(
            f"{path} has {pages} page{'s' if pages > 1 else ''} (0 to {pages - 1}), not page {page}"
        )


def _check_pixels(path: Path, height: int, width: int, limit: int) -> None:
    if height * width > limit:
        raise UnreadableImageError(_too_many_pixels(path, height * width, limit))


def _too_many_pixels(path: Path, pixels: int | None, limit: int) -> str:
    return (
        f"cannot read {path}: {'it has ' if pixels is None else f'{pixels} pixels, '}more than "
        f"the {limit} pixels allowed; raise the pixel limit if the file is trusted"
    )


# Metadata: the pixel size and the scanned height, by vendor.


def _tiff_metadata(tiff: tifffile.TiffFile, page: tifffile.TiffPage) -> dict:
    """What a TIFF's tags say: the pixel size with its source, and the scanned height."""
    metadata = {}
    fei = tiff.fei_metadata or {}
    scan, image = fei.get("Scan", {}), fei.get("Image", {})
    if _positive(scan.get("PixelWidth")):
        metadata["pixel_size"] = (scan["PixelWidth"] * 1e6, "fei_metadata")
    if _positive(image.get("ResolutionY")):
        metadata["scanned_rows"] = int(image["ResolutionY"])
    if "pixel_size" not in metadata:
        size = _zeiss_pixel_size(tiff.sem_metadata or {})
        if size is not None:
            metadata["pixel_size"] = (size, "sem_metadata")
    if "pixel_size" not in metadata and tiff.is_ome:
        size = _ome_pixel_size(tiff.ome_metadata)
        if size is not None:
            metadata["pixel_size"] = (size, "ome")
    if "pixel_size" not in metadata and tiff.is_imagej:
        size = _imagej_pixel_size(tiff.imagej_metadata or {}, page)
        if size is not None:
            metadata["pixel_size"] = (size, "imagej")
    if "pixel_size" not in metadata:
        size = _resolution_pixel_size(page)
        if size is not None:
            metadata["pixel_size"] = (size, "resolution")
    return metadata


def _zeiss_pixel_size(sem: dict) -> float | None:
    """The pixel size Zeiss SmartSEM writes, as ("Image Pixel Size", 2.5, "nm") entries."""
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        entry = sem.get(key, ())
        if len(entry) == 3 and _positive(entry[1]) and entry[2] in _MICROMETRES_PER_UNIT:
            return entry[1] * _MICROMETRES_PER_UNIT[entry[2]]
    return None


def _ome_pixel_size(xml: str | None) -> float | None:
    """The first image's PhysicalSizeX in OME-XML, in its unit (µm where none is given)."""
    try:
        root = ElementTree.fromstring(xml or "")
    except ElementTree.ParseError:
        return None
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == "Pixels":
            unit = element.get("PhysicalSizeXUnit", "µm")
            try:
                size = float(element.get("PhysicalSizeX", "nan"))
            except ValueError:
                return None
            if _positive(size) and unit in _MICROMETRES_PER_UNIT:
                return size * _MICROMETRES_PER_UNIT[unit]
            return None
    return None


def _imagej_pixel_size(imagej: dict, page: tifffile.TiffPage) -> float | None:
    """The pixel size ImageJ/Fiji's Set Scale writes: its ``unit`` in the image description and
    the pixels per unit in the X resolution tag."""
    unit = imagej.get("unit")
    if not isinstance(unit, str):
        return None
    # ImageJ escapes µ as \u00B5 in its description.
    unit = codecs.decode(unit, "unicode_escape") if "\\u" in unit else unit
    per_unit = page.resolution[0]
    if unit not in _MICROMETRES_PER_UNIT or not _positive(per_unit):
        return None
    return _MICROMETRES_PER_UNIT[unit] / per_unit


def _resolution_pixel_size(page: tifffile.TiffPage) -> float | None:
    """The pixel size the resolution tags give in inch or centimetre units, where believable."""
    unit = _MICROMETRES_PER_RESOLUTION_UNIT.get(int(page.resolutionunit))
    per_unit = page.resolution[0]
    if unit is None or not _positive(per_unit):
        return None
    size = unit / per_unit
    # Image software writes 72 dpi and the like whatever the image shows.
    return size if size <= defaults.LARGEST_RESOLUTION_PIXEL_SIZE else None


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _data_bar(
    path: Path, metadata: dict, values: np.ndarray, crop_bottom: int | None, notes: list[str]
) -> tuple[int, int, str | None]:
    """The rows to crop from the top and the bottom of a page, and why."""
    height = values.shape[0]
    scanned = metadata.get("scanned_rows")
    bar = height - scanned if scanned is not None and scanned < height else 0
    if crop_bottom is not None:
        if crop_bottom < 0:
            raise SettingError(f"cannot crop {crop_bottom} rows: give 0 or more")
        if bar and crop_bottom != bar:
            notes.append(
                f"the metadata scans {scanned} of {height} rows; cropped {crop_bottom} as asked "
                f"rather than its {bar}-row data bar"
            )
        top, bottom, source = 0, crop_bottom, "crop_bottom" if crop_bottom else None
    elif bar:
        notes.append(f"cropped the {bar}-row data bar below the {scanned} scanned rows")
        top, bottom, source = 0, bar, "fei_metadata"
    elif scanned is not None:
        top, bottom, source = 0, 0, None
    else:
        grey = values.mean(axis=-1) if values.ndim == 3 else values
        bottom, top = find_data_bar(grey), find_data_bar(grey[::-1])
        for rows, edge in ((bottom, "bottom"), (top, "top")):
            if rows:
                notes.append(
                    f"cropped a {rows}-row data bar its pixels show at the {edge} (a flat band "
                    "with marks, beyond a straight edge)"
                )
        source = "pixels" if top or bottom else None
    if top + bottom >= height:
        edges = "the top and bottom" if top else "the bottom"
        raise SettingError(
            f"cannot crop {top + bottom} rows from {edges} of {path}: it has {height}"
        )
    return top, bottom, source


# Values: channels, finite, and scaled to [0, 1].


def _channels(
    path: Path,
    values: np.ndarray,
    channels: int,
    channel: int | None,
    volume: bool,
    notes: list[str],
) -> tuple[np.ndarray, str]:
    """Stored values with samples last as the model's channels: the samples kept where there are
    as many, one of them where ``channel`` picks it, or grey for a grey model."""
    planes = 3 if volume else 2
    if values.ndim == planes + 1 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == planes:
        if channel not in (None, 0):
            raise SettingError(f"{path} has one channel, not channel {channel}")
        if channels == 1:
            return values, "grey"
        notes.append(f"repeated its one grey channel in the model's {channels}")
        return np.repeat(values[..., None], channels, axis=-1), f"grey repeated in {channels}"
    if values.ndim != planes + 1:
        raise UnreadableImageError(
            f"cannot read {path}: its values of shape {values.shape} are not one image"
        )
    count = values.shape[-1]
    if channel is not None:
        if not 0 <= channel < count:
            raise SettingError(f"{path} has {count} channels (0 to {count - 1}), not {channel}")
        notes.append(f"read channel {channel} of its {count}")
        return values[..., channel], f"channel {channel} of {count}"
    if channels == count:
        return values, f"{count} channels"
    if channels != 1:
        raise SettingError(f"{path} has {count} channels; the model takes {channels}")
    if all(np.array_equal(values[..., 0], values[..., k]) for k in range(1, count)):
        return values[..., 0], f"{count} equal channels as grey"
    if count == 3:
        notes.append(
            "converted its colour to grey by the ITU-R 601 luma weights (0.299, 0.587, 0.114); "
            "choose a channel to read one instead"
        )
        return values @ LUMA, "RGB to grey by the ITU-R 601 luma weights"
    notes.append(
        f"averaged its {count} channels into grey, though they may mean different things "
        "(detectors, element maps); choose a channel to read one instead"
    )
    return values.mean(axis=-1), f"mean of {count} channels"


def _check_finite(path: Path, values: np.ndarray) -> None:
    if values.dtype.kind != "f":
        return
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise UnreadableImageError(
            f"cannot read {path}: {bad} pixel{' is' if bad == 1 else 's are'} NaN or infinite"
        )


def _scale(
    values: np.ndarray, stored: np.dtype, bits: int | None, intensity: str, notes: list[str]
) -> tuple[np.ndarray, tuple[float, float]]:
    """Values of the stored type, or grey made of them, scaled to float32 in [0, 1] as
    ``intensity`` says, with the range used."""
    values = np.asarray(values, dtype=np.float64)
    if intensity == "percentile":
        low, high = np.percentile(values, defaults.INTENSITY_PERCENTILES)
        if high <= low:
            notes.append("the image is constant: a percentile stretch makes it black")
    elif stored.kind == "f":
        low, high = 0.0, 1.0
        if values.min() < 0.0 or values.max() > 1.0:
            notes.append(
                f"floating-point values span {values.min():.4g} to {values.max():.4g}; clipped "
                "to [0, 1] (intensity 'percentile' stretches them instead)"
            )
    else:
        low, high = 0.0, float(_integer_scale(values.max(), stored, bits, intensity, notes))
    if high <= low:
        return np.zeros(values.shape, np.float32), (float(low), float(high))
    pixels = np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)
    return pixels, (float(low), float(high))


def _integer_scale(maximum: float, stored: np.dtype, bits: int | None, intensity: str, notes):
    """The value that becomes 1 in an integer image of the given stored type and maximum."""
    container = stored.itemsize * 8
    if container == 8:
        return 255
    if intensity == "dtype":
        # Pillow decodes 16-bit PNGs as 32-bit integers, so 32-bit samples no larger than 65535
        # are 16-bit data, however dark.
        top = 65535 if container == 16 or maximum <= 65535 else np.iinfo(stored).max
        if container == 16 and 0 < maximum < 65536 / 16:
            notes.append(
                f"16-bit image uses 1/{round(65535 / maximum)} of its range "
                "(intensity 'bits' scales it by its significant bits)"
            )
        return top
    significant = bits if bits is not None and bits < container else None
    if significant is None:
        # Detectors digitise to an even number of bits (8, 10, 12, 14, 16): a dark 12-bit frame
        # whose brightest pixel is 3000 is still scaled by 4095, not 2047.
        significant = 8
        while 2**significant - 1 < maximum and significant < 32:
            significant += 2
    return 2**significant - 1
