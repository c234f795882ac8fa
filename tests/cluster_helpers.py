"""Maps a folder run wrote on a cluster, against those of the same run in this process."""

from pathlib import Path

import numpy as np


def maps_of(outputs: Path) -> dict[str, np.ndarray]:
    """The maps under ``outputs``, by path relative to it."""
    return {
        str(path.relative_to(outputs)): np.load(path) for path in sorted(outputs.rglob("*.npy"))
    }


def assert_same_maps(
    outputs: Path, expected: dict[str, np.ndarray], pictures: bool = False
) -> None:
    """Every map of ``outputs`` is the in-process one to 1e-6, and none is missing; with
    ``pictures``, each map's picture is written beside it."""
    found = maps_of(outputs)
    assert sorted(found) == sorted(expected)
    for name, values in expected.items():
        np.testing.assert_allclose(
            found[name], values, rtol=1e-6, atol=1e-7 * float(values.max()), err_msg=name
        )
    if pictures:
        for name in expected:
            assert (outputs / name).with_suffix(".png").is_file()
