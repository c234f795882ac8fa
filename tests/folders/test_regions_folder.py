"""Tests of folders.regions: a folder of maps measured by region, and the four kinds of output.

The micrographs are dark left of a known column and light right of it, and each pixel map is 3 on
the dark side and 1 on the light, so rows are checked against hand computations; a wavelet map's
levels are checked against its coefficients summed directly in the layout.
"""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from complexstep.errors import RegionError
from complexstep.folders.regions import Bootstrap, Segmentation, measure_folder
from complexstep.rendering.heatmaps import HeatmapStyle
from complexstep.rendering.regions import LEGEND_INCHES
from rendering_helpers import BLOCK, TEST_DPI, WAVELET_BASIS, read_rgb, save_grey, save_wavelet_map

HEIGHT, WIDTH = 16, 20
SPLITS = {"m0": 6, "m1": 8, "m2": 10}
WAVELET_SPLIT = 16
STRIP = round(LEGEND_INCHES * TEST_DPI)


def two_phases(shape: tuple[int, int], split: int) -> np.ndarray:
    """A micrograph dark (0.2) left of column ``split`` and light (0.8) from it."""
    image = np.full(shape, 0.8)
    image[:, :split] = 0.2
    return image


def measure(tree, **settings):
    """``measure_folder`` over the tree at the tests' dpi and a short bootstrap."""
    return measure_folder(
        tree / "maps",
        tree / "out",
        micrographs=tree / "micrographs",
        style=HeatmapStyle(dpi=TEST_DPI),
        bootstrap=Bootstrap(samples=200),
        **settings,
    )


def read_rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """Three pixel maps and a wavelet map with their micrographs, a map without one, and an
    unreadable map."""
    root = tmp_path_factory.mktemp("regions")
    maps = root / "maps" / "all"
    maps.mkdir(parents=True)
    for stem, split in SPLITS.items():
        micrograph = two_phases((HEIGHT, WIDTH), split)
        save_grey(root / "micrographs" / f"{stem}.png", micrograph)
        np.save(maps / f"{stem}.npy", np.where(micrograph < 0.5, 3.0, 1.0).astype(np.float32))
    np.save(maps / "lonely.npy", np.ones((HEIGHT, WIDTH), np.float32))
    (maps / "broken.npy").write_bytes(b"not an array")
    save_grey(root / "micrographs" / "w.png", two_phases(WAVELET_BASIS.shape, WAVELET_SPLIT))
    values = np.random.default_rng(4).random(WAVELET_BASIS.shape)
    save_wavelet_map(maps, "w", values)
    return root


@pytest.fixture(scope="module")
def report(tree):
    """One run over the tree with a boundary of half-width 2."""
    return measure(tree, segmentation=Segmentation(boundary_width=2.0))


def test_csv_rows_match_hand_computed_statistics(tree, report):
    """Each pixel map's rows hold its dark phase's area fraction split/20, the Σa and Σa² shares
    of a map of 3 on dark and 1 on light, and their enrichments."""
    rows = [row for row in read_rows(tree / "out" / "regions.csv") if row["map"] == "pixel"]
    assert len(rows) == 3 * len(SPLITS)
    for stem, split in SPLITS.items():
        dark = next(
            row for row in rows if row["micrograph"] == f"all/{stem}" and row["region"] == "dark"
        )
        area = split / WIDTH
        sums, squares = 3 * area / (3 * area + 1 - area), 9 * area / (9 * area + 1 - area)
        assert dark["kind"] == "complex-step"
        assert float(dark["area_fraction"]) == pytest.approx(area)
        assert float(dark["share_sum"]) == pytest.approx(sums)
        assert float(dark["share_squares"]) == pytest.approx(squares)
        assert float(dark["mean_attribution"]) == pytest.approx(3.0)
        assert float(dark["enrichment_squares"]) == pytest.approx(squares / area)
        boundary = next(
            row
            for row in rows
            if row["micrograph"] == f"all/{stem}" and row["region"] == "boundary"
        )
        assert float(boundary["area_fraction"]) == pytest.approx(4 / WIDTH)


def test_wavelet_levels_are_measured_from_their_coefficients(tree, report):
    """The dark phase's Σa² share of level 1 is the level's squared coefficients over the dark
    columns (coefficient columns before split/2) over all of them, summed in the layout."""
    rows = [row for row in read_rows(tree / "out" / "regions.csv") if row["micrograph"] == "all/w"]
    assert sorted({row["map"] for row in rows}) == ["approximation", "level 1", "level 2"]
    values = np.load(tree / "maps" / "all" / "w.wavelet.npy").astype(np.float64)
    blocks = [block for block in WAVELET_BASIS.blocks if block.level == 1 and block.key != "aa"]
    dark = sum(np.sum(values[block.region][:, : WAVELET_SPLIT // 2] ** 2) for block in blocks)
    total = sum(np.sum(values[block.region] ** 2) for block in blocks)
    row = next(row for row in rows if row["map"] == "level 1" and row["region"] == "dark")
    assert float(row["share_squares"]) == pytest.approx(dark / total, rel=1e-6)


def test_summary_table_gives_each_regions_mean_over_micrographs(tree, report):
    """The Markdown table's dark row starts with the mean area fraction of the three maps."""
    text = (tree / "out" / "regions_summary.md").read_text()
    assert "## complex-step, pixel map: 3 micrographs" in text
    mean_area = np.mean([split / WIDTH for split in SPLITS.values()])
    dark = next(line for line in text.splitlines() if line.startswith("| dark |"))
    assert dark.split("|")[2].strip().startswith(f"{mean_area:.3g} [")
    assert "| dark − light | 3 of 3 |" in text


def test_outlines_lie_on_the_phase_boundary(tree, report):
    """In regions_m0.png the dark phase's outline (black) is the column left of the boundary,
    the light's (lime) the column right of it, the boundary region's (yellow) its two edges
    two columns out, and no other map pixel has an outline colour."""
    split = SPLITS["m0"]
    pixels = read_rgb(tree / "out" / "all" / "regions_m0.png")
    assert pixels.shape[:2] == (STRIP + HEIGHT * BLOCK, WIDTH * BLOCK)
    centres = pixels[STRIP + BLOCK // 2 :: BLOCK, BLOCK // 2 :: BLOCK]
    expected = {split - 1: (0, 0, 0), split: (0, 255, 0), split - 2: (255, 255, 0)}
    expected[split + 1] = (255, 255, 0)
    for column in range(WIDTH):
        colour = centres[:, column]
        if column in expected:
            np.testing.assert_allclose(
                colour, np.broadcast_to(expected[column], colour.shape), atol=2
            )
        else:
            # bwr colours keep green no higher than red or blue: no outline colour is among them.
            assert np.all(colour[:, 1] <= np.maximum(colour[:, 0], colour[:, 2]) + 2)


def test_enrichment_figure_is_written(tree, report):
    """regions_enrichment.png is a picture with dark points on white."""
    pixels = read_rgb(tree / "out" / "regions_enrichment.png")
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    assert np.mean(pixels > 250) > 0.5 and np.any(pixels < 10)


def test_missing_micrograph_and_unreadable_map_are_one_line_each(report):
    """The map without micrograph is a note, the unreadable one a problem, and the rest run."""
    assert [line for line in report.notes if "lonely" in line] == report.notes
    assert len(report.notes) == 1 and "no micrograph named lonely" in report.notes[0]
    assert len(report.failed) == 1 and "broken.npy" in report.failed[0]
    assert [path.name for path in report.tables] == [
        "regions.csv",
        "regions_summary.md",
        "regions_enrichment.png",
    ]
    assert len(report.outputs) - len(report.tables) == 4 and len(report.written) == 4


def test_label_images_replace_phases_and_bad_ones_are_one_line_each(tree, tmp_path):
    """Label images name the regions from labels.json; one of another size and one with an
    unnamed label are one problem line each, and the other maps are measured."""
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "labels.json").write_text(json.dumps({"1": "pearlite", "2": "ferrite"}))
    good = np.where(two_phases((HEIGHT, WIDTH), SPLITS["m0"]) < 0.5, 1, 2).astype(np.uint8)
    Image.fromarray(good).save(labels / "m0.png")
    Image.fromarray(np.ones((HEIGHT, WIDTH + 2), np.uint8)).save(labels / "m1.png")
    Image.fromarray(np.full((HEIGHT, WIDTH), 5, np.uint8)).save(labels / "m2.png")
    report = measure_folder(
        tree / "maps",
        tmp_path / "out",
        segmentation=Segmentation(labels=labels, boundary_width=0),
        style=HeatmapStyle(dpi=100),
        bootstrap=Bootstrap(samples=50),
    )
    assert {row["region"] for row in report.rows} == {"pearlite", "ferrite"}
    pearlite = next(row for row in report.rows if row["region"] == "pearlite")
    assert pearlite["area_fraction"] == pytest.approx(SPLITS["m0"] / WIDTH)
    sized = [line for line in report.failed if "m1.png" in line]
    unnamed = [line for line in report.failed if "m2.png" in line or "label 5" in line]
    assert len(sized) == 1 and f"{HEIGHT}x{WIDTH + 2}" in sized[0]
    assert len(unnamed) == 1 and "5" in unnamed[0]
    assert all("\n" not in line for line in report.failed)


def test_maps_of_two_kinds_are_refused_in_one_line(tmp_path):
    """A map whose sidecar names another kind than the rest stops the run with one line."""
    (tmp_path / "maps").mkdir()
    for stem in ("a", "b"):
        np.save(tmp_path / "maps" / f"{stem}.npy", np.ones((4, 4)))
    (tmp_path / "maps" / "a.json").write_text(json.dumps({"kind": "gradient-input"}))
    with pytest.raises(RegionError) as raised:
        measure_folder(tmp_path / "maps", tmp_path / "out", micrographs=tmp_path)
    assert "several kinds" in str(raised.value) and "\n" not in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_kind_is_written_into_every_row(tree, tmp_path):
    """Maps measured as gradient-input have that kind in every row of regions.csv."""
    report = measure_folder(
        tree / "maps",
        tmp_path / "out",
        micrographs=tree / "micrographs",
        kind="gradient-input",
        style=HeatmapStyle(dpi=100),
        bootstrap=Bootstrap(samples=50),
    )
    kinds = {row["kind"] for row in read_rows(tmp_path / "out" / "regions.csv")}
    assert kinds == {"gradient-input"} and report.kind == "gradient-input"
