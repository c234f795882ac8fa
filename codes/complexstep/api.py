"""The public API: attribution maps and Jacobians of any model layer, for images of any size.

    import complexstep

    maps = complexstep.attribute("models/autoencoder_microstructure.keras", images)
    jacobian = complexstep.jacobian(model, image)
    jacobian.row(4, 7, 2)        # how output (4, 7, 2) depends on every pixel
    jacobian.column(100, 80)     # how every output depends on pixel (100, 80)

Each call keeps the ``Explainer`` it builds for a model and settings, so that a loop of calls
builds the twin and compiles the engines once; an ``Explainer`` of one's own does the same
explicitly. They are kept in ``complexstep.explain.cache``, never on the model, for the last few
models; ``complexstep.explain.cache.clear()`` lets them, and the models they hold, go.
"""

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from complexstep import defaults, progress
from complexstep.errors import ImageError, ModelError
from complexstep.explain import cache
from complexstep.explain.explainer import Explainer, as_images
from complexstep.explain.jacobian import Jacobian
from complexstep.explain.settings import ExplainerSettings
from complexstep.model.files import PRETRAINED, PRETRAINED_PATH, load_model
from complexstep.progress import Progress

if TYPE_CHECKING:
    import keras
    import torch

__all__ = [
    "PRETRAINED",
    "PRETRAINED_PATH",
    "Explainer",
    "ExplainerSettings",
    "Jacobian",
    "Progress",
    "as_images",
    "attribute",
    "encode",
    "jacobian",
    "load_model",
    "register_twin",
]


def attribute(
    model: "keras.Model | torch.nn.Module | str | os.PathLike",
    images,
    *,
    layer: str = defaults.LAYER,
    engine: str = defaults.ENGINE,
    h: float = defaults.H,
    batch_size: int | None = None,
    on_progress: Progress | None = None,
    show_progress: bool = False,
    domain: str = defaults.DOMAIN,
    wavelet: str = defaults.WAVELET,
    levels: int = defaults.WAVELET_LEVELS,
    kind: str = defaults.MAP_KIND,
    baseline: str = defaults.BASELINE,
    per_channel: bool = False,
    method: str | None = None,
) -> np.ndarray:
    """The complex-step attribution map of every pixel of one image or a batch.

    The value at pixel ``k`` is ``||Im f(x + i*h*e_k)|| / h`` over the layer's whole output ``f``:
    the norm of the output's derivative with respect to that pixel (Arumugam & Kiran, 2022). Both
    engines give the same numbers, to float32 rounding. The other kinds weigh it by ``|x - b|``.

    Args:
        model: a ``keras.Model``, the path of a ``.keras`` file, or ``"pretrained"`` for the model
            trained at the paper's settings that comes with the package; or a
            ``torch.nn.Module`` in eval mode (its input NCHW, NCDHW for volumes), a
            ``torch.export`` program or the path of its ``.pt2`` archive.
        images: one image ``(height, width)`` or a batch ``(n, height, width)`` or
            ``(n, height, width, 1)``, float values in [0, 1]. Heights and widths must be ones the
            network takes: multiples of 16 for the paper's. A model of several channels takes
            ``(height, width, channels)`` or ``(n, height, width, channels)``, a model of volumes
            ``(depth, height, width)`` and so on.
        layer: the name of the layer whose output is explained; "code" is the latent code. For
            a PyTorch module, the path of a submodule (``"encoder.layer3"``); "code" stands for
            the module's output where no submodule has that name.
        engine: the engine that computes the map, "jacobian" or "complex-step" (not the kind of
            map, which ``kind`` chooses).
        h: the imaginary step of the complex-step engine.
        batch_size: perturbed copies pushed through a layer at once; None for the default.
        on_progress: called with the passes done so far and the passes in all, first with none
            done, before the twin is built.
        show_progress: without ``on_progress``, draw a tqdm bar of the passes (a widget in
            Jupyter) where tqdm is installed, and nothing where it is not.
        domain: "pixel", or "wavelet" for the attribution ``||Im f(x + i*h*w_k)|| / h`` of every
            coefficient ``k`` of the image's orthonormal wavelet transform, whose basis image is
            ``w_k``: the norm of ``J w_k``. The squares of a wavelet map add up to those of the
            pixel map.
        wavelet: in the wavelet domain, an orthogonal PyWavelets wavelet: haar, db2, db4, sym4...
        levels: in the wavelet domain, how many levels the transform has.
        kind: "complex-step" (the paper's map), "gradient-input" (``||J e_k|| * |x_k - b_k|``)
            or "integrated-complex-step" (``|x_k - b_k| ||(1/T) sum_t J(z_t) e_k||`` along the
            straight path from ``b`` to ``x``), as ``explain.kinds`` defines them.
        baseline: the ``b`` of the weighted kinds: "blur" or "mean".
        per_channel: for a model of several channels, one map per channel, the norm of each
            channel's Jacobian column, laid out as the images' channels are.
        method: the former name of ``engine``, taken for it with a ``DeprecationWarning``.

    Returns:
        float32 maps, ``(height, width)`` for one image or ``(n, height, width)`` for a batch
        (each of a volume's sides, and the channels last with ``per_channel``); in
        the wavelet domain laid out as ``pywt.coeffs_to_array(pywt.wavedec2(image, wavelet,
        mode="periodization", level=levels))``.

    Raises:
        ImageError, ImageSizeError: for images of the wrong shape, type, values or size.
        ModelError, UnsupportedLayerError: if the model cannot be loaded or explained.
        SettingError: for an unknown engine, domain, kind or baseline, a step that is not
            positive, a wavelet that is unknown or not orthogonal, more levels than the images'
            size takes, or a kind the domain cannot make.

    Examples:
        >>> maps = complexstep.attribute("pretrained", micrographs)  # doctest: +SKIP
    """
    settings = ExplainerSettings.of(
        layer=layer,
        engine=engine,
        h=h,
        batch_size=batch_size,
        domain=domain,
        wavelet=wavelet,
        levels=levels,
        kind=kind,
        baseline=baseline,
        per_channel=per_channel,
        method=method,
    )
    explainer = _explainer(model, settings)
    batch, single = _images(images, explainer)
    total = len(batch) * explainer.passes(*batch.shape[1 : 1 + explainer.spatial])
    if show_progress and on_progress is None:
        on_progress = progress.tqdm_progress("attribution", starting=STARTING)
    _starting(total, on_progress)
    maps = explainer.attribute_many(batch, _counting(total, on_progress))
    return maps[0] if single else maps


def jacobian(
    model: "keras.Model | torch.nn.Module | str | os.PathLike",
    image,
    *,
    layer: str = defaults.LAYER,
    on_progress: Progress | None = None,
    show_progress: bool = False,
) -> Jacobian:
    """The whole Jacobian of a layer's output with respect to one image, stored sparsely.

    Args:
        model: as for ``attribute``.
        image: one image ``(height, width)``, float values in [0, 1].
        layer: the name of the layer whose output is differentiated.
        on_progress: called with the passes done so far and the passes in all, first with none
            done, before the twin is built.
        show_progress: as for ``attribute``.

    Returns:
        A ``Jacobian``: ``.row(i, j, channel)``, ``.column(y, x)``, ``.column_norms()`` (equal to
        ``attribute``), ``.jvp``, ``.vjp`` and ``.to_dense()``.

    Raises:
        ImageError: for a batch, and as ``attribute`` does.
        ImageSizeError, ModelError, UnsupportedLayerError: as ``attribute`` does.
    """
    explainer = _explainer(model, ExplainerSettings(layer=layer))
    batch, single = _images(image, explainer)
    if not single:
        raise ImageError(f"jacobian takes one image (height, width), not {np.shape(image)}")
    total = explainer.jacobian_passes(*batch.shape[1:])
    if show_progress and on_progress is None:
        on_progress = progress.tqdm_progress("Jacobian", starting=STARTING)
    _starting(total, on_progress)
    return explainer.jacobian(batch[0], _counting(total, on_progress))


STARTING = "building the complex twin and compiling its passes (a first call of a size)"
"""What a bar of ``show_progress=True`` says before the first pass: on a model's first call of an
image size, seconds go into building the twin and compiling; later calls pass it at once."""


def _images(images, explainer: Explainer) -> tuple[np.ndarray, bool]:
    """``as_images`` of what a user passes, with one line where numpy or the shape rules would
    otherwise answer with a traceback or a misleading size.

    Raises:
        ImageError: for a list of images of several shapes, one image ``(height, width, 1)``, and
            as ``as_images`` does.
    """
    try:
        array = np.asarray(images)
    except ValueError:
        shapes = sorted({np.shape(image) for image in images}, key=str)
        raise ImageError(
            "the images of a batch must be of one shape, not "
            f"{', '.join(str(shape) for shape in shapes)}: call once for each size"
        ) from None
    # No network takes images one pixel wide, so (height, width, 1) is one grey micrograph, not
    # a batch.
    grey = (explainer.spatial, explainer.channels) == (2, 1)
    if grey and array.ndim == 3 and array.shape[-1] == 1 and array.shape[1] > 1:
        raise ImageError(
            f"one image is (height, width), not {array.shape}: give image[..., 0], or "
            "image[None] for a batch of one"
        )
    return explainer.as_images(array)


def _check_model(model) -> None:
    """Refuses, on one line, what is no model (as ``load_model`` does) and a Keras model without
    input shape yet.

    Raises:
        ModelError: for either.
    """
    if isinstance(model, str | os.PathLike):
        return
    load_model(model)
    # Where Keras was never imported, no Keras model can have been made.
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model) and not model.built:
        raise ModelError(
            f"the model {model.name!r} has no input shape yet: build it, as "
            "keras.Input((height, width, 1)) as its first layer does, before explaining it"
        )


def _explainer(
    model: "keras.Model | torch.nn.Module | str | os.PathLike", settings: ExplainerSettings
) -> Explainer:
    """The kept ``Explainer`` for a model and settings (``explain.cache``), once the model is
    checked."""
    _check_model(model)
    return cache.explainer(model, settings)


def _starting(total: int, on_progress: Progress | None) -> None:
    """Reports no pass done yet, before any is made: a model's first call of an image size
    builds the twin and compiles its passes for seconds before the first pass is counted, and a
    bar opened only then would sit blank and then count that time at the rate of the passes."""
    if on_progress is not None:
        on_progress(0, total)


def _counting(total: int, on_progress: Progress | None) -> Callable[[int], None]:
    """A per-pass callback that tells ``on_progress`` the passes done so far and the total."""
    done = 0

    def on_pass(count: int) -> None:
        nonlocal done
        done += count
        if on_progress is not None:
            on_progress(done, total)

    return on_pass


def encode(
    model: "keras.Model | torch.nn.Module | str | os.PathLike",
    images,
    *,
    layer: str = defaults.LAYER,
) -> np.ndarray:
    """The output of a layer for one image or a batch: the code, for ``layer="code"``.

    Returns:
        float32 ``(rows, columns, channels)`` for one image, or with a leading batch axis.
    """
    explainer = _explainer(model, ExplainerSettings(layer=layer))
    batch, single = _images(images, explainer)
    output = explainer.encode(batch)
    return output[0] if single else output


def register_twin(layer_class: type, state: str = ""):
    """Registers the decorated function or class as the twin maker of a Keras layer class of
    one's own (see ``twin.graph_layers.register_twin`` and docs/encoders.md)."""
    # Imported here: the layer twins need Keras, which explaining a PyTorch module never starts.
    from complexstep.twin import graph_layers

    return graph_layers.register_twin(layer_class, state)
