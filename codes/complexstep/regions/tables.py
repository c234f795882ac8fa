"""The region statistics as files a user opens: ``regions.csv`` and ``regions_summary.md``."""

import csv
import math
import os
from pathlib import Path

from complexstep.io.images import write_atomically
from complexstep.regions.statistics import HEADLINE, QUANTITIES, Estimate, Summary

CSV_NAME = "regions.csv"
SUMMARY_NAME = "regions_summary.md"

COLUMNS = ("micrograph", "kind", "map", "region", "pixels", *QUANTITIES)
"""The columns of ``regions.csv``, one row per micrograph, map and region."""

LABELS = {
    "area_fraction": "area fraction",
    "share_sum": "share of Σa",
    "share_squares": "share of Σa²",
    "mean_attribution": "mean a",
    "enrichment_sum": "enrichment (Σa)",
    "enrichment_squares": "enrichment (Σa²)",
}
"""How the summary's tables head each quantity."""


def write_csv(path: str | os.PathLike, rows: list[dict]) -> Path:
    """Writes per-micrograph statistics as CSV, numbers to 9 significant digits, NaN empty.

    Args:
        path: destination.
        rows: dicts with every key of ``COLUMNS``.

    Returns:
        The destination path.
    """

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([_cell(row[column]) for column in COLUMNS])

    return write_atomically(path, write)


def _cell(value) -> str:
    """A CSV cell: floats to 9 significant digits, NaN empty."""
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".9g")
    return str(value)


def summary_markdown(summaries: list[Summary]) -> str:
    """The summary of a folder as Markdown: per map, a table of regions and one of comparisons.

    Args:
        summaries: from ``statistics.summarise``.

    Returns:
        The Markdown text.
    """
    percent = f"{summaries[0].confidence * 100:g} %" if summaries else ""
    lines = [
        "# Attribution by region",
        "",
        "Per region, the mean over micrographs and, in brackets, a bootstrap "
        f"{percent} interval over micrographs. Enrichment is share ÷ area fraction: above 1 the "
        "map rests on the region more than its area. The headline is the enrichment of the "
        "share of Σa², since the map is a = ‖J e_k‖ and Σa² over all pixels is ‖J‖²: a "
        "region's Σa² is exactly its part of the code's squared sensitivity. The share of Σa "
        "weighs weak pixels more and is given beside it. The boundary overlaps the regions it "
        "separates.",
    ]
    for summary in summaries:
        count = max((estimates["area_fraction"].count for estimates in summary.regions.values()))
        lines += [
            "",
            f"## {summary.kind}, {summary.map} map: {count} micrograph{'s' if count != 1 else ''}",
            "",
            "| region | " + " | ".join(LABELS[quantity] for quantity in QUANTITIES) + " |",
            "|---|" + "---:|" * len(QUANTITIES),
        ]
        for region, estimates in summary.regions.items():
            cells = [_estimate(estimates[quantity]) for quantity in QUANTITIES]
            lines.append(f"| {region} | " + " | ".join(cells) + " |")
        if summary.comparisons:
            lines += [
                "",
                f"| regions | {LABELS[HEADLINE]} higher on | mean difference |",
                "|---|---:|---:|",
            ]
            for comparison in summary.comparisons:
                lines.append(
                    f"| {comparison.first} − {comparison.second} | {comparison.above} of "
                    f"{comparison.difference.count} | {_estimate(comparison.difference)} |"
                )
    return "\n".join(lines) + "\n"


def _estimate(estimate: Estimate) -> str:
    """A mean and its interval, ``0.512 [0.48, 0.55]``; a dash for what is not defined."""
    if math.isnan(estimate.mean):
        return "—"
    if math.isnan(estimate.low):
        return f"{estimate.mean:.3g}"
    return f"{estimate.mean:.3g} [{estimate.low:.3g}, {estimate.high:.3g}]"


def write_summary(path: str | os.PathLike, summaries: list[Summary]) -> Path:
    """Writes ``summary_markdown`` to a file, atomically."""
    text = summary_markdown(summaries)
    return write_atomically(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
