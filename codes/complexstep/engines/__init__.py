"""The engines that compute attribution maps and Jacobian rows, and the registry that names them.

``base.Engine`` is what every engine shares (the twin's layers, their geometry, the real pass, the
output cells an engine answers for); ``complex_step`` and ``jacobian`` are the two engines of the
pixel domain, and ``wavelet`` their twins for the coefficients of a wavelet transform. ``ENGINES``
is the one place that says which classes an engine's name stands for and what each takes, so that
no caller tests an engine's class.
"""

import importlib

# The engines need Keras, which takes seconds to start; they are imported when first used, so that
# ``engines.wavelet_basis`` (plain NumPy, which stage 3 and the scripts' flags read) does not start
# it.
_NAMES = {
    "ENGINES": "registry",
    "EngineKind": "registry",
    "Cells": "graph",
    "Engine": "base",
    "GraphEngine": "graph",
    "LatticePlan": "base",
    "ignore_passes": "graph",
    "ComplexStepAttribution": "complex_step",
    "JacobianAttribution": "jacobian",
    "WaveletComplexStep": "wavelet",
    "WaveletJacobian": "wavelet",
}


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(importlib.import_module(f"complexstep.engines.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'complexstep.engines' has no attribute {name!r}")


__all__ = list(_NAMES)
