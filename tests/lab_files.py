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


def frames(count: int, size: int = FRAME) -> list[np.ndarray]:
    """``count`` 8-bit frames of ``size`` x ``size``: the top left of the study's first test
    micrographs, or seeded grains."""
    found = sorted(STUDY_TEST_MICROGRAPHS.glob("*.jpg"))[:count]
    if len(found) == count:
        return [np.asarray(Image.open(path).convert("L"))[:size, :size] for path in found]
    rng = np.random.default_rng(27)
    return [np.round(grains(rng, size, size) * 255).astype(np.uint8) for _ in range(count)]


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


def data_bar(style: BarStyle, width: int = FRAME, height: int = FRAME) -> np.ndarray:
    """A data bar drawn with Pillow as ``style`` says under a frame of ``height`` rows, grey in
    [0, 1] of shape (rows, width)."""
    rows = bar_rows(style, height)
    bar = Image.new("L", (width, rows), round(style.background * 255))
    draw = ImageDraw.Draw(bar)
    ink = round(style.ink * 255)
    font = ImageFont.load_default(size=max(8, rows // 3))
    margin = max(2, rows // 6)
    draw.text((margin, margin), "SEI 15kV WD10mm x5,000", fill=ink, font=font)
    # A scale bar with its label, as every vendor writes.
    left, length = width // 2, width // 5
    draw.rectangle((left, rows - 2 * margin, left + length, rows - margin - 1), fill=ink)
    draw.text((left + length + margin, margin), "5 um", fill=ink, font=font)
    if style.logo:
        right = width - margin
        draw.ellipse((right - rows // 2, margin, right, margin + rows // 2), fill=ink)
        draw.rectangle((right - rows, rows // 2, right - rows // 2, rows - margin), fill=ink)
    if style.separator:
        draw.line((0, 0, width, 0), fill=ink)
    return np.asarray(bar, np.float64) / 255


def bar_rows(style: BarStyle, height: int = FRAME) -> int:
    """The rows of the style's bar beside a frame of ``height`` rows."""
    return round(style.fraction * height)


def with_bar(frame: np.ndarray, style: BarStyle, top: int) -> np.ndarray:
    """A frame of values up to ``top`` with the style's bar of the same scale beside it."""
    bar = np.round(data_bar(style, frame.shape[1], frame.shape[0]) * top).astype(frame.dtype)
    return np.vstack([bar, frame] if style.edge == "top" else [frame, bar])


def write_bar_files(folder: Path, size: int = FRAME) -> dict[str, np.ndarray]:
    """A file for each bar style beside a frame of ``size`` x ``size``, with no metadata: 8-bit
    PNGs, and the JEOL style as a 12-bit frame in a 16-bit TIFF. Returns each file's stem and its
    frame in [0, 1]."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for style, frame in zip(BAR_STYLES, frames(len(BAR_STYLES), size), strict=True):
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


# SEM frames as FEI and Thermo Fisher microscopes write them.
WIDTH = 256
"""Columns of the FEI frames the tests write, as the metadata's ResolutionX says."""
FEI_PIXEL_WIDTH_METRES = 1.5e-08


def _fei_text(scanned_rows: int = FRAME) -> str:
    """The metadata FEI and Thermo Fisher SEMs write, cut to the sections the reader uses."""
    return (
        "[User]\r\nDate=03/14/2024\r\nTime=09:26:53 AM\r\n"
        "[Beam]\r\nHV=10000\r\n"
        f"[Scan]\r\nPixelWidth={FEI_PIXEL_WIDTH_METRES}\r\n"
        f"PixelHeight={FEI_PIXEL_WIDTH_METRES}\r\nHorFieldsize=3.84e-06\r\n"
        f"[Image]\r\nResolutionX={WIDTH}\r\nResolutionY={scanned_rows}\r\nZoomFactor=1\r\n"
    )


@dataclasses.dataclass(frozen=True)
class LabFile:
    """A file of the lab folder: what each of its maps should explain, and the line its reading
    prints.

    Attributes:
        frames: each map's stem and the frame it explains, grey in [0, 1] before the crop to the
            network's sizes.
        note: the reader's line for the file, without its path; None where it says nothing.
        pixel_size: the pixel size its tags give, in µm, or None.
    """

    frames: dict[str, np.ndarray]
    note: str | None = None
    pixel_size: float | None = None


def write_lab_folder(folder: Path, size: int = 128) -> dict[str, LabFile]:
    """Micrographs as labs keep them, frames of ``size`` x ``size``: the five bar styles, ImageJ
    calibrations in microns and nanometres, an RGB and a two-channel image, a three-slice
    OME-TIFF stack, and TIFFs white-is-zero, with a palette, with signed samples and with alpha.
    Returns each file's name and what reading it should give."""
    bars = write_bar_files(folder, size)
    lab = {}
    for style in BAR_STYLES:
        name = f"{style.name}.tif" if style.name == "jeol" else f"{style.name}.png"
        rows = bar_rows(style, size)
        lab[name] = LabFile(
            {style.name: bars[style.name]},
            f"cropped a {rows}-row data bar its pixels show at the {style.edge} (a flat band with "
            "marks, beyond a straight edge)",
        )
    frame, other, third = frames(8, size)[5:]
    write_imagej_tiff(folder / "micron.tif", frame, "micron", 10.0)
    lab["micron.tif"] = LabFile({"micron": frame / 255}, pixel_size=0.1)
    write_imagej_tiff(folder / "nanometre.tif", frame, "nm", 0.05)
    lab["nanometre.tif"] = LabFile({"nanometre": frame / 255}, pixel_size=0.02)

    colour = np.stack([frame, other, 255 - frame], axis=-1)
    Image.fromarray(colour).save(folder / "colour.png")
    lab["colour.png"] = LabFile(
        {"colour": colour @ np.array([0.299, 0.587, 0.114]) / 255},
        "converted its colour to grey by the ITU-R 601 luma weights (0.299, 0.587, 0.114); "
        "choose a channel to read one instead",
    )
    tifffile.imwrite(
        folder / "detectors.tif",
        np.stack([frame, other], axis=-1),
        photometric="minisblack",
        planarconfig="contig",
    )
    lab["detectors.tif"] = LabFile(
        {"detectors": (frame / 2 + other / 2) / 255},
        "averaged its 2 channels into grey, though they may mean different things (detectors, "
        "element maps); choose a channel to read one instead",
    )
    stack = np.stack([frame, other, third])
    tifffile.imwrite(
        folder / "stack.ome.tif",
        stack,
        ome=True,
        metadata={"axes": "ZYX", "PhysicalSizeX": 50, "PhysicalSizeXUnit": "nm"},
    )
    lab["stack.ome.tif"] = LabFile(
        {f"stack.ome_p{k}": page / 255 for k, page in enumerate(stack)},
        "3 pages; read page 0",
        pixel_size=0.05,
    )

    tifffile.imwrite(folder / "negative.tif", 255 - frame, photometric="miniswhite")
    lab["negative.tif"] = LabFile({"negative": frame / 255}, "inverted its white-is-zero values")
    ramp = np.repeat(np.arange(256, dtype=np.uint16)[None] * 257, 3, axis=0)
    tifffile.imwrite(folder / "palette.tif", frame, photometric="palette", colormap=ramp)
    lab["palette.tif"] = LabFile({"palette": frame / 255}, "looked up its palette colours")
    twelve_bit = (frame.astype(np.int16) << 4) | (frame >> 4)
    tifffile.imwrite(folder / "signed.tif", twelve_bit)
    lab["signed.tif"] = LabFile(
        {"signed": twelve_bit / 4095},
        "read its signed 16-bit samples, none negative, as unsigned",
    )
    opaque = np.full_like(frame, 255)
    tifffile.imwrite(
        folder / "alpha.tif",
        np.stack([frame, frame, frame, opaque], axis=-1),
        photometric="rgb",
        extrasamples=["unassalpha"],
    )
    lab["alpha.tif"] = LabFile({"alpha": frame / 255}, "left out its alpha channel")
    return lab
