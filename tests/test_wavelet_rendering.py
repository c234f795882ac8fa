"""Stage 3's wavelet pictures: colour scaling, per-scale maps, labels, files and bad inputs."""

import numpy as np
import pytest
from PIL import Image

from complexstep import wavelet_rendering
from complexstep.errors import SettingError, UnreadableImageError
from rendering_helpers import WAVELET_BASIS as BASIS
from rendering_helpers import sample_wavelet_map, save_wavelet_map


def test_layout_colours_use_one_scale_or_each_levels_own():
    """On one scale the map is divided by its maximum; level by level each level's detail blocks
    share their own maximum and the approximation has its own."""
    values = sample_wavelet_map()
    np.testing.assert_allclose(
        wavelet_rendering.layout_colours(values, BASIS, per_level=False), values / values.max()
    )
    scaled = wavelet_rendering.layout_colours(values, BASIS, per_level=True)
    for level in (1, 2):
        details = [b for b in BASIS.blocks if b.level == level and b.key != "aa"]
        assert max(np.max(scaled[block.region]) for block in details) == pytest.approx(1.0)
        peak = max(np.max(values[block.region]) for block in details)
        for block in details:
            np.testing.assert_allclose(scaled[block.region], values[block.region] / peak)
    assert np.max(scaled[BASIS.blocks[0].region]) == pytest.approx(1.0)


def test_level_maps_cover_the_image_and_add_up_to_the_squares():
    """Each level's map spreads its coefficients' squares, summed over orientations, over the
    pixels each stands for, and all maps add up to the squared map's sum."""
    values = sample_wavelet_map()
    energies = wavelet_rendering.level_energies(values, BASIS)
    assert sorted(energies) == [0, 1, 2]
    assert all(energy.shape == BASIS.shape for energy in energies.values())
    total = sum(float(np.sum(energy)) for energy in energies.values())
    assert total == pytest.approx(float(np.sum(values**2)))
    level_1 = sum(values[block.region] ** 2 for block in BASIS.blocks if block.level == 1)
    np.testing.assert_allclose(energies[1][2:4, 4:6], level_1[1, 2] / 4)


def test_levels_are_labelled_in_pixels_or_micrometres():
    """Level labels give the periods each level holds, scaled by the pixel size."""
    assert wavelet_rendering.WaveletStyle().scale(1) == "2–4 px"
    micrometres = wavelet_rendering.WaveletStyle(pixel_size=0.5)
    assert micrometres.scale(3) == "4–8 µm"
    assert micrometres.scale(3, approximation=True) == "> 8 µm"
    with pytest.raises(SettingError, match="pixel_size must be a number > 0"):
        wavelet_rendering.WaveletStyle(pixel_size=0)


def test_each_picture_is_written_as_a_png(tmp_path):
    """Layout, per-scale maps (with and without micrograph) and shares are PNG files."""
    values = sample_wavelet_map()
    style = wavelet_rendering.WaveletStyle(per_level=True, pixel_size=0.5, dpi=50)
    micrograph = np.random.default_rng(6).random((40, 50))
    summary = BASIS.summary(values)
    written = [
        wavelet_rendering.render_layout(tmp_path / "layout.png", "a", values, BASIS, style),
        wavelet_rendering.render_scales(tmp_path / "alone.png", "a", values, BASIS, style),
        wavelet_rendering.render_scales(
            tmp_path / "over.png", "a", values, BASIS, style, micrograph
        ),
        wavelet_rendering.render_shares(tmp_path / "shares.png", "a", summary, style),
    ]
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100


def test_maps_that_do_not_fit_their_summary_are_unreadable(tmp_path):
    """A map of another shape than its summary's, or without its summary, cannot be read."""
    path = save_wavelet_map(tmp_path, "a", sample_wavelet_map())
    values, basis, summary = wavelet_rendering.load_wavelet_map(path)
    assert basis == BASIS and values.shape == (32, 48) and summary["levels"] == 2
    np.save(path, np.zeros((16, 16), np.float32))
    with pytest.raises(UnreadableImageError, match="expected finite values of shape"):
        wavelet_rendering.load_wavelet_map(path)
    (tmp_path / "a.wavelet.json").unlink()
    with pytest.raises(UnreadableImageError, match="^cannot read"):
        wavelet_rendering.load_wavelet_map(path)
