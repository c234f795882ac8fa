"""Stage 2: explain the trained autoencoder's latent code, pixel by pixel.

Builds the complex-valued twin of the model trained by stage 1 and writes, for every micrograph in
the inputs folder, how strongly each pixel drives the chosen layer's output: the norm of the
output's imaginary part when that pixel alone is perturbed by i*h, divided by h. In the wavelet
domain the same for every coefficient of the micrograph's wavelet transform, perturbed along its
basis image.

    python codes/obtain_attribution_contours.py --inputs contour_inputs --resize none
    python codes/obtain_attribution_contours.py --domain wavelet --wavelet db2 --levels 4
    python codes/obtain_attribution_contours.py --shard $SLURM_ARRAY_TASK_ID/100 --skip-existing
    python codes/obtain_attribution_contours.py --cluster tcp://scheduler:8786
"""

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli
from complexstep.explain.settings import ExplainerSettings
from complexstep.model.torch_files import ARCHIVE


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_inputs_argument(parser, "explain")
    parser.add_argument(
        "--outputs",
        default=defaults.CONTOUR_OUTPUTS,
        help="folder for <stem>.npy (raw float32 attribution), <stem>.png (8-bit, min-max "
        "scaled) and <stem>.json (the model, its SHA-256, the settings and how the micrograph was "
        "read, with its pixel size), or in the wavelet domain <stem>.wavelet.npy and "
        "<stem>.wavelet.json, mirroring the inputs' subfolders",
    )
    parser.add_argument(
        "--method",
        default=defaults.ENGINE,
        choices=defaults.ENGINES,
        help="the engine that computes the maps (not the kind of map, which --kind chooses): "
        "jacobian, reverse-mode passes through the twin, 3 to 5 times faster; complex-step, "
        "complex-valued forward passes, as in the paper; both give the same numbers",
    )
    parser.add_argument(
        "--h",
        type=cli.number_between(*defaults.H_RANGE),
        default=defaults.H,
        help="size of the imaginary step i*h added to each pixel (complex-step only; the result "
        f"does not depend on it beyond rounding), from {defaults.H_RANGE[0]:g} to "
        f"{defaults.H_RANGE[1]:g}, the steps float32 passes carry through a network",
    )
    cli.add_layer_argument(
        parser,
        "output is explained",
        ", any layer of the model works (layers further from the input take longer)",
    )
    cli.add_model_arguments(parser, "explains")
    cli.add_kind_arguments(parser)
    cli.add_reading_arguments(parser)
    cli.add_pages_argument(parser)
    parser.add_argument(
        "--domain",
        default=defaults.DOMAIN,
        choices=defaults.DOMAINS,
        help="pixel: the attribution of every pixel; wavelet: of every coefficient of the "
        "micrograph's orthonormal wavelet transform (positions at scales), written as "
        "<stem>.wavelet.npy in PyWavelets' coeffs_to_array layout, with <stem>.wavelet.json "
        "giving each level's and orientation's share of the squared attribution",
    )
    parser.add_argument(
        "--wavelet",
        default=defaults.WAVELET,
        help="in the wavelet domain, any orthogonal PyWavelets wavelet: haar, db2, db4, sym4, "
        "coif1...",
    )
    parser.add_argument(
        "--levels",
        type=cli.at_least(1),
        default=defaults.WAVELET_LEVELS,
        help="in the wavelet domain, how many times the transform halves the micrograph; level l "
        "holds variations with periods of 2**l to 2**(l+1) pixels",
    )
    parser.add_argument(
        "--per-channel",
        action="store_true",
        help="for a model of several input channels (colour, two detectors), one map per channel "
        "k, written as <stem>_c<k>.npy, .png and .json, whose squares add up to those of the "
        "pixel map written without it; refused for a grey model",
    )
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave alone every micrograph whose .npy, .png and .json (.wavelet.npy and "
        ".wavelet.json in the wavelet domain) are already in --outputs, to continue an "
        "interrupted run; maps whose .json names another --kind or --baseline are refused, not "
        "left beside the new kind",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.at_least(1),
        default=defaults.ENGINE_BATCH_SIZE,
        help="perturbed copies of a 256x256 image pushed through a layer at once (smaller and "
        "coarser images take proportionally more); larger is faster and uses more memory",
    )
    cli.add_spreading_arguments(parser)


parse_arguments = cli.parse_arguments_with(__doc__.split("\n\n")[0], _add_arguments)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    arguments = parse_arguments(argv, prog)
    # Every setting is checked before Keras takes seconds to start: a wavelet PyWavelets does not
    # know, or a kind the domain cannot make, is reported at once.
    settings = ExplainerSettings(
        layer=arguments.layer,
        engine=arguments.method,
        h=arguments.h,
        batch_size=arguments.batch_size,
        domain=arguments.domain,
        wavelet=arguments.wavelet,
        levels=arguments.levels,
        per_channel=arguments.per_channel,
        **cli.kind(arguments),
    )
    cli.check_inputs_and_model(arguments.inputs, arguments.model, prog)
    # A PyTorch archive is explained by PyTorch alone: Keras, and TensorFlow, are not started.
    if Path(arguments.model).suffix != ARCHIVE:
        cli.start_keras()
    from complexstep import api
    from complexstep.folders import attribution as attribution_folder

    explainer = api.Explainer(arguments.model, settings)
    # A 3-D model's stacks are never resized: the run refuses --resize on its one line.
    if arguments.resize is not None and explainer.spatial == 2:
        side = arguments.resize
        print(f"each {side}x{side} micrograph takes {explainer.describe_passes(side, side)}")
    start = time.monotonic()

    with cli.cluster(arguments.cluster) as client:
        report = attribution_folder.attribute_folder(
            arguments.inputs,
            arguments.outputs,
            explainer,
            resize=arguments.resize,
            skip_existing=arguments.skip_existing,
            on_progress=cli.ProgressBarCallback(f"{settings.engine} attribution", units="passes"),
            reading=cli.reading(arguments),
            model_path=arguments.model,
            shard=arguments.shard,
            client=client,
            pages=arguments.pages,
        )
    cli.print_report(report)
    existing = f"; {len(report.existing)} already there" if report.existing else ""
    described = ", ".join(
        part
        for part in (
            settings.engine,
            f"layer {arguments.layer!r}",
            explainer.domain.describe(),
            "" if arguments.kind == defaults.MAP_KIND else arguments.kind,
            f"{arguments.baseline} baseline" if explainer.kind.weighted else "",
        )
        if part
    )
    print(
        f"wrote the attribution maps of {len(report.written)} image(s) to {arguments.outputs} "
        f"in {time.monotonic() - start:.1f} s ({described}){existing}"
    )
    if report.failed:
        print(f"{len(report.failed)} image(s) could not be explained", file=sys.stderr)
        return cli.EXIT_FAILURE
    return 0
