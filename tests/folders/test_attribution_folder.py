"""Stage 2's folder driver as a library: what it writes, reports and leaves alone."""

import numpy as np
import pytest
from PIL import Image

from complexstep import api
from complexstep.errors import ImageSizeError
from complexstep.folders import attribution as attribution_folder
from complexstep.io import images


@pytest.fixture
def inputs(tmp_path):
    """A 70x40 micrograph in a subfolder, an 8x8 one too small for the network, a broken file."""
    folder = tmp_path / "inputs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((70, 40)) * 255).astype(np.uint8)).save(folder / "sub" / "a.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "tiny.png")
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def test_report_says_what_was_written_cropped_and_failed(explainer, inputs, tmp_path, capsys):
    """The report lists each outcome, nothing is printed, and progress reaches its total."""
    heard = []
    report = attribution_folder.attribute_folder(
        inputs,
        tmp_path / "out",
        explainer,
        resize=None,
        on_progress=lambda done, total, name: heard.append((done, total, name)),
    )
    assert report.written == [inputs / "sub" / "a.png"]
    assert report.cropped == [(inputs / "sub" / "a.png", (70, 40), (64, 32))]
    assert len(report.failed) == 2
    assert report.failed[0].startswith(f"cannot read {inputs / 'broken.png'}: ")
    assert "tiny.png is 8x8, smaller than the network's least size, 16x16" in str(report.failed[1])
    assert heard[-1] == (heard[-1][1], heard[-1][1], "a.png")
    assert np.load(tmp_path / "out" / "sub" / "a.npy").shape == (64, 32)
    assert capsys.readouterr() == ("", "")


def test_micrographs_of_one_size_are_explained_together_wherever_they_lie(
    explainer, tmp_path, monkeypatch
):
    """At their own resolution, micrographs of one size go to the explainer in one call even where
    one of another size lies between them, and each map is written under its own name."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for name, shape in (("a.png", (32, 32)), ("b.png", (48, 32)), ("c.png", (32, 32))):
        Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(folder / name)
    calls = []
    attribute_many = explainer.attribute_many

    def recorded(batch, on_pass=None):
        calls.append([image.shape for image in batch])
        return attribute_many(batch, on_pass)

    monkeypatch.setattr(explainer, "attribute_many", recorded)
    report = attribution_folder.attribute_folder(folder, tmp_path / "out", explainer, resize=None)
    assert calls == [[(32, 32), (32, 32)], [(48, 32)]]
    assert report.written == [folder / "a.png", folder / "c.png", folder / "b.png"]
    for name in ("a", "b", "c"):
        micrograph = images.read_image(folder / f"{name}.png", size=None)
        np.testing.assert_allclose(
            np.load(tmp_path / "out" / f"{name}.npy"), explainer.attribute(micrograph), rtol=1e-6
        )


def test_existing_maps_are_left_alone_only_when_asked(explainer, inputs, tmp_path):
    """With skip_existing, a micrograph whose two files exist is not explained again."""
    (inputs / "tiny.png").unlink()
    (inputs / "broken.png").unlink()
    first = attribution_folder.attribute_folder(inputs, tmp_path / "out", explainer)
    again = attribution_folder.attribute_folder(
        inputs, tmp_path / "out", explainer, skip_existing=True
    )
    assert (first.written, again.written, again.existing) == (
        [inputs / "sub" / "a.png"],
        [],
        [inputs / "sub" / "a.png"],
    )
    redone = attribution_folder.attribute_folder(inputs, tmp_path / "out", explainer)
    assert redone.written == first.written


def test_a_resize_the_network_cannot_take_is_refused_before_any_work(explainer, inputs, tmp_path):
    """A side that is not a multiple of 16 stops the run at once, writing nothing."""
    with pytest.raises(ImageSizeError, match="not a 100x100 image"):
        attribution_folder.attribute_folder(inputs, tmp_path / "out", explainer, resize=100)
    assert not (tmp_path / "out").exists()


def test_wavelet_domain_writes_wavelet_files_and_reports_sizes_it_cannot_take(
    random_model, inputs, tmp_path
):
    """In the wavelet domain each micrograph gets its .wavelet.npy and .wavelet.json, is left
    alone when both are there, and one whose size the levels do not fit is reported."""
    (inputs / "tiny.png").unlink()
    (inputs / "broken.png").unlink()
    Image.fromarray(np.zeros((48, 64), np.uint8)).save(inputs / "shallow.png")
    explainer = api.Explainer(random_model, domain="wavelet", levels=5)
    report = attribution_folder.attribute_folder(inputs, tmp_path / "out", explainer, resize=None)
    assert report.written == [inputs / "sub" / "a.png"]
    assert [str(error) for error in report.failed] == [
        "5 levels are too many for a 48x64 image with haar: it takes at most 4 (each level halves "
        "both sides exactly, and the coarsest filters must fit in the image)"
    ]
    assert sorted(path.name for path in (tmp_path / "out" / "sub").iterdir()) == [
        "a.wavelet.json",
        "a.wavelet.npy",
    ]
    again = attribution_folder.attribute_folder(
        inputs, tmp_path / "out", explainer, resize=None, skip_existing=True
    )
    assert again.existing == [inputs / "sub" / "a.png"] and again.written == []
