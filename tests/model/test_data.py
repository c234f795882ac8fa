"""Stage 1's input pipeline: batches as pure functions of their index, seeded orders and crops."""

import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from complexstep.errors import SettingError
from complexstep.io import images
from complexstep.model import data

# Heights and widths unlike one another and unlike 256, so that a crop or a resize that mixes up
# the axes or ignores an image's own size cannot pass.
SHAPES = [(40, 48), (48, 40), (36, 52), (44, 44), (52, 36), (40, 40), (37, 45)]
CROP = 32
BATCH_SIZE = 3
SEED = 7


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> list[Path]:
    """Seven grey micrographs of random texture, each of its own size, none 256x256."""
    folder = tmp_path_factory.mktemp("batches")
    rng = np.random.default_rng(0)
    written = []
    for number, shape in enumerate(SHAPES):
        path = folder / f"micrograph_{number}.png"
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(path)
        written.append(path)
    return written


@pytest.fixture(scope="module")
def native(paths) -> list[np.ndarray]:
    """The micrographs read at their own resolution."""
    return [images.read_image(path, size=None) for path in paths]


def _every_batch(batches: data.MicrographBatches) -> list[np.ndarray]:
    return [batches[index][0] for index in range(len(batches))]


def _epoch(batches: data.MicrographBatches, epoch: int) -> np.ndarray:
    """The images a stream from epoch 0 serves in ``epoch``, concatenated, without the channel."""
    per_epoch = batches.batches_per_epoch
    served = [batches[index][0] for index in range(epoch * per_epoch, (epoch + 1) * per_epoch)]
    return np.concatenate(served)[..., 0]


def _locate(crop: np.ndarray, native: list[np.ndarray]) -> tuple[int, int, int]:
    """The image number and top-left corner of the one window of ``native`` equal to ``crop``."""
    found = []
    for number, image in enumerate(native):
        windows = sliding_window_view(image, crop.shape)
        for top, left in zip(*np.nonzero(np.all(windows == crop, axis=(2, 3))), strict=True):
            found.append((number, int(top), int(left)))
    assert len(found) == 1, f"the crop matches {len(found)} windows"
    return found[0]


def _placements(batches, epoch, native) -> list[tuple[int, int, int]]:
    """Where each crop served in ``epoch`` was cut: image number, top, left, in serving order."""
    return [_locate(crop, native) for crop in _epoch(batches, epoch)]


def test_stream_holds_the_batches_of_every_epoch_and_the_last_of_each_is_short(paths):
    """A stream of 3 epochs has 3 x ceil(7 / 3) batches, each epoch's sizes 3, 3, 1, and no more."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=3)
    assert batches.batches_per_epoch == math.ceil(len(paths) / BATCH_SIZE) == 3
    assert len(batches) == 9
    assert [len(batch) for batch in _every_batch(batches)] == [3, 3, 1] * 3
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_batch_is_its_images_as_input_and_as_target(paths):
    """Each batch is a pair of equal float32 arrays of shape (batch, side, side, 1) in [0, 1]."""
    inputs, targets = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED)[0]
    assert inputs.dtype == np.float32
    assert inputs.shape == (BATCH_SIZE, CROP, CROP, 1)
    np.testing.assert_array_equal(inputs, targets)
    assert 0.0 <= inputs.min() and inputs.max() <= 1.0


def test_batch_depends_on_its_index_alone(paths):
    """Reading a batch twice, after the others, in reverse order or from a new loader gives the
    same batch, as Keras's prefetching reads them in its own order."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2)
    forward = _every_batch(batches)
    backward = [batches[index][0] for index in reversed(range(len(batches)))][::-1]
    again = _every_batch(data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2))
    for index, batch in enumerate(forward):
        np.testing.assert_array_equal(batches[index][0], batch)
        np.testing.assert_array_equal(backward[index], batch)
        np.testing.assert_array_equal(again[index], batch)


def test_each_epoch_serves_every_image_once_in_its_own_seeded_order(paths):
    """Every epoch is a permutation of the images, the permutations differ between epochs, and the
    same seed repeats them while another seed does not."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, seed=SEED, epochs=3)
    resized = [images.read_image(path, size=images.IMAGE_SIZE) for path in paths]
    orders = []
    for epoch in range(3):
        order = [
            next(number for number, image in enumerate(resized) if np.array_equal(image, served))
            for served in _epoch(batches, epoch)
        ]
        assert sorted(order) == list(range(len(paths)))
        assert order == list(batches.order(epoch))
        orders.append(tuple(order))
    assert len(set(orders)) == 3
    again = data.MicrographBatches(paths, BATCH_SIZE, seed=SEED)
    other = data.MicrographBatches(paths, BATCH_SIZE, seed=SEED + 1)
    assert [tuple(again.order(epoch)) for epoch in range(3)] == orders
    assert [tuple(other.order(epoch)) for epoch in range(3)] != orders


def test_order_without_a_seed_is_the_order_of_the_paths(paths):
    """Without a seed every epoch serves the images in the order they were given."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, epochs=2)
    expected = np.stack([images.read_image(path, size=images.IMAGE_SIZE) for path in paths])
    for epoch in range(2):
        np.testing.assert_array_equal(_epoch(batches, epoch), expected)


def test_stream_from_a_later_epoch_serves_that_epochs_batches(paths):
    """A stream starting at epoch 2 serves exactly the batches that a stream from epoch 0 serves
    in epochs 2 and 3, as a resumed run must."""
    whole = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=4)
    resumed = data.MicrographBatches(
        paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2, first_epoch=2
    )
    skipped = 2 * whole.batches_per_epoch
    assert len(resumed) == len(whole) - skipped
    for index in range(len(resumed)):
        np.testing.assert_array_equal(resumed[index][0], whole[skipped + index][0])


def test_crops_are_windows_of_the_images_at_their_own_resolution(paths, native):
    """Every crop is a CROP x CROP window of one image read at its own size, the images served in
    the epoch's order."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2)
    for epoch in range(2):
        placements = _placements(batches, epoch, native)
        assert [number for number, _, _ in placements] == list(batches.order(epoch))


def test_crops_move_between_epochs_and_repeat_with_the_seed(paths, native):
    """Each epoch cuts its crops elsewhere, and a new loader with the same seed cuts them in the
    same places."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2)
    first, second = (sorted(_placements(batches, epoch, native)) for epoch in range(2))
    moved = [a != b for a, b in zip(first, second, strict=True)]
    # Each image has over a hundred places for its crop, so nearly all must move.
    assert sum(moved) >= len(paths) - 1
    again = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2)
    assert sorted(_placements(again, 1, native)) == second


def test_crops_without_a_seed_are_the_centres(paths, native):
    """Without a seed each crop is the window at the image's centre, in every epoch."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, epochs=2)
    centres = [
        (number, (image.shape[0] - CROP) // 2, (image.shape[1] - CROP) // 2)
        for number, image in enumerate(native)
    ]
    for epoch in range(2):
        assert _placements(batches, epoch, native) == centres


def test_orders_and_crops_are_drawn_from_the_seed_as_before(paths, native):
    """Orders and crop corners come from default_rng((seed, epoch)) and
    default_rng((seed, epoch, image)), so that runs trained before stay reproducible and
    resumable."""
    batches = data.MicrographBatches(paths, BATCH_SIZE, crop=CROP, seed=SEED, epochs=2)
    for epoch in range(2):
        order = np.random.default_rng((SEED, epoch)).permutation(len(paths))
        np.testing.assert_array_equal(batches.order(epoch), order)
        expected = []
        for number in order:
            rng = np.random.default_rng((SEED, epoch, int(number)))
            height, width = native[number].shape
            expected.append(
                (
                    int(number),
                    int(rng.integers(height - CROP + 1)),
                    int(rng.integers(width - CROP + 1)),
                )
            )
        assert _placements(batches, epoch, native) == expected


def test_without_crop_images_are_resized_to_256(paths):
    """Without a crop every image is served as read_image resizes it, 256x256."""
    batches = data.MicrographBatches(paths, BATCH_SIZE)
    served = _epoch(batches, 0)
    assert served.shape == (len(paths), 256, 256)
    np.testing.assert_array_equal(
        served, np.stack([images.read_image(path, size=images.IMAGE_SIZE) for path in paths])
    )


def test_files_are_read_when_their_batch_is_asked_for(tmp_path):
    """A file rewritten after the loader is made is served with its new content."""
    path = tmp_path / "later.png"
    Image.fromarray(np.zeros((16, 16), dtype=np.uint8)).save(path)
    batches = data.MicrographBatches([path], batch_size=1, crop=16)
    Image.fromarray(np.full((16, 16), 255, dtype=np.uint8)).save(path)
    np.testing.assert_array_equal(batches[0][0], 1.0)


def test_no_paths_is_refused(tmp_path):
    """A loader without images is refused when it is made, not when Keras first asks for a batch."""
    with pytest.raises(SettingError, match="at least one image path"):
        data.MicrographBatches([], BATCH_SIZE)


def test_a_12_bit_frame_in_a_16_bit_tiff_reaches_training_scaled_by_4095(tmp_path):
    """Batches read micrographs as stage 2 does: a 12-bit SEM frame stored in 16 bits spans
    [0, 1] by 4095 with the default intensity, by 65535 with 'dtype', and loses the rows a
    --crop-bottom cuts."""
    counts = np.random.default_rng(3).integers(0, 4096, (48, 32)).astype(np.uint16)
    counts[0, 0] = 4095
    path = tmp_path / "sem.tif"
    tifffile.imwrite(path, counts)
    for reading, scale in (({}, 4095.0), ({"intensity": "dtype"}, 65535.0)):
        batch, _ = data.MicrographBatches([path], 1, crop=32, reading=reading)[0]
        np.testing.assert_allclose(batch[0, :, :, 0], counts[8:40] / scale, atol=1e-6)
    cropped, _ = data.MicrographBatches([path], 1, crop=32, reading={"crop_bottom": 16})[0]
    np.testing.assert_allclose(cropped[0, :, :, 0], counts[:32] / 4095.0, atol=1e-6)
