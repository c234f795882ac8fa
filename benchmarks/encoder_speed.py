"""Seconds per map for encoders of every family the graph twin mirrors, against the naive Jacobian.

Prints, for the current machine and Keras backend, one row per family of ``tests/encoder_zoo.py``
built for 128x128 images (the volume for 64x64x64: ``--side 256`` for 128x128x128), and the peak
memory of the process; the paper's network at 256x256 with ``--paper``. Seconds
per map for the jacobian and complex-step engines, the passes each takes and which way they go,
and the seconds the backend's own dense Jacobian (``tf.GradientTape.jacobian``, or
``jax.jacrev``) takes for the same map, in one call. What the engines compile is run once before
their timing.

    python benchmarks/encoder_speed.py [--side 128] [--repeats 3] [--families a,b]
    python benchmarks/encoder_speed.py --paper     # the paper's network only, both engines
    python benchmarks/encoder_speed.py --volume 128  # the volume family at 128^3, one map
    python benchmarks/encoder_speed.py --volume 128 --tile-size 64  # in tiles of 64^3 at most

``--volume`` times one map of the zoo's Conv3D encoder at SIDE^3 by the jacobian engine, its
first call included (a second would double a run of minutes), with the process's peak memory:
how time and memory grow with a volume, whose dense Jacobian no machine here could hold, and
with ``--tile-size``, how tiles bound the memory.

``--paper`` is how the paper's network is timed before and after a change: run it on both
checkouts in turn, on the same machine.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


DENSE_LIMIT = 1e9
"""The largest dense float32 Jacobian, in bytes, the benchmark computes as the baseline."""


def timed(function, repeats: int) -> float:
    """The least seconds of ``repeats`` calls, after one untimed call that compiles."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def paper(repeats: int) -> None:
    """The paper's network at 256x256, seconds per map of its code for both engines."""
    import keras

    import complexstep
    from complexstep import defaults
    from complexstep.model import architecture, synthetic

    keras.utils.set_random_seed(0)
    model = architecture.build_autoencoder()
    image = synthetic.generate_micrograph(np.random.default_rng(0), 256).astype(np.float32) / 255
    for engine in defaults.ENGINES:
        explainer = complexstep.Explainer(model, engine=engine)
        seconds = timed(lambda explainer=explainer: explainer.attribute(image), repeats)
        print(f"paper's network, 256x256, {engine}: {seconds:.3f} s a map")


def families(side: int, repeats: int, names: list[str]) -> None:
    import complexstep
    from complexstep import defaults
    from encoder_zoo import ZOO, build, dense_column_norms, image

    print("| family | input | jacobian s | passes | complex-step s | passes | dense Jacobian s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in names or list(ZOO):
        encoder = build(name, side=side)
        x = image(encoder)
        cells = []
        for engine in defaults.ENGINES:
            explainer = complexstep.Explainer(encoder.model, layer=encoder.layer, engine=engine)
            seconds = timed(lambda explainer=explainer: explainer.attribute(x), repeats)
            passes = explainer.describe_passes(*encoder.sides).split(" ", 2)
            # A chain of the paper's kind is explained by the chain's own engines.
            way = "chain" if explainer.tiling.is_chain else passes[1]
            cells += [f"{seconds:.3f}", f"{passes[0]} {way}"]
        # The dense Jacobian of a large code does not fit in memory (the tape's loop holds
        # several times its size): it is left out above DENSE_LIMIT, its size given instead.
        size = 4 * x.size * int(np.prod(encoder.reference.output_shape[1:]))
        if size > DENSE_LIMIT:
            dense = f"{size / 1e9:.0f} GB, not run"
        else:
            # One call: tf.GradientTape.jacobian traces its loop afresh on every call anyway.
            start = time.perf_counter()
            dense_column_norms(encoder, x)
            dense = f"{time.perf_counter() - start:.3f}"
        shape = "x".join(map(str, (*encoder.sides, encoder.channels)))
        print(f"| {name} | {shape} | {' | '.join(cells)} | {dense} |")


def volume(side: int, tile_size: int | None) -> None:
    """One map of the zoo's volume family at ``side`` cubed, by the jacobian engine, in tiles of
    at most ``tile_size`` voxels a side (the engine's default if None)."""
    import complexstep
    from encoder_zoo import build, image

    # The family takes volumes of half the side it is built for.
    encoder = build("volume_encoder", side=2 * side)
    explainer = complexstep.Explainer(encoder.model, layer=encoder.layer, tile_size=tile_size)
    start = time.perf_counter()
    explainer.attribute(image(encoder))
    seconds = time.perf_counter() - start
    passes = explainer.describe_passes(*encoder.sides)
    print(f"volume_encoder, {'x'.join(map(str, encoder.sides))}: {seconds:.1f} s a map, {passes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=128, help="the images' side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls, the least kept")
    parser.add_argument("--families", default="", help="comma-separated families; all if empty")
    parser.add_argument("--paper", action="store_true", help="time the paper's network only")
    parser.add_argument(
        "--volume", type=int, default=0, help="time one map of a volume of this side cubed only"
    )
    parser.add_argument(
        "--tile-size",
        type=int,
        default=None,
        help="with --volume, the largest tile side in voxels; the engine's default if not given",
    )
    arguments = parser.parse_args()
    from complexstep.commands import cli

    cli.start_keras()
    if arguments.paper:
        paper(arguments.repeats)
    elif arguments.volume:
        volume(arguments.volume, arguments.tile_size)
    else:
        names = [name for name in arguments.families.split(",") if name]
        families(arguments.side, arguments.repeats, names)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MB")


if __name__ == "__main__":
    main()
