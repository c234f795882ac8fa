"""What made a map, written beside it as JSON so that a folder of maps can be trusted later.

Stage 2 writes ``<stem>.json`` beside each pixel map and adds the same keys to the wavelet
sidecar ``<stem>.wavelet.json``: the package's version, the Keras backend, the model file and its
SHA-256, the layer, engine, domain, step and map kind, and how the micrograph was read (its size,
the data bar cropped and what found it, the page, the channels, the resize or crop to the
network's sizes, the intensity scaling, the pixel size and where it came from, and every note the
reader made), with ``write_sidecar``. Stage 3, the explorer and the region statistics read it
back with ``read_sidecar``, which gives the keys earlier versions wrote under their present names
(the engine was the ``method``), so that their maps are read and left alone as this version's.
"""

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable
from pathlib import Path

from complexstep import defaults
from complexstep.errors import UnreadableImageError
from complexstep.io.images import write_atomically

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
    model_name: str | None = None,
    layer: str,
    engine: str,
    domain: str,
    h: float,
    backend: str,
    kind: dict | None = None,
) -> dict:
    """The keys every map of one run shares.

    Args:
        model_path: the model file, or None for a model given as an object.
        model_name: what the sidecar calls the model ("pretrained" for the shipped one, whose
            installed path would mean nothing on another machine); ``model_path`` if None.
        layer, engine, domain, h: the explainer's settings.
        backend: the framework that computed the maps: a Keras backend, or "torch".
        kind: the map kind and its settings (``kind``, one of ``defaults.MAP_KINDS``, the
            ``baseline`` and ``integration_steps`` where it takes them); the paper's map if None.

    Returns:
        A dictionary JSON can write.
    """
    return {
        "package_version": package_version(),
        "backend": backend,
        "model": model_name or (None if model_path is None else str(model_path)),
        "model_sha256": None if model_path is None else sha256(model_path),
        "layer": layer,
        "engine": engine,
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
        # A volume's three sides, a page's two: channels are no side.
        "size_explained": list(micrograph.pixels.shape[: 3 if micrograph.volume else 2]),
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


def write_sidecar(path: str | os.PathLike, content: dict) -> Path:
    """Writes a map's sidecar, ``content`` as indented JSON, atomically.

    Returns:
        The destination path.
    """
    text = json.dumps(content, indent=2)
    return write_atomically(path, lambda part: part.write_text(text))


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text_or_none(value) -> bool:
    return value is None or isinstance(value, str)


def _pair(check: Callable[[object], bool], lengths=(2,)) -> Callable[[object], bool]:
    return lambda value: (
        isinstance(value, list) and len(value) in lengths and all(map(check, value))
    )


_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "model": (_text_or_none, "a file name"),
    "model_sha256": (_text_or_none, "a SHA-256"),
    "layer": (lambda value: isinstance(value, str), "a layer's name"),
    "engine": (lambda value: isinstance(value, str), "an engine's name"),
    "domain": (lambda value: isinstance(value, str), "a domain's name"),
    "h": (_number, "a number"),
    "kind": (lambda value: isinstance(value, str), "a map kind's name"),
    "baseline": (_text_or_none, "a baseline's name"),
    "blur_sigma": (lambda value: value is None or _number(value), "a number"),
    "integration_steps": (lambda value: value is None or _whole(value), "a whole number"),
    "wavelet": (lambda value: isinstance(value, str), "a wavelet's name"),
    "levels": (_whole, "a whole number"),
    "size_read": (_pair(_whole), "[height, width]"),
    "data_bar_rows": (_whole, "a whole number"),
    "data_bar_source": (_text_or_none, "a source's name"),
    "resize": (lambda value: value is None or _whole(value), "a whole number"),
    "size_explained": (_pair(_whole, (2, 3)), "[height, width] or [depth, height, width]"),
    "intensity": (lambda value: isinstance(value, str), "a scaling's name"),
    "intensity_range": (_pair(_number), "[low, high]"),
    "pixel_size_um": (lambda value: value is None or _number(value), "a number"),
    "pixel_size_source": (_text_or_none, "a source's name"),
}
"""The fields readers act on, each with its check and what it should be, for the message."""

_FORMER_NAMES = {"method": "engine"}
"""Keys that earlier versions wrote, each with the key it is read as where that is absent."""


def read_sidecar(map_path: str | os.PathLike) -> dict:
    """The JSON beside a map, or an empty dictionary where there is none (a map from an earlier
    version, or written by hand); a key an earlier version wrote under a former name (``method``)
    is given under its present one (``engine``).

    Raises:
        UnreadableImageError: if the sidecar is there but cannot be read, is not an object of
            JSON, nests too deeply to parse, or a field readers act on has the wrong type.
    """
    path = sidecar_path(map_path)
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except RecursionError:
        raise UnreadableImageError(f"cannot read {path}: its JSON nests too deeply") from None
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UnreadableImageError.of(path, error) from None
    if not isinstance(found, dict):
        raise UnreadableImageError(f"cannot read {path}: it is not an object of JSON")
    for former, name in _FORMER_NAMES.items():
        if former in found and name not in found:
            found[name] = found.pop(former)
    for name, (valid, what) in _FIELDS.items():
        if name in found and not valid(found[name]):
            shown = repr(found[name])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise UnreadableImageError(f"cannot read {path}: its {name!r} is {shown}, not {what}")
    return found
