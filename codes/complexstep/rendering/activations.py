"""The explorer's activation figure: a micrograph beside every channel of a layer's output."""

import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from complexstep.rendering.scalebar import add_scale_bar
from complexstep.rendering.titles import draw_title


def activations_figure(
    micrograph: np.ndarray,
    code: np.ndarray,
    name: str,
    layer: str,
    pixel_size: float | None = None,
) -> Figure:
    """The micrograph and the code's channels, one activation map each.

    All channels share one colour scale, from zero (or the least activation, where it is negative)
    to the largest, so that their strengths compare. A notebook shows the figure as it is
    returned; the explorer writes the same figure at ``PANEL_MAXIMUM_DPI``.

    Args:
        micrograph: the micrograph, values in [0, 1].
        code: the layer's output for it, ``(rows, columns, channels)``.
        name: the micrograph's name, for the title.
        layer: the layer's name, for the title.
        pixel_size: the side of a micrograph pixel in µm, for a scale bar on the micrograph;
            None draws none.

    Returns:
        The figure; its first axes hold the micrograph.
    """
    channels = code.shape[-1]
    count = channels + 1
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    height, width = micrograph.shape
    side = 2.0
    figure = Figure(figsize=(columns * side + 1.0, rows * side * height / width + 0.6))
    figure.set_layout_engine("constrained")
    FigureCanvasAgg(figure)
    all_axes = figure.subplots(rows, columns, squeeze=False).ravel()
    all_axes[0].imshow(micrograph, cmap="gray", vmin=0.0, vmax=1.0)
    all_axes[0].set_title("micrograph")
    if pixel_size is not None:
        add_scale_bar(all_axes[0], pixel_size)
    # A ReLU code starts at zero; the scale starts there too, or lower for another layer.
    low = min(float(code.min()), 0.0)
    high = max(float(code.max()), low + np.finfo(np.float32).eps)
    for channel in range(channels):
        axes = all_axes[channel + 1]
        shown = axes.imshow(
            code[:, :, channel], cmap="viridis", vmin=low, vmax=high, interpolation="nearest"
        )
        axes.set_title(f"channel {channel}")
    for axes in all_axes:
        axes.set_axis_off()
    code_rows, code_columns = code.shape[:2]
    figure.colorbar(shown, ax=list(all_axes), shrink=0.8, label="activation")
    draw_title(
        figure,
        f"{name}: layer {layer!r}, {code_rows}x{code_columns}x{channels}",
    )
    return figure
