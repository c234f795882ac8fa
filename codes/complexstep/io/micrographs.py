"""Reading micrographs as microscopes write them: bit depth, pages, pixel size and data bars.

Every stage reads an image through ``read_micrograph`` (or ``images.read_image``, which keeps only
its pixels), so that all of them see the same grey values in [0, 1]:

- TIFFs are read with tifffile, which knows their bit depth, their pages and the metadata that
  microscopes write: FEI/Thermo Fisher's ``fei_metadata`` (the pixel size, and the scanned height
  that tells where the data bar burned into the bottom rows starts), Zeiss's ``sem_metadata``
  (the pixel size), OME-XML's ``PhysicalSizeX`` and the resolution tags in inch or centimetre
  units. Where tifffile lacks the codec of a compressed TIFF (LZW, JPEG), Pillow decodes its
  pixels and tifffile still reads its tags.
- Other formats (PNG, JPEG, BMP) are decoded by Pillow; they carry no pixel size.

Integer images are scaled to [0, 1] by one of the ``defaults.INTENSITIES``: ``bits`` by the
significant bits (a 12-bit frame in a 16-bit file by 4095), ``dtype`` by the type's maximum (a
16-bit file by 65535) and ``percentile`` by a stretch between two percentiles of each image. 8-bit
images are scaled by 255 in both ``bits`` and ``dtype``. Floating-point images are taken as they
are, clipped to [0, 1]. Colour is converted to grey with the ITU-R 601 luma weights.

A multi-page file is read one page at a time: ``page`` chooses which (the first by default) and
the result reports how many there are, with a note where there are more than one; a caller that
explains every page reads each in turn and names the results ``<stem>_p<k>``.

The data bar is cropped before the pixels are returned; resizing the frame and cropping it to
multiples of 16 are left to the stages, which report them.
"""

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
    "mm": 1e3,
    "µm": 1.0,
    "μm": 1.0,
    "um": 1.0,
    "nm": 1e-3,
    "pm": 1e-6,
    "Å": 1e-4,
}
# TIFF's ResolutionUnit: 2 is the inch, 3 the centimetre; 1 (no unit) gives no length.
_MICROMETRES_PER_RESOLUTION_UNIT = {2: 25400.0, 3: 10000.0}


@dataclasses.dataclass(frozen=True)
class Micrograph:
    """A micrograph as read, with what the file said about it and what the reader did to it.

    Attributes:
        path: the file read.
        pixels: grey float32 values in [0, 1] of shape (height, width), after the data bar's
            crop and before any resize.
        pixel_size: the side of a pixel in micrometres, or None where neither the file nor the
            caller gave one.
        pixel_size_source: where the pixel size came from: "fei_metadata", "sem_metadata", "ome",
            "resolution" (the TIFF resolution tags), "flag" (given by the caller) or None.
        size_read: the (height, width) of the page as stored, before any crop.
        cropped_rows: rows removed from the bottom of the page: a data bar.
        crop_source: why they were removed: "fei_metadata" (the metadata's scanned height is
            less than the page's), "crop_bottom" (asked by the caller) or None.
        intensity: the scaling of integer values to [0, 1], one of ``defaults.INTENSITIES``.
        intensity_range: the stored values (low, high) that became 0 and 1: (0, 4095) for a
            12-bit frame read with "bits", the two percentiles with "percentile", (0, 1) for a
            floating-point image.
        bits: the bits per sample of the file (8, 16, 32), or None where Pillow gives none.
        page: the page read, counted from 0.
        pages: the number of pages in the file.
        notes: one-line remarks for the user about how the file was read.
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

    def resized(self, size: int) -> "Micrograph":
        """The micrograph resampled to (size, size), its pixel size scaled with its width."""
        if self.pixels.shape == (size, size):
            return self
        height, width = self.pixels.shape
        notes = self.notes
        if self.pixel_size is not None and height != width:
            notes += (
                f"resizing {height}x{width} to {size}x{size} stretches it; the pixel size given "
                "is the width's",
            )
        return dataclasses.replace(
            self,
            pixels=resize(self.pixels, size),
            pixel_size=None if self.pixel_size is None else self.pixel_size * width / size,
            notes=notes,
        )


def read_micrograph(
    path: str | os.PathLike,
    *,
    intensity: str = defaults.INTENSITY,
    crop_bottom: int | None = None,
    pixel_size: float | None = None,
    page: int = 0,
    max_pixels: int | None = None,
) -> Micrograph:
    """Reads one page of an image file as grey values in [0, 1], with its pixel size.

    Args:
        path: a TIFF, PNG, JPEG or BMP file.
        intensity: how integer values are scaled to [0, 1], one of ``defaults.INTENSITIES``.
        crop_bottom: rows to remove from the bottom of the page (a data bar the metadata does not
            describe), in place of the crop the metadata implies; None crops what the metadata
            says.
        pixel_size: the side of a pixel in micrometres, used where the file gives none.
        page: the page to read, counted from 0.
        max_pixels: the most pixels the page may have; None takes ``MAX_PIXELS``.

    Returns:
        The ``Micrograph``.

    Raises:
        SettingError: if ``intensity``, ``crop_bottom``, ``pixel_size`` or ``page`` is out of
            range for the file.
        UnreadableImageError: if the file cannot be decoded, has more than ``max_pixels`` pixels,
            or holds NaN or infinite values.
    """
    if intensity not in defaults.INTENSITIES:
        raise SettingError(
            f"unknown intensity scaling {intensity!r}: choose one of "
            f"{', '.join(defaults.INTENSITIES)}"
        )
    if pixel_size is not None and not (math.isfinite(pixel_size) and pixel_size > 0):
        raise SettingError(f"the pixel size must be a positive number of µm, not {pixel_size}")
    path = Path(path)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with open(path, "rb") as file:
            is_tiff = file.read(4) in _TIFF_MAGIC
    except OSError as error:
        raise UnreadableImageError.of(path, error) from None
    decoded = _read_tiff(path, page, limit) if is_tiff else _read_with_pillow(path, page, limit)
    values, bits, pages, metadata = decoded
    notes = []
    if pages > 1:
        notes.append(f"{pages} pages; read page {page}")

    size_read = values.shape[:2]
    rows, crop_source = _data_bar(metadata, size_read[0], crop_bottom, notes)
    if rows >= size_read[0]:
        raise SettingError(
            f"cannot crop {rows} rows from the bottom of {path}: it has {size_read[0]}"
        )
    if rows:
        values = values[: size_read[0] - rows]

    grey = _to_grey(path, values)
    _check_finite(path, grey)
    pixels, intensity_range = _scale(grey, values.dtype, bits, intensity, notes)

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
        cropped_rows=rows,
        crop_source=crop_source,
        intensity=intensity,
        intensity_range=intensity_range,
        bits=bits,
        page=page,
        pages=pages,
        notes=tuple(notes),
    )


def frame_size(
    path: str | os.PathLike, *, crop_bottom: int | None = None, page: int = 0
) -> tuple[int, int]:
    """The (height, width) ``read_micrograph`` gives a page, after the data bar's crop, from the
    file's header and tags alone.

    Args:
        path: a TIFF, PNG, JPEG or BMP file.
        crop_bottom: as ``read_micrograph`` takes it.
        page: the page, counted from 0.

    Raises:
        SettingError: if ``crop_bottom`` or ``page`` is out of range for the file.
        UnreadableImageError: if the file's header cannot be read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            is_tiff = file.read(4) in _TIFF_MAGIC
        if is_tiff:
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
    except (
        tifffile.TiffFileError,
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        KeyError,
    ) as error:
        raise UnreadableImageError.of(path, error) from None
    rows, _ = _data_bar(metadata, height, crop_bottom, [])
    if rows >= height:
        raise SettingError(f"cannot crop {rows} rows from the bottom of {path}: it has {height}")
    return height - rows, width


def resize(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resamples grey values to (size, size) bilinearly with antialiasing, as Pillow does."""
    if pixels.shape == (size, size):
        return pixels
    resized = Image.fromarray(pixels, mode="F").resize((size, size), Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


# Decoding: the stored values of one page, its bits, the page count and what the metadata says.


def _read_tiff(path: Path, page: int, limit: int) -> tuple[np.ndarray, int, int, dict]:
    """Decodes one page of a TIFF with tifffile, falling back to Pillow for the pixels."""
    try:
        with tifffile.TiffFile(path) as tiff:
            pages = len(tiff.pages)
            _check_page(path, page, pages)
            chosen = tiff.pages[page]
            _check_pixels(path, chosen.imagelength, chosen.imagewidth, limit)
            metadata = _tiff_metadata(tiff, chosen)
            try:
                values = chosen.asarray()
            except (ValueError, NotImplementedError, KeyError):
                # tifffile decodes only some compressions without the imagecodecs package.
                values = None
            if values is not None and chosen.axes.startswith("S"):
                values = np.moveaxis(values, 0, -1)
            if values is not None and chosen.photometric == tifffile.PHOTOMETRIC.PALETTE:
                values = None
            if values is not None and chosen.photometric == tifffile.PHOTOMETRIC.MINISWHITE:
                values = _inverted(values)
            bits = int(chosen.bitspersample)
    except ComplexStepError:
        raise
    except (tifffile.TiffFileError, OSError, ValueError, KeyError) as error:
        raise UnreadableImageError.of(path, error) from None
    if values is None:
        values, _, _, _ = _read_with_pillow(path, page, limit)
    return values, bits, pages, metadata


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
    # so a command that raises the limit raises Pillow's too (its documented setting).
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                pages = getattr(image, "n_frames", 1)
                _check_page(path, page, pages)
                image.seek(page)
                image.load()
                values, bits = _pillow_values(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        declared = re.search(r"\((\d+) pixels\)", str(error))
        raise UnreadableImageError(
            _too_many_pixels(path, int(declared[1]) if declared else None, limit)
        ) from None
    except ComplexStepError:
        raise
    except UnidentifiedImageError:
        raise UnreadableImageError(f"cannot read {path}: not an image PIL can decode") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise UnreadableImageError.of(path, error) from None
    return values, bits, pages, {}


def _pillow_values(image: Image.Image) -> tuple[np.ndarray, int | None]:
    """The stored values of a decoded PIL image, and their bits where the mode fixes them."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(image).astype(np.uint16), 16
    if image.mode in ("I", "F"):
        return np.asarray(image), 32
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA").convert("RGB")
    return np.asarray(image.convert("L")), 8


def _inverted(values: np.ndarray) -> np.ndarray:
    """Values stored white-is-zero, turned black-is-zero."""
    if values.dtype.kind == "f":
        return 1.0 - values
    return np.iinfo(values.dtype).max - values


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
    metadata: dict, height: int, crop_bottom: int | None, notes: list[str]
) -> tuple[int, str | None]:
    """The rows to crop from the bottom of a page, and why."""
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
        return crop_bottom, "crop_bottom" if crop_bottom else None
    if bar:
        notes.append(f"cropped the {bar}-row data bar below the {scanned} scanned rows")
        return bar, "fei_metadata"
    return 0, None


# Values: grey, finite, and scaled to [0, 1].


def _to_grey(path: Path, values: np.ndarray) -> np.ndarray:
    """Stored values of shape (height, width) or (height, width, samples) as one grey channel."""
    if values.ndim == 2:
        return values
    if values.ndim == 3 and values.shape[2] >= 3:
        return values[..., :3] @ LUMA
    if values.ndim == 3:
        # Grey with alpha: the alpha is left out, as it is for colour.
        return values[..., 0]
    raise UnreadableImageError(
        f"cannot read {path}: its values of shape {values.shape} are not one image"
    )


def _check_finite(path: Path, grey: np.ndarray) -> None:
    if grey.dtype.kind != "f":
        return
    bad = int(np.count_nonzero(~np.isfinite(grey)))
    if bad:
        raise UnreadableImageError(
            f"cannot read {path}: {bad} pixel{' is' if bad == 1 else 's are'} NaN or infinite"
        )


def _scale(
    grey: np.ndarray, stored: np.dtype, bits: int | None, intensity: str, notes: list[str]
) -> tuple[np.ndarray, tuple[float, float]]:
    """Grey values scaled to float32 in [0, 1] as ``intensity`` says, with the range used."""
    grey = np.asarray(grey, dtype=np.float64)
    if intensity == "percentile":
        low, high = np.percentile(grey, defaults.INTENSITY_PERCENTILES)
        if high <= low:
            notes.append("the image is constant: a percentile stretch makes it black")
    elif stored.kind == "f":
        low, high = 0.0, 1.0
        if grey.min() < 0.0 or grey.max() > 1.0:
            notes.append(
                f"floating-point values span {grey.min():.4g} to {grey.max():.4g}; clipped to "
                "[0, 1] (intensity 'percentile' stretches them instead)"
            )
    else:
        low, high = 0.0, float(_integer_scale(grey.max(), stored, bits, intensity, notes))
    if high <= low:
        return np.zeros(grey.shape, np.float32), (float(low), float(high))
    pixels = np.clip((grey - low) / (high - low), 0.0, 1.0).astype(np.float32)
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
