"""Regions of micrographs and how much of a map each carries.

``sources`` makes regions (Otsu phases, label images, boundaries), ``statistics`` measures them
per micrograph and over a folder, ``tables`` writes the numbers as files.
"""

from complexstep.regions.sources import (
    BOUNDARY,
    boundary_region,
    boundary_width_in_pixels,
    label_regions,
    otsu_phases,
    phase_names,
    read_label_names,
    read_labels,
    with_boundary,
)
from complexstep.regions.statistics import (
    HEADLINE,
    QUANTITIES,
    Comparison,
    Estimate,
    Summary,
    bootstrap_mean,
    region_statistics,
    summarise,
)

__all__ = [
    "BOUNDARY",
    "HEADLINE",
    "QUANTITIES",
    "Comparison",
    "Estimate",
    "Summary",
    "bootstrap_mean",
    "boundary_region",
    "boundary_width_in_pixels",
    "label_regions",
    "otsu_phases",
    "phase_names",
    "read_label_names",
    "read_labels",
    "region_statistics",
    "summarise",
    "with_boundary",
]
