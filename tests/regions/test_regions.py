"""Tests of complexstep.regions: phases, label images, boundaries and the statistics of regions.

Micrographs are synthetic with known phases (a dark band on the left, light on the right) and maps
are known by construction (3 on the dark phase, 1 on the light), so every number is checked
against a hand computation.
"""

import math

import numpy as np
import pytest
from PIL import Image

from complexstep.errors import RegionError, SettingError
from complexstep.regions import sources, statistics

HEIGHT, WIDTH, SPLIT = 8, 10, 4


def two_phases(split: int = SPLIT, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """A micrograph dark (0.2) on columns before ``split`` and light (0.8) from it, with noise."""
    image = np.full((HEIGHT, WIDTH), 0.8)
    image[:, :split] = 0.2
    return image + np.random.default_rng(seed).uniform(-noise, noise, image.shape)


def left_columns(count: int) -> np.ndarray:
    """A mask of the first ``count`` columns."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[:, :count] = True
    return mask


def test_otsu_finds_the_dark_and_the_light_half():
    """Two Otsu phases of a noisy two-phase micrograph are exactly its dark and light columns."""
    phases = sources.otsu_phases(two_phases(), classes=2, sigma=1.0)
    assert list(phases) == ["dark", "light"]
    np.testing.assert_array_equal(phases["dark"], left_columns(SPLIT))
    np.testing.assert_array_equal(phases["light"], ~left_columns(SPLIT))


def test_multi_otsu_finds_three_bands_named_by_grey_level():
    """Three multi-Otsu phases of three grey bands are the bands, named dark, middle, light."""
    image = np.tile(np.repeat([0.1, 0.5, 0.9], [3, 4, 3]), (HEIGHT, 1))
    phases = sources.otsu_phases(image, classes=3, sigma=0.0)
    assert list(phases) == ["dark", "middle", "light"]
    assert [int(phases[name][0].sum()) for name in phases] == [3, 4, 3]
    assert phases["middle"][:, 3:7].all()


def test_more_phases_are_numbered_from_the_darkest():
    """From four phases on, names are numbered and mark the darkest and lightest."""
    assert sources.phase_names(4) == (
        "phase 1 (darkest)",
        "phase 2",
        "phase 3",
        "phase 4 (lightest)",
    )


def test_a_micrograph_of_one_grey_level_has_no_phases():
    """A constant micrograph is a one-line RegionError, not two arbitrary phases."""
    with pytest.raises(RegionError, match="one grey level"):
        sources.otsu_phases(np.full((HEIGHT, WIDTH), 0.5))


def test_too_few_classes_are_refused():
    """One phase is a SettingError."""
    with pytest.raises(SettingError, match="classes"):
        sources.otsu_phases(two_phases(), classes=1)


def test_statistics_of_a_map_of_3_on_dark_and_1_on_light():
    """Area fraction, shares, mean and enrichments match a hand computation.

    Dark is 4 of 10 columns (32 of 80 pixels): Σa = 96 of 144, Σa² = 288 of 336.
    """
    phases = {"dark": left_columns(SPLIT), "light": ~left_columns(SPLIT)}
    attribution = np.where(phases["dark"], 3.0, 1.0)
    dark, light = statistics.region_statistics(attribution, phases)
    assert dark["region"] == "dark" and dark["pixels"] == 32
    assert dark["area_fraction"] == pytest.approx(0.4)
    assert dark["share_sum"] == pytest.approx(96 / 144)
    assert dark["share_squares"] == pytest.approx(288 / 336)
    assert dark["mean_attribution"] == pytest.approx(3.0)
    assert dark["enrichment_sum"] == pytest.approx((2 / 3) / 0.4)
    assert dark["enrichment_squares"] == pytest.approx((6 / 7) / 0.4)
    assert light["share_sum"] == pytest.approx(48 / 144)
    assert light["enrichment_squares"] == pytest.approx((1 / 7) / 0.6)


def test_boundary_is_width_pixels_on_each_side_of_a_straight_boundary():
    """Width 2 about the boundary between columns 3 and 4 takes columns 2 to 5; width 0.5 takes
    the two columns touching it; the image's edges are no boundary."""
    phases = {"dark": left_columns(SPLIT), "light": ~left_columns(SPLIT)}
    np.testing.assert_array_equal(
        sources.boundary_region(phases, 2.0), left_columns(SPLIT + 2) & ~left_columns(SPLIT - 2)
    )
    np.testing.assert_array_equal(
        sources.boundary_region(phases, 0.5), left_columns(SPLIT + 1) & ~left_columns(SPLIT - 1)
    )
    assert not sources.boundary_region(phases, 0.0).any()


def test_boundary_width_in_micrometres_is_divided_by_the_pixel_size():
    """1 µm at 0.5 µm a pixel is 2 pixels."""
    assert sources.boundary_width_in_pixels(1.0, pixel_size=0.5) == pytest.approx(2.0)
    assert sources.boundary_width_in_pixels(3.0) == 3.0


def test_boundary_region_statistics_by_hand():
    """A boundary of width 1 holds columns 3 and 4, and its statistics match a hand computation."""
    phases = {"dark": left_columns(SPLIT), "light": ~left_columns(SPLIT)}
    regions = sources.with_boundary(phases, 1.0)
    assert list(regions) == ["dark", "light", sources.BOUNDARY]
    attribution = np.where(phases["dark"], 3.0, 1.0)
    boundary = statistics.region_statistics(attribution, regions)[2]
    # Columns 3 (a = 3) and 4 (a = 1), 8 pixels each: Σa = 32 of 144, Σa² = 80 of 336.
    assert boundary["area_fraction"] == pytest.approx(0.2)
    assert boundary["share_sum"] == pytest.approx(32 / 144)
    assert boundary["share_squares"] == pytest.approx(80 / 336)
    assert boundary["mean_attribution"] == pytest.approx(2.0)


def test_empty_region_and_zero_map_give_nan_not_errors():
    """A region without pixels has no mean or enrichment; a map of zeros has no shares."""
    empty = np.zeros((HEIGHT, WIDTH), dtype=bool)
    (row,) = statistics.region_statistics(np.ones((HEIGHT, WIDTH)), {"none": empty})
    assert row["area_fraction"] == 0 and math.isnan(row["mean_attribution"])
    assert math.isnan(row["enrichment_squares"])
    (row,) = statistics.region_statistics(np.zeros((HEIGHT, WIDTH)), {"all": ~empty})
    assert math.isnan(row["share_sum"]) and row["mean_attribution"] == 0


def test_negative_maps_are_refused():
    """Shares of a map with negative values would not be parts of a whole: a RegionError."""
    with pytest.raises(RegionError, match=">= 0"):
        statistics.region_statistics(
            -np.ones((HEIGHT, WIDTH)), {"all": np.ones((HEIGHT, WIDTH), bool)}
        )


def test_label_regions_are_named_by_the_names_given():
    """Each label becomes the region of its pixels, named from the JSON's names."""
    labels = np.where(left_columns(SPLIT), 1, 2)
    regions = sources.label_regions(labels, {1: "pearlite", 2: "ferrite"})
    assert list(regions) == ["pearlite", "ferrite"]
    np.testing.assert_array_equal(regions["pearlite"], left_columns(SPLIT))
    assert list(sources.label_regions(labels)) == ["label 1", "label 2"]


def test_unknown_labels_are_one_line():
    """A label the names leave out is one line naming it."""
    labels = np.where(left_columns(SPLIT), 1, 7)
    with pytest.raises(RegionError) as raised:
        sources.label_regions(labels, {1: "pearlite", 2: "ferrite"})
    assert "label 7" in str(raised.value) and "\n" not in str(raised.value)


def test_label_image_of_another_size_is_one_line(tmp_path):
    """A label image that is not the map's size is one line giving both sizes."""
    Image.fromarray(np.ones((HEIGHT, WIDTH + 1), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(RegionError) as raised:
        sources.read_labels(tmp_path / "a.png", (HEIGHT, WIDTH))
    message = str(raised.value)
    assert f"{HEIGHT}x{WIDTH + 1}" in message and f"{HEIGHT}x{WIDTH}" in message
    assert "\n" not in message


def test_label_images_keep_16_bit_labels(tmp_path):
    """A 16-bit label image is read as its whole numbers, not scaled."""
    labels = np.where(left_columns(SPLIT), 300, 1000).astype(np.uint16)
    Image.fromarray(labels).save(tmp_path / "a.png")
    np.testing.assert_array_equal(sources.read_labels(tmp_path / "a.png", (HEIGHT, WIDTH)), labels)


def test_label_names_are_read_with_whole_number_keys(tmp_path):
    """The JSON's string keys become whole numbers; a key that is none is a RegionError."""
    (tmp_path / "names.json").write_text('{"1": "pearlite", "2": "ferrite"}')
    assert sources.read_label_names(tmp_path / "names.json") == {1: "pearlite", 2: "ferrite"}
    (tmp_path / "bad.json").write_text('{"one": "pearlite"}')
    with pytest.raises(RegionError, match="whole number"):
        sources.read_label_names(tmp_path / "bad.json")


def test_bootstrap_interval_contains_the_mean_and_repeats_with_its_seed():
    """The interval holds the mean, and the same seed gives the same interval."""
    values = np.random.default_rng(2).normal(1.5, 0.3, 30)
    estimate = statistics.bootstrap_mean(values, seed=5)
    assert estimate.low < estimate.mean < estimate.high
    assert estimate.mean == pytest.approx(np.mean(values))
    assert statistics.bootstrap_mean(values, seed=5) == estimate


def test_bootstrap_interval_shrinks_with_more_micrographs():
    """Eight times as many micrographs from one distribution give an interval under half as wide
    (the width falls as one over the square root of the count)."""
    rng = np.random.default_rng(3)
    few, many = (
        statistics.bootstrap_mean(rng.normal(1, 0.3, 20)),
        statistics.bootstrap_mean(rng.normal(1, 0.3, 160)),
    )
    assert (many.high - many.low) < 0.5 * (few.high - few.low)


def test_one_micrograph_has_a_mean_and_no_interval():
    """With one value there is nothing to resample: the interval is NaN."""
    estimate = statistics.bootstrap_mean(np.array([2.0]))
    assert estimate.mean == 2.0 and estimate.count == 1 and math.isnan(estimate.low)


def test_summary_compares_regions_micrograph_by_micrograph():
    """A region above another on 3 of 4 micrographs is counted so, with the mean paired
    difference of the four differences."""
    differences = [1.0, 0.5, 2.0, -0.5]
    rows = []
    for index, difference in enumerate(differences):
        for region, enrichment in (("a", 1.0 + difference), ("b", 1.0)):
            row = {quantity: 0.5 for quantity in ("area_fraction", "share_sum", "share_squares")}
            row |= {"mean_attribution": 1.0, "enrichment_sum": 1.0, statistics.HEADLINE: enrichment}
            rows.append(
                row | {"micrograph": f"m{index}", "kind": "k", "map": "pixel"} | {"region": region}
            )
    (summary,) = statistics.summarise(rows, samples=500)
    (comparison,) = summary.comparisons
    assert (comparison.first, comparison.second, comparison.above) == ("a", "b", 3)
    assert comparison.difference.mean == pytest.approx(np.mean(differences))
    assert comparison.difference.low < comparison.difference.mean < comparison.difference.high
    assert summary.regions["a"][statistics.HEADLINE].mean == pytest.approx(1 + np.mean(differences))
