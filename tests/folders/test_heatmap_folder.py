"""Tests of complexstep.heatmap_folder: which files a folder's maps become, and the report."""

import json
from pathlib import Path

import numpy as np
import pytest

from complexstep.commands.heatmaps import summary
from complexstep.errors import FolderError
from complexstep.folders import heatmaps as heatmap_folder
from complexstep.folders.loop import FolderReport
from complexstep.io import provenance
from complexstep.rendering.heatmaps import HeatmapStyle
from rendering_helpers import (
    TEST_DPI,
    assert_close_colours,
    block_centres,
    expected_colours,
    sample_map,
    sample_wavelet_map,
    save_grey,
    save_wavelet_map,
    unit_map,
)

STYLE = HeatmapStyle(dpi=100)


def relative_files(folder) -> list[str]:
    """The files under a folder, as sorted POSIX paths relative to it."""
    return sorted(
        path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
    )


def test_render_folder_mirrors_subfolders_and_counts_every_view(tmp_path):
    """Each input gets its views under its own subfolder, and the report counts each kind."""
    save_grey(tmp_path / "in" / "all" / "grain.png", unit_map())
    save_grey(tmp_path / "in" / "extra" / "grain.png", unit_map().T)
    save_grey(tmp_path / "micrographs" / "grain.tif", np.full((12, 12), 0.5))
    report = heatmap_folder.render_folder(
        tmp_path / "in",
        tmp_path / "out",
        STYLE,
        overlay=True,
        panel=True,
        micrographs=tmp_path / "micrographs",
    )
    assert relative_files(tmp_path / "out") == [
        "all/overlay_cpa_grain.jpeg",
        "all/panel_grain.png",
        "all/smp_cpa_grain.jpeg",
        "extra/overlay_cpa_grain.jpeg",
        "extra/panel_grain.png",
        "extra/smp_cpa_grain.jpeg",
    ]
    assert heatmap_folder.written_counts(report) == {"heatmap": 2, "overlay": 2, "panel": 2}
    assert (report.notes, report.failed) == ([], [])
    assert summary(report, tmp_path / "out", overlay=True, panel=True) == (
        f"wrote 2 heatmaps to {tmp_path / 'out'} (2 overlays, 2 panels)"
    )


def test_render_folder_prints_nothing(tmp_path, capsys):
    """The library leaves the terminal to the script: notes and problems go only to the report."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    save_grey(tmp_path / "in" / "flat.png", np.full((8, 8), 0.3))
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", STYLE)
    assert len(report.notes) == 1
    assert len(report.failed) == 1
    assert capsys.readouterr() == ("", "")


def test_render_folder_reports_progress_after_each_map(tmp_path):
    """The progress callback is called once per map with the maps done and the maps in all."""
    for stem in ("a", "b", "c"):
        save_grey(tmp_path / "in" / f"{stem}.png", unit_map())
    calls = []
    heatmap_folder.render_folder(
        tmp_path / "in",
        tmp_path / "out",
        STYLE,
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_render_folder_records_unreadable_and_constant_maps_and_goes_on(tmp_path):
    """An unreadable input is a problem naming it, a constant map a note, and both leave the
    other maps rendered."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    save_grey(tmp_path / "in" / "flat.png", np.full((8, 8), 0.3))
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", STYLE)
    assert relative_files(tmp_path / "out") == ["smp_cpa_flat.jpeg", "smp_cpa_grain.jpeg"]
    assert report.notes == [
        f"{tmp_path / 'in' / 'flat.png'}: the map is constant, so it is rendered in one colour"
    ]
    assert len(report.failed) == 1
    assert report.failed[0].startswith(f"cannot read {tmp_path / 'in' / 'broken.png'}: ")
    assert heatmap_folder.written_counts(report) == {"heatmap": 2}


def test_render_folder_skips_a_second_input_of_the_same_stem(tmp_path):
    """Of two inputs that would write the same heatmap, the later is skipped as a problem."""
    save_grey(tmp_path / "in" / "grain.jpg", unit_map())
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", STYLE)
    assert relative_files(tmp_path / "out") == ["smp_cpa_grain.jpeg"]
    assert report.failed == [
        f"skipped {tmp_path / 'in' / 'grain.png'}: its heatmap would overwrite that of "
        f"{tmp_path / 'in' / 'grain.jpg'}"
    ]


def test_render_folder_picks_between_equal_micrograph_stems_by_subfolder(tmp_path):
    """A stem found in several micrograph subfolders is resolved by the input's own subfolder.

    Where that leaves no micrograph, or several (equal stems with different suffixes), the map is
    rendered without one and a note says why.
    """
    for subfolder in ("all", "extra", "other"):
        save_grey(tmp_path / "in" / subfolder / "grain.png", unit_map())
    micrographs = tmp_path / "micrographs"
    for name in ("all/grain.png", "extra/grain.jpg", "extra/grain.png"):
        save_grey(micrographs / name, np.full((8, 8), 0.5))
    report = heatmap_folder.render_folder(
        tmp_path / "in", tmp_path / "out", STYLE, overlay=True, micrographs=micrographs
    )
    assert relative_files(tmp_path / "out") == [
        "all/overlay_cpa_grain.jpeg",
        "all/smp_cpa_grain.jpeg",
        "extra/smp_cpa_grain.jpeg",
        "other/smp_cpa_grain.jpeg",
    ]
    inputs = tmp_path / "in"
    assert report.notes == [
        f"{inputs / 'extra' / 'grain.png'}: several micrographs could be its own: "
        f"{micrographs / 'extra' / 'grain.jpg'}, {micrographs / 'extra' / 'grain.png'}",
        f"{inputs / 'other' / 'grain.png'}: no micrograph named grain in {micrographs}",
    ]
    assert report.failed == []


def test_render_folder_records_a_file_it_cannot_write_and_goes_on(tmp_path):
    """A view that cannot be written is a problem naming it; the other views are still written."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    blocked = tmp_path / "out" / "smp_cpa_grain.jpeg"
    blocked.mkdir(parents=True)
    save_grey(tmp_path / "micrographs" / "grain.png", np.full((8, 8), 0.5))
    report = heatmap_folder.render_folder(
        tmp_path / "in", tmp_path / "out", STYLE, panel=True, micrographs=tmp_path / "micrographs"
    )
    assert report.failed == [f"cannot write {blocked}: Is a directory"]
    assert heatmap_folder.written_counts(report) == {"panel": 1}
    assert relative_files(tmp_path / "out") == ["panel_grain.png"]
    assert summary(report, tmp_path / "out", panel=True) == (
        f"wrote 0 heatmaps to {tmp_path / 'out'} (1 panel, 1 problem listed above)"
    )


def test_render_folder_treats_prefixed_names_as_outputs_only_inside_the_output_folder(tmp_path):
    """A heatmap-like name is an earlier output inside the output folder, an input elsewhere."""
    save_grey(tmp_path / "in" / "smp_cpa_old.png", unit_map())
    save_grey(tmp_path / "in" / "out" / "smp_cpa_older.jpeg", unit_map())
    heatmap_folder.render_folder(tmp_path / "in", tmp_path / "in" / "out", STYLE)
    assert relative_files(tmp_path / "in" / "out") == [
        "smp_cpa_older.jpeg",
        "smp_cpa_smp_cpa_old.jpeg",
    ]


def test_render_folder_without_inputs_other_than_earlier_outputs_is_a_folder_error(tmp_path):
    """An input folder holding only this stage's outputs is a folder error, and nothing is
    written."""
    save_grey(tmp_path / "maps" / "smp_cpa_old.jpeg", unit_map())
    with pytest.raises(FolderError, match="no attribution images .* other than earlier heatmaps"):
        heatmap_folder.render_folder(tmp_path / "maps", tmp_path / "maps", STYLE)
    assert relative_files(tmp_path / "maps") == ["smp_cpa_old.jpeg"]


def test_render_folder_needs_micrographs_only_for_overlays_and_panels(tmp_path):
    """A missing micrograph folder is ignored for heatmaps alone and a folder error for overlays."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    missing = tmp_path / "no-micrographs"
    report = heatmap_folder.render_folder(
        tmp_path / "in", tmp_path / "out", STYLE, micrographs=missing
    )
    assert heatmap_folder.written_counts(report) == {"heatmap": 1}
    with pytest.raises(FolderError, match="folder not found"):
        heatmap_folder.render_folder(
            tmp_path / "in", tmp_path / "other", STYLE, overlay=True, micrographs=missing
        )
    assert not (tmp_path / "other").exists()


def test_render_folder_that_cannot_create_its_output_folder_is_a_folder_error(tmp_path):
    """An output folder that cannot be created (a file stands in its way) is a folder error."""
    save_grey(tmp_path / "in" / "grain.png", unit_map())
    (tmp_path / "out").write_bytes(b"")
    with pytest.raises(FolderError, match="cannot create output folder"):
        heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out" / "maps", STYLE)


def _report_of(outputs: list[str], failed: list[str] = ()) -> FolderReport:
    return FolderReport(outputs=[Path("maps") / name for name in outputs], failed=list(failed))


@pytest.mark.parametrize(
    ("report", "views", "line"),
    [
        (_report_of(["smp_cpa_a.jpeg"]), {}, "wrote 1 heatmap to maps"),
        (
            _report_of(
                ["smp_cpa_a.jpeg", "smp_cpa_b.jpeg", "smp_cpa_c.jpeg", "panel_a.png"], ["a", "b"]
            ),
            {"overlay": True, "panel": True},
            "wrote 3 heatmaps to maps (0 overlays, 1 panel, 2 problems listed above)",
        ),
    ],
    ids=["heatmaps-only", "every-view-with-problems"],
)
def test_summary_counts_every_view_asked_for(report, views, line):
    """The summary counts heatmaps and each view asked for, even when none was written."""
    assert summary(report, "maps", **views) == line


def test_render_folder_draws_wavelet_maps_as_three_pictures(tmp_path):
    """A wavelet map, alone in its folder, becomes its layout, scales and shares, mirrored and
    counted; one without its summary is a problem."""
    inputs = tmp_path / "maps"
    (inputs / "sub").mkdir(parents=True)
    save_wavelet_map(inputs / "sub", "a", sample_wavelet_map())
    np.save(inputs / "orphan.wavelet.npy", np.zeros((32, 48), np.float32))
    heard = []
    report = heatmap_folder.render_folder(
        inputs,
        tmp_path / "out",
        STYLE,
        micrographs=tmp_path / "none",
        on_progress=lambda done, total: heard.append((done, total)),
    )
    assert relative_files(tmp_path / "out") == [
        "sub/scales_a.png",
        "sub/shares_a.png",
        "sub/wavelet_a.png",
    ]
    assert heatmap_folder.written_counts(report)["wavelet"] == 1 and heard == [(1, 2), (2, 2)]
    assert len(report.failed) == 1 and "orphan.wavelet.npy" in report.failed[0]
    assert summary(report, tmp_path / "out").startswith(
        f"wrote 0 heatmaps to {tmp_path / 'out'} (1 wavelet map drawn as layout, scales and shares"
    )


# Map kinds and provenance, from the sidecars stage 2 writes.

KIND_STYLE = HeatmapStyle(dpi=TEST_DPI)


def _save_map(folder: Path, stem: str, raw: np.ndarray, sidecar: dict | None) -> None:
    """A pixel map as stage 2 writes it: its grey image, its raw values and its sidecar."""
    save_grey(folder / f"{stem}.png", (raw - raw.min()) / (raw.max() - raw.min()))
    np.save(folder / f"{stem}.npy", raw)
    if sidecar is not None:
        (folder / f"{stem}.json").write_text(json.dumps(sidecar))


@pytest.mark.parametrize(
    ("kind", "limits"),
    [
        (None, (0.15, 0.4)),
        ("complex-step", (0.15, 0.4)),
        ("gradient-input", (0.0, 1.0)),
        ("integrated-complex-step", (0.0, 1.0)),
    ],
    ids=["no-sidecar", "complex-step", "gradient-input", "integrated-complex-step"],
)
def test_each_map_kind_is_coloured_with_its_own_limits(tmp_path, kind, limits):
    """The paper's 0.15-0.4 colour the paper's map (and a map without sidecar); the maps
    weighted by |x - b| are coloured over the full range, pixel for pixel."""
    raw = sample_map()
    _save_map(tmp_path / "in", "grain", raw, None if kind is None else {"kind": kind})
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", KIND_STYLE)
    assert report.failed == []
    assert_close_colours(
        block_centres(tmp_path / "out" / "smp_cpa_grain.jpeg", raw.shape),
        expected_colours(raw, KIND_STYLE.sigma, "bwr", *limits),
    )


def test_given_limits_colour_every_kind(tmp_path):
    """Limits the user sets hold for every kind."""
    raw = sample_map()
    _save_map(tmp_path / "in", "grain", raw, {"kind": "gradient-input"})
    style = HeatmapStyle(vmin=0.2, vmax=0.5, dpi=TEST_DPI)
    heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", style)
    assert_close_colours(
        block_centres(tmp_path / "out" / "smp_cpa_grain.jpeg", raw.shape),
        expected_colours(raw, style.sigma, "bwr", 0.2, 0.5),
    )


def test_folder_scale_gives_each_kind_its_own_range(tmp_path):
    """With one range for the folder, maps of different kinds are never pooled: each kind is
    scaled by its own maps' least and greatest raw values, and each range is noted."""
    paper, product = sample_map(), sample_map() * 10.0
    _save_map(tmp_path / "in", "a", paper, {"kind": "complex-step"})
    _save_map(tmp_path / "in", "b", product, {"kind": "gradient-input"})
    style = HeatmapStyle(dpi=TEST_DPI, scale="folder")
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", style)
    for stem, raw, limits in (("a", paper, (0.15, 0.4)), ("b", product, (0.0, 1.0))):
        assert_close_colours(
            block_centres(tmp_path / "out" / f"smp_cpa_{stem}.jpeg", raw.shape),
            expected_colours(raw, style.sigma, "bwr", *limits),
        )
    assert (
        f"coloured 1 map of kind complex-step on one range of raw values, {paper.min():.6g} to "
        f"{paper.max():.6g}" in report.notes
    )
    assert (
        f"coloured 1 map of kind gradient-input on one range of raw values, "
        f"{product.min():.6g} to {product.max():.6g}" in report.notes
    )
    assert (
        f"the maps in {tmp_path / 'in'} are of 2 kinds: complex-step (1), gradient-input (1); "
        "each is coloured as its kind is" in report.notes
    )


def test_a_map_of_an_unknown_kind_is_one_line_and_left_out(tmp_path):
    """A sidecar naming a kind stage 3 does not know fails that map alone."""
    _save_map(tmp_path / "in", "odd", sample_map(), {"kind": "saliency"})
    _save_map(tmp_path / "in", "good", sample_map(), {"kind": "gradient-input"})
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", KIND_STYLE)
    assert report.failed == [
        f"skipped {tmp_path / 'in' / 'odd.png'}: its sidecar names the map kind 'saliency', not "
        "one of complex-step, gradient-input, integrated-complex-step"
    ]
    assert relative_files(tmp_path / "out") == ["smp_cpa_good.jpeg"]


def test_maps_of_another_model_are_noted_and_still_drawn(tmp_path):
    """A map whose sidecar names another model than the one given is one note, and is drawn; a
    run whose maps name two models says so once."""
    ours, theirs = tmp_path / "ours.keras", tmp_path / "theirs.keras"
    ours.write_bytes(b"our model")
    theirs.write_bytes(b"their model")
    for stem, model in (("a", ours), ("b", theirs)):
        _save_map(
            tmp_path / "in",
            stem,
            sample_map(),
            {"model": str(model), "model_sha256": provenance.sha256(model)},
        )
    report = heatmap_folder.render_folder(tmp_path / "in", tmp_path / "out", KIND_STYLE, model=ours)
    mine, other = provenance.sha256(ours), provenance.sha256(theirs)
    assert report.notes == [
        f"{tmp_path / 'in' / 'b.png'}: made by another model than {ours} (its sidecar names "
        f"{theirs}, SHA-256 {other[:12]}, not {mine[:12]}); drawn all the same",
        f"the maps in {tmp_path / 'in'} come from 2 models, by the SHA-256 their sidecars name: "
        f"{mine[:12]} (1), {other[:12]} (1)",
    ]
    assert relative_files(tmp_path / "out") == ["smp_cpa_a.jpeg", "smp_cpa_b.jpeg"]
    assert report.failed == []
