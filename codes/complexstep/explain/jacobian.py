"""The Jacobian of a layer's output with respect to one image, stored by receptive field."""

import dataclasses

import numpy as np

from complexstep.errors import SettingError


@dataclasses.dataclass(frozen=True)
class Jacobian:
    """The Jacobian of a layer's output with respect to one image, stored by receptive field.

    Each output value depends only on the pixels of its receptive field, so each row of the
    Jacobian is kept as a window over that field: for the code of a 256x256 image, 2,048 windows of
    46x46 pixels, 17 MB where the dense matrix would take 537 MB.

    Attributes:
        values: float32 ``(rows, columns, channels, window height, window width)``: entry
            ``[i, j, c, u, v]`` is the derivative of output ``(i, j, c)`` with respect to pixel
            ``(row_starts[i] + u, column_starts[j] + v)``; zero outside its receptive field.
        row_starts: where the window of each output row starts, int ``(rows,)``.
        column_starts: where the window of each output column starts, int ``(columns,)``.
        image_shape: the image's ``(height, width)``.
        output: the layer's output for the image, float32 ``(rows, columns, channels)``.
    """

    values: np.ndarray
    row_starts: np.ndarray
    column_starts: np.ndarray
    image_shape: tuple[int, int]
    output: np.ndarray

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """The layer's output shape, ``(rows, columns, channels)``."""
        return self.values.shape[:3]

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the dense Jacobian, ``output_shape + image_shape``."""
        return self.output_shape + tuple(self.image_shape)

    def row(self, i: int, j: int, channel: int) -> np.ndarray:
        """The derivatives of output ``(i, j, channel)`` with respect to every pixel, ``(H, W)``."""
        rows, columns, channels = self.output_shape
        if not (0 <= i < rows and 0 <= j < columns and 0 <= channel < channels):
            raise SettingError(
                f"output ({i}, {j}, {channel}) is outside the output's shape {self.output_shape}"
            )
        full = self._canvas()
        top, left = self.row_starts[i], self.column_starts[j]
        full[top : top + self.values.shape[3], left : left + self.values.shape[4]] = self.values[
            i, j, channel
        ]
        return self._crop(full)

    def column(self, y: int, x: int) -> np.ndarray:
        """The derivatives of every output with respect to pixel ``(y, x)``, ``output_shape``.

        This is ``Im f(image + i*h*e_k) / h`` for the pixel ``k = (y, x)``.
        """
        height, width = self.image_shape
        if not (0 <= y < height and 0 <= x < width):
            raise SettingError(f"pixel ({y}, {x}) is outside the {height}x{width} image")
        u, v = y - self.row_starts, x - self.column_starts
        rows = np.flatnonzero((u >= 0) & (u < self.values.shape[3]))
        columns = np.flatnonzero((v >= 0) & (v < self.values.shape[4]))
        result = np.zeros(self.output_shape, np.float32)
        block = self.values[np.ix_(rows, columns)]
        result[np.ix_(rows, columns)] = block[
            np.arange(len(rows))[:, None],
            np.arange(len(columns))[None, :],
            :,
            u[rows][:, None],
            v[columns][None, :],
        ]
        return result

    def column_norms(self) -> np.ndarray:
        """The norm of every column, ``(H, W)``: the attribution map, as ``attribute`` gives it."""
        return np.sqrt(self._scatter(np.sum(np.square(self.values), axis=2)))

    def jvp(self, tangent: np.ndarray) -> np.ndarray:
        """The Jacobian times an image-shaped vector, ``output_shape``."""
        windows = self._windows(np.asarray(tangent, np.float32))
        return np.einsum("ijcuv,ijuv->ijc", self.values, windows)

    def vjp(self, cotangent: np.ndarray) -> np.ndarray:
        """An output-shaped vector times the Jacobian, ``(H, W)``."""
        return self._scatter(np.einsum("ijcuv,ijc->ijuv", self.values, cotangent))

    def to_dense(self, max_bytes: int = 2**30) -> np.ndarray:
        """The dense Jacobian, ``output_shape + image_shape``, for images small enough.

        Raises:
            SettingError: if it would take more than ``max_bytes``.
        """
        size = 4 * int(np.prod(self.shape))
        if size > max_bytes:
            raise SettingError(
                f"the dense Jacobian would take {size / 2**30:.1f} GiB, more than max_bytes "
                f"({max_bytes / 2**30:.1f} GiB); use row, column, jvp and vjp instead"
            )
        dense = np.zeros(self.shape, np.float32)
        for i, j, channel in np.ndindex(*self.output_shape):
            dense[i, j, channel] = self.row(i, j, channel)
        return dense

    def _canvas(self) -> np.ndarray:
        """Zeros over the image and a window's reach past its far edges."""
        height, width = self.image_shape
        return np.zeros((height + self.values.shape[3], width + self.values.shape[4]), np.float32)

    def _crop(self, canvas: np.ndarray) -> np.ndarray:
        return canvas[: self.image_shape[0], : self.image_shape[1]]

    def _scatter(self, windows: np.ndarray) -> np.ndarray:
        """Adds per-output windows ``(rows, columns, window)`` into the image's pixels."""
        canvas = self._canvas().astype(np.float64)
        height, width = self.values.shape[3:]
        for i, top in enumerate(self.row_starts):
            for j, left in enumerate(self.column_starts):
                canvas[top : top + height, left : left + width] += windows[i, j]
        return self._crop(canvas).astype(np.float32)

    def _windows(self, image: np.ndarray) -> np.ndarray:
        """Each output's window of an image, ``(rows, columns, window)``."""
        padded = np.pad(image, ((0, self.values.shape[3]), (0, self.values.shape[4])))
        view = np.lib.stride_tricks.sliding_window_view(padded, self.values.shape[3:])
        return view[np.ix_(self.row_starts, self.column_starts)]
