"""Complex-valued Keras layers: the pieces of the trained autoencoder's twin.

Each layer keeps the real path exactly as the trained layer computes it and carries an imaginary
part beside it. The real part never depends on the imaginary part, so once the real input of a
layer is known, the layer acts on the imaginary part as a fixed linear map. Each layer exposes that
structure, and ``call`` is composed from it, so that the twin and the attribution engines that use
the pieces directly cannot drift apart:

- ``real_pass(x)`` returns the real output and the ``state`` that fixes the linear map: the ReLU
  mask of a convolution, the one-hot of each pooling window's maximum, or None.
- ``imaginary_pass(t, state)`` applies the linear map to an imaginary part ``t``; ``t`` may hold a
  batch of perturbations of one image, broadcasting against a state of batch size one.
- ``imaginary_adjoint(g, state)`` applies its transpose, for reverse-mode differentiation.
- ``patch_pass(j, state, stride)`` applies the linear map to patch Jacobians, each cell's
  derivatives with respect to the input pixels of its receptive field: ``j[u, v, y, x, c]`` is the
  derivative of cell ``(y, x, c)`` with respect to pixel ``(u, v)`` of its receptive field, and
  the receptive fields of neighbouring cells start ``stride`` pixels apart. The output holds the
  same for the layer's own cells, whose receptive fields are wider.
- ``footprint`` and ``receptive_field`` map an interval of indices along one spatial axis forwards
  (which outputs can an input change) and backwards (which inputs can change an output).
"""

import keras
from keras import ops

PACKAGE = "complexstep"


class ComplexLayer(keras.layers.Layer):
    """Base class: a complex64 tensor in, a complex64 tensor out, built from the pieces above."""

    def call(self, inputs):
        real, state = self.real_pass(ops.real(inputs))
        imaginary = self.imaginary_pass(ops.imag(inputs), state)
        return ops.view_as_complex(ops.stack([real, imaginary], axis=-1))

    def compute_output_spec(self, inputs):
        # Keras would label the symbolic output with the layer's float compute dtype.
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=inputs.dtype)

    def real_pass(self, x):
        raise NotImplementedError

    def imaginary_pass(self, t, state):
        raise NotImplementedError

    def imaginary_adjoint(self, g, state):
        raise NotImplementedError

    def patch_pass(self, j, state, stride: int):
        raise NotImplementedError

    def output_length(self, length: int) -> int:
        """The size of a spatial axis after this layer."""
        raise NotImplementedError

    def taps(self) -> int:
        """Multiplications per output value of the imaginary pass, to weigh the work of a pass."""
        raise NotImplementedError

    def footprint(self, first: int, last: int, length: int) -> tuple[int, int]:
        """The output indices that input indices ``first..last`` (of ``length``) can change."""
        raise NotImplementedError

    def receptive_field(self, first: int, last: int, length: int) -> tuple[int, int]:
        """The input indices (of ``length``) that output indices ``first..last`` depend on."""
        raise NotImplementedError


@keras.saving.register_keras_serializable(package=PACKAGE, name="ComplexConv2D")
class ComplexConv2D(ComplexLayer):
    """A 'same' convolution of a complex tensor, with an optional complex ReLU.

    The kernel is applied to both parts and the bias to the real part only; the ReLU keeps both
    parts where the real part is positive.

    Args:
        filters: the number of output channels.
        kernel_size: the odd side of the square kernel.
        activation: "relu" or "linear".
        use_bias: whether the real part gets a bias.

    Input shape:
        complex64 ``(batch, height, width, channels)``.

    Output shape:
        complex64 ``(batch, height, width, filters)``.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int = 3,
        activation: str = "relu",
        use_bias: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if filters < 1:
            raise ValueError(f"filters must be positive. Received: filters={filters}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd. Received: kernel_size={kernel_size}")
        if activation not in ("relu", "linear"):
            raise ValueError(
                f"activation must be 'relu' or 'linear'. Received: activation={activation}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = activation
        self.use_bias = use_bias

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, input_shape[-1], self.filters),
            initializer="glorot_uniform",
        )
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def real_pass(self, x):
        z = ops.conv(x, self.kernel, padding="same")
        if self.use_bias:
            z = z + self.bias
        if self.activation == "linear":
            return z, None
        return ops.relu(z), ops.cast(z > 0, z.dtype)

    def imaginary_pass(self, t, state):
        t = ops.conv(t, self.kernel, padding="same")
        return t if state is None else t * state

    def imaginary_adjoint(self, g, state):
        if state is not None:
            g = g * state
        return ops.conv_transpose(g, self.kernel, padding="same")

    def patch_pass(self, j, state, stride):
        patch, _, height, width, channels = j.shape
        size, reach = self.kernel_size, self.kernel_size // 2
        j = ops.pad(j, ((0, 0), (0, 0), (reach, reach), (reach, reach), (0, 0)))
        # One product for every tap: z[u, v, y, x, a, b] is tap (a, b)'s term of padded cell (y, x).
        kernel = ops.reshape(ops.transpose(self.kernel, (2, 0, 1, 3)), (channels, -1))
        z = ops.matmul(ops.reshape(j, (-1, channels)), kernel)
        z = ops.reshape(z, (patch, patch, height + 2 * reach, width + 2 * reach, size, size, -1))
        # Tap (a, b) reads a cell whose receptive field starts stride*(a, b) pixels into the
        # output cell's receptive field.
        j = _place(
            stride,
            {
                (a, b): z[:, :, a : a + height, b : b + width, a, b]
                for a in range(size)
                for b in range(size)
            },
        )
        return j if state is None else j * state[0]

    def output_length(self, length):
        return length

    def taps(self):
        return self.kernel_size**2 * self.kernel.shape[2]

    def footprint(self, first, last, length):
        reach = self.kernel_size // 2
        return max(first - reach, 0), min(last + reach, length - 1)

    def receptive_field(self, first, last, length):
        return self.footprint(first, last, length)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "activation": self.activation,
            "use_bias": self.use_bias,
        }


@keras.saving.register_keras_serializable(package=PACKAGE, name="ComplexMaxPooling2D")
class ComplexMaxPooling2D(ComplexLayer):
    """Max pooling by the real part, carrying the imaginary part from the same position.

    Ties within a window go to the first maximum in reading order, as TensorFlow's pooling does.

    Args:
        pool_size: the side of the square, non-overlapping windows.

    Input shape:
        complex64 ``(batch, height, width, channels)``, height and width multiples of pool_size.

    Output shape:
        complex64 ``(batch, height / pool_size, width / pool_size, channels)``.
    """

    def __init__(self, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if pool_size < 1:
            raise ValueError(f"pool_size must be positive. Received: pool_size={pool_size}")
        self.pool_size = pool_size

    def build(self, input_shape):
        if any(side is not None and side % self.pool_size for side in input_shape[1:3]):
            raise ValueError(
                f"height and width must be multiples of pool_size={self.pool_size}. "
                f"Received: input_shape={input_shape}"
            )

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, height // self.pool_size, width // self.pool_size, channels)

    def real_pass(self, x):
        windows = self._windows(x)
        maximum = ops.max(windows, axis=-1, keepdims=True)
        is_maximum = ops.cast(windows == maximum, x.dtype)
        first = is_maximum * ops.cast(ops.cumsum(is_maximum, axis=-1) == 1, x.dtype)
        return maximum[..., 0], self._unwindows(first)

    def imaginary_pass(self, t, state):
        return _window_sum(t * state, self.pool_size)

    def imaginary_adjoint(self, g, state):
        return _repeat(g, self.pool_size) * state

    def patch_pass(self, j, state, stride):
        patch, _, height, width, channels = j.shape
        p = self.pool_size
        j = ops.reshape(j, (patch, patch, height // p, p, width // p, p, channels))
        chosen = ops.reshape(state[0], (height // p, p, width // p, p, channels))
        # Window position (a, b) starts stride*(a, b) pixels into the window's receptive field.
        return _place(
            stride,
            {(a, b): j[:, :, :, a, :, b] * chosen[:, a, :, b] for a in range(p) for b in range(p)},
        )

    def output_length(self, length):
        return length // self.pool_size

    def taps(self):
        return self.pool_size**2

    def footprint(self, first, last, length):
        return first // self.pool_size, min(last // self.pool_size, self.output_length(length) - 1)

    def receptive_field(self, first, last, length):
        return first * self.pool_size, last * self.pool_size + self.pool_size - 1

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}

    def _windows(self, x):
        """(batch, h, w, c) -> (batch, h/p, w/p, c, p*p), each window's values in reading order."""
        _, height, width, channels = x.shape
        p = self.pool_size
        x = ops.reshape(x, (-1, height // p, p, width // p, p, channels))
        x = ops.transpose(x, (0, 1, 3, 5, 2, 4))
        return ops.reshape(x, (-1, height // p, width // p, channels, p * p))

    def _unwindows(self, windows):
        """The inverse of ``_windows``."""
        _, rows, columns, channels, _ = windows.shape
        p = self.pool_size
        x = ops.reshape(windows, (-1, rows, columns, channels, p, p))
        x = ops.transpose(x, (0, 1, 4, 2, 5, 3))
        return ops.reshape(x, (-1, rows * p, columns * p, channels))


@keras.saving.register_keras_serializable(package=PACKAGE, name="ComplexBatchNormalization")
class ComplexBatchNormalization(ComplexLayer):
    """Batch normalisation at inference: a fixed affine map of each channel.

    A trained ``BatchNormalization`` computes ``gamma * (x - mean) / sqrt(variance + epsilon) +
    beta`` with its moving statistics; that is ``x * scale + offset`` per channel, the offset on
    the real part only.

    Input shape:
        complex64 ``(batch, height, width, channels)``.

    Output shape:
        The same.
    """

    def build(self, input_shape):
        channels = (input_shape[-1],)
        self.scale = self.add_weight(name="scale", shape=channels, initializer="ones")
        self.offset = self.add_weight(name="offset", shape=channels, initializer="zeros")

    def compute_output_shape(self, input_shape):
        return input_shape

    def real_pass(self, x):
        return x * self.scale + self.offset, None

    def imaginary_pass(self, t, state):
        return t * self.scale

    def imaginary_adjoint(self, g, state):
        return g * self.scale

    def patch_pass(self, j, state, stride):
        return j * self.scale

    def output_length(self, length):
        return length

    def taps(self):
        return 1

    def footprint(self, first, last, length):
        return first, last

    def receptive_field(self, first, last, length):
        return first, last


@keras.saving.register_keras_serializable(package=PACKAGE, name="ComplexUpSampling2D")
class ComplexUpSampling2D(ComplexLayer):
    """Nearest-neighbour upsampling that repeats both parts.

    Args:
        size: the integer factor along height and width.

    Input shape:
        complex64 ``(batch, height, width, channels)``.

    Output shape:
        complex64 ``(batch, height * size, width * size, channels)``.
    """

    def __init__(self, size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if size < 1:
            raise ValueError(f"size must be positive. Received: size={size}")
        self.size = size

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        scale = lambda side: None if side is None else side * self.size  # noqa: E731
        return (batch, scale(height), scale(width), channels)

    def real_pass(self, x):
        return _repeat(x, self.size), None

    def imaginary_pass(self, t, state):
        return _repeat(t, self.size)

    def imaginary_adjoint(self, g, state):
        return _window_sum(g, self.size)

    def output_length(self, length):
        return length * self.size

    def taps(self):
        return 1

    def footprint(self, first, last, length):
        return first * self.size, last * self.size + self.size - 1

    def receptive_field(self, first, last, length):
        return first // self.size, last // self.size

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _repeat(x, factor: int):
    """Repeats each pixel ``factor`` times along height and width.

    Broadcasting into a (batch, h, factor, w, factor, c) view and merging axes moves no data
    twice, unlike repeating along each axis in turn.
    """
    _, height, width, channels = x.shape
    x = ops.broadcast_to(
        x[:, :, None, :, None, :],
        (ops.shape(x)[0], height, factor, width, factor, channels),
    )
    return ops.reshape(x, (-1, height * factor, width * factor, channels))


def _window_sum(x, factor: int):
    """Sums non-overlapping ``factor`` x ``factor`` windows; the adjoint of ``_repeat``.

    Average pooling is an optimised kernel on every backend, and for the usual power-of-two
    windows scaling its mean back to a sum is exact.
    """
    return ops.average_pool(x, factor, strides=factor, padding="valid") * float(factor * factor)


def _place(stride: int, patches: dict):
    """Adds up tensors ``(patch, patch, ...)``, the one at key ``(a, b)`` placed ``stride * (a, b)``
    rows and columns into the result.

    Returns:
        ``(size, size, ...)``, where ``size`` reaches the far edge of the farthest patch.
    """
    first = next(iter(patches.values()))
    patch, rest = first.shape[0], tuple(first.shape[2:])
    size = patch + stride * max(max(offset) for offset in patches)
    total = ops.zeros((size, size, *rest), first.dtype)
    for (a, b), values in patches.items():
        start = (stride * a, stride * b) + (0,) * len(rest)
        total = ops.slice_update(total, start, ops.slice(total, start, values.shape) + values)
    return total
