"""What the stage scripts share: the flags several take, how a command line is parsed and a folder
driver run, one-line errors, exit statuses and progress lines.

This is the one module of the package that writes to the terminal; the rest of the library raises
``errors.ComplexStepError`` and reports progress through callbacks, and the scripts use this module
to turn both into lines.
"""

import argparse
import contextlib
import math
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from complexstep import defaults, quiet
from complexstep.errors import ComplexStepError, UsageError
from complexstep.folders import loop

EXIT_FAILURE = 1
T = TypeVar("T")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that shows defaults and never wraps inside a hyphenated name such as
    ``integrated-complex-step``, so that every name can be read and copied whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


RELATIVE_FOLDERS = "Folder defaults are relative to the working directory."


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose errors are one-line usage errors, and whose help shows defaults
    and says where relative folders lie."""

    def __init__(self, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("epilog", RELATIVE_FOLDERS)
        super().__init__(**kwargs)

    def error(self, message: str) -> None:
        raise UsageError(message)


def parse_arguments_with(
    description: str, *adders: Callable[[argparse.ArgumentParser], None]
) -> Callable[..., argparse.Namespace]:
    """A command's ``parse_arguments(arguments=None, prog=None)``: it parses ``arguments`` (None
    reads ``sys.argv``) with an ``ArgumentParser`` described by ``description``, to which each of
    ``adders`` adds flags, in order; ``prog`` is the name the command was run as, None for a
    script.

    Raises:
        UsageError: if a flag is unknown or its value is invalid.
    """

    def parse_arguments(
        arguments: Sequence[str] | None = None, prog: str | None = None
    ) -> argparse.Namespace:
        parser = ArgumentParser(prog=prog, description=description)
        for add in adders:
            add(parser)
        return parser.parse_args(arguments)

    return parse_arguments


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type for whole numbers no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def whole_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type for whole numbers from ``low`` to ``high``, both included."""
    at_least_low = at_least(low)

    def parse(text: str) -> int:
        value = at_least_low(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def side_or_none(text: str) -> int | None:
    """An argparse type for --resize: a side in pixels, or 'none' to keep an image's own size."""
    if text.strip().lower() == "none":
        return None
    return at_least(1)(text)


def add_inputs_argument(parser: argparse.ArgumentParser, verb: str) -> None:
    """Adds --inputs, the folder of micrographs a script works on.

    Args:
        parser: the script's parser.
        verb: what the script does to the micrographs, for the help ("explain").
    """
    parser.add_argument(
        "--inputs",
        default=defaults.CONTOUR_INPUTS,
        help=f"folder of micrographs to {verb} (searched with its subfolders; PNG, JPEG, TIFF, "
        "BMP; any size, colour or grey)",
    )


def add_model_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """Adds --model and --resize, as the scripts that explain a model's micrographs take them.

    Args:
        parser: the script's parser.
        verb: what the script does to each micrograph, for the help ("explains").
    """
    parser.add_argument(
        "--model",
        default=defaults.MODEL_PATH,
        help=f"the autoencoder saved by stage 1, or '{defaults.PRETRAINED}' for the model trained "
        "at the paper's settings on the study's micrographs, which comes with the package",
    )
    parser.add_argument(
        "--resize",
        type=side_or_none,
        default=defaults.IMAGE_SIZE,
        metavar="SIZE|none",
        help=f"side every micrograph is resized to, as in the paper; 'none' {verb} each at its "
        "own resolution, cropped from the bottom and right to the largest size the network takes "
        "(multiples of 16 for the paper's model) so that map pixels are micrograph pixels",
    )


def data_bar(text: str) -> int | None:
    """An argparse type for --data-bar: 'auto' (None to the reader: the metadata's bar, or the one
    the pixels show), 'none' (0 rows) or a number of rows."""
    choice = text.strip().lower()
    if choice in defaults.DATA_BAR_CHOICES:
        return None if choice == "auto" else 0
    return at_least(0)(text)


def pages(text: str) -> str | int:
    """An argparse type for --pages: 'all', 'first' or a page number counted from 0."""
    choice = text.strip().lower()
    return choice if choice in defaults.PAGES else at_least(0)(text)


def add_reading_arguments(parser: argparse.ArgumentParser, pixel_size: bool = True) -> None:
    """Adds how micrographs are read, as every stage that reads them takes it: --intensity,
    --data-bar (and its older form --crop-bottom), --channel, --pixel-size and
    --max-image-pixels.

    Args:
        parser: the script's parser.
        pixel_size: whether to add --pixel-size (a script may have its own).
    """
    parser.add_argument(
        "--intensity",
        choices=defaults.INTENSITIES,
        default=defaults.INTENSITY,
        help="how integer grey values become [0, 1]: bits, by the significant bits the file "
        "declares or its maximum implies (a 12-bit frame in a 16-bit TIFF by 4095, so that it "
        "spans the range as the training JPEGs do); dtype, by the type's maximum (65535); "
        f"percentile, a {defaults.INTENSITY_PERCENTILES[0]:g}-"
        f"{defaults.INTENSITY_PERCENTILES[1]:g} %% stretch of each image",
    )
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument(
        "--data-bar",
        type=data_bar,
        default=None,
        metavar="auto|none|ROWS",
        help="a microscope's data bar burned into the micrographs: auto cuts the bar the "
        "metadata gives (FEI/Thermo Fisher's scanned height) or, where no metadata says, a band "
        "at the bottom or top that its pixels show (a flat background with text, logos or a "
        "scale bar beyond a straight edge), each said on one line; none cuts nothing; ROWS cuts "
        "that many rows from the bottom (default: auto)",
    )
    bar.add_argument(
        "--crop-bottom",
        type=at_least(0),
        dest="data_bar",
        metavar="ROWS",
        help="rows to cut from the bottom of every micrograph, as --data-bar ROWS",
    )
    parser.add_argument(
        "--channel",
        type=at_least(0),
        default=None,
        metavar="K",
        help="the one channel, counted from 0, of multi-channel micrographs (EBSD or EDS maps, "
        "two detectors) to read for a grey model; by default colour becomes grey by the ITU-R "
        "601 luma weights and other channels by their mean, each said on one line",
    )
    if pixel_size:
        add_pixel_size_argument(
            parser,
            "the micrographs' pixel size in µm, used where a file gives none (FEI, Zeiss, OME, "
            "ImageJ/Fiji calibrations and TIFF resolution tags are read); written beside each map "
            "for stage 3's scale bars",
        )
    parser.add_argument(
        "--max-image-pixels",
        type=at_least(1),
        default=defaults.MAX_PIXELS,
        metavar="PIXELS",
        help="the most pixels a micrograph file may have; larger ones are refused as possible "
        "decompression bombs; raise it for trusted larger scans",
    )


def add_pages_argument(parser: argparse.ArgumentParser) -> None:
    """Adds --pages, the pages of multi-page files a 2-D model explains."""
    parser.add_argument(
        "--pages",
        type=pages,
        default=defaults.PAGE_CHOICE,
        metavar="all|first|K",
        help="the pages of multi-page TIFFs and stacks explained: first, written as <stem> with "
        "a line saying that the others were left; all, each page k as <stem>_p<k>; K, page K "
        "alone, as <stem>_p<K>",
    )


def add_micrographs_argument(parser: argparse.ArgumentParser, use: str) -> None:
    """Adds --micrographs, the folder of the micrographs a folder of maps was made from, as
    stage 3 and the region statistics take it; ``use`` says what they are used for."""
    parser.add_argument(
        "--micrographs",
        default=defaults.CONTOUR_INPUTS,
        metavar="DIR",
        help=(
            "folder, searched with its subfolders, of the micrographs the maps were computed "
            f"from, matched by stem with any image suffix; {use}"
        ),
    )


def add_kind_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds which map is made, as stage 2 and the explorer take it: --kind and --baseline."""
    parser.add_argument(
        "--kind",
        default=defaults.MAP_KIND,
        choices=defaults.MAP_KINDS,
        help="the map made: complex-step, the paper's ||J e_k||; gradient-input, that map "
        "times |x - b| at each pixel, which the evaluation ranks best; integrated-complex-step, "
        f"|x - b| times the mean Jacobian's column norm along {defaults.INTEGRATION_STEPS} points "
        "of the path from b to x (pixel domain only, as many times slower); the kind is written "
        "in each map's sidecar",
    )
    add_baseline_argument(
        parser,
        f"the b of the weighted kinds, as the evaluation's: blur, the micrograph blurred by a "
        f"Gaussian of {defaults.BLUR_SIGMA:g} pixels; mean, its mean grey value",
    )


def add_baseline_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Adds --baseline, the b of the weighted maps and of the evaluation; ``help`` says what it
    is to the command."""
    parser.add_argument(
        "--baseline", choices=defaults.BASELINES, default=defaults.BASELINE, help=help
    )


def add_layer_argument(parser: argparse.ArgumentParser, whose: str, more: str = "") -> None:
    """Adds --layer, the layer whose output a command explains.

    Args:
        parser: the command's parser.
        whose: what the command does with the layer's output, for the help ("output is
            explained").
        more: what the help adds after saying that 'code' is the latent code.
    """
    parser.add_argument(
        "--layer",
        default=defaults.LAYER,
        help=f"name of the layer whose {whose}; 'code' is the latent code{more}",
    )


def add_maps_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Adds --inputs as the commands that read stage 2's maps take it; ``help`` says which of
    the folder's files they read."""
    parser.add_argument("--inputs", default=defaults.CONTOUR_OUTPUTS, metavar="DIR", help=help)


def add_scale_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Adds --scale, whether heatmaps are scaled each on its own or by one range for the folder;
    ``help`` says what each choice does to the command's pictures."""
    parser.add_argument("--scale", choices=defaults.SCALES, default=defaults.SCALE, help=help)


def add_dpi_argument(parser: argparse.ArgumentParser, pictures: str, more: str) -> None:
    """Adds --dpi, the resolution a command draws its pictures at.

    Args:
        parser: the command's parser.
        pictures: what is drawn at that resolution, for the help ("heatmaps and overlays").
        more: what the help adds after the range.
    """
    low, high = defaults.DPI_RANGE
    parser.add_argument(
        "--dpi",
        type=number_between(low, high),
        default=defaults.DPI,
        help=f"resolution of {pictures}, from {low:g} to {high:g} dpi{more}",
    )


def add_pixel_size_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Adds --pixel-size, in micrometres; ``help`` says what the command uses it for."""
    parser.add_argument(
        "--pixel-size", type=positive_number, default=None, metavar="MICROMETRES", help=help
    )


def add_seed_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """Adds --seed, a whole number from 0; ``help`` says what it seeds."""
    parser.add_argument("--seed", type=at_least(0), default=defaults.SEED, help=help)


def kind(arguments: argparse.Namespace) -> dict:
    """The ``Explainer`` arguments of --kind and --baseline."""
    return {"kind": arguments.kind, "baseline": arguments.baseline}


def reading(arguments: argparse.Namespace) -> dict:
    """The options of ``micrographs.read_micrograph`` that ``add_reading_arguments`` parsed."""
    reading = {
        "intensity": arguments.intensity,
        "crop_bottom": arguments.data_bar,
        "pixel_size": getattr(arguments, "pixel_size", None),
        "max_pixels": arguments.max_image_pixels,
    }
    # Only where given, so that training runs saved before the option resume with their settings.
    if arguments.channel is not None:
        reading["channel"] = arguments.channel
    return reading


def shard(text: str) -> tuple[int, int]:
    """An argparse type for --shard: K/N, whole numbers with 0 <= K < N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K/N such as 0/100, got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"K/N needs 0 <= K < N, got {text}")
    return index, count


def cluster_address(text: str) -> str:
    """An argparse type for --cluster: a scheduler's address, or local:N."""
    from complexstep.cluster import clients

    try:
        clients.local_workers(text)
    except ComplexStepError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_spreading_arguments(
    parser: argparse.ArgumentParser, what: str = "micrographs", verb: str = "explain"
) -> None:
    """Adds --shard and --cluster, which spread a folder's files over several runs or over the
    workers of a Dask cluster.

    Args:
        parser: the command's parser.
        what: what the folder's files are, in the help ("micrographs", "maps").
        verb: what the cluster does with them, in the help ("explain", "evaluate").
    """
    parser.add_argument(
        "--shard",
        type=shard,
        metavar="K/N",
        help=f"do only the K-th of N disjoint parts of the {what} (0 <= K < N, each part "
        "chosen by a hash of the file's path), so that N runs, such as the tasks of a SLURM job "
        "array, cover the folder exactly once",
    )
    parser.add_argument(
        "--cluster",
        type=cluster_address,
        metavar="ADDRESS|local:N",
        help=f"{verb} on a Dask cluster: the address of its scheduler (tcp://host:8786), or "
        "local:N for N worker processes on this machine; this process still reads and writes "
        'every file. Needs pip install "complexstep[cluster]"',
    )


@contextlib.contextmanager
def cluster(address: str | None) -> Iterator[object]:
    """The ``distributed.Client`` of the cluster at ``address``, or None where there is none;
    prints the cluster's dashboard address once.

    Raises:
        ClusterError: if the cluster cannot be reached or started, or Dask is missing.
    """
    if address is None:
        yield None
        return
    from complexstep.cluster import clients

    with clients.connect(address) as client:
        workers = len(client.scheduler_info()["workers"])
        print(
            f"Dask cluster {address}: {workers} worker(s), dashboard {client.dashboard_link}",
            file=sys.stderr,
        )
        yield client


# Each subcommand, the module holding its flags and main, the script in codes/ that runs the same,
# and what it does; in the order of the pipeline.
SUBCOMMANDS = {
    "synthesize": (
        "generate_synthetic_micrographs.py",
        "fill empty folders with synthetic micrographs",
    ),
    "train": ("build_convolutional_autoencoder.py", "stage 1: train the autoencoder"),
    "explain": (
        "obtain_attribution_contours.py",
        "stage 2: the attribution map of every micrograph",
    ),
    "heatmaps": ("generate_heatmaps.py", "stage 3: heatmaps, overlays and panels of the maps"),
    "regions": (
        "measure_regions.py",
        "how much of each map the phases and boundaries of its micrograph carry",
    ),
    "explore": ("explore_attributions.py", "a browser page of each micrograph's code and Jacobian"),
    "evaluate": (
        "evaluate_attributions.py",
        "measure how faithful the maps are, beside other methods",
    ),
}


def command_for(subcommand: str, prog: str | None) -> str:
    """The command that runs a subcommand, named the way the user ran this one: ``complexstep
    train`` after ``complexstep ...`` (as a pip install gives), ``python
    codes/build_convolutional_autoencoder.py`` after one of the scripts of a clone.

    Args:
        subcommand: a name of ``SUBCOMMANDS``.
        prog: the program name the command was run as, None for a script.
    """
    if prog is not None and prog.startswith("complexstep"):
        return f"complexstep {subcommand}"
    return f"python codes/{SUBCOMMANDS[subcommand][0]}"


def started(
    parse_arguments: Callable[..., argparse.Namespace],
    argv: Sequence[str] | None,
    prog: str | None,
) -> argparse.Namespace:
    """A command line parsed, its folder of micrographs and its Keras model checked, and Keras
    started: how every command that runs a Keras model on a folder begins.

    Raises:
        FolderError, UsageError: as ``check_inputs_and_model`` does.
    """
    arguments = parse_arguments(argv, prog)
    check_inputs_and_model(arguments.inputs, arguments.model, prog)
    start_keras()
    return arguments


def check_inputs_and_model(inputs: str, model: str, prog: str | None = None) -> None:
    """Reports a folder without micrographs or a missing model before Keras takes seconds to start.

    Args:
        inputs: the folder of micrographs.
        model: the model file, or ``defaults.PRETRAINED``.
        prog: the program name the command was run as, None for a script; the message names
            stage 1 the same way.

    Raises:
        FolderError: if the folder is missing or holds no image.
        UsageError: if the model file is missing.
    """
    loop.find_micrographs(Path(inputs), Path(inputs), loop.FolderReport())
    if model != defaults.PRETRAINED and not Path(model).is_file():
        raise UsageError(
            f"no model at {model}: run {command_for('train', prog)} first (stage 1), "
            f"or pass --model {defaults.PRETRAINED}"
        )


def print_report(report) -> None:
    """Says, one line each on standard error, what a folder driver noted, cropped and could not
    do."""
    for line in report.notes:
        print(line, file=sys.stderr)
    for path, size, explained in report.cropped:
        # A volume's three sides are cropped as a page's two; channels are never cropped.
        read = "x".join(map(str, size[: len(explained)]))
        edges = "the far end, bottom and right" if len(explained) == 3 else "bottom and right edges"
        print(
            f"cropped {path} from {read} to {'x'.join(map(str, explained))} ({edges})",
            file=sys.stderr,
        )
    for line in report.failed:
        print(line, file=sys.stderr)


def run_folder(driver: Callable[..., T], arguments: argparse.Namespace, *subject, **options) -> T:
    """Runs a folder driver from --inputs to --outputs, on the part of the folder and the cluster
    that --shard and --cluster name (``add_spreading_arguments``), and prints what its report
    noted (``print_report``).

    Args:
        driver: the folder driver: it takes the two folders, then ``subject``, then ``options``
            and the ``shard`` and ``client`` of the flags.
        arguments: the command's flags.
        subject: what the driver works with (an Explainer, the methods), where it takes one.
        options: the driver's other options.

    Returns:
        The driver's report.

    Raises:
        ClusterError: if the cluster cannot be reached or started, or Dask is missing.
    """
    with cluster(arguments.cluster) as client:
        report = driver(
            arguments.inputs,
            arguments.outputs,
            *subject,
            shard=arguments.shard,
            client=client,
            **options,
        )
    print_report(report)
    return report


def exit_status(report, failed: str) -> int:
    """A command's exit status after a folder driver's run: 0 where its report lists no failure,
    else ``EXIT_FAILURE`` after a line on standard error that counts them.

    Args:
        report: the driver's report, with its ``failed`` lines.
        failed: what the count is of, after it ("image(s) could not be explained").
    """
    if not report.failed:
        return 0
    print(f"{len(report.failed)} {failed}", file=sys.stderr)
    return EXIT_FAILURE


def positive_number(text: str) -> float:
    """An argparse type for finite numbers greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def number_between(low: float, high: float) -> Callable[[str], float]:
    """An argparse type for numbers from ``low`` to ``high``, both included."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low:g} to {high:g}, got {text}")
        return value

    return parse


def start_keras() -> None:
    """Imports Keras and starts its backend, showing what it wrote but TensorFlow's start-up
    notices (``quiet.start_keras``)."""
    for line in quiet.start_keras():
        print(line, file=sys.stderr)


def run(main: Callable[[], int]) -> None:
    """Runs a script's ``main`` and exits with its status, printing the library's errors as one
    line."""
    try:
        status = main()
    except ComplexStepError as error:
        print(f"error: {error}", file=sys.stderr)
        status = EXIT_FAILURE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        status = 130
    sys.exit(status)


class ProgressBar:
    """A one-line progress bar on standard error.

    On a terminal the line is redrawn in place; in a log it is printed at every tenth of the
    work, so that long runs show they are alive without flooding the file.

    Args:
        total: how many units of work there are.
        label: what the work is.
        units: what the units of work are called.
    """

    def __init__(self, total: int, label: str, units: str = "images"):
        self.total = max(total, 1)
        self.label = label
        self.units = units
        self.detail = ""
        self.done = 0
        self._interactive = sys.stderr.isatty()
        self._start = time.monotonic()
        self._last_tenth = -1

    def advance(self, count: int = 1) -> None:
        """Records ``count`` more units done and redraws the line when it is due."""
        self.done = min(self.done + count, self.total)
        tenth = self.done * 10 // self.total
        finished = self.done == self.total
        if not (self._interactive or tenth != self._last_tenth or finished):
            return
        self._last_tenth = tenth
        elapsed = time.monotonic() - self._start
        remaining = elapsed / max(self.done, 1) * (self.total - self.done)
        filled = self.done * _BAR_WIDTH // self.total
        bar = "=" * filled + " " * (_BAR_WIDTH - filled)
        detail = f", {self.detail}" if self.detail else ""
        line = (
            f"{self.label} [{bar}] {self.done}/{self.total} {self.units}{detail}, "
            f"{elapsed:.0f}s elapsed, {remaining:.0f}s left"
        )
        if self._interactive:
            print(f"\r{line}\033[K", end="\n" if finished else "", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


class ProgressBarCallback:
    """A command's callback for the library's ``progress.Progress``: a ``ProgressBar`` drawn from
    the first report, when the total is known, with what is being worked on beside it."""

    def __init__(self, label: str, units: str = "images"):
        self.label = label
        self.units = units
        self.bar: ProgressBar | None = None

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        if self.bar is None:
            self.bar = ProgressBar(total, self.label, self.units)
        self.bar.detail = detail
        self.bar.advance(done - self.bar.done)


_BAR_WIDTH = 30
