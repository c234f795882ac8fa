"""What a wavelet map of the code costs beside a pixel map, and beside WCAM's forward passes.

Prints, for one 256x256 synthetic micrograph on the current machine and Keras backend, the
seconds per pixel map and per wavelet map of each wavelet asked for, timed back to back in one
process after a warm-up (best of --repeats), their ratio, the passes each takes, the sum of the
wavelet map's squares over the pixel map's (1 by Parseval), and the forward passes WCAM's
defaults take to estimate a wavelet map.

    python benchmarks/wavelet_speed.py [--model models/autoencoder_microstructure.keras]

Without a trained model it uses the paper's architecture with seeded random weights: the work
done does not depend on the weights.
"""

import os
import time
from pathlib import Path

from complexstep import defaults
from complexstep.commands import cli

# WCAM estimates Sobol indices from nb_design * (grid_size**2 + 2) perturbed forward passes per
# image; 4,224 at its defaults, nb_design 64 and an 8x8 grid.
WCAM_DESIGN = 64
WCAM_GRID = 8
WAVELETS = ("haar", "db2", "db4")


def main() -> int:
    parser = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default=defaults.MODEL_PATH,
        help="trained model to explain; the architecture with random weights if it is missing",
    )
    parser.add_argument("--repeats", type=cli.at_least(1), default=3, help="timed maps of each")
    parser.add_argument(
        "--wavelets", nargs="+", default=list(WAVELETS), help="orthogonal wavelets to time"
    )
    parser.add_argument(
        "--levels", type=cli.at_least(1), default=defaults.WAVELET_LEVELS, help="wavelet levels"
    )
    parser.add_argument(
        "--engine",
        default=defaults.ENGINE,
        choices=defaults.ENGINES,
        help="the engine of both maps",
    )
    arguments = parser.parse_args()
    cli.start_keras()
    import keras
    import numpy as np

    from complexstep import api
    from complexstep.model import architecture, synthetic

    if Path(arguments.model).is_file():
        model = api.load_model(arguments.model)
    else:
        keras.utils.set_random_seed(0)
        model = architecture.build_autoencoder()
    image = synthetic.generate_micrograph(np.random.default_rng(0), 256) / np.float32(255.0)
    explainers = {"pixel": api.Explainer(model, engine=arguments.engine)}
    for wavelet in arguments.wavelets:
        explainers[wavelet] = api.Explainer(
            model,
            engine=arguments.engine,
            domain="wavelet",
            wavelet=wavelet,
            levels=arguments.levels,
        )
    maps = {name: explainer.attribute(image) for name, explainer in explainers.items()}
    seconds = {name: [] for name in explainers}
    for _ in range(arguments.repeats):
        # Each round times every map back to back, so that a busy machine slows them alike.
        for name, explainer in explainers.items():
            start = time.perf_counter()
            explainer.attribute(image)
            seconds[name].append(time.perf_counter() - start)
    pixel_squares = np.sum(maps["pixel"].astype(np.float64) ** 2)
    print(
        f"one 256x256 map of the code on {os.cpu_count()} CPU core(s), Keras backend "
        f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}, {arguments.engine} engine, "
        f"{arguments.levels} wavelet levels, best of {arguments.repeats}"
    )
    print(f"{'map':<8} {'seconds':>8} {'x pixel':>8} {'passes':>7} {'squares / pixel':>16}")
    for name, explainer in explainers.items():
        best = min(seconds[name])
        ratio = best / min(seconds["pixel"])
        squares = np.sum(maps[name].astype(np.float64) ** 2) / pixel_squares
        print(
            f"{name:<8} {best:>8.2f} {ratio:>8.2f} {explainer.passes(256, 256):>7} {squares:>16.8f}"
        )
    print(
        f"WCAM's defaults: {WCAM_DESIGN * (WCAM_GRID**2 + 2):,} forward passes per image "
        f"(nb_design {WCAM_DESIGN} x (grid {WCAM_GRID}**2 + 2)), for an estimate"
    )
    return 0


if __name__ == "__main__":
    cli.run(main)
