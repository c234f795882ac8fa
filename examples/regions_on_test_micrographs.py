"""Attribution by phase and boundary on the study's test micrographs, with the shipped model.

Which regions of a micrograph does the compact code rest on? This script answers it for the 163
test micrographs of Arumugam & Kiran (Materials & Design, 2022; the micrographs are GPL-3.0), the
numbers docs/regions.md reports:

1. the paper's map of every micrograph and its ``gradient-input`` map,
   ``||J e_k|| * |x_k - b_k|`` with the blurred baseline, from stage 2
   (``codes/obtain_attribution_contours.py --model pretrained --kind ...``);
2. the evaluation's two model-free controls, ``darkness`` (``1 - x``) and ``edges`` (Sobel),
   each from ``complexstep.evaluation.methods`` on the micrograph as stage 2 reads it;
3. for each of the four kinds, the same regions (two Otsu phases and the 2-pixel boundary between
   them) measured by ``complexstep.folders.regions.measure_folder``, which writes its own
   ``regions.csv``, ``regions_summary.md`` and outline pictures under ``<outputs>/regions/<kind>``;
4. one figure of the headline enrichment of every kind side by side, and the table it draws,
   printed as Markdown;
5. per kind, the boundary's enrichment beside what its two phases alone would give it: the
   enrichment of the boundary under a map that spreads each phase's mean a² evenly over the
   phase. A boundary enriched beyond that is one the map rests on for itself, not for the dark
   phase it borders.

It takes a few minutes on two CPU cores, most of them the two model maps; a rerun reuses the maps
already written. Run from the repository root with the package importable (``pip install -e .``):

    python examples/regions_on_test_micrographs.py \
        --micrographs ../shared/data/micrographs/test --outputs regions_test
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from complexstep import defaults
from complexstep.evaluation.methods import AttributionMethods
from complexstep.folders.heatmaps import micrograph_on_grid
from complexstep.folders.loop import FolderReport, find_micrographs
from complexstep.folders.regions import measure_folder
from complexstep.io.images import read_image, save_figure, write_array
from complexstep.io.maps import read_map
from complexstep.regions import BOUNDARY, HEADLINE, bootstrap_mean, otsu_phases, with_boundary
from complexstep.rendering.heatmaps import HeatmapStyle
from complexstep.rendering.regions import enrichment_figure

REPOSITORY = Path(__file__).resolve().parent.parent
PAPER_KIND = defaults.MAP_KIND
STAGE_2_KINDS = (PAPER_KIND, "gradient-input")
"""The maps of the model, made by stage 2."""
CONTROLS = ("darkness", "edges")
"""The maps made here through the evaluation's methods: two controls that know no model."""

KINDS = (*STAGE_2_KINDS, *CONTROLS)
TABLE_QUANTITIES = ("area_fraction", "share_squares", "enrichment_squares", "enrichment_sum")
OUTLINE_DPI = 100.0
"""The outline pictures at one picture pixel a map pixel: there are 163 of each kind."""


# The maps.


def stage_2_maps(micrographs: Path, folder: Path, kind: str) -> None:
    """Stage 2's maps of every micrograph, of one kind, written by the stage 2 script itself."""
    command = [
        sys.executable,
        str(REPOSITORY / "codes" / "obtain_attribution_contours.py"),
        "--inputs",
        str(micrographs),
        "--outputs",
        str(folder),
        "--model",
        "pretrained",
        "--kind",
        kind,
        "--skip-existing",
    ]
    subprocess.run(command, check=True)


def control_maps(micrographs: Path, folders: dict[str, Path]) -> None:
    """The evaluation's control maps of every micrograph, ``<stem>.npy`` with a ``<stem>.json``
    sidecar naming the kind, so that the region statistics never mix them with the model's maps.

    Each micrograph is read as stage 2 reads it, resized to 256x256; the controls need no
    baseline.
    """
    methods = AttributionMethods("pretrained")
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for path in find_micrographs(micrographs, micrographs, FolderReport()):
        stem = path.relative_to(micrographs).with_suffix("")
        image = read_image(path, size=defaults.IMAGE_SIZE)
        for kind, folder in folders.items():
            target = folder / stem.with_name(stem.name + ".npy")
            if target.is_file():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            # The sidecar first, so that an interrupted run never leaves a map without its kind.
            target.with_suffix(".json").write_text(json.dumps({"kind": kind}))
            # Neither needs a baseline or randomness; both are part of the methods' signature.
            values = methods.attribute(kind, image, image, np.random.default_rng(defaults.SEED))
            write_array(target, values)


# The boundary beside its phases.


def boundary_beyond_phases(micrographs: Path, folder: Path):
    """The boundary's headline enrichment, observed and as its phases alone would give it.

    The regions are those ``measure_folder`` draws, from the micrograph on the map's grid.

    Returns:
        The observed and the phase-only enrichment, each a mean over micrographs with its
        bootstrap interval (``Estimate``), on how many
        micrographs the first is above the second, and of how many.
    """
    observed, expected = [], []
    for path in find_micrographs(micrographs, micrographs, FolderReport()):
        stem = path.relative_to(micrographs).with_suffix("")
        map_path = folder / stem.with_name(stem.name + ".npy")
        squares = read_map(map_path) ** 2
        regions = with_boundary(
            otsu_phases(micrograph_on_grid(path, map_path, squares.shape)), defaults.BOUNDARY_WIDTH
        )
        boundary = regions.pop(BOUNDARY)
        phase_only = np.zeros_like(squares)
        for mask in regions.values():
            phase_only[mask] = squares[mask].mean()
        for values, found in ((squares, observed), (phase_only, expected)):
            found.append(values[boundary].sum() / values.sum() / boundary.mean())
    observed, expected = np.array(observed), np.array(expected)
    return (
        bootstrap_mean(observed),
        bootstrap_mean(expected),
        int(np.sum(observed > expected)),
        len(observed),
    )


# The table.


def markdown_table(summaries) -> str:
    """Per kind and region: area fraction, share of Σa², and both enrichments, each the mean over
    micrographs with its bootstrap interval."""
    lines = [
        "| map | region | area fraction | share of Σa² | enrichment (Σa²) | enrichment (Σa) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for summary in summaries:
        for region, estimates in summary.regions.items():
            cells = [_cell(estimates[quantity]) for quantity in TABLE_QUANTITIES]
            lines.append(f"| {summary.kind} | {region} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_lines(summaries) -> str:
    """Per kind, on how many micrographs each region's headline enrichment is above another's."""
    lines = []
    for summary in summaries:
        for comparison in summary.comparisons:
            lines.append(
                f"{summary.kind}: {comparison.first} above {comparison.second} on "
                f"{comparison.above} of {comparison.difference.count} micrographs, "
                f"difference {_cell(comparison.difference)}"
            )
    return "\n".join(lines)


def kind_comparisons(rows: list[dict]) -> str:
    """Each model map against each control, region by region: on how many micrographs the map's
    headline enrichment is above the control's."""
    enrichment = {(row["kind"], row["micrograph"], row["region"]): row[HEADLINE] for row in rows}
    lines = []
    for kind in (PAPER_KIND, "gradient-input"):
        for control in ("darkness", "edges"):
            for region in dict.fromkeys(row["region"] for row in rows):
                pairs = [
                    (value, enrichment[(control, micrograph, name)])
                    for (first, micrograph, name), value in enrichment.items()
                    if first == kind and name == region
                ]
                above = sum(value > other for value, other in pairs)
                lines.append(
                    f"{kind} above {control} in {region} on {above} of {len(pairs)} micrographs"
                )
    return "\n".join(lines)


def _cell(estimate) -> str:
    """``0.512 [0.480, 0.550]``: the mean and its interval, to three decimals."""
    return f"{estimate.mean:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--micrographs",
        type=Path,
        default=REPOSITORY.parent / "shared" / "data" / "micrographs" / "test",
        help="the study's test micrographs",
    )
    parser.add_argument(
        "--outputs", type=Path, default=Path("regions_test"), help="folder for maps and results"
    )
    parser.add_argument(
        "--figure",
        type=Path,
        default=None,
        help="where the enrichment figure goes (default: <outputs>/regions_enrichment_test.png)",
    )
    arguments = parser.parse_args()
    maps = {kind: arguments.outputs / "maps" / kind for kind in KINDS}

    for kind in STAGE_2_KINDS:
        stage_2_maps(arguments.micrographs, maps[kind], kind)
    control_maps(arguments.micrographs, {kind: maps[kind] for kind in CONTROLS})

    summaries, rows = [], []
    for kind in KINDS:
        report = measure_folder(
            maps[kind],
            arguments.outputs / "regions" / kind,
            micrographs=arguments.micrographs,
            style=HeatmapStyle(dpi=OUTLINE_DPI),
        )
        for line in report.notes + report.failed:
            print(line, file=sys.stderr)
        print(report.summary())
        summaries += report.summaries
        rows += report.rows

    figure = arguments.figure or arguments.outputs / "regions_enrichment_test.png"
    save_figure(enrichment_figure(summaries), figure, 100)
    print(f"wrote {figure}\n")
    print(f"Means over micrographs, [bootstrap 95 % interval]; headline {HEADLINE}:\n")
    print(markdown_table(summaries))
    print()
    print(comparison_lines(summaries))
    print()
    print(kind_comparisons(rows))
    print("\nThe boundary's enrichment (Σa²), observed and from its phases alone:\n")
    for kind in KINDS:
        observed, expected, above, count = boundary_beyond_phases(arguments.micrographs, maps[kind])
        print(
            f"{kind}: {_cell(observed)} against {_cell(expected)}, above on {above} of {count} "
            "micrographs"
        )


if __name__ == "__main__":
    main()
