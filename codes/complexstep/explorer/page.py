"""The explorer: one self-contained web page per micrograph, linking its pixels to its code.

A heatmap says which pixels the code depends on in total, not to which part of the code. The page
shows, linked, the micrograph, its attribution heatmap, the code as one activation map per channel,
the reconstruction and its error. Over a pixel, the code cells it drives light up: its Jacobian
column. On a code cell, the page draws how that cell depends on every pixel: its Jacobian row, over
the micrograph, with its receptive field outlined. FuseVis (Kumar & Gumhold, Computers 2020) links
a fusion network's output pixels to their Jacobian saliency this way in a desktop window; this page
needs only a browser, and does it for the latent code.

Everything the page needs is in the file: its script and style, and the data, each array
compressed with zlib and written in base64, which browsers decompress with their own
``DecompressionStream``. The Jacobian is stored as ``complexstep.jacobian`` gives it, one window
over each output cell's receptive field, quantised: each window is scaled by its largest magnitude
to signed integers of 8 or 16 bits, so that every row keeps its own precision.

Where the micrograph's pixel size is known, the page draws a scale bar in micrometres on every
picture of the micrograph and gives positions and lengths in micrometres beside pixels. Its
heatmap is scaled as stage 3 scales its own: by the map's own minimum and maximum, or by one range
of raw values for every page of a run (``value_range``), and the page says which.

``rendering.activations`` draws the code's channels as a figure, for reports.
"""

import base64
import dataclasses
import html
import json
import os
import re
import zlib
from importlib import resources
from pathlib import Path

import keras
import numpy as np

from complexstep import defaults
from complexstep.errors import ModelError, SettingError
from complexstep.explain.explainer import Explainer
from complexstep.explain.jacobian import Jacobian
from complexstep.explain.settings import ExplainerSettings
from complexstep.io.images import write_atomically
from complexstep.io.names import printable
from complexstep.model.architecture import zero_channels
from complexstep.rendering.heatmaps import SCALE_LABELS, colormap_table, heatmap_values
from complexstep.rendering.scalebar import length_label, nice_length

PAGE_PREFIX = "explore_"
"""Start of a page's name, ``explore_<stem>.html``."""

ACTIVATIONS_PREFIX = "activations_"
"""Start of an activation figure's name, ``activations_<stem>.png``."""

_PAGE_FILES = resources.files("complexstep.explorer") / "assets"


@dataclasses.dataclass(frozen=True)
class Exploration:
    """What a page shows of one micrograph.

    Attributes:
        name: the micrograph's name, shown as the page's title.
        layer: the name of the layer whose output is the code.
        micrograph: the grey micrograph as explained, float32 ``(H, W)`` in [0, 1].
        jacobian: the code's Jacobian with respect to the micrograph; its ``output`` is the code.
        row_fields: where each code row's receptive field starts and ends (inclusive), two int
            arrays ``(rows,)``.
        column_fields: the same for each code column.
        reconstruction: the whole autoencoder's output, float32 ``(H, W)``.
        attribution: the attribution map, float32 ``(H, W)``: the norm of each Jacobian column
            for the paper's map, or the map of another kind.
        pixel_size: the side of a micrograph pixel in micrometres, or None where unknown.
        kind: the attribution map's kind, one of ``defaults.MAP_KINDS``.
    """

    name: str
    layer: str
    micrograph: np.ndarray
    jacobian: Jacobian
    row_fields: tuple[np.ndarray, np.ndarray]
    column_fields: tuple[np.ndarray, np.ndarray]
    reconstruction: np.ndarray
    attribution: np.ndarray
    pixel_size: float | None = None
    kind: str = defaults.MAP_KIND


@dataclasses.dataclass(frozen=True)
class ExplorerSettings:
    """The settings of an explorer's two explainers, as they travel to a Dask worker.

    Attributes:
        code: the jacobian engine's explainer of the layer shown as the code.
        reconstruction: the explainer of the model's last layer.
    """

    code: ExplainerSettings
    reconstruction: ExplainerSettings


class Explorer:
    """Computes what the explorer shows, for micrographs of every size the network takes.

    Args:
        model: an autoencoder: a ``keras.Model``, the path of a ``.keras`` file, or
            ``"pretrained"``.
        layer: the name of the layer whose output is shown as the code.
        batch_size: copies of a full-resolution tile pushed through a layer at once; None for the
            default. Larger is faster and takes more memory.
        kind: the attribution map shown, as stage 2 makes it (``explain.kinds``); the page's
            Jacobian is the same whatever the kind.
        baseline: the baseline of the weighted kinds, "blur" or "mean".

    Raises:
        ModelError, UnsupportedLayerError: if the model cannot be loaded or explained, or does not
            reconstruct one grey channel.
        SettingError: for an unknown kind or baseline.
    """

    def __init__(
        self,
        model: "keras.Model | str | os.PathLike",
        *,
        layer: str = defaults.LAYER,
        batch_size: int | None = None,
        kind: str = defaults.MAP_KIND,
        baseline: str = defaults.BASELINE,
    ):
        settings = ExplainerSettings(
            layer=layer,
            engine=defaults.JACOBIAN_ENGINE,
            batch_size=batch_size,
            kind=kind,
            baseline=baseline,
        )
        explainer = Explainer(model, settings)
        reconstruction = ExplainerSettings(layer=_last_layer(explainer.model))
        self._take(explainer, Explainer(explainer.model, reconstruction))

    @classmethod
    def of(cls, explainer: Explainer, autoencoder: Explainer) -> "Explorer":
        """An explorer from the two explainers it uses, built elsewhere: on a Dask worker, those
        it keeps between tasks for the ``settings`` of an explorer of the same model.

        Args:
            explainer: the jacobian engine's explainer of the layer shown as the code.
            autoencoder: an explainer of the model's last layer, for the reconstruction.
        """
        explorer = cls.__new__(cls)
        explorer._take(explainer, autoencoder)
        return explorer

    def _take(self, explainer: Explainer, autoencoder: Explainer) -> None:
        if explainer.model.output_shape[-1] != 1:
            raise ModelError(
                f"the model's output has {explainer.model.output_shape[-1]} channels; the "
                "explorer shows an autoencoder's reconstruction of a grey micrograph, one channel"
            )
        if (explainer.spatial, explainer.channels) != (2, 1):
            raise ModelError(
                "the explorer draws models of grey micrographs; explain this model's images with "
                "complexstep explain"
            )
        self.explainer = explainer
        self._autoencoder = autoencoder

    @property
    def step(self) -> int:
        """The number heights and widths must be multiples of."""
        return self.explainer.step

    @property
    def model(self) -> keras.Model:
        """The autoencoder explored."""
        return self.explainer.model

    @property
    def settings(self) -> ExplorerSettings:
        """What builds this explorer's two explainers again from its model, in another process
        (see ``of``)."""
        return ExplorerSettings(self.explainer.settings, self._autoencoder.settings)

    def passes(self, height: int, width: int) -> int:
        """How many passes the Jacobian of an image of this size takes."""
        return self.explainer.jacobian_passes(height, width)

    def explore(self, image: np.ndarray, name: str, pixel_size: float | None = None) -> Exploration:
        """Everything a page shows of one micrograph.

        Args:
            image: float ``(H, W)`` in [0, 1], of a size the network takes.
            name: the micrograph's name.
            pixel_size: the side of a pixel in micrometres, or None where unknown.

        Raises:
            ImageError, ImageSizeError: for an image of the wrong shape, type, values or size.
        """
        jacobian = self.explainer.jacobian(image)
        image = np.asarray(image, np.float32)
        fields = [self.explainer.axis_geometry(length).fields[-1] for length in image.shape]
        reconstruction = self._autoencoder.encode(image)[0, :, :, 0]
        # The paper's map is the Jacobian's column norms, and the kinds that weigh it are made
        # from them; only the integrated kind takes passes of its own.
        attribution = self.explainer.from_plain(image, jacobian.column_norms())
        if attribution is None:
            attribution = self.explainer.attribute(image)
        return Exploration(
            name,
            self.explainer.layer,
            image,
            jacobian,
            fields[0],
            fields[1],
            reconstruction,
            attribution,
            pixel_size,
            self.explainer.kind.name,
        )


def _last_layer(model: keras.Model) -> str:
    """The name of a model's last layer, inside nested models: the one that reconstructs."""
    last = model.layers[-1]
    while isinstance(last, keras.Model):
        last = last.layers[-1]
    return last.name


def check_bits(bits: int) -> None:
    """Checks the bits per Jacobian value a page is asked to store.

    Raises:
        SettingError: for another number than 8 or 16.
    """
    if bits not in defaults.EXPLORER_BITS_CHOICES:
        choices = " or ".join(map(str, defaults.EXPLORER_BITS_CHOICES))
        raise SettingError(f"a page stores {choices} bits per Jacobian value, not {bits}")


def quantise(values: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantises Jacobian windows to signed integers, each window scaled by its largest magnitude.

    A value ``v`` of a window whose largest magnitude is ``s`` becomes
    ``round(v / s * (2**(bits - 1) - 1))``, so the page recovers it to within half a step,
    ``s / (2**bits - 2)``; windows of zeros (cells a ReLU switched off) stay zero with scale zero.

    Args:
        values: float ``(..., window height, window width)``.
        bits: 8 or 16.

    Returns:
        The little-endian integers, of ``values``'s shape, and the scales, float32 ``values.shape
        [:-2]``.

    Raises:
        SettingError: for another number of bits.
    """
    check_bits(bits)
    scales = np.max(np.abs(values), axis=(-2, -1)).astype(np.float32)
    divisors = np.where(scales > 0, scales, 1.0)[..., None, None]
    largest = 2 ** (bits - 1) - 1
    integers = np.round(np.asarray(values, np.float64) / divisors * largest)
    return integers.astype(f"<i{bits // 8}"), scales


def page_data(
    exploration: Exploration,
    bits: int = defaults.EXPLORER_BITS,
    value_range: tuple[float, float] | None = None,
) -> dict:
    """The data of a page, as the page's script reads it.

    Arrays are packed by ``_pack``; the Jacobian's windows are quantised by ``quantise``.

    Args:
        exploration: what the page shows.
        bits: bits per Jacobian value, 8 or 16.
        value_range: the raw attributions that become 0 and 1 in the heatmap, shared by the pages
            of a run (``rendering.heatmaps.folder_range``); None scales the map by its own
            minimum and maximum.
    """
    jacobian = exploration.jacobian
    integers, scales = quantise(jacobian.values, bits)
    rows, columns, channels = jacobian.output_shape
    smoothed, _ = heatmap_values(exploration.attribution, defaults.SIGMA, value_range)
    scale = "map" if value_range is None else "folder"
    vmin, vmax = defaults.KIND_COLOUR_LIMITS[exploration.kind]
    return {
        "name": printable(exploration.name),
        "layer": exploration.layer,
        "bits": bits,
        "height": int(jacobian.image_shape[0]),
        "width": int(jacobian.image_shape[1]),
        "rows": int(rows),
        "columns": int(columns),
        "channels": int(channels),
        # Channels a trained code leaves dead (zero on every cell) are named on the page.
        "zeroChannels": zero_channels(jacobian.output),
        "window": [int(side) for side in jacobian.values.shape[3:]],
        "rowStarts": jacobian.row_starts.tolist(),
        "columnStarts": jacobian.column_starts.tolist(),
        "rowFields": [axis.tolist() for axis in exploration.row_fields],
        "columnFields": [axis.tolist() for axis in exploration.column_fields],
        # Signed maps (a cell's row, the reconstruction's error) use the paper's diverging
        # colormap, white at zero.
        "signedCmap": defaults.CMAP,
        "heatmap": {
            "cmap": defaults.CMAP,
            "vmin": vmin,
            "vmax": vmax,
            "sigma": defaults.SIGMA,
            "kind": exploration.kind,
            "scale": scale,
            "scaleLabel": SCALE_LABELS[scale],
            "range": None if value_range is None else [float(end) for end in value_range],
        },
        # The cursor's readout names what its attribution is: the paper's map is the norm of the
        # pixel's Jacobian column, the other kinds weigh it.
        "attributionLabel": (
            "attribution ‖∂code/∂pixel‖"
            if exploration.kind == defaults.MAP_KIND
            else f"attribution ({exploration.kind})"
        ),
        "pixelSize": exploration.pixel_size,
        "scaleBar": scale_bar(exploration.pixel_size, int(jacobian.image_shape[1])),
        "colormaps": {
            name: _pack(colormap_table(name)) for name in dict.fromkeys(defaults.EXPLORER_CMAPS)
        },
        "arrays": {
            "micrograph": _pack(exploration.micrograph),
            "attribution": _pack(exploration.attribution),
            "smoothed": _pack(smoothed),
            "reconstruction": _pack(exploration.reconstruction),
            "activations": _pack(jacobian.output),
            "jacobian": _pack(integers),
            "scales": _pack(scales),
        },
    }


def scale_bar(pixel_size: float | None, width: int) -> dict | None:
    """The scale bar a page draws on its pictures of a micrograph ``width`` pixels wide, chosen as
    ``rendering.scalebar`` chooses stage 3's, or None where the pixel size is unknown.

    Returns:
        ``micrometres`` (its length), ``pixels`` (the same in image pixels), ``label``,
        ``thickness`` (a fraction of the picture's height) and ``colour``.
    """
    if pixel_size is None:
        return None
    length = nice_length(defaults.SCALE_BAR_FRACTION * width * pixel_size)
    return {
        "micrometres": length,
        "pixels": length / pixel_size,
        "label": length_label(length),
        "thickness": defaults.SCALE_BAR_THICKNESS,
        "colour": defaults.SCALE_BAR_COLOUR,
    }


def _pack(array: np.ndarray) -> dict:
    """An array as the page unpacks it: its type, shape, and zlib-compressed little-endian bytes in
    base64. Floats are stored as float32."""
    array = np.asarray(array)
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype("<f4")
    array = np.ascontiguousarray(array, array.dtype.newbyteorder("<"))
    return {
        "dtype": array.dtype.name,
        "shape": list(array.shape),
        "data": base64.b64encode(zlib.compress(array.tobytes(), 6)).decode("ascii"),
    }


def page_html(
    exploration: Exploration,
    bits: int = defaults.EXPLORER_BITS,
    value_range: tuple[float, float] | None = None,
) -> str:
    """The whole page: its markup, style, script and data in one string (see ``page_data``)."""
    data = json.dumps(page_data(exploration, bits, value_range), separators=(",", ":"))
    # Inside a script element, "</" could end it; JSON may write "<" escaped instead.
    data = data.replace("<", "\\u003c")
    parts = {
        "title": html.escape(printable(exploration.name)),
        "style": (_PAGE_FILES / "explorer.css").read_text(encoding="utf-8"),
        "script": (_PAGE_FILES / "explorer.js").read_text(encoding="utf-8"),
        "data": data,
    }
    template = (_PAGE_FILES / "page.html").read_text(encoding="utf-8")
    # One pass, so that no part is searched for the markers of another.
    return re.sub(r"\{\{(\w+)\}\}", lambda match: parts[match.group(1)], template)


def write_page(
    path: str | os.PathLike,
    exploration: Exploration,
    bits: int = defaults.EXPLORER_BITS,
    value_range: tuple[float, float] | None = None,
) -> Path:
    """Writes a micrograph's page, atomically (see ``page_data`` for ``value_range``).

    Returns:
        The destination path.
    """
    text = page_html(exploration, bits, value_range)
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
