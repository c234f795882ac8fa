"""Stage 1 over folders: train the autoencoder on one folder of micrographs, validate it on
another, and write the model, its history and its figures into the models folder.

The model's own pieces (its settings, its saved state, the end of an epoch, the devices) are in
``model.training``; this module finds and checks the micrographs, runs the epochs and writes what a
user opens afterwards, every file atomically, after checking the models folder before any work.
"""

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np

from complexstep import defaults
from complexstep.errors import (
    DeviceError,
    FolderError,
    ImageSizeError,
    NoMicrographsError,
    SettingError,
    UnfinishedRunError,
    UnreadableImageError,
)
from complexstep.folders import loop
from complexstep.folders.loop import FolderReport
from complexstep.io import images, micrographs
from complexstep.model import architecture, data
from complexstep.model.training import (
    DEAD_CHANNEL_EXAMPLES,
    HISTORY_FILE,
    LOSS_CURVES_FILE,
    MODEL_FILE,
    RECONSTRUCTION_EXAMPLES,
    RECONSTRUCTIONS_FILE,
    SETTINGS_FILE,
    STATE_FILE,
    WEIGHTS_FILE,
    EpochEnd,
    SavedState,
    TrainingSettings,
    distributed,
    new_model,
    seed_everything,
)
from complexstep.progress import Progress
from complexstep.rendering.training import (
    LOSS_CURVES_DPI,
    RECONSTRUCTIONS_DPI,
    loss_curves_figure,
    reconstructions_figure,
)

__all__ = [
    "DeviceError",
    "HISTORY_FILE",
    "MODEL_FILE",
    "SETTINGS_FILE",
    "STATE_FILE",
    "NoMicrographsError",
    "TrainingResult",
    "TrainingSettings",
    "UnfinishedRunError",
    "prepare_models_dir",
    "train",
    "usable_images",
]


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What a training run produced.

    Attributes:
        model: the trained model.
        model_path: the full model, loadable with ``keras.models.load_model``.
        weights_path: the weights alone, loadable into ``architecture.build_autoencoder()``.
        history_path: the CSV of training and validation loss per epoch.
        loss_curves_path: the plot of the loss per epoch.
        reconstructions_path: the plot of test micrographs and their reconstructions.
        train_images: how many training images were used.
        test_images: how many test images were used for validation.
        skipped: one line for each image that was left out, naming it and saying why.
        notes: one line for each thing worth knowing that lost nothing: links and special files
            not searched, what the reader noted about a file.
        first_epoch: the epoch this run started from: 0, or the epochs done before a resume.
        loss: the training mean squared error of the last epoch.
        val_loss: the test mean squared error after the last epoch.
        dead_channels: the code's channels that are zero at every position of every test
            micrograph checked (the first ``checked_images``): they carry nothing.
        code_channels: how many channels the code has.
        checked_images: how many test micrographs the code was checked on.
    """

    model: keras.Model = dataclasses.field(repr=False)
    model_path: Path
    weights_path: Path
    history_path: Path
    loss_curves_path: Path
    reconstructions_path: Path
    train_images: int
    test_images: int
    skipped: tuple[str, ...]
    notes: tuple[str, ...]
    first_epoch: int
    loss: float
    val_loss: float
    dead_channels: tuple[int, ...]
    code_channels: int
    checked_images: int


def train(
    train_dir: str | os.PathLike,
    test_dir: str | os.PathLike,
    models_dir: str | os.PathLike,
    *,
    settings: TrainingSettings | None = None,
    resume: bool = False,
    on_progress: Progress | None = None,
) -> TrainingResult:
    """Trains the autoencoder on one folder, validates it on another and saves the results.

    Args:
        train_dir: folder of training micrographs, searched recursively.
        test_dir: folder of test micrographs, searched recursively, for the validation loss.
        models_dir: folder that receives the model, weights, history, plots and training state.
        settings: how to train (epochs, batches, learning rate, seed, crops, kernels, precision,
            devices, decoding threads, reading), checked when made; None for the paper's,
            ``TrainingSettings()``.
        resume: continue the unfinished run saved in ``models_dir`` from its last completed epoch.
        on_progress: called as the run goes, with two counts one after the other. First the
            files checked of each folder's files, with "checking training images" or "checking
            test images" as the detail; then the batches done of the run's batches (its epochs
            times an epoch's batches, those done before a resume included), with the epoch as
            the detail, "epoch 2/3". An epoch's last batch is reported once the epoch is
            validated and its state saved, and its detail adds the epoch's losses and seconds:
            "epoch 2/3: loss 0.0123, val_loss 0.0145, 12 s; state saved".

    Returns:
        The trained model, the paths written and the final losses.

    Raises:
        SettingError: for devices the backend does not have, or a batch size they do not divide.
        FolderError: if the models folder cannot be written, or fills up during the run;
            ``NoMicrographsError`` if a folder is missing or holds no usable image.
        TrainingStateError: if ``resume`` finds nothing to resume or a run with other settings,
            or if, without ``resume``, the folder holds an unfinished run that would be lost
            (``UnfinishedRunError``).
    """
    settings = TrainingSettings() if settings is None else settings
    models_dir = prepare_models_dir(models_dir)
    state = SavedState(models_dir)
    state.check_before(resume)
    report = FolderReport()
    run = _Run.of_folders(train_dir, test_dir, settings, report, on_progress, models_dir)
    try:
        model, history, first_epoch = run.fit(state, resume, on_progress)
        return _write_results(models_dir, model, history, run, report, first_epoch)
    except OSError as error:
        # Every file is written atomically, so the last epoch saved whole is what a resume takes.
        raise FolderError(
            f"cannot save the run in {models_dir}: {error.strerror or error}; the last epoch "
            "saved whole is kept: make room and resume"
        ) from None


@dataclasses.dataclass(frozen=True)
class _Run:
    """The micrographs of one run, how it trains, and how its micrographs are served."""

    train_dir: Path
    test_dir: Path
    train_paths: list[Path]
    test_paths: list[Path]
    settings: TrainingSettings

    @classmethod
    def of_folders(
        cls,
        train_dir: str | os.PathLike,
        test_dir: str | os.PathLike,
        settings: TrainingSettings,
        report: FolderReport,
        on_progress: Progress | None,
        models_dir: Path,
    ) -> "_Run":
        """The run of the usable micrographs of both folders, as ``usable_images`` finds them."""
        train_paths, test_paths = (
            usable_images(
                folder,
                settings.crop,
                label,
                on_progress,
                report=report,
                leave_out=models_dir,
                reading=settings.reading,
            )
            for folder, label in ((train_dir, "training images"), (test_dir, "test images"))
        )
        return cls(Path(train_dir), Path(test_dir), train_paths, test_paths, settings)

    def record(self) -> dict:
        """What the run records of itself for a resume to match: its settings and images."""
        return self.settings.record(
            [path.relative_to(self.train_dir).as_posix() for path in self.train_paths],
            [path.relative_to(self.test_dir).as_posix() for path in self.test_paths],
        )

    def batches(self, paths: list[Path], count: int, **options) -> data.MicrographBatches:
        """The batches of these micrographs, split evenly over ``count`` devices."""
        return data.MicrographBatches(
            paths,
            options.pop("batch_size", self.settings.batch_size),
            crop=self.settings.crop,
            multiple=count,
            reading=self.settings.reading,
            **options,
        )

    def fit(
        self, state: SavedState, resume: bool, on_progress: Progress | None
    ) -> tuple[keras.Model, list[dict], int]:
        """Builds or resumes the model and trains it up to the settings' epochs, saving every
        epoch.

        Returns:
            The model, the history of every epoch, and the epoch this run started from.
        """
        settings = self.settings
        scope, count = distributed(settings.devices)
        self._check_split(count)
        steps = self.batches(self.train_paths, count, seed=settings.seed).batches_per_epoch
        seed_everything(settings)
        with scope:
            if resume:
                model, history = state.load(self.record(), steps, settings.epochs)
            else:
                model, history = new_model(settings), []
                state.start(self.record(), settings.epochs)
            first_epoch = len(history)
            validation = self.batches(self.test_paths, count, workers=settings.workers)
            epoch_end = EpochEnd(state, history, steps, settings.epochs, on_progress)
            # One fit per epoch, each given that epoch's batches alone, so that nothing a loader
            # prefetched can carry batches from one epoch into the next.
            for epoch in range(first_epoch, settings.epochs):
                model.fit(
                    self.batches(
                        self.train_paths,
                        count,
                        seed=settings.seed,
                        first_epoch=epoch,
                        workers=settings.workers,
                    ),
                    validation_data=validation,
                    epochs=epoch + 1,
                    initial_epoch=epoch,
                    callbacks=[epoch_end],
                    verbose=0,
                    # The batches are already shuffled; Keras would shuffle their order again.
                    shuffle=False,
                )
        return model, history, first_epoch

    def _check_split(self, count: int) -> None:
        """Refuses batches or folders that cannot be split evenly over ``count`` devices."""
        batch_size = self.settings.batch_size
        if batch_size % count or min(len(self.train_paths), len(self.test_paths)) < count:
            raise SettingError(
                f"batches of {batch_size} and folders of {len(self.train_paths)} and "
                f"{len(self.test_paths)} images cannot be split evenly over {count} devices; "
                "choose a batch size that is a multiple of the number of devices, or fewer devices"
            )


def _write_results(
    models_dir: Path,
    model: keras.Model,
    history: list[dict],
    run: _Run,
    report: FolderReport,
    first_epoch: int,
) -> TrainingResult:
    """Writes the model, its weights and its figures, and says what the run did."""
    serve = run.batches(run.test_paths, 1, batch_size=1)
    checked = np.stack(
        [serve.read(number, 0) for number in range(min(DEAD_CHANNEL_EXAMPLES, len(serve.paths)))]
    )
    examples = checked[:RECONSTRUCTION_EXAMPLES]
    code = architecture.code_of(model, checked)
    # A direct call suits these few images; predict would first compile a function for them.
    reconstructions = keras.ops.convert_to_numpy(model(examples[..., np.newaxis]))[..., 0]
    return TrainingResult(
        model=model,
        model_path=images.write_atomically(models_dir / MODEL_FILE, model.save),
        weights_path=images.write_atomically(models_dir / WEIGHTS_FILE, model.save_weights),
        history_path=models_dir / HISTORY_FILE,
        loss_curves_path=images.save_figure(
            loss_curves_figure(history), models_dir / LOSS_CURVES_FILE, LOSS_CURVES_DPI
        ),
        reconstructions_path=images.save_figure(
            reconstructions_figure(
                examples,
                reconstructions,
                [path.name for path in run.test_paths[:RECONSTRUCTION_EXAMPLES]],
            ),
            models_dir / RECONSTRUCTIONS_FILE,
            RECONSTRUCTIONS_DPI,
        ),
        train_images=len(run.train_paths),
        test_images=len(run.test_paths),
        skipped=tuple(report.failed),
        notes=tuple(report.notes),
        first_epoch=first_epoch,
        loss=float(history[-1]["loss"]),
        val_loss=float(history[-1]["val_loss"]),
        dead_channels=tuple(architecture.zero_channels(code)),
        code_channels=code.shape[-1],
        checked_images=len(checked),
    )


def prepare_models_dir(models_dir: str | os.PathLike) -> Path:
    """Creates the models folder if needed and checks that files can be written into it.

    Args:
        models_dir: the folder that will receive the trained model and its plots.

    Returns:
        The folder as a Path.

    Raises:
        FolderError: if the path is a file, or the folder cannot be created or written to.
    """
    models_dir = Path(models_dir)
    if models_dir.exists() and not models_dir.is_dir():
        raise FolderError(f"models directory {models_dir} is a file, not a folder")
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=models_dir):
            pass
    except OSError as error:
        raise FolderError(
            f"cannot write to models directory {models_dir}: {error.strerror or error}"
        ) from None
    return models_dir


def usable_images(
    folder: str | os.PathLike,
    crop: int | None,
    label: str,
    on_progress: Progress | None = None,
    *,
    report: FolderReport | None = None,
    leave_out: str | os.PathLike | None = None,
    reading: Mapping | None = None,
) -> list[Path]:
    """Finds the images of a folder and decodes each once, keeping those training can use.

    Args:
        folder: folder searched recursively, as ``loop.find_micrographs`` does.
        crop: the side of the training crops; images smaller than it are left out. None for none:
            each image is resized to ``defaults.IMAGE_SIZE`` square, which is noted where it
            changes its size.
        label: what the images are, for the progress reports.
        on_progress: called after each file with the files checked, the files found, and
            "checking " and the label as the detail.
        report: where the images left out (its ``failed``: unreadable, smaller than the
            network's least size or the crops) and the links, special files, reader's notes and
            resizes (its ``notes``) are recorded, one line each; None forgets them.
        leave_out: a folder inside ``folder`` not to search (the models folder).
        reading: ``micrographs.read_micrograph``'s options.

    Returns:
        The usable paths, in the folder's order.

    Raises:
        NoMicrographsError: if the folder is missing or holds no image, or none of its images is
            usable.
    """
    folder = Path(folder)
    report = FolderReport() if report is None else report
    try:
        paths = loop.find_micrographs(folder, Path(leave_out or folder), report)
    except FolderError as error:
        raise NoMicrographsError(str(error)) from None
    usable = []
    for number, path in enumerate(paths, start=1):
        if _is_usable(path, crop, report, reading or {}):
            usable.append(path)
        if on_progress is not None:
            on_progress(number, len(paths), f"checking {label}")
    if not usable:
        raise NoMicrographsError(f"none of the {len(paths)} images in {folder} could be used")
    return usable


def _is_usable(path: Path, crop: int | None, report: FolderReport, reading: Mapping) -> bool:
    """Whether training can use this image, decoding it once; why not goes to the report's
    ``failed``, and what the reader noted and any resize to its ``notes``."""
    try:
        micrograph = micrographs.read_micrograph(path, **reading)
        height, width = micrograph.pixels.shape
        if crop is not None and min(height, width) < crop:
            raise UnreadableImageError(
                f"cannot crop {path}: it is {height}x{width}, smaller than the {crop}x{crop} crops"
            )
        loop.check_least_size(path, (height, width), architecture.SIDE_STEP)
    except (UnreadableImageError, SettingError, ImageSizeError) as error:
        report.failed.append(str(error))
        return False
    report.notes.extend(f"{path}: {note}" for note in micrograph.notes)
    if crop is None:
        notes = micrograph.resize_notes_at(defaults.IMAGE_SIZE)
        report.notes.extend(f"{path}: {note}" for note in notes)
    return True
