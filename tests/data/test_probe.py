"""auxiliary.data.probe: the tone estimate of an image ignores the lesion in the centre and a dark border; the table
of probed images is a cache."""

from __future__ import annotations

import numpy as np
import pytest
from data_fixtures import noise_image, save

from auxiliary.base.tone import ita_from_lab, rgb_to_lab
from auxiliary.data import probe


def test_estimate_tone_ignores_centre_and_dark_border():

    skin = np.array([225, 180, 160], dtype=np.uint8)
    img = np.tile(skin, (96, 96, 1))
    img[32:64, 32:64] = (90, 40, 30)  # a dark lesion in the centre
    img[:4] = 0  # black vignette
    lab = rgb_to_lab(skin[None, None])[0, 0]
    truth = float(ita_from_lab(lab[0], lab[2]))
    assert abs(probe.estimate_tone(img) - truth) < 1.0
    assert np.isnan(probe.estimate_tone(np.zeros((40, 40, 3), np.uint8)))


def test_probe_table_is_kept_in_the_cache_folder_and_reused(tmp_path, monkeypatch):
    """Issue 28: the table of probed images lives in the cache folder (``AUXILIARY_CACHE``), never in ``data/``
    (nobody's output; it can be rebuilt at any time); a second probe reads it instead of decoding again."""
    monkeypatch.setenv("AUXILIARY_OUTPUT", str(tmp_path / "outputs"))
    monkeypatch.setenv("AUXILIARY_CACHE", str(tmp_path / "cache"))
    paths = [str(save(tmp_path / "imgs" / "a" / f"{i}.png", noise_image(i))) for i in range(3)]
    first = probe.probe_images(paths, progress=False)
    tables = list((tmp_path / "cache" / "probe").glob("probe-*.csv"))
    assert first["ok"].all() and len(tables) == 1 and not (tmp_path / "outputs").exists()
    monkeypatch.setattr(probe, "_probe_one", lambda path: pytest.fail(f"decoded {path} again"))
    again = probe.probe_images(paths, progress=False)
    assert again["md5"].tolist() == first["md5"].tolist()
