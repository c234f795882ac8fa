"""How fast the two attribution engines explain one 256x256 micrograph, and at what memory cost.

Prints, for the current machine: seconds per full map for the complex-step and jacobian engines,
the one-pixel-per-pass complex step of the original code extrapolated from timed pixels, the
speed-ups, and each engine's peak resident memory. Each measurement runs in a fresh process, so
that peak memory belongs to that engine alone.

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

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY / "codes"))

from complexstep import cli  # noqa: E402

ENGINES = ("complex-step", "jacobian", "one-pixel-per-pass")


def measure(engine: str, model_path: str, repeats: int, pixels: int) -> dict:
    """Times one engine on one synthetic micrograph, in this process."""
    cli.start_keras()
    import keras
    import numpy as np

    from complexstep import architecture, attribution, synthetic

    if Path(model_path).is_file():
        model = attribution.load_model(model_path)
    else:
        keras.utils.set_random_seed(0)
        model = architecture.build_autoencoder()
    twin = architecture.build_complex_twin(model, architecture.CODE_LAYER)
    image = synthetic.generate_micrograph(np.random.default_rng(0)).astype(np.float32) / 255.0
    if engine == "one-pixel-per-pass":
        rng = np.random.default_rng(1)
        chosen = rng.choice(image.size, size=pixels, replace=False)

        def explain():
            # A compiled complex forward pass per pixel, as the original code made them.
            for index in chosen:
                z = image[None, :, :, None].astype(np.complex64)
                z.flat[index] += 1j * attribution.DEFAULT_H
                twin.predict_on_batch(z)

        scale = image.size / pixels
    else:
        method = attribution.METHODS[engine](twin)

        def explain():
            method(image)

        scale = 1.0
    explain()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        explain()
        times.append((time.perf_counter() - start) * scale)
    peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"engine": engine, "seconds": min(times), "peak_bytes": peak_bytes}


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=str(REPOSITORY / "models" / "autoencoder_microstructure.keras"),
        help="trained model to explain; the architecture with random weights if it is missing",
    )
    parser.add_argument("--repeats", type=cli.at_least(1), default=3, help="timed runs per engine")
    parser.add_argument(
        "--pixels",
        type=cli.at_least(64),
        default=64,
        help="pixels timed for the one-pixel-per-pass baseline, extrapolated to the whole image",
    )
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.engine:
        result = measure(arguments.engine, arguments.model, arguments.repeats, arguments.pixels)
        print(json.dumps(result))
        return 0
    results = {}
    for engine in ENGINES:
        repeats = 1 if engine == "one-pixel-per-pass" else arguments.repeats
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "--engine",
                engine,
                "--model",
                arguments.model,
                "--repeats",
                str(repeats),
                "--pixels",
                str(arguments.pixels),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ),
        )
        results[engine] = json.loads(completed.stdout.strip().splitlines()[-1])
    baseline = results["one-pixel-per-pass"]["seconds"]
    print(
        f"one 256x256 map of the code on {os.cpu_count()} CPU core(s), best of "
        f"{arguments.repeats}; baseline extrapolated from {arguments.pixels} pixels"
    )
    print(f"{'engine':<20} {'seconds/map':>12} {'speed-up':>10} {'peak memory':>12}")
    for engine, result in results.items():
        print(
            f"{engine:<20} {result['seconds']:>12.2f} {baseline / result['seconds']:>9.0f}x "
            f"{result['peak_bytes'] / 2**30:>9.2f} GiB"
        )
    return 0


if __name__ == "__main__":
    cli.run(main)
