"""Stage 2's folder driver: the attribution map of every micrograph in a folder.

Each micrograph is read grey in [0, 1] and either resized to 256x256, as the paper does, or kept at
its own resolution, where it is cropped from the bottom and right to the largest size the network
takes (multiples of 16 for the paper's model), so that pixel ``(y, x)`` of the map is pixel
``(y, x)`` of the micrograph. Its map is written as ``<stem>.npy`` (float32, raw) and ``<stem>.png``
(8-bit, min-max scaled), mirroring the input folder's subfolders; in the wavelet domain, as
``<stem>.wavelet.npy`` (float32, every coefficient's attribution) and ``<stem>.wavelet.json`` (the
share of each level and orientation). Interrupted runs over thousands
of micrographs continue where they stopped with ``skip_existing``.
"""

import dataclasses
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from complexstep import defaults
from complexstep.api import Explainer
from complexstep.errors import ImageSizeError, SettingError, UnreadableImageError
from complexstep.io import images


@dataclasses.dataclass
class FolderReport:
    """What ``attribute_folder`` did.

    Attributes:
        written: the micrographs whose maps were written.
        existing: the micrographs left alone because both their files were there.
        cropped: ``(micrograph, its size, the size explained)`` for those cropped to fit.
        failed: the errors of the micrographs that could not be read or explained.
    """

    written: list[Path] = dataclasses.field(default_factory=list)
    existing: list[Path] = dataclasses.field(default_factory=list)
    cropped: list[tuple[Path, tuple[int, int], tuple[int, int]]] = dataclasses.field(
        default_factory=list
    )
    failed: list[Exception] = dataclasses.field(default_factory=list)


def targets(
    inputs: Path, path: Path, outputs: Path, domain: str = defaults.DOMAIN
) -> tuple[Path, Path]:
    """Where the map of the micrograph at ``path`` goes: its ``.npy`` and its ``.png``, or in the
    wavelet domain its ``.wavelet.npy`` and ``.wavelet.json``."""
    stem = Path(outputs) / path.relative_to(inputs).with_suffix("")
    if domain == "wavelet":
        return stem.with_name(stem.name + ".wavelet.npy"), stem.with_name(
            stem.name + ".wavelet.json"
        )
    return stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + ".png")


def explained_size(path: Path, resize: int | None, step: int) -> tuple[int, int]:
    """The size a micrograph is explained at.

    Only the file's header is read.

    Raises:
        UnreadableImageError: if the file is not an image.
        ImageSizeError: if it is smaller than one accepted size.
    """
    if resize is not None:
        return resize, resize
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise UnreadableImageError.of(path, error) from None
    size = (height // step * step, width // step * step)
    if 0 in size:
        raise ImageSizeError(
            f"{path} is {height}x{width}, smaller than the network's least size, {step}x{step}"
        )
    return size


def attribute_folder(
    inputs: str | os.PathLike,
    outputs: str | os.PathLike,
    explainer: Explainer,
    *,
    resize: int | None = defaults.IMAGE_SIZE,
    skip_existing: bool = False,
    on_progress: Callable[[int, int, Path], None] | None = None,
) -> FolderReport:
    """Writes the attribution map of every micrograph in a folder and its subfolders.

    For an input ``<inputs>/<sub>/<stem>.<ext>`` it writes ``<outputs>/<sub>/<stem>.npy`` (float32,
    the raw attribution) and ``<outputs>/<sub>/<stem>.png`` (8-bit grey, min-max scaled), each
    atomically; in the wavelet domain ``<stem>.wavelet.npy`` and ``<stem>.wavelet.json`` instead.
    A micrograph that cannot be read is recorded and the run goes on.

    Args:
        inputs: the folder of micrographs.
        outputs: the folder to write into.
        explainer: the model, layer, method and domain to explain with.
        resize: the side micrographs are resized to, or None to explain each at its own
            resolution, cropped from the bottom and right to the largest size the network takes.
        skip_existing: leave alone every micrograph whose two files are both there.
        on_progress: called with the passes done, the passes in all, and the micrograph being
            explained, as passes finish.

    Returns:
        What was written, left alone, cropped and failed.

    Raises:
        FolderError: if the input folder is missing or holds no image.
        ImageSizeError: if ``resize`` is not a size the network takes.
        SettingError: if ``resize`` is a size the wavelet transform's levels do not fit.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    paths = images.find_images(inputs)
    if resize is not None:
        explainer.check_size(resize, resize)
    report = FolderReport()
    work = []
    for path in paths:
        written = targets(inputs, path, outputs, explainer.domain)
        if skip_existing and all(target.is_file() for target in written):
            report.existing.append(path)
            continue
        try:
            size = explained_size(path, resize, explainer.step)
            explainer.check_size(*size)
        except (UnreadableImageError, ImageSizeError, SettingError) as error:
            report.failed.append(error)
            continue
        work.append((path, size))
    # Micrographs of one size are explained together, as many as the explainer takes per call,
    # wherever they lie in the folder; the sort is stable, so each size keeps the folder's order.
    work.sort(key=lambda item: item[1])
    total = sum(explainer.passes(*size) for _, size in work)
    done = 0
    for size, group in itertools.groupby(work, key=lambda item: item[1]):
        group = list(group)
        for start in range(0, len(group), explainer.images_per_call):
            chunk, read = [], []
            for path, _ in group[start : start + explainer.images_per_call]:
                try:
                    image = images.read_image(path, size=resize)
                except UnreadableImageError as error:
                    report.failed.append(error)
                    done += explainer.passes(*size)
                    continue
                if image.shape != size:
                    report.cropped.append((path, image.shape, size))
                chunk.append(path)
                read.append(image[: size[0], : size[1]])
            if not chunk:
                continue

            def on_pass(count: int, path=chunk[-1]) -> None:
                nonlocal done
                done += count
                if on_progress is not None:
                    on_progress(done, total, path)

            for path, values in zip(chunk, explainer.attribute_many(read, on_pass), strict=True):
                array_path, beside = targets(inputs, path, outputs, explainer.domain)
                images.write_array(array_path, values)
                if explainer.domain == "wavelet":
                    summary = explainer.basis(*values.shape).summary(values)
                    images.write_atomically(
                        beside,
                        lambda temporary: temporary.write_text(json.dumps(summary, indent=2)),
                    )
                else:
                    images.write_grey_png(beside, values)
                report.written.append(path)
    return report
