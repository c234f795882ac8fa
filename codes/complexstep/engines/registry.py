"""The registry of engines by method name: which classes a name stands for and what each takes."""

import dataclasses

from complexstep import defaults
from complexstep.engines.complex_step import ComplexStepAttribution
from complexstep.engines.jacobian import JacobianAttribution
from complexstep.engines.wavelet import WaveletComplexStep, WaveletJacobian


@dataclasses.dataclass(frozen=True)
class EngineKind:
    """What one method's name stands for.

    Attributes:
        pixel: the engine of the pixel domain.
        wavelet: the engine of the wavelet domain.
        takes_h: whether the engines take the imaginary step ``h``; the jacobian engine's numbers
            do not depend on it.
        tile_size: the largest side of the part of an image one call explains.
    """

    pixel: type
    wavelet: type
    takes_h: bool
    tile_size: int

    def settings(self, h: float) -> dict:
        """The keyword arguments the engines take besides the twin and the batch size."""
        return {"h": h} if self.takes_h else {}


ENGINES = {
    "jacobian": EngineKind(
        JacobianAttribution, WaveletJacobian, False, defaults.TILE_SIZES["jacobian"]
    ),
    "complex-step": EngineKind(
        ComplexStepAttribution, WaveletComplexStep, True, defaults.TILE_SIZES["complex-step"]
    ),
}
"""Every method by name, in the order of ``defaults.METHODS``, the default first."""
