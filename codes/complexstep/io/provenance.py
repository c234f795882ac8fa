"""What made a map, written beside it as JSON so that a folder of maps can be trusted later.

Stage 2 writes ``<stem>.json`` beside each pixel map and adds the same keys to the wavelet
sidecar ``<stem>.wavelet.json``: the package's version, the Keras backend, the model file and its
SHA-256, the layer, method, domain, step and map kind, and how the micrograph was read (its size,
the data bar cropped and what found it, the page, the channels, the resize or crop to the
network's sizes, the intensity scaling, the pixel size and where it came from, and every note the
reader made). Stage 3, the explorer and the region statistics read it back with
``read_sidecar``.
"""

import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

from complexstep import defaults

_CHUNK = 1 << 20


def sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, in hexadecimal."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def package_version() -> str:
    """The installed package's version, or "unknown" for a copy run from its sources."""
    try:
        return importlib.metadata.version("complexstep")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def run_provenance(
    model_path: Path | None,
    *,
    layer: str,
    method: str,
    domain: str,
    h: float,
    kind: dict | None = None,
) -> dict:
    """The keys every map of one run shares.

    Args:
        model_path: the model file, or None for a model given as an object.
        layer, method, domain, h: the explainer's settings.
        kind: the map kind and its settings (``kind``, one of ``defaults.MAP_KINDS``, the
            ``baseline`` and ``integration_steps`` where it takes them); the paper's map if None.

    Returns:
        A dictionary JSON can write.
    """
    import keras

    return {
        "package_version": package_version(),
        "backend": keras.backend.backend(),
        "model": None if model_path is None else str(model_path),
        "model_sha256": None if model_path is None else sha256(model_path),
        "layer": layer,
        "method": method,
        "domain": domain,
        "h": h,
        **(kind or {"kind": defaults.MAP_KIND}),
    }


def map_provenance(run: dict, micrograph, resize: int | None) -> dict:
    """The keys of one map: the run's, and how its micrograph was read.

    Args:
        run: ``run_provenance``'s keys.
        micrograph: the ``micrographs.Micrograph`` the map explains, at the size explained.
        resize: the side it was resized to, or None where it was cropped to the network's sizes.

    Returns:
        A dictionary JSON can write.
    """
    return run | {
        "micrograph": str(micrograph.path),
        "size_read": list(micrograph.size_read),
        "data_bar_rows": micrograph.cropped_rows,
        "data_bar_top_rows": micrograph.cropped_top,
        "data_bar_source": micrograph.crop_source,
        "page": micrograph.page,
        "pages": micrograph.pages,
        "channels": micrograph.channels_read,
        "channel": micrograph.channel,
        "resize": resize,
        "size_explained": list(micrograph.pixels.shape),
        "intensity": micrograph.intensity,
        "intensity_range": [float(value) for value in micrograph.intensity_range],
        "pixel_size_um": micrograph.pixel_size,
        "pixel_size_source": micrograph.pixel_size_source,
        "reading_notes": [*micrograph.notes, *micrograph.resize_notes],
    }


def sidecar_path(map_path: str | os.PathLike) -> Path:
    """The JSON beside a map: ``<stem>.json`` for ``<stem>.npy`` or ``<stem>.png``,
    ``<stem>.wavelet.json`` for ``<stem>.wavelet.npy``."""
    return Path(map_path).with_suffix(".json")


def read_sidecar(map_path: str | os.PathLike) -> dict:
    """The JSON beside a map, or an empty dictionary where there is none or it is not an object
    of JSON (a map from an earlier version, or written by hand)."""
    try:
        found = json.loads(sidecar_path(map_path).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
