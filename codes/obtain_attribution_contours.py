"""Stage 2: explain the trained autoencoder's latent code, pixel by pixel.

Builds the complex-valued twin of the model trained by stage 1 and writes, for every micrograph in
the inputs folder, how strongly each pixel drives the chosen layer's output: the norm of the
output's imaginary part when that pixel alone is perturbed by i*h, divided by h.

    python codes/obtain_attribution_contours.py --inputs contour_inputs --method jacobian
"""

import argparse
import sys
import time
from pathlib import Path

from complexstep import cli, images


def parse_arguments() -> argparse.Namespace:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--inputs",
        default="contour_inputs",
        help="folder of micrographs to explain (searched with its subfolders; PNG, JPEG, TIFF, "
        "BMP; any size, colour or grey)",
    )
    parser.add_argument(
        "--outputs",
        default="contour_outputs/all",
        help="folder for <stem>.npy (raw float32 attribution) and <stem>.png (8-bit, min-max "
        "scaled), mirroring the inputs' subfolders",
    )
    parser.add_argument(
        "--model",
        default="models/autoencoder_microstructure.keras",
        help="the autoencoder saved by stage 1",
    )
    parser.add_argument(
        "--method",
        default="complex-step",
        choices=["complex-step", "jacobian"],
        help="complex-step: complex-valued forward passes, as in the paper; jacobian: the same "
        "numbers by reverse-mode differentiation, faster",
    )
    parser.add_argument(
        "--h",
        type=cli.positive_number,
        default=0.1,
        help="size of the imaginary step i*h added to each pixel (complex-step only; the result "
        "does not depend on it beyond rounding)",
    )
    parser.add_argument(
        "--layer",
        default="code",
        help="name of the layer whose output is explained; 'code' is the 16x16x8 latent code, "
        "any layer of the model works (layers further from the input take longer)",
    )
    parser.add_argument(
        "--batch-size",
        type=cli.at_least(1),
        default=16,
        help="perturbed copies of a full-size image pushed through a layer at once (coarser "
        "layers take proportionally more); larger is faster and uses more memory",
    )
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments()
    # Missing inputs or model are reported before Keras takes seconds to start.
    images.find_images(arguments.inputs)
    if not Path(arguments.model).is_file():
        raise cli.UserError(
            f"no model at {arguments.model}: run codes/build_convolutional_autoencoder.py first "
            "(stage 1)"
        )
    cli.start_keras()
    from complexstep import attribution

    model = attribution.load_model(arguments.model)
    start = time.monotonic()
    done, failed = attribution.attribute_folder(
        arguments.inputs,
        arguments.outputs,
        model,
        method=arguments.method,
        h=arguments.h,
        layer=arguments.layer,
        batch_size=arguments.batch_size,
    )
    seconds = time.monotonic() - start
    print(
        f"wrote the attribution maps of {len(done)} image(s) to {arguments.outputs} "
        f"in {seconds:.1f} s ({arguments.method}, layer {arguments.layer!r})"
    )
    if failed:
        print(f"{len(failed)} image(s) could not be read", file=sys.stderr)
        return cli.EXIT_FAILURE
    return 0


if __name__ == "__main__":
    cli.run(main)
