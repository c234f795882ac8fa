"""Complex-step saliency for convolutional autoencoders of metal micrographs.

A library, with scripts for its three stages and its explorer, after Arumugam & Kiran, "Compact
representation and identification of important regions of metal microstructures using
complex-step convolutional autoencoders", Materials & Design (2022). The public API:

- ``attribute(model, images)``: the attribution map of every pixel, ``||Im f(x + i*h*e_k)|| / h``
  over a layer's whole output ``f``, for images of any size the network takes;
- ``jacobian(model, image)``: that layer's whole Jacobian, stored by receptive field, with its
  rows, columns and column norms;
- ``encode(model, images)``: the layer's output itself;
- ``Explainer``: the same for many images, reusing what each image size needs;
- ``load_model``, and the exceptions of ``errors``, all derived from ``ComplexStepError``.

The modules follow the pipeline: ``images`` and ``synthetic`` provide micrographs; ``architecture``,
``data`` and ``training`` make the autoencoder (stage 1); ``complex_layers`` and ``twin`` build its
complex twin, ``geometry`` works out receptive fields and tiles, ``engines`` compute maps and
Jacobian rows, ``api`` puts them behind the calls above, and ``attribution_folder`` explains a
folder (stage 2); ``wavelets`` and ``wavelet_engines`` do the same for the coefficients of an
orthonormal wavelet transform; ``rendering`` draws maps, ``wavelet_rendering`` wavelet maps, and
``heatmap_folder`` renders a folder (stage 3); ``explorer`` writes a micrograph's self-contained
page of the code's Jacobian and ``explorer_folder`` a folder's. ``evaluation_methods`` computes
the maps of the methods the evaluation compares, ``faithfulness`` measures maps, ``evaluation``
measures every method on one micrograph, ``evaluation_rendering`` draws the results and
``evaluation_folder`` evaluates a folder. ``defaults`` holds every default; ``cli`` serves the
scripts.
"""

import os

# TensorFlow reads these settings once, when it is first imported, and every module of this
# package is imported after this file runs. The first silences pages of start-up chatter on
# machines without a GPU. The second keeps freed CPU memory in TensorFlow's own pool: the
# attribution engines make and drop many full-resolution tensors, and returning each one to the
# operating system more than doubled their running time in page faults.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

from complexstep.errors import (  # noqa: E402
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
_API = ("PRETRAINED", "Explainer", "Jacobian", "attribute", "encode", "jacobian", "load_model")


def __getattr__(name: str):
    if name in _API:
        from complexstep import api

        return getattr(api, name)
    raise AttributeError(f"module 'complexstep' has no attribute {name!r}")


__all__ = [
    *_API,
    "ComplexStepError",
    "FolderError",
    "ImageError",
    "ImageSizeError",
    "ModelError",
    "SettingError",
    "TrainingStateError",
    "UnreadableImageError",
    "UnsupportedLayerError",
]
