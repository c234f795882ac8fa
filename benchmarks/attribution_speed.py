"""How fast the two attribution engines explain micrographs, at what memory cost, by image size.

Prints, for the current machine and Keras backend:

- seconds per 256x256 map of the code for the complex-step and jacobian engines, and for the
  one-pixel-per-pass complex step of the original code, extrapolated from timed pixels, with the
  speed-ups and each engine's peak resident memory;
- the same two engines on larger images (1024x1024, a 2048x1536 SEM frame and 4096x4096 by
  default), split into tiles as ``complexstep.attribute`` splits them, with the time relative to
  the 256x256 map.

Each measurement runs in a fresh process, so that peak memory belongs to that engine and size
alone; what compiles (the first pass, or the first tile of a large image) is not timed.

    python benchmarks/attribution_speed.py [--model models/autoencoder_microstructure.keras]

Without a trained model it uses the paper's architecture with seeded random weights: the work
done does not depend on the weights.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli

ENGINES = ("complex-step", "jacobian")
BASELINE = "one-pixel-per-pass"
SIZES = ("1024x1024", "2048x1536", "4096x4096")


def measure(engine: str, model_path: str, size: tuple[int, int], repeats: int, pixels: int):
    """Times one engine on one synthetic micrograph of ``size``, in this process."""
    cli.start_keras()
    import keras
    import numpy as np

    from complexstep import api
    from complexstep.model import architecture, synthetic
    from complexstep.twin import building as twin

    if Path(model_path).is_file():
        model = api.load_model(model_path)
    else:
        keras.utils.set_random_seed(0)
        model = architecture.build_autoencoder()
    rng = np.random.default_rng(0)
    image = synthetic.generate_micrograph(rng, max(size)).astype(np.float32) / 255.0
    image = image[: size[0], : size[1]]
    if engine == BASELINE:
        made = twin.build_complex_twin(model, defaults.LAYER, size)
        chosen = np.random.default_rng(1).choice(image.size, size=pixels, replace=False)

        def explain():
            # A compiled complex forward pass per pixel, as the original code made them.
            for index in chosen:
                z = image[None, :, :, None].astype(np.complex64)
                z.flat[index] += 1j * defaults.H
                made.predict_on_batch(z)

        scale = image.size / pixels
        warm_up = explain
    else:
        explainer = api.Explainer(model, engine=engine)

        def explain():
            explainer.attribute(image)

        # All tiles of an image share one shape, so one tile compiles what the whole map needs.
        tile_height, tile_width = explainer.tiling.plan(*size)[0].shape

        def warm_up():
            explainer.attribute(image[:tile_height, :tile_width])

        scale = 1.0
    warm_up()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        explain()
        times.append((time.perf_counter() - start) * scale)
    peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": min(times), "peak_bytes": peak_bytes}


def run_apart(engine: str, size: str, arguments: argparse.Namespace, repeats: int) -> dict:
    """Runs ``measure`` in a fresh process and returns what it found."""
    completed = subprocess.run(
        [
            sys.executable,
            __file__,
            "--engine",
            engine,
            "--size",
            size,
            "--model",
            arguments.model,
            "--repeats",
            str(repeats),
            "--pixels",
            str(arguments.pixels),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    if completed.returncode:
        raise cli.UsageError(f"{engine} at {size} failed: {completed.stderr.strip()[-300:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _size(text: str) -> tuple[int, int]:
    """Parses HEIGHTxWIDTH."""
    try:
        height, width = (int(side) for side in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from None
    return height, width


def _size_label(text: str) -> str:
    """Checks HEIGHTxWIDTH and writes it as the measuring processes and the table are given it."""
    height, width = _size(text)
    return f"{height}x{width}"


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=defaults.MODEL_PATH,
        help="trained model to explain; the architecture with random weights if it is missing",
    )
    parser.add_argument("--repeats", type=cli.at_least(1), default=3, help="timed runs per engine")
    parser.add_argument(
        "--pixels",
        type=cli.at_least(64),
        default=64,
        help="pixels timed for the one-pixel-per-pass baseline, extrapolated to the whole image",
    )
    parser.add_argument(
        "--sizes",
        nargs="*",
        type=_size_label,
        default=list(SIZES),
        metavar="HxW",
        help="larger image sizes to time both engines at, each once after a warm-up",
    )
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the slow one-pixel-per-pass baseline"
    )
    parser.add_argument("--engine", choices=(*ENGINES, BASELINE), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=_size, default=(256, 256), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.engine:
        result = measure(
            arguments.engine, arguments.model, arguments.size, arguments.repeats, arguments.pixels
        )
        print(json.dumps(result))
        return 0

    engines = ENGINES if arguments.no_baseline else (*ENGINES, BASELINE)
    small = {
        engine: run_apart(
            engine, "256x256", arguments, 1 if engine == BASELINE else arguments.repeats
        )
        for engine in engines
    }
    print(
        f"one 256x256 map of the code on {os.cpu_count()} CPU core(s), Keras backend "
        f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}, best of {arguments.repeats}"
        + (
            ""
            if arguments.no_baseline
            else f"; baseline extrapolated from {arguments.pixels} pixels"
        )
    )
    print(f"{'engine':<20} {'seconds/map':>12} {'speed-up':>10} {'peak memory':>12}")
    reference = small.get(BASELINE, small["complex-step"])["seconds"]
    for engine, result in small.items():
        print(
            f"{engine:<20} {result['seconds']:>12.2f} {reference / result['seconds']:>9.0f}x "
            f"{result['peak_bytes'] / 2**30:>9.2f} GiB"
        )
    if not arguments.sizes:
        return 0
    print()
    print("larger images, tiled as complexstep.attribute tiles them, one timed map each")
    print(
        f"{'engine':<14} {'size':>10} {'pixels':>8} {'seconds':>9} {'time':>8} {'peak memory':>12}"
    )
    for engine in ENGINES:
        print(
            f"{engine:<14} {'256x256':>10} {'1x':>8} {small[engine]['seconds']:>9.2f} {'1x':>8} "
            f"{small[engine]['peak_bytes'] / 2**30:>9.2f} GiB"
        )
        for size in arguments.sizes:
            result = run_apart(engine, size, arguments, 1)
            height, width = _size(size)
            print(
                f"{engine:<14} {size:>10} {height * width / 256**2:>7.0f}x "
                f"{result['seconds']:>9.2f} {result['seconds'] / small[engine]['seconds']:>7.1f}x "
                f"{result['peak_bytes'] / 2**30:>9.2f} GiB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    cli.run(main)
