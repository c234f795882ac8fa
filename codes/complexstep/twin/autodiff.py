"""The backend's own derivatives of one layer at a point, for the twins whose state is the point.

Keras 3 has no backend-neutral ``jvp`` or ``vjp``, so each backend's is called here: TensorFlow's
``ForwardAccumulator`` and ``GradientTape``, JAX's ``jvp`` and ``vjp``, PyTorch's ``torch.func``.
A twin uses them where writing its derivative by hand would only repeat the backend's (the
derivative of an element-wise activation, the choice a max pooling window makes, the Jacobian of
a normalisation), and for the adjoint of a linear map, which reverse mode gives exactly.
"""

from collections.abc import Callable

import keras


def vjp(function: Callable, primal, cotangent):
    """``J(primal)^T cotangent`` for ``function``'s Jacobian ``J``; ``primal`` broadcasts against
    the batch of ``cotangent``."""
    backend = keras.backend.backend()
    primal = keras.ops.broadcast_to(primal, _primal_shape(primal, cotangent))
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(primal)
            output = function(primal)
        return tape.gradient(output, primal, output_gradients=cotangent)
    if backend == "jax":
        import jax

        _, pull_back = jax.vjp(function, primal)
        return pull_back(cotangent)[0]
    if backend == "torch":
        import torch

        _, pull_back = torch.func.vjp(function, primal)
        return pull_back(cotangent)[0]
    raise NotImplementedError(f"no derivatives on the {backend} backend")


def jvp(function: Callable, primal, tangent):
    """``J(primal) tangent`` for ``function``'s Jacobian ``J``; ``primal`` broadcasts against the
    batch of ``tangent``."""
    backend = keras.backend.backend()
    primal = keras.ops.broadcast_to(primal, _primal_shape(primal, tangent))
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.autodiff.ForwardAccumulator(primal, tangent) as accumulator:
            output = function(primal)
        return accumulator.jvp(output)
    if backend == "jax":
        import jax

        return jax.jvp(function, (primal,), (tangent,))[1]
    if backend == "torch":
        import torch

        return torch.func.jvp(function, (primal,), (tangent,))[1]
    raise NotImplementedError(f"no derivatives on the {backend} backend")


def _primal_shape(primal, other) -> tuple:
    return (keras.ops.shape(other)[0], *keras.ops.shape(primal)[1:])
