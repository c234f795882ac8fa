"""The functional API in a loop against a reused Explainer: seconds per 256x256 map.

``complexstep.attribute(model, image)`` keeps the Explainer it builds for a model and its
settings, so a loop of calls should cost little more than ``Explainer.attribute``; the target is at
most 1.25 times.

    python benchmarks/api_reuse.py --images 10
"""

import argparse
import time

import numpy as np

import complexstep
from complexstep.model import synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--images", type=int, default=10, help="micrographs timed, after one warm-up"
    )
    parser.add_argument("--model", default="pretrained", help="model file, or 'pretrained'")
    arguments = parser.parse_args()
    rng = np.random.default_rng(0)
    images = [
        synthetic.generate_micrograph(rng).astype(np.float32) / 255
        for _ in range(arguments.images + 1)
    ]
    model = complexstep.load_model(arguments.model)

    complexstep.attribute(model, images[0])
    start = time.perf_counter()
    for image in images[1:]:
        complexstep.attribute(model, image)
    functional = (time.perf_counter() - start) / arguments.images

    explainer = complexstep.Explainer(model)
    explainer.attribute(images[0])
    start = time.perf_counter()
    for image in images[1:]:
        explainer.attribute(image)
    reused = (time.perf_counter() - start) / arguments.images

    print(f"complexstep.attribute in a loop: {functional:.3f} s a map")
    print(f"Explainer.attribute in a loop:   {reused:.3f} s a map")
    print(f"ratio: {functional / reused:.2f} (target at most 1.25)")


if __name__ == "__main__":
    main()
