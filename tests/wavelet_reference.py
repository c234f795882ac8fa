"""An independent wavelet-domain reference: one complex pass per coefficient, in float64 NumPy.

Each coefficient's basis image is PyWavelets' inverse transform of a unit coefficient, and its
attribution ``||Im f(x + i*h*w_k)|| / h`` comes from ``reference.complex_forward``, so the
package's wavelet layout, basis functions and engines are checked against code that shares
nothing with them.
"""

import numpy as np
import pywt

import reference


def basis_image(wavelet: str, levels: int, shape: tuple[int, int], index) -> np.ndarray:
    """The basis image of the coefficient at ``index`` of PyWavelets' array layout."""
    layout, slices = pywt.coeffs_to_array(
        pywt.wavedec2(np.zeros(shape), wavelet, mode="periodization", level=levels)
    )
    unit = np.zeros_like(layout)
    unit[tuple(index)] = 1.0
    coefficients = pywt.array_to_coeffs(unit, slices, output_format="wavedec2")
    return pywt.waverec2(coefficients, wavelet, mode="periodization")


def literal_wavelet_attribution(
    model, layer_name, image, wavelet, levels, indices, h=0.1
) -> np.ndarray:
    """``||Im f(x + i*h*w_k)|| / h`` for the coefficients at ``indices``, one pass each."""
    values = []
    for index in indices:
        z = np.asarray(image, np.complex128) + 1j * h * basis_image(
            wavelet, levels, np.shape(image), index
        )
        values.append(np.linalg.norm(reference.complex_forward(model, layer_name, z).imag) / h)
    return np.array(values)
