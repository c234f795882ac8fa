"""What every folder driver plans the same way: find micrographs, plan their outputs, read, report.

A driver names the files each micrograph becomes (its *targets*); this module does the rest the
same way for every stage, so that what one stage guarantees they all do:

- inputs are never replaced: a run whose outputs folder is its inputs folder, or one of whose
  targets is an input, is refused before any work, and an outputs folder inside the inputs is
  left out of the search, so that a rerun does not take its own outputs for micrographs;
- no result is silently lost: two micrographs that would write one target (``a.png`` and
  ``a.tif`` both become ``a.npy``) are both reported and the later one skipped, a folder where a
  file should go is reported before any work, and every write is atomic;
- every bad file gets one line and the batch goes on: unreadable, too small, too large or
  non-finite micrographs, symbolic links to folders, FIFOs and dangling links are recorded in the
  report, never raised;
- temporary files a killed run left behind (``.<name>.partial-*``, from ``io.write_atomically``)
  are removed by the next run into that folder, once old enough not to be another run's.

A *shard* ``(k, n)`` keeps the k-th of n disjoint parts of the micrographs, so that n runs (a
SLURM job array) cover a folder exactly once. What is planned here is read, computed and written
by ``runner``, in this process or on a Dask cluster.
"""

import dataclasses
import hashlib
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePath

from complexstep import defaults
from complexstep.errors import (
    ComplexStepError,
    FolderError,
    ImageSizeError,
    SettingError,
)
from complexstep.io import images, micrographs

Crop = tuple[Path, tuple[int, int], tuple[int, int]]
"""A micrograph, the size it was read at, and the size it was cropped to."""

Targets = Callable[[Path], Sequence[Path]]
"""The files the micrograph at a path becomes: ``skip_existing`` leaves it alone where all are
there, and it clashes with another micrograph that would write any of them."""

Shard = tuple[int, int]
"""``(k, n)``: the k-th of n disjoint parts of a folder's micrographs, 0 <= k < n."""

_PARTIAL = re.compile(r"^\..+\.partial-[A-Za-z0-9_]{8}")
"""The name ``io.write_atomically`` gives a file while it is being written."""


@dataclasses.dataclass
class FolderReport:
    """What a folder driver did.

    Attributes:
        written: the micrographs whose outputs were written, in the order they were done.
        outputs: every file written.
        existing: the micrographs left alone because their outputs were there.
        cropped: ``(micrograph, its size, the size used)`` for those cropped to fit the network.
        notes: one line for each thing worth knowing that lost nothing: stale partial files
            removed, links and special files skipped.
        failed: one line for each micrograph that could not be read, explained or written.
    """

    written: list[Path] = dataclasses.field(default_factory=list)
    outputs: list[Path] = dataclasses.field(default_factory=list)
    existing: list[Path] = dataclasses.field(default_factory=list)
    cropped: list[Crop] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    # The outputs as a set too, so that recording one costs the same in a run of a million files.
    _recorded: set[Path] = dataclasses.field(default_factory=set, repr=False, compare=False)

    def record(self, path: Path) -> None:
        """Adds a file written to ``outputs``, once however often it is written."""
        if path not in self._recorded:
            self._recorded.add(path)
            self.outputs.append(path)

    def write(self, path: Path, save: Callable[[Path], object]) -> bool:
        """Calls ``save``, which writes ``path`` atomically, and records the file, or records why
        it could not be written.

        Returns:
            Whether the file was written.
        """
        try:
            save(path)
        except OSError as error:
            self.failed.append(f"cannot write {path}: {error.strerror or error}")
            return False
        self.record(path)
        return True

    def extend(self, other: "FolderReport") -> None:
        """Adds what another report recorded after what this one did."""
        self.written += other.written
        for path in other.outputs:
            self.record(path)
        self.existing += other.existing
        self.cropped += other.cropped
        self.notes += other.notes
        self.failed += other.failed


@dataclasses.dataclass(frozen=True)
class Item:
    """One micrograph to do: where it is and the size it is used at."""

    path: Path
    size: tuple[int, ...]


def find_micrographs(
    inputs: Path,
    outputs: Path,
    report: FolderReport,
    suffixes: Sequence[str] = images.IMAGE_SUFFIXES,
) -> list[Path]:
    """The micrographs of a folder and its subfolders, without the outputs folder; with
    ``suffixes``, the files of a folder ending in one of them (stage 3's maps), found the same way.

    Symbolic links to folders are not followed (they may loop, or lead out of the folder), and
    links to nothing and special files (FIFOs, sockets, devices), which no decoder can read and
    which a read could block on, are skipped; each is listed in the report's notes.

    Raises:
        FolderError: if the folder does not exist or holds no image.
    """
    if not inputs.is_dir():
        raise FolderError(f"folder not found: {inputs}")
    inside = outputs.resolve() != inputs.resolve() and outputs.resolve().is_relative_to(
        inputs.resolve()
    )
    found = []
    for folder, folders, files in os.walk(inputs):
        folder = Path(folder)
        kept = []
        for name in sorted(folders):
            path = folder / name
            if name.startswith(".") or (inside and path.resolve() == outputs.resolve()):
                continue
            if path.is_symlink():
                report.notes.append(f"skipped {path}: a link to a folder, which is not followed")
                continue
            kept.append(name)
        folders[:] = kept
        for name in files:
            path = folder / name
            if name.startswith(".") or path.suffix.lower() not in suffixes:
                continue
            try:
                mode = path.stat().st_mode
            except OSError:
                report.notes.append(f"skipped {path}: a link to nothing")
                continue
            if not stat.S_ISREG(mode):
                report.notes.append(f"skipped {path}: not a regular file")
                continue
            found.append(path)
    if not found:
        raise FolderError(
            f"no images in {inputs} or its subfolders (looked for {', '.join(suffixes)})"
        )
    return sorted(found)


def prepare_outputs(inputs: Path, outputs: Path, report: FolderReport) -> None:
    """Checks, before any work, that the outputs folder can take the results, and removes the
    partial files a killed run left there.

    Raises:
        FolderError: if the outputs folder is the inputs folder, is a file, or cannot be made.
    """
    if outputs.resolve() == inputs.resolve():
        raise FolderError(
            f"the outputs folder {outputs} is the inputs folder {inputs}: the results would "
            "replace or mix with the micrographs; choose another outputs folder"
        )
    if outputs.exists() and not outputs.is_dir():
        raise FolderError(f"the outputs {outputs} is a file, not a folder")
    try:
        outputs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FolderError(f"cannot create output folder {outputs}: {error.strerror or error}")
    if not os.access(outputs, os.W_OK | os.X_OK):
        raise FolderError(f"cannot write into the outputs folder {outputs}: permission denied")
    remove_stale_partials(outputs, report)


def remove_stale_partials(outputs: Path, report: FolderReport) -> None:
    """Removes the partial files of killed runs, old enough that no running writer owns them."""
    oldest = time.time() - defaults.STALE_PARTIAL_SECONDS
    removed = 0
    for folder, _, files in os.walk(outputs):
        for name in files:
            path = Path(folder) / name
            if not _PARTIAL.match(name):
                continue
            try:
                if path.lstat().st_mtime < oldest:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
    if removed:
        report.notes.append(
            f"removed {removed} partial file(s) an interrupted run left in {outputs}"
        )


def explained_size(
    path: Path,
    resize: int | None,
    step: int,
    *,
    crop_bottom: int | None = None,
    volume: bool = False,
) -> tuple[int, ...]:
    """The size a micrograph is used at: ``resize`` square, or its own, less its data bar,
    cropped to the network's step. Only the file's header and tags are read (and its first
    page's pixels where a data bar may have to be found in them).

    Args:
        path: the micrograph.
        resize: the side it is resized to, or None for its own size.
        step: the network's step: the sizes it takes are multiples of it.
        crop_bottom: rows cut from the bottom in place of the data bar the metadata gives, as
            ``micrographs.read_micrograph`` takes them.
        volume: the file is a TIFF stack read whole, for a 3-D model: its (depth, height,
            width), each cropped to the step; ``resize`` must be None.

    Raises:
        UnreadableImageError: if the file is not an image.
        ImageSizeError: if it is smaller than one accepted size, even where a resize would blow
            it up to one: a 1x1 or 2x100000 image is no micrograph to explain.
        SettingError: if ``crop_bottom`` leaves no row, or a volume is not a stack.
    """
    if volume:
        sides = micrographs.volume_size(path, crop_bottom=crop_bottom)
    else:
        # With a resize, the stored size is enough to refuse what is too small.
        sides = micrographs.frame_size(path, crop_bottom=0 if resize is not None else crop_bottom)
    check_least_size(path, sides, step)
    size = tuple(side // step * step for side in sides)
    return size if resize is None else (resize, resize)


def check_least_size(path: Path, sides: tuple[int, ...], step: int) -> None:
    """Refuses a micrograph with a side shorter than the network's step, whatever resize is
    asked for: resizing would blow it up, and a 1x1 or 2x100000 image is no micrograph.

    Raises:
        ImageSizeError: naming its size and the least the network takes.
    """
    if min(sides) < step:
        raise ImageSizeError(
            f"{path} is {'x'.join(map(str, sides))}, smaller than the network's least size, "
            + "x".join([str(step)] * len(sides))
        )


def sizer(
    explainer, resize: int | None, *, crop_bottom: int | None = None, volume: bool = False
) -> Callable[[Path], tuple[int, ...]]:
    """The size each micrograph is used at by an ``Explainer``: ``explained_size``, checked
    against the network and the explainer's domain."""

    def size_of(path: Path) -> tuple[int, ...]:
        size = explained_size(path, resize, explainer.step, crop_bottom=crop_bottom, volume=volume)
        explainer.check_size(*size)
        return size

    return size_of


def plan(
    inputs: Path,
    outputs: Path,
    targets: Targets,
    report: FolderReport,
    *,
    size_of: Callable[[Path], tuple[int, int]],
    noun: str,
    skip_existing: bool = False,
    paths: Iterable[Path] | None = None,
    suffixes: Sequence[str] = images.IMAGE_SUFFIXES,
    shard: Shard | None = None,
) -> list[Item]:
    """The micrographs to do, in the folder's order, and their sizes, after every check that
    needs no pixel.

    Args:
        inputs, outputs: the folder of micrographs, and the folder the targets lie in.
        targets: the files each micrograph becomes.
        report: where skipped micrographs, clashes and refusals are recorded.
        size_of: the size a micrograph is used at, from its header; raises a ``ComplexStepError``
            for one that cannot be used, which is recorded.
        skip_existing: leave alone every micrograph whose targets are all there.
        noun: what the targets are called in a clash's line ("map", "page").
        paths: the micrographs, where the driver chose some; all of the folder's by default.
        suffixes: the files of the folder that are micrographs, where ``paths`` is None.
        shard: do only this part of the micrographs (see ``in_shard``); all of them if None.

    Raises:
        FolderError: for a missing or empty inputs folder, outputs that cannot be written, or a
            target that is an input.
        SettingError: for a shard that is not ``(k, n)`` with 0 <= k < n.
    """
    inputs, outputs = Path(inputs), Path(outputs)
    if shard is not None:
        check_shard(shard)
    found = find_micrographs(inputs, outputs, report, suffixes) if paths is None else list(paths)
    if shard is not None:
        found = [path for path in found if in_shard(path.relative_to(inputs), shard)]
    prepare_outputs(inputs, outputs, report)
    sources = {path.resolve() for path in found}
    claimed: dict[Path, Path] = {}
    work = []
    for path in found:
        written = targets(path)
        for target in written:
            if target.resolve() in sources:
                raise FolderError(f"the output {target} of {path} would replace an input")
        clash = next((claimed[target] for target in written if target in claimed), None)
        if clash is not None:
            report.failed.append(f"skipped {path}: its {noun} would overwrite that of {clash}")
            continue
        claimed.update(dict.fromkeys(written, path))
        if not _to_write(path, written, skip_existing, report):
            continue
        try:
            work.append(Item(path, size_of(path)))
        except ComplexStepError as error:
            report.failed.append(str(error))
    return work


def _to_write(
    path: Path, written: Sequence[Path], skip_existing: bool, report: FolderReport
) -> bool:
    """Whether the targets of the micrograph at ``path`` are to be written: not where a folder
    is in the way or the file system cannot hold their names, which is recorded as a failure,
    nor, with ``skip_existing``, where all are there, which is recorded as left alone."""
    try:
        blocked = next((target for target in written if target.is_dir()), None)
        there = skip_existing and all(target.is_file() for target in written)
    except OSError as error:
        # A name the file system cannot hold (over 255 bytes) fails here, before any work.
        report.failed.append(f"cannot write the outputs of {path}: {error.strerror or error}")
        return False
    if blocked is not None:
        report.failed.append(f"cannot write {blocked}: a folder is in the way")
        return False
    if there:
        report.existing.append(path)
        return False
    return True


def check_shard(shard: Shard) -> None:
    """Checks that a shard is ``(k, n)`` with whole numbers 0 <= k < n.

    Raises:
        SettingError: if not.
    """
    valid = (
        isinstance(shard, tuple)
        and len(shard) == 2
        and all(isinstance(number, int) for number in shard)
        and 0 <= shard[0] < shard[1]
    )
    if not valid:
        raise SettingError(f"a shard is (k, n) with 0 <= k < n, not {shard!r}")


def in_shard(relative: PurePath, shard: Shard) -> bool:
    """Whether the micrograph at this path, relative to its folder, is in the shard.

    A micrograph belongs to shard ``sha256(path without suffix) mod n``: every micrograph is in
    exactly one of the n shards, and its shard depends on its own path alone, so that files added
    or removed while the runs of a job array start one after another move no other file to
    another shard (dealing the sorted list out in turn would). ``a.png`` and ``a.tif``, which
    write the same outputs, fall in one shard, where their clash is reported. Shards hold n-th
    parts of a large folder to within a few of its square root.
    """
    index, count = shard
    stem = PurePath(relative).with_suffix("").as_posix().encode()
    return int.from_bytes(hashlib.sha256(stem).digest()[:8], "big") % count == index


def shard_name(name: str, shard: Shard | None) -> str:
    """The name of one of the folder's files (``metrics.csv``) in the run of a shard:
    ``metrics.shard-3-of-7.csv`` for ``(3, 7)``; the name itself where there is no shard."""
    if shard is None:
        return name
    stem, suffix = os.path.splitext(name)
    return f"{stem}.shard-{shard[0]}-of-{shard[1]}{suffix}"


def read_micrograph(
    item: Item, resize: int | None, report: FolderReport, **reading
) -> micrographs.Micrograph | None:
    """A micrograph as every stage reads it, resized or cropped to its planned size, or None,
    recorded, where it cannot be read.

    The reader's notes (pages, intensity, a pixel size the file overrides) and any data bar
    cropped go to the report's notes, one line each, naming the file.

    Args:
        item: the micrograph and its planned size.
        resize: the side it is resized to, or None where it keeps its own, cropped.
        report: where notes, crops and failures are recorded.
        **reading: ``micrographs.read_micrograph``'s options (``intensity``, ``crop_bottom``,
            ``pixel_size``, ``max_pixels``).

    Returns:
        The micrograph, its pixels of the planned size.
    """
    try:
        micrograph = micrographs.read_micrograph(item.path, **reading)
    except ComplexStepError as error:
        report.failed.append(str(error))
        return None
    report.notes.extend(f"{item.path}: {note}" for note in micrograph.notes)
    if micrograph.crop_source == "crop_bottom":
        report.notes.append(
            f"{item.path}: cropped {micrograph.cropped_rows} rows from the bottom, as asked"
        )
    if resize is not None:
        micrograph = micrograph.resized(resize)
        report.notes.extend(f"{item.path}: {note}" for note in micrograph.resize_notes)
    pixels = micrograph.pixels
    sides = pixels.shape[: len(item.size)]
    if any(side < planned for side, planned in zip(sides, item.size, strict=True)):
        # Replaced since it was planned: its chunk holds micrographs of the planned size only.
        report.failed.append(
            f"cannot explain {item.path}: it changed while the run went on, to "
            f"{'x'.join(map(str, sides))}, less than the {'x'.join(map(str, item.size))} "
            "planned from it; run again to explain it"
        )
        return None
    if sides != item.size:
        report.cropped.append((item.path, pixels.shape, item.size))
    return dataclasses.replace(micrograph, pixels=pixels[tuple(map(slice, item.size))])


def reader(resize: int | None, reading: dict) -> Callable[[Item, FolderReport], object]:
    """``read_micrograph`` with these options, as ``runner.run`` reads each item."""
    return lambda item, report: read_micrograph(item, resize, report, **reading)


def make_folder(folder: Path) -> None:
    """Creates the output folder, turning failures into one-line errors."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FolderError(
            f"cannot create output folder {folder}: {error.strerror or error}"
        ) from None


def counted(number: int, noun: str) -> str:
    """A number with its noun, plural where needed."""
    return f"{number} {noun}{'' if number == 1 else 's'}"
