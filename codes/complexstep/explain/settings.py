"""What an ``Explainer`` is built from besides its model: one frozen, checked value.

The commands, the functional API, the evaluation, the explorer and the cache each build one
``ExplainerSettings`` and hand it to the ``Explainer``; a Dask worker gets the same value and builds
the Explainer again from it, and keeps what it built under it. Its fields are plain values, so it
pickles and hashes, and it is checked once, when made: before Keras starts, for the commands.
"""

import dataclasses
import warnings

from complexstep import defaults
from complexstep.errors import SettingError
from complexstep.explain import domains, kinds


@dataclasses.dataclass(frozen=True)
class ExplainerSettings:
    """Which layer is explained, how, and which map is made.

    Attributes:
        layer: the name of the layer whose whole output is explained; for a PyTorch module the
            path of a submodule (``"encoder.layer3"``), the module's own output where it has no
            submodule of the default name, "code".
        engine: "jacobian" (reverse-mode passes, faster) or "complex-step" (complex forward
            passes, as in the paper); both give the same numbers.
        h: the imaginary step of the complex-step engine.
        batch_size: perturbed copies of a full-resolution tile pushed through a layer at once;
            None for the default. Larger is faster and takes more memory.
        tile_size: the largest tile side, in pixels; larger images are split into overlapping
            tiles, so that memory stays bounded however large the image. None for the engine's
            default; ``jacobian`` always uses the jacobian engine's.
        images_per_call: how many images of one size ``attribute_many`` explains in one compiled
            call on JAX.
        domain: "pixel" to attribute to every pixel, "wavelet" to every coefficient of the
            image's orthonormal wavelet transform (see ``domains``).
        wavelet: the orthogonal PyWavelets wavelet of the wavelet domain: haar, db2, db4, sym4...
        levels: how many levels the wavelet transform has.
        kind: the map ``attribute`` gives: "complex-step" (the paper's), "gradient-input" or
            "integrated-complex-step" (see ``kinds``).
        baseline: what the weighted kinds measure ``|x - b|`` from: "blur" (the image blurred by
            ``blur_sigma`` pixels) or "mean" (its mean grey value).
        blur_sigma: the blur baseline's Gaussian, in pixels.
        integration_steps: the path points of the integrated complex step.
        per_channel: for a model of several input channels, one map per channel (the norm of
            each channel's Jacobian column) instead of their norm together.

    Raises:
        SettingError: on construction, for an unknown engine, domain, kind or baseline, a step
            out of range, a batch size that is not positive, a wavelet that is unknown or not
            orthogonal, or a kind the domain cannot make.
    """

    layer: str = defaults.LAYER
    engine: str = defaults.ENGINE
    h: float = defaults.H
    batch_size: int | None = None
    tile_size: int | None = None
    images_per_call: int = defaults.IMAGES_PER_CALL
    domain: str = defaults.DOMAIN
    wavelet: str = defaults.WAVELET
    levels: int = defaults.WAVELET_LEVELS
    kind: str = defaults.MAP_KIND
    baseline: str = defaults.BASELINE
    blur_sigma: float = defaults.BLUR_SIGMA
    integration_steps: int = defaults.INTEGRATION_STEPS
    per_channel: bool = False

    def __post_init__(self) -> None:
        if self.engine not in defaults.ENGINES:
            raise SettingError(
                f"unknown engine {self.engine!r}; choose one of {', '.join(defaults.ENGINES)}"
            )
        low, high = defaults.H_RANGE
        if not (isinstance(self.h, int | float) and low <= self.h <= high):
            raise SettingError(
                f"h must be a number from {low:g} to {high:g}, not {self.h!r}: float32 passes "
                "cannot carry a step outside that range through a network's layers"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise SettingError(f"batch_size must be positive, not {self.batch_size}")
        self.map_kind(self.map_domain())

    @classmethod
    def of(cls, settings: "ExplainerSettings | None" = None, **keywords) -> "ExplainerSettings":
        """``settings`` (the defaults if None) with the fields that ``keywords`` name replaced.

        ``method``, the engine's former name, is taken for ``engine``, with a
        ``DeprecationWarning``; None stands for not given.

        Raises:
            SettingError: as construction does.
            TypeError: for a keyword that names no field.
        """
        method = keywords.pop("method", None)
        if method is not None:
            warnings.warn(
                "method= is now engine=: the engine that computes the map", DeprecationWarning, 3
            )
            keywords["engine"] = method
        if settings is None:
            return cls(**keywords)
        return dataclasses.replace(settings, **keywords) if keywords else settings

    def map_domain(self) -> domains.Pixels | domains.Wavelets:
        """The domain these settings name, with its wavelet and levels.

        Raises:
            SettingError: as ``domains.domain_of`` does.
        """
        return domains.domain_of(self.domain, self.wavelet, self.levels)

    def map_kind(self, domain: domains.Pixels | domains.Wavelets) -> kinds.MapKind:
        """The kind of map these settings name, with its baseline, blur and path points, made in
        ``domain``.

        Raises:
            SettingError: as ``kinds.kind_of`` does.
        """
        return kinds.kind_of(
            self.kind, domain, self.baseline, self.blur_sigma, self.integration_steps
        )
