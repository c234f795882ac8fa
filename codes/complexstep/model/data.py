"""Stage 1's input pipeline: micrographs streamed from disk in batches, on every Keras backend.

``MicrographBatches`` is a ``keras.utils.PyDataset``, which Keras feeds to TensorFlow, JAX and
PyTorch alike. Only the paths are held in memory; each image is decoded by ``images.read_image``
when its batch is asked for, so a folder of any size trains in constant memory and every format
the project reads is accepted.

A batch is a pure function of its index: a loader is one stream of ``epochs x batches`` indices
from ``first_epoch`` on, and the order of epoch ``e`` and the crops it draws come from the seed and
``e`` alone. Keras's loaders prefetch ahead in their own time, so anything kept as state between
batches could be read early; a pure index is read the same whenever it is read, and a run resumed
at epoch ``e`` sees exactly the batches an uninterrupted run would have.

``workers`` threads decode the images of each batch side by side. Keras's own workers are not
used: its enqueuer keeps batches it prefetched when an epoch ends, or when Keras takes a first
batch to build the model, and serves them before the next epoch's, so the batches of a run would
depend on timing.
"""

import concurrent.futures
import math
import os
from collections.abc import Mapping, Sequence

import keras
import numpy as np

from complexstep import defaults
from complexstep.errors import SettingError
from complexstep.io import images


class MicrographBatches(keras.utils.PyDataset):
    """Batches ``(x, x)`` of grey micrographs, shape ``(batch, side, side, 1)``, values in [0, 1].

    Each micrograph is either resized to ``size`` x ``size`` (the paper's way) or, with ``crop``,
    cut to a ``crop`` x ``crop`` window at its own resolution. With a seed, the images come in an
    order shuffled afresh each epoch and the crops are drawn at random, afresh each epoch; without
    one, the images keep their order and each crop is the image's centre.

    Args:
        paths: image files, each readable by ``images.read_image`` (and, with ``crop``, at least
            ``crop`` pixels high and wide).
        batch_size: images per batch; the last batch of an epoch may be smaller.
        multiple: every batch holds a multiple of this many images, so that it splits evenly over
            as many devices; the last batch of an epoch leaves out the few images past the last
            multiple (others each epoch, where the order is shuffled).
        size: the side images are resized to, ``defaults.IMAGE_SIZE`` (as it is when the batches
            are made) if None; ignored with ``crop``.
        crop: the side of the windows cut from images at their own resolution, or None.
        seed: the seed of the order and the crops, or None for a fixed order and centre crops.
        epochs: how many epochs the stream holds, from ``first_epoch``.
        first_epoch: the epoch the stream starts at, for a resumed run.
        workers: threads decoding the images of a batch at once.
        reading: how the micrographs are read, as ``micrographs.read_micrograph`` takes it
            (``intensity``, ``crop_bottom``, ``max_pixels``); None for its defaults.

    Raises:
        SettingError: for no paths, a batch size that is not a multiple of ``multiple``, or fewer
            than ``multiple`` paths.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        batch_size: int,
        *,
        size: int | None = None,
        crop: int | None = None,
        seed: int | None = None,
        epochs: int = 1,
        first_epoch: int = 0,
        workers: int = defaults.WORKERS,
        multiple: int = 1,
        reading: Mapping | None = None,
    ):
        super().__init__()
        if not paths:
            raise SettingError("no micrographs to serve: give at least one image path")
        self.paths = [os.fspath(path) for path in paths]
        self.batch_size = batch_size
        self.size = defaults.IMAGE_SIZE if size is None else size
        self.crop = crop
        self.seed = seed
        self.epochs = epochs
        self.first_epoch = first_epoch
        self.reading = dict(reading or {})
        if batch_size % multiple:
            raise SettingError(
                f"batches of {batch_size} images cannot be split evenly over {multiple} devices; "
                f"choose a batch size that is a multiple of {multiple}"
            )
        # The images an epoch serves, and so how many batches it takes.
        self.served = len(self.paths) // multiple * multiple
        if not self.served:
            raise SettingError(
                f"{len(self.paths)} micrographs cannot fill one batch split over {multiple} "
                f"devices; give at least {multiple} images, or train on fewer devices"
            )
        self.batches_per_epoch = math.ceil(self.served / batch_size)
        self.decoders = workers
        self._pool = None

    def __len__(self) -> int:
        return self.batches_per_epoch * self.epochs

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of {len(self)}")
        epoch = self.first_epoch + index // self.batches_per_epoch
        start = (index % self.batches_per_epoch) * self.batch_size
        chosen = self.order(epoch)[start : min(start + self.batch_size, self.served)]
        if self.decoders > 1 and self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.decoders)
        read = self._pool.map if self._pool else map
        batch = np.stack(list(read(self.read, map(int, chosen), [epoch] * len(chosen))))
        batch = batch[..., np.newaxis]
        return batch, batch

    def order(self, epoch: int) -> np.ndarray:
        """The image numbers of an epoch, in the order they are served."""
        if self.seed is None:
            return np.arange(len(self.paths))
        return np.random.default_rng((self.seed, epoch)).permutation(len(self.paths))

    def read(self, number: int, epoch: int) -> np.ndarray:
        """Image ``number`` as served in ``epoch``: resized, or cropped at its own resolution."""
        if self.crop is None:
            return images.read_image(self.paths[number], size=self.size, **self.reading)
        image = images.read_image(self.paths[number], size=None, **self.reading)
        height, width = image.shape
        if self.seed is None:
            top, left = (height - self.crop) // 2, (width - self.crop) // 2
        else:
            rng = np.random.default_rng((self.seed, epoch, number))
            top = int(rng.integers(height - self.crop + 1))
            left = int(rng.integers(width - self.crop + 1))
        return image[top : top + self.crop, left : left + self.crop]
