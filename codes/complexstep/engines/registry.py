"""The registry of engines by name: which classes a name stands for and what each takes.

The names are ``defaults.ENGINES``; the classes are Keras's engines, imported when first asked
for: a PyTorch module's Explainer looks its engine's name up here and runs the graph engine,
without starting Keras.
"""

import dataclasses
import importlib

from complexstep import defaults


@dataclasses.dataclass(frozen=True)
class EngineKind:
    """What one engine's name stands for.

    Attributes:
        pixel_engine: the module and class of the engine of the pixel domain.
        wavelet_engine: the module and class of the engine of the wavelet domain.
        takes_h: whether the engines take the imaginary step ``h``; the jacobian engine's numbers
            do not depend on it.
        tile_size: the largest side of the part of an image one call explains.
    """

    pixel_engine: tuple[str, str]
    wavelet_engine: tuple[str, str]
    takes_h: bool
    tile_size: int

    @property
    def pixel(self) -> type:
        """The engine of the pixel domain."""
        return _engine_class(*self.pixel_engine)

    @property
    def wavelet(self) -> type:
        """The engine of the wavelet domain."""
        return _engine_class(*self.wavelet_engine)

    def settings(self, h: float) -> dict:
        """The keyword arguments the engines take besides the twin and the batch size."""
        return {"h": h} if self.takes_h else {}


def _engine_class(module: str, name: str) -> type:
    return getattr(importlib.import_module(f"complexstep.engines.{module}"), name)


ENGINES = {
    defaults.JACOBIAN_ENGINE: EngineKind(
        ("jacobian", "JacobianAttribution"),
        ("wavelet", "WaveletJacobian"),
        False,
        defaults.TILE_SIZES[defaults.JACOBIAN_ENGINE],
    ),
    defaults.COMPLEX_STEP_ENGINE: EngineKind(
        ("complex_step", "ComplexStepAttribution"),
        ("wavelet", "WaveletComplexStep"),
        True,
        defaults.TILE_SIZES[defaults.COMPLEX_STEP_ENGINE],
    ),
}
"""Every engine by name, in the order of ``defaults.ENGINES``, the default first."""
