"""Complex-step saliency for convolutional autoencoders of metal micrographs.

A library, with a command for each stage and its explorer, after Arumugam & Kiran, "Compact
representation and identification of important regions of metal microstructures using
complex-step convolutional autoencoders", Materials & Design (2022). In a notebook:

    import complexstep
    from complexstep.io.images import read_image
    from complexstep.rendering import heatmaps

    micrograph = read_image("sample.png", size=None)  # grey, in [0, 1], its own resolution
    maps = complexstep.attribute("pretrained", micrograph[:256, :256], show_progress=True)
    values, _ = heatmaps.heatmap_values(maps, sigma=1.0)
    heatmaps.heatmap_figure(values)  # the heatmap and its colour bar

The public API (``help(complexstep.attribute)`` and so on for each):

- ``attribute(model, images)``: the attribution map of every pixel, ``||Im f(x + i*h*e_k)|| / h``
  over a layer's whole output ``f``, for images of any size the network takes;
- ``jacobian(model, image)``: that layer's whole Jacobian, stored by receptive field, with its
  rows, columns and column norms;
- ``encode(model, images)``: the layer's output itself;
- ``Explainer``: the same for many images, reusing what each image size needs, built from its
  model and one ``ExplainerSettings`` (the layer, the engine, the kind of map...);
- ``load_model`` and ``PRETRAINED``, the name of the model that comes with the package;
- the exceptions of ``complexstep.errors``, all derived from ``ComplexStepError`` and importable
  from here: ``ImageError`` (and ``ImageSizeError``, ``UnreadableImageError``), ``ModelError``
  (and ``UnsupportedLayerError``), ``SettingError``, ``FolderError``, ``TrainingStateError``.

The subpackages follow the pipeline, each one concern, each importing only those before it:
``io`` reads micrographs (Pillow, tifffile) and writes files atomically; ``model`` holds the
architecture, the data pipeline, the training state and the synthetic micrographs (stage 1);
``twin`` builds the complex twin and works out receptive fields and tiles; ``engines`` compute maps
and Jacobian rows, in pixels or wavelet coefficients, under one registry of names; ``explain``
holds the ``Explainer``, its domains and its kinds of map, and ``api`` the calls above (stage 2);
``evaluation`` computes the maps of other methods and measures them; ``regions`` adds maps up over
phases and boundaries; ``rendering`` draws every figure (stage 3); ``explorer`` writes the browser
page; ``folders`` runs each stage over folders through one shared loop; ``commands`` holds the
flags and the ``complexstep`` command, the one place that prints. ``defaults`` holds every
default and ``errors`` every exception.

Importing the package makes three settings for the whole process, before TensorFlow starts:

- ``TF_CPP_MIN_LOG_LEVEL=3`` in the environment, unless it is set already: TensorFlow's native
  code logs nothing below fatal errors;
- ``TF_CPU_ALLOCATOR_USE_BFC=true`` in the environment, unless it is set already: TensorFlow keeps
  freed CPU memory in its own pool;
- a finder on ``sys.meta_path`` (``quiet.hold_back_notices``), there only while Keras has not been
  imported: its first import, wherever in the process it happens, starts the backend with file
  descriptor 2 captured and writes back all but TensorFlow's start-up notices.

Setting the environment variable ``COMPLEXSTEP_NO_PROCESS_SETTINGS`` to ``1`` before the import
declines all three; the commands still hold the notices back for their own runs.
"""

import os

from complexstep import defaults, quiet

# TensorFlow reads these settings once, when it is first imported, which neither module imported
# above does, and every other module of this package is imported after this file runs. The log
# level silences pages of start-up chatter on machines without a GPU. The allocator keeps freed CPU
# memory in TensorFlow's own pool: the attribution engines make and drop many full-resolution
# tensors, and returning each one to the operating system more than doubled their running time in
# page faults. Keras is imported when first needed, by whichever module needs it, and the finder
# holds back TensorFlow's start-up notices there, which scripts and notebooks would otherwise show
# twice.
if os.environ.get(defaults.NO_PROCESS_SETTINGS, "") in ("", "0"):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")
    quiet.hold_back_notices()

# Imported for ``except complexstep.ImageError`` though left out of __all__ (see below).
from complexstep.errors import (  # noqa: E402, F401
    ComplexStepError,
    FolderError,
    ImageError,
    ImageSizeError,
    ModelError,
    SettingError,
    TrainingStateError,
    UnreadableImageError,
    UnsupportedLayerError,
)

# The API needs Keras, which takes seconds to start; it is imported when first used, so that the
# scripts can answer --help and check their flags at once.
_API = (
    "PRETRAINED",
    "Explainer",
    "ExplainerSettings",
    "Jacobian",
    "attribute",
    "encode",
    "jacobian",
    "load_model",
    "register_twin",
)


def __getattr__(name: str):
    if name in _API:
        from complexstep import api

        return getattr(api, name)
    raise AttributeError(f"module 'complexstep' has no attribute {name!r}")


# Only the API is listed, so that help(complexstep) shows its functions and classes rather than
# pages of the members every exception inherits from Exception; the exceptions are named in the
# docstring and imported above all the same.
__all__ = list(_API)


def __dir__() -> list[str]:
    # With the API's names, so that help() and tab completion find the lazily imported calls.
    return sorted({*globals(), *_API})
