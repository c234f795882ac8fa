"""PyTorch encoders: seconds per map of the tests' ResNet-18-style encoder, by engine.

The encoder is the tests' zoo's (``tests/torch_zoo.py``), random weights, at its full width of
64 channels by default; the map is of its linear head, or of a stage with ``--layer``. The first
map of each engine also captures the module (``torch.export``) and is timed apart.

    python benchmarks/pytorch_speed.py --width 64 --side 256 --engines jacobian
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import complexstep
from complexstep import defaults

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from torch_zoo import ResNetEncoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=64, help="channels of the first stage")
    parser.add_argument("--side", type=int, default=defaults.IMAGE_SIZE, help="image side")
    parser.add_argument(
        "--layer", default=defaults.LAYER, help="submodule explained; the head by default"
    )
    parser.add_argument("--images", type=int, default=2, help="maps timed, after the first")
    parser.add_argument(
        "--engines", nargs="+", default=list(defaults.ENGINES), choices=defaults.ENGINES
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    arguments = parser.parse_args()
    torch.manual_seed(0)
    encoder = ResNetEncoder(width=arguments.width).eval().to(arguments.device)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 1, (arguments.images + 1, arguments.side, arguments.side))
    images = images.astype(np.float32)
    print(f"ResNet-18 of width {arguments.width}, {arguments.side}x{arguments.side}, ", end="")
    print(f"{arguments.layer}, on {arguments.device}")
    for engine in arguments.engines:
        explainer = complexstep.Explainer(encoder, layer=arguments.layer, engine=engine)
        start = time.perf_counter()
        explainer.attribute(images[0])
        first = time.perf_counter() - start
        start = time.perf_counter()
        for image in images[1:]:
            explainer.attribute(image)
        each = (time.perf_counter() - start) / arguments.images
        passes = explainer.tiling.pixel_passes(arguments.side, arguments.side)
        print(
            f"{engine:>13}: {each:8.2f} s a map, {passes:,} passes; the first map, capture "
            f"included, {first:.2f} s"
        )


if __name__ == "__main__":
    main()
