"""Stage 1's figures: the loss per epoch, and test micrographs beside their reconstructions."""

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from complexstep.rendering.titles import draw_title

LOSS_CURVES_DPI = 120
"""The loss curves' resolution."""

RECONSTRUCTIONS_DPI = 100
"""The reconstructions' resolution: their rows of small micrographs need no more."""


def loss_curves_figure(history: Sequence[dict]) -> Figure:
    """The training and validation mean squared error per epoch on a logarithmic scale.

    The scale is logarithmic because the error falls by orders of magnitude over a run, which a
    linear axis would flatten into a line along the bottom after the first epochs.

    Args:
        history: one dict per epoch with "loss" and "val_loss".

    Returns:
        The figure, written at ``LOSS_CURVES_DPI``.
    """
    epochs = np.arange(1, len(history) + 1)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for name, marker, label in (("loss", "o", "training images"), ("val_loss", "s", "test images")):
        axes.plot(epochs, [row[name] for row in history], marker=marker, markersize=3, label=label)
    axes.set_yscale("log")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("mean squared error (log scale)")
    axes.set_title("Autoencoder reconstruction error per epoch")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return figure


def reconstructions_figure(
    originals: np.ndarray, reconstructions: np.ndarray, names: Sequence[str]
) -> Figure:
    """Micrographs in the top row and the autoencoder's reconstructions beneath them.

    Both rows share the grey scale 0 (black) to 1 (white), so that a loss of contrast in a
    reconstruction shows as such rather than being stretched away.

    Args:
        originals: micrographs, shape (count, height, width), values in [0, 1].
        reconstructions: the model's outputs for them, same shape.
        names: a label for each micrograph, such as its file name.

    Returns:
        The figure, written at ``RECONSTRUCTIONS_DPI``.
    """
    count = len(originals)
    # Two columns' width at least, so that the title fits above a single example.
    figure = Figure(figsize=(2.6 * max(count, 2), 5.8), layout="constrained")
    grid = figure.subplots(2, count, squeeze=False)
    for column, (original, reconstruction, name) in enumerate(
        zip(originals, reconstructions, names, strict=True)
    ):
        error = float(np.mean((original - reconstruction) ** 2))
        for row, (image, title) in enumerate(
            [(original, name), (reconstruction, f"MSE {error:#.2g}")]
        ):
            axes = grid[row, column]
            axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
            draw_title(axes, title, fontsize=9)
            axes.set_xticks([])
            axes.set_yticks([])
    grid[0, 0].set_ylabel("test micrograph")
    grid[1, 0].set_ylabel("reconstruction")
    figure.suptitle("Test micrographs (top row) and\ntheir reconstructions by the autoencoder")
    return figure
