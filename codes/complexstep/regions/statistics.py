"""How much of a map each region carries, per micrograph and over a folder of them.

For a micrograph and a region: the area fraction, the region's share of the attribution summed
(``Σa``) and squared (``Σa²``), the mean attribution, and the enrichment, share ÷ area fraction: 1
where a region carries as much as its area, above 1 where the code rests on it more.

The headline is the share of ``Σa²`` (``HEADLINE``). The paper's map is the column norm
``a_k = ||J e_k||`` of the code's Jacobian, so ``Σa²`` over all pixels is ``||J||_F²``, and a
region's ``Σa²`` is exactly the part of it that the region's pixels carry: the shares add up to the
whole code's squared sensitivity, as the wavelet shares stage 2 writes do. ``Σa`` adds up norms,
which are no part of any whole, and is kept beside it, since it weighs the many weak pixels more.

Over a folder each quantity is averaged over micrographs, with a percentile bootstrap interval
that resamples micrographs; two regions are compared on the micrographs that have both, pairwise.
"""

import dataclasses
import itertools
import math

import numpy as np
from scipy import stats

from complexstep import defaults
from complexstep.errors import RegionError, SettingError

QUANTITIES = (
    "area_fraction",
    "share_sum",
    "share_squares",
    "mean_attribution",
    "enrichment_sum",
    "enrichment_squares",
)
"""The per-region numbers, as ``region_statistics`` names them and ``regions.csv`` holds them."""

HEADLINE = "enrichment_squares"
"""The enrichment the summary leads with and compares regions by: that of the ``Σa²`` share,
the region's part of ``||J||_F²``."""


def region_statistics(attribution: np.ndarray, regions: dict[str, np.ndarray]) -> list[dict]:
    """The statistics of each region of one map.

    Args:
        attribution: a map of non-negative values, 2-D.
        regions: name to boolean mask of the map's shape; regions may overlap.

    Returns:
        One dict per region, in the regions' order: ``region``, ``pixels`` and each of
        ``QUANTITIES``. A region without pixels has NaN mean and enrichments; a map of zeros has
        NaN shares and enrichments.

    Raises:
        RegionError: if a mask has another shape than the map, or the map has negative or
            non-finite values.
    """
    values = np.asarray(attribution, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise RegionError("region shares need a map of finite values >= 0")
    squares = np.square(values)
    total, total_squares = math.fsum(values.ravel()), math.fsum(squares.ravel())
    rows = []
    for name, mask in regions.items():
        if mask.shape != values.shape:
            raise RegionError(
                f"region {name!r} is {mask.shape[0]}x{mask.shape[1]} but its map is "
                f"{values.shape[0]}x{values.shape[1]}"
            )
        pixels = int(np.count_nonzero(mask))
        area = pixels / values.size
        share = _ratio(math.fsum(values[mask]), total)
        share_squares = _ratio(math.fsum(squares[mask]), total_squares)
        rows.append(
            {
                "region": name,
                "pixels": pixels,
                "area_fraction": area,
                "share_sum": share,
                "share_squares": share_squares,
                "mean_attribution": float(np.mean(values[mask])) if pixels else math.nan,
                "enrichment_sum": _ratio(share, area),
                "enrichment_squares": _ratio(share_squares, area),
            }
        )
    return rows


def _ratio(numerator: float, denominator: float) -> float:
    """A quotient, NaN where the denominator is 0 or either is NaN."""
    return numerator / denominator if denominator > 0 else math.nan


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A mean over micrographs and its bootstrap interval.

    Attributes:
        mean: the mean, NaN where no micrograph has the value.
        low, high: the interval's ends; NaN where fewer than two micrographs have the value.
        count: the micrographs the mean is over.
    """

    mean: float
    low: float
    high: float
    count: int


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Two regions' headline enrichments compared micrograph by micrograph.

    Attributes:
        first, second: the regions' names.
        above: on how many micrographs the first's enrichment is above the second's.
        difference: the first's enrichment less the second's, as an ``Estimate`` over the
            micrographs that have both.
    """

    first: str
    second: str
    above: int
    difference: Estimate


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a folder's maps say about one map (``pixel``, or a wavelet level) of one kind.

    Attributes:
        kind: the kind of map.
        map: which map: ``pixel``, ``level <n>`` or ``approximation``.
        regions: per region, per quantity of ``QUANTITIES``, an ``Estimate``.
        comparisons: each pair of regions, in the regions' order.
        confidence: the intervals' level.
    """

    kind: str
    map: str
    regions: dict[str, dict[str, Estimate]]
    comparisons: list[Comparison]
    confidence: float


def bootstrap_mean(
    values: np.ndarray,
    samples: int = defaults.BOOTSTRAP_SAMPLES,
    confidence: float = defaults.CONFIDENCE,
    seed: int = defaults.SEED,
) -> Estimate:
    """The mean of values (NaN left out) and its percentile bootstrap interval.

    Args:
        values: one value per micrograph.
        samples: bootstrap resamples.
        confidence: the interval's level, between 0 and 1.
        seed: seeds the resampling, so that a rerun gives the same interval.

    Returns:
        The estimate.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = float(np.mean(values))
    if values.size < 2:
        return Estimate(mean, math.nan, math.nan, 1)
    if np.all(values == values[0]):
        return Estimate(mean, mean, mean, int(values.size))
    result = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=samples,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return Estimate(mean, float(interval.low), float(interval.high), int(values.size))


def check_bootstrap(samples: int, confidence: float) -> None:
    """Refuses too few resamples for an interval to hold the mean, and a level outside (0, 1).

    Raises:
        SettingError: naming the setting and what it must be.
    """
    if not (isinstance(samples, int) and samples >= defaults.BOOTSTRAP_MIN_SAMPLES):
        raise SettingError(
            f"bootstrap samples must be a whole number >= {defaults.BOOTSTRAP_MIN_SAMPLES}, not "
            f"{samples!r}: fewer give intervals that need not hold the mean"
        )
    if not 0 < confidence < 1:
        raise SettingError(f"confidence must lie between 0 and 1, not {confidence}")


def summarise(
    rows: list[dict],
    samples: int = defaults.BOOTSTRAP_SAMPLES,
    confidence: float = defaults.CONFIDENCE,
    seed: int = defaults.SEED,
) -> list[Summary]:
    """Averages per-micrograph statistics over micrographs, for each map and kind.

    Args:
        rows: ``region_statistics`` rows with ``micrograph``, ``kind`` and ``map`` added.
        samples: bootstrap resamples.
        confidence: the intervals' level.
        seed: seeds every bootstrap.

    Returns:
        One summary per (kind, map), in the order they first appear.

    Raises:
        SettingError: for fewer than ``defaults.BOOTSTRAP_MIN_SAMPLES`` resamples or a
            confidence outside (0, 1).
    """
    check_bootstrap(samples, confidence)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["kind"], row["map"]), []).append(row)
    summaries = []
    for (kind, name), group in groups.items():
        table: dict[str, dict[str, dict]] = {}
        for row in group:
            table.setdefault(row["region"], {})[row["micrograph"]] = row
        estimate = _estimator(samples, confidence, seed)
        regions = {
            region: {
                quantity: estimate([row[quantity] for row in by_micrograph.values()])
                for quantity in QUANTITIES
            }
            for region, by_micrograph in table.items()
        }
        comparisons = [
            _compare(first, second, table[first], table[second], estimate)
            for first, second in itertools.combinations(table, 2)
        ]
        summaries.append(Summary(kind, name, regions, comparisons, confidence))
    return summaries


def _estimator(samples: int, confidence: float, seed: int):
    """``bootstrap_mean`` with the settings filled in."""
    return lambda values: bootstrap_mean(values, samples, confidence, seed)


def _compare(first: str, second: str, firsts: dict, seconds: dict, estimate) -> Comparison:
    """Compares two regions' headline enrichments on the micrographs where both have one."""
    differences = np.array(
        [
            firsts[micrograph][HEADLINE] - seconds[micrograph][HEADLINE]
            for micrograph in sorted(firsts.keys() & seconds.keys())
        ],
        dtype=np.float64,
    )
    differences = differences[np.isfinite(differences)]
    return Comparison(first, second, int(np.sum(differences > 0)), estimate(differences))
