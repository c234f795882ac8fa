"""The Explainers that ``attribute``, ``jacobian`` and ``encode`` keep from call to call, so that a
loop of calls builds the twin and compiles the engines once.

The cache lives here, in this module, and nothing is written onto a caller's model. A model held
in memory (a ``keras.Model``, a ``torch.nn.Module`` or an exported program) is known by its
identity, a model file by its resolved path: a file whose size or modification time has changed
since is loaded anew. The Explainers of the last ``KEPT_MODELS`` models are kept, each for its last
``KEPT_SETTINGS`` settings. An Explainer holds its model, so a model its caller has dropped stays
in memory until newer models push it out; ``clear()`` lets every one go at once.
"""

import os
from typing import TYPE_CHECKING

from complexstep.explain.explainer import Explainer
from complexstep.explain.settings import ExplainerSettings
from complexstep.model.files import path_of

if TYPE_CHECKING:
    import keras
    import torch

KEPT_MODELS = 4
"""How many models, in memory or in files, keep their Explainers."""

KEPT_SETTINGS = 4
"""How many settings of one model keep their Explainers."""

# From a model's key (its identity, or its file's path) to the model itself, or the file's size and
# modification time, and its Explainers by settings; oldest use first. An entry holds its model, so
# the identity of a model in memory cannot pass to another object while the entry lasts.
_KEPT: dict[tuple, tuple[object, dict[ExplainerSettings, Explainer]]] = {}


def explainer(
    model: "keras.Model | torch.nn.Module | str | os.PathLike",
    settings: ExplainerSettings | None = None,
    **keywords,
) -> Explainer:
    """The ``Explainer`` of a model and settings: the one built for them before, while it is kept,
    or a new one, then kept.

    Args:
        model: as ``Explainer`` takes it.
        settings: the ``Explainer``'s settings; the defaults if None.
        keywords: fields of ``ExplainerSettings`` that replace those of ``settings``.

    Raises:
        ModelError, UnsupportedLayerError, SettingError: as ``Explainer`` does.
    """
    settings = ExplainerSettings.of(settings, **keywords)
    if isinstance(model, str | os.PathLike):
        path = path_of(model)
        try:
            status = path.stat()
        except OSError:
            # The Explainer says, on one line, why there is no model there.
            return Explainer(model, settings)
        key, holder = ("file", str(path.resolve())), (status.st_size, status.st_mtime_ns)
    else:
        key, holder = ("object", id(model)), model
    kept = _KEPT.get(key)
    # A model in memory is its own holder, so identity answers for it and it is never asked to
    # compare itself; a file trained anew since has another size or modification time.
    built = kept[1] if kept is not None and (kept[0] is holder or kept[0] == holder) else {}
    made = built.get(settings)
    if made is None:
        made = Explainer(model, settings)
    _use(built, settings, made, KEPT_SETTINGS)
    _use(_KEPT, key, (holder, built), KEPT_MODELS)
    return made


def _use(kept: dict, key, value, most: int) -> None:
    """Puts ``value`` at ``key`` as the latest used, and drops the oldest used beyond ``most``."""
    kept.pop(key, None)
    kept[key] = value
    while len(kept) > most:
        kept.pop(next(iter(kept)))


def clear() -> None:
    """Forgets every kept Explainer, and with them every model they held."""
    _KEPT.clear()
