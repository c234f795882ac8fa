"""The folder loop every driver shares: what it refuses, skips, cleans and reports, and its
threads, which read and explain ahead of the writes."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

import scripts
from complexstep import defaults
from complexstep.errors import FolderError
from complexstep.folders import loop, runner


def _micrograph(path, shape=(32, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, 100, np.uint8)).save(path)


def _maps(inputs, outputs):
    """Stage 2's targets: ``<stem>.npy`` and ``<stem>.png`` mirroring subfolders."""

    def targets(path):
        stem = outputs / path.relative_to(inputs).with_suffix("")
        return [stem.with_name(stem.name + ".npy"), stem.with_name(stem.name + ".png")]

    return targets


def _plan(inputs, outputs, **options):
    report = loop.FolderReport()
    work = loop.plan(
        inputs,
        outputs,
        _maps(inputs, outputs),
        report,
        size_of=lambda path: loop.explained_size(path, None, 16),
        noun="map",
        **options,
    )
    return work, report


def test_outputs_that_are_the_inputs_are_refused_naming_both(tmp_path):
    """Writing maps into the micrographs' own folder would replace a.png with its map."""
    _micrograph(tmp_path / "a.png")
    with pytest.raises(FolderError, match="is the inputs folder") as raised:
        _plan(tmp_path, tmp_path)
    assert str(tmp_path) in str(raised.value)
    with pytest.raises(FolderError, match="would replace an input"):
        report = loop.FolderReport()
        loop.plan(
            tmp_path,
            tmp_path / "out",
            lambda path: [tmp_path / "a.png"],
            report,
            size_of=lambda path: (32, 32),
            noun="map",
        )


def test_an_outputs_folder_inside_the_inputs_is_not_searched(tmp_path):
    """A rerun does not take the maps it wrote for micrographs."""
    _micrograph(tmp_path / "a.png")
    _micrograph(tmp_path / "maps" / "a.png")
    work, _ = _plan(tmp_path, tmp_path / "maps")
    assert [item.path for item in work] == [tmp_path / "a.png"]


def test_two_micrographs_of_one_stem_are_both_named_and_the_later_skipped(tmp_path):
    """a.png and a.tif would both write a.npy: one line names both."""
    _micrograph(tmp_path / "in" / "a.png")
    _micrograph(tmp_path / "in" / "a.tif")
    work, report = _plan(tmp_path / "in", tmp_path / "out")
    assert [item.path for item in work] == [tmp_path / "in" / "a.png"]
    assert report.failed == [
        f"skipped {tmp_path / 'in' / 'a.tif'}: its map would overwrite that of "
        f"{tmp_path / 'in' / 'a.png'}"
    ]


def test_stale_partial_files_are_removed_and_fresh_ones_kept(tmp_path):
    """A killed run's partial file goes; one young enough to be another run's stays."""
    _micrograph(tmp_path / "in" / "a.png")
    (tmp_path / "out" / "sub").mkdir(parents=True)
    stale = tmp_path / "out" / "sub" / ".a.npy.partial-abcd1234.npy"
    fresh = tmp_path / "out" / ".b.npy.partial-efgh5678.npy"
    unrelated = tmp_path / "out" / ".notes.txt"
    for path in (stale, fresh, unrelated):
        path.write_bytes(b"x")
    old = time.time() - defaults.STALE_PARTIAL_SECONDS - 60
    os.utime(stale, (old, old))
    os.utime(unrelated, (old, old))
    _, report = _plan(tmp_path / "in", tmp_path / "out")
    assert not stale.exists() and fresh.exists() and unrelated.exists()
    assert report.notes == [
        f"removed 1 partial file(s) an interrupted run left in {tmp_path / 'out'}"
    ]


def test_outputs_that_cannot_take_files_are_refused_before_any_work(tmp_path):
    """An outputs path that is a file, or under one, is one line; a folder in a target's place
    is one line for that micrograph."""
    _micrograph(tmp_path / "in" / "a.png")
    _micrograph(tmp_path / "in" / "b.png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FolderError, match="is a file, not a folder"):
        _plan(tmp_path / "in", tmp_path / "file")
    with pytest.raises(FolderError, match="cannot create output folder"):
        _plan(tmp_path / "in", tmp_path / "file" / "out")
    (tmp_path / "out" / "a.npy").mkdir(parents=True)
    work, report = _plan(tmp_path / "in", tmp_path / "out")
    assert [item.path.name for item in work] == ["b.png"]
    assert report.failed == [f"cannot write {tmp_path / 'out' / 'a.npy'}: a folder is in the way"]


def test_links_to_folders_fifos_and_dangling_links_are_skipped_and_listed(tmp_path):
    """None of them is read, each is named in the notes, and the micrograph is still found."""
    inputs = tmp_path / "in"
    _micrograph(inputs / "a.png")
    _micrograph(tmp_path / "elsewhere" / "b.png")
    (inputs / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (inputs / "dangling.png").symlink_to(tmp_path / "nothing.png")
    os.mkfifo(inputs / "pipe.png")
    work, report = _plan(inputs, tmp_path / "out")
    assert [item.path for item in work] == [inputs / "a.png"]
    assert sorted(report.notes) == sorted(
        [
            f"skipped {inputs / 'linked'}: a link to a folder, which is not followed",
            f"skipped {inputs / 'dangling.png'}: a link to nothing",
            f"skipped {inputs / 'pipe.png'}: not a regular file",
        ]
    )


def test_find_micrographs_recurses_and_ignores_other_and_hidden_files(tmp_path):
    """Images in subfolders are found, sorted; other suffixes and hidden files are not."""
    (tmp_path / "grains" / "deep").mkdir(parents=True)
    (tmp_path / ".cache").mkdir()
    for name in ["b.png", "grains/a.TIF", "grains/deep/c.jpeg", ".hidden.png", ".cache/d.png"]:
        path = tmp_path / name
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "grains" / "labels.csv").write_text("a,b")
    assert loop.find_micrographs(tmp_path, tmp_path, loop.FolderReport()) == [
        tmp_path / "b.png",
        tmp_path / "grains" / "a.TIF",
        tmp_path / "grains" / "deep" / "c.jpeg",
    ]


def test_find_micrographs_in_missing_folder_raises_folder_error(tmp_path):
    """A folder that does not exist is reported by name."""
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FolderError, match=r"folder not found: .*no_such_folder"):
        loop.find_micrographs(missing, missing, loop.FolderReport())


def test_find_micrographs_in_folder_without_images_raises_folder_error(tmp_path):
    """A folder holding only non-image files is reported as having no images."""
    (tmp_path / "readme.txt").write_text("nothing to see")
    with pytest.raises(FolderError, match=r"no images in .* or its subfolders"):
        loop.find_micrographs(tmp_path, tmp_path, loop.FolderReport())


def test_a_failed_write_is_recorded_and_the_rest_go_on(tmp_path):
    """The report's write turns an OSError into one line and lists only what was written."""
    report = loop.FolderReport()
    (tmp_path / "blocked").mkdir()

    def fail(path):
        raise IsADirectoryError(21, "Is a directory")

    assert not report.write(tmp_path / "blocked", fail)
    assert report.write(tmp_path / "ok.txt", lambda path: path.write_text("x"))
    assert report.failed == [f"cannot write {tmp_path / 'blocked'}: Is a directory"]
    assert report.outputs == [tmp_path / "ok.txt"]


def _ahead_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "complexstep-ahead"]


def test_ahead_keeps_the_order_and_takes_items_at_most_its_depth_ahead():
    """Results come in the items' order however long each takes, and no item is taken more than
    the depth beyond the result the caller holds, so that memory stays bounded."""
    taken = []

    def items():
        for item in range(8):
            taken.append(item)
            yield item

    def slow(item, progress):
        time.sleep(0.02 * (item % 3))
        return item * item

    for held, result in enumerate(runner.ahead(slow, items(), depth=2)):
        assert result == held * held
        assert len(taken) <= held + 1 + 2
    assert taken == list(range(8)) and not _ahead_threads()


def test_ahead_raises_the_threads_error_in_the_caller_after_the_results_before_it():
    def failing(item, progress):
        if item == 2:
            raise ValueError("item 2 is bad")
        return item

    results = []
    with pytest.raises(ValueError, match="item 2 is bad"):
        for result in runner.ahead(failing, range(5), depth=1):
            results.append(result)
    assert results == [0, 1] and not _ahead_threads()


def test_a_caller_interrupted_stops_the_thread_at_its_next_progress():
    """Ctrl-C in the caller's thread (here raised by its progress callback) stops the item being
    worked on at its next progress and takes no other item; the thread is gone on return."""
    started = []

    def endless(item, progress):
        started.append(item)
        while True:
            progress(item)
            time.sleep(0.001)

    def interrupt(item):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        for _ in runner.ahead(endless, range(5), depth=1, on_progress=interrupt):
            pass
    assert started == [0] and not _ahead_threads()


def test_stage_2_interrupted_leaves_no_partial_file_and_a_rerun_finishes(tmp_path, random_model):
    """Ctrl-C during stage 2 (raised from its progress callback after the first map) stops it
    with the engines' thread gone and no partial file; every map written is whole, and a rerun
    with skip_existing writes the rest."""
    from complexstep import api
    from complexstep.folders import attribution

    inputs = tmp_path / "in"
    for index in range(5):
        _micrograph(inputs / f"m{index}.png")
    explainer = api.Explainer(random_model, images_per_call=1)

    def interrupt(done, total, path):
        if list((tmp_path / "out").glob("*.json")):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        attribution.attribute_folder(
            inputs, tmp_path / "out", explainer, resize=None, on_progress=interrupt
        )
    assert not _ahead_threads()
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert not [name for name in written if ".partial-" in name]
    assert 0 < len(written) < 15
    for path in (tmp_path / "out").glob("*.npy"):
        assert np.load(path).shape == (32, 32)
    report = attribution.attribute_folder(
        inputs, tmp_path / "out", explainer, resize=None, skip_existing=True
    )
    assert not report.failed and len(report.written) + len(report.existing) == 5
    assert len(list((tmp_path / "out").glob("*.json"))) == 5


def test_recording_outputs_costs_the_same_for_each_of_many(tmp_path):
    """Recording 40,000 outputs, each written twice, takes seconds, not the minutes a search of
    the list of outputs before each one takes."""
    report, other = loop.FolderReport(), loop.FolderReport()
    paths = [tmp_path / f"map_{index}.npy" for index in range(40_000)]
    start = time.perf_counter()
    for path in paths:
        report.write(path, lambda path: None)
        report.write(path, lambda path: None)
        other.record(path)
    report.extend(other)
    assert time.perf_counter() - start < 5
    assert report.outputs == paths


def test_the_scale_benchmark_runs_the_loop_and_its_rerun_over_a_thousand_files(tmp_path):
    """benchmarks/folder_loop_scale.py makes and then skips every map of 1,000 micrographs,
    losing none, and prints the seconds per file of each."""
    result = subprocess.run(
        [sys.executable, "benchmarks/folder_loop_scale.py", "--counts", "1000"]
        + ["--folder", str(tmp_path)],
        cwd=scripts.REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.strip().splitlines()
    assert header.split() == ["files", "run", "s", "ms/file", "skip", "s", "ms/file"]
    assert row.split()[0] == "1000" and len(row.split()) == 5
    assert list(tmp_path.iterdir()) == []
