"""Receptive-field geometry: the tiles a large image is split into."""

import pytest

from complexstep.errors import SettingError
from complexstep.twin import building as twin
from complexstep.twin import geometry


@pytest.fixture(scope="module")
def code_layers(random_model):
    """The complex layers from the input to the code of the paper's network."""
    return [made.layer for made in twin.twins_of(twin.layer_chain(random_model, "code"))]


@pytest.mark.parametrize(
    "length, tile_size, tiles", [(2048, 640, 4), (1536, 640, 3), (512, 640, 1)]
)
def test_tiles_partition_the_output_and_hold_its_receptive_fields(
    code_layers, length, tile_size, tiles
):
    """Tiles start at multiples of 16, share one length no larger than asked, hold the receptive
    field of every output cell they answer for, and answer for every cell once."""
    axis = geometry.AxisGeometry.of(code_layers, length)
    plan = geometry.plan_axis(axis, 16, tile_size)
    assert len(plan) == tiles
    assert len({tile.length for tile in plan}) == 1 and plan[0].length <= tile_size
    owned = [cell for tile in plan for cell in tile.cells]
    assert owned == list(range(length // 16))
    first, last = axis.fields[-1]
    for tile in plan:
        assert tile.start % 16 == 0 and 0 <= tile.start <= length - tile.length
        assert tile.offset == tile.start // 16
        assert tile.start <= first[tile.cells.start]
        assert last[tile.cells.stop - 1] < tile.start + tile.length


def test_tiles_overlap_by_little_more_than_a_receptive_field(code_layers):
    """A 2048-pixel side is read as 4 tiles of 544 pixels: the 512 pixels of 32 code cells and 16
    more on each side, where the cells' 46-pixel receptive fields reach."""
    plan = geometry.plan_axis(geometry.AxisGeometry.of(code_layers, 2048), 16, 640)
    assert [(tile.start, tile.length) for tile in plan] == [
        (0, 544),
        (496, 544),
        (1008, 544),
        (1504, 544),
    ]


def test_a_tile_too_small_for_one_receptive_field_is_refused(code_layers):
    """Tiles of 32 pixels cannot hold the 46-pixel receptive field of a code cell."""
    with pytest.raises(SettingError, match="tiles of 32 pixels cannot hold"):
        geometry.plan_axis(geometry.AxisGeometry.of(code_layers, 256), 16, 32)


def test_image_tiles_pair_every_row_tile_with_every_column_tile(code_layers):
    """A 1024x768 image at tiles of 640 is 2 x 2 tiles of one shape."""
    plan = geometry.plan_tiles(code_layers, 1024, 768, 16, 640)
    assert len(plan) == 4 and len({tile.shape for tile in plan}) == 1


def test_changed_windows_hold_every_output_a_span_changes_and_their_receptive_fields(
    code_layers,
):
    """Each window answers for the outputs in its span's footprint, holds their receptive
    fields from a multiple of 16, and all windows share one length, inside the axis."""
    axis = geometry.AxisGeometry.of(code_layers, 256)
    spans = [(0, 7), (100, 107), (248, 255), (40, 40)]
    windows = geometry.changed_windows(axis, spans, 16)
    first, last = axis.fields[-1]
    assert len({window.length for window in windows}) == 1
    for (low, high), window in zip(spans, windows, strict=True):
        changed = [cell for cell in range(16) if first[cell] <= high and last[cell] >= low]
        assert list(window.cells) == changed
        assert window.start % 16 == 0 and 0 <= window.start <= 256 - window.length
        assert window.offset == window.start // 16
        assert window.start <= first[window.cells.start]
        assert last[window.cells.stop - 1] < window.start + window.length
