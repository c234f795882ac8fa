"""Micrographs as other labs keep them, written by the tests: data bars burned in without
metadata in five vendors' styles, ImageJ/Fiji calibrations, colour and two-channel images, an
OME-TIFF stack and each TIFF photometric interpretation the reader converts.

The frames are the study's test micrographs where they are present (GPL-3.0, never committed),
and otherwise seeded grains of the same size, so that every test runs without them.
"""

import dataclasses
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw, ImageFont

from models import grains

STUDY_TEST_MICROGRAPHS = Path("/work/shared/data/micrographs/test")
FRAME = 256


def frames(count: int) -> list[np.ndarray]:
    """``count`` 8-bit 256x256 frames: the study's first test micrographs, or seeded grains."""
    found = sorted(STUDY_TEST_MICROGRAPHS.glob("*.jpg"))[:count]
    if len(found) == count:
        return [np.asarray(Image.open(path).convert("L")) for path in found]
    rng = np.random.default_rng(27)
    return [np.round(grains(rng, FRAME, FRAME) * 255).astype(np.uint8) for _ in range(count)]


@dataclasses.dataclass(frozen=True)
class BarStyle:
    """How a vendor's software draws its data bar.

    Attributes:
        name: the style, after a vendor whose bars look so.
        fraction: the bar's height as a fraction of the frame's.
        background, ink: the bar's grey and that of its text, logos and scale bar, in [0, 1].
        edge: where the bar lies, "bottom" or "top".
        separator: whether a line of ink divides it from the frame.
        logo: whether a logo (a disc and a block) sits at its right.
    """

    name: str
    fraction: float
    background: float
    ink: float
    edge: str = "bottom"
    separator: bool = False
    logo: bool = False


BAR_STYLES = (
    BarStyle("jeol", 40 / FRAME, 0.0, 1.0),
    BarStyle("hitachi", 0.10, 0.0, 1.0, separator=True),
    BarStyle("tescan", 0.12, 1.0, 0.0, logo=True),
    BarStyle("phenom", 0.05, 0.16, 0.9, logo=True),
    BarStyle("editor", 0.15, 1.0, 0.1, edge="top"),
)


def data_bar(style: BarStyle, width: int = FRAME) -> np.ndarray:
    """A data bar drawn with Pillow as ``style`` says, grey in [0, 1] of shape (rows, width)."""
    rows = round(style.fraction * FRAME)
    bar = Image.new("L", (width, rows), round(style.background * 255))
    draw = ImageDraw.Draw(bar)
    ink = round(style.ink * 255)
    font = ImageFont.load_default(size=max(8, rows // 3))
    margin = max(2, rows // 6)
    draw.text((margin, margin), "SEI 15kV WD10mm x5,000", fill=ink, font=font)
    # A scale bar with its label, as every vendor writes.
    left, length = width // 2, width // 5
    draw.rectangle((left, rows - 2 * margin, left + length, rows - margin - 1), fill=ink)
    draw.text((left, margin), "5 µm", fill=ink, font=font)
    if style.logo:
        right = width - margin
        draw.ellipse((right - rows // 2, margin, right, margin + rows // 2), fill=ink)
        draw.rectangle((right - rows, rows // 2, right - rows // 2, rows - margin), fill=ink)
    if style.separator:
        draw.line((0, 0, width, 0), fill=ink)
    return np.asarray(bar, np.float64) / 255


def with_bar(frame: np.ndarray, style: BarStyle, top: int) -> np.ndarray:
    """A frame of values up to ``top`` with the style's bar of the same scale beside it."""
    bar = np.round(data_bar(style, frame.shape[1]) * top).astype(frame.dtype)
    return np.vstack([bar, frame] if style.edge == "top" else [frame, bar])


def write_bar_files(folder: Path) -> dict[str, np.ndarray]:
    """A file for each bar style under a frame, with no metadata: 8-bit PNGs, and the JEOL style
    as a 12-bit frame in a 16-bit TIFF. Returns each file's stem and its frame in [0, 1]."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for style, frame in zip(BAR_STYLES, frames(len(BAR_STYLES)), strict=True):
        if style.name == "jeol":
            twelve_bit = (frame.astype(np.uint16) << 4) | (frame >> 4)
            tifffile.imwrite(folder / f"{style.name}.tif", with_bar(twelve_bit, style, 4095))
            expected[style.name] = twelve_bit / 4095
        else:
            Image.fromarray(with_bar(frame, style, 255)).save(folder / f"{style.name}.png")
            expected[style.name] = frame / 255
    return expected


def write_imagej_tiff(path: Path, frame: np.ndarray, unit: str, per_unit: float) -> Path:
    """A TIFF calibrated as ImageJ/Fiji's Set Scale writes it: ``unit`` in its description and
    ``per_unit`` pixels per unit in its resolution tags."""
    tifffile.imwrite(
        path, frame, imagej=True, resolution=(per_unit, per_unit), metadata={"unit": unit}
    )
    return path
