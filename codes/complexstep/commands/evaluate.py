"""Measure how faithful attribution maps are: the complex step beside other methods and controls.

For every micrograph in the inputs folder (or a random sample of them), computes each method's map
of the layer's whole output and measures it: the deletion and insertion curves and their areas,
the representation shift after deleting 5 to 50 % of the pixels, whether the map is the derivative
it claims to be (single-pixel steps and small noise), its stability under noise, and its cost.
Writes metrics.csv, curves.csv, summary.md, curves.png and a panel of every method's maps per
micrograph, and prints the summary. With --shard K/N the folder's files are named for the shard
(metrics.shard-K-of-N.csv ...).

    python codes/evaluate_attributions.py --inputs contour_inputs --model pretrained
    python codes/evaluate_attributions.py --shard $SLURM_ARRAY_TASK_ID/10 --cluster local:2
"""

import argparse
import time
from collections.abc import Sequence

from complexstep import defaults
from complexstep.commands import cli


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_inputs_argument(parser, "evaluate the methods on")
    cli.add_model_arguments(parser, "evaluates")
    cli.add_reading_arguments(parser)
    cli.add_layer_argument(parser, "whole output f every method explains")
    parser.add_argument(
        "--outputs",
        default=defaults.EVALUATION_DIR,
        help="folder for metrics.csv, curves.csv, summary.md, curves.png and the panels",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=defaults.ATTRIBUTION_METHODS,
        default=list(defaults.ATTRIBUTION_METHODS),
        metavar="METHOD",
        help=f"the methods to evaluate, any of: {', '.join(defaults.ATTRIBUTION_METHODS)}",
    )
    cli.add_baseline_argument(
        parser,
        "what removed pixels are replaced by: the micrograph blurred by a Gaussian of sigma "
        f"{defaults.BLUR_SIGMA:g} px, or its mean grey value",
    )
    parser.add_argument(
        "--steps",
        type=cli.at_least(1),
        default=defaults.EVALUATION_STEPS,
        help="steps of the deletion and insertion curves, from no pixel replaced to all",
    )
    parser.add_argument(
        "--stride",
        type=_stride,
        default=defaults.OCCLUSION_STRIDE,
        help=f"how far apart occlusion's {defaults.OCCLUSION_PATCH}x{defaults.OCCLUSION_PATCH} "
        f"patches start, at most {defaults.OCCLUSION_PATCH} so that they cover every pixel; "
        "smaller is finer and slower",
    )
    parser.add_argument(
        "--sample",
        type=cli.at_least(1),
        help="evaluate only this many micrographs, drawn at random with the seed (all if unset)",
    )
    cli.add_seed_argument(
        parser,
        "seed of the sample, the fidelity probes' pixels and noise, SmoothGrad's noise, the "
        "random maps and the stability test",
    )
    cli.add_spreading_arguments(parser, verb="evaluate")


def _stride(text: str) -> int:
    """Parses --stride: a whole number from 1 up to the occlusion patch's side, so that the
    patches cover every pixel."""
    value = cli.at_least(1)(text)
    if value > defaults.OCCLUSION_PATCH:
        raise argparse.ArgumentTypeError(
            f"must be at most the patch's {defaults.OCCLUSION_PATCH}, so that every pixel is "
            f"covered, got {value}"
        )
    return value


parse_arguments = cli.parse_arguments_with(__doc__.split("\n\n")[0], _add_arguments)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    arguments = cli.started(parse_arguments, argv, prog)
    from complexstep.evaluation import measure as evaluation
    from complexstep.evaluation import methods as evaluation_methods
    from complexstep.folders import evaluation as evaluation_folder

    start = time.monotonic()

    methods = evaluation_methods.AttributionMethods(
        arguments.model,
        layer=arguments.layer,
        settings=evaluation_methods.MethodSettings(occlusion_stride=arguments.stride),
    )
    report = cli.run_folder(
        evaluation_folder.evaluate_folder,
        arguments,
        methods,
        names=arguments.methods,
        settings=evaluation.EvaluationSettings(
            baseline=arguments.baseline, steps=arguments.steps, seed=arguments.seed
        ),
        resize=arguments.resize,
        sample=arguments.sample,
        on_progress=cli.ProgressBarCallback("evaluation", units="maps"),
        reading=cli.reading(arguments),
    )
    if report.summary:
        print(report.summary)
    print(
        f"evaluated {len(arguments.methods)} method(s) on {len(report.written)} micrograph(s) "
        f"in {time.monotonic() - start:.0f} s; results in {arguments.outputs}"
    )
    return cli.exit_status(report, "problem(s); see above")
