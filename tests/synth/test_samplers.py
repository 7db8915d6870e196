"""auxiliary.synth.samplers: a rendered subject records its image-level ITA estimate."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from auxiliary.base import tone
from auxiliary.base.config import SynthConfig
from auxiliary.synth import samplers

SMALL = SynthConfig(n_per_class=6, size=64, seed=5)


def test_image_level_ita_estimate_is_recorded():
    rows = [r for s in range(6) for _, _, r, _ in samplers.render_subject(replace(SMALL, size=96), s)]
    for r in rows:
        assert tone.ita_group(r["ita_image"]) == r["tone_group_est"]
    # Lesions and the camera (exposure 0.7-1.4x, white balance) move the photo's own estimate: ITA is steep
    # near L* 50, so a bright or dark exposure can move it by tens of degrees, the typical image far less.
    diffs = [abs(r["ita_image"] - r["ita"]) for r in rows]
    assert max(diffs) < 60 and 0.5 < float(np.median(diffs)) < 15


def test_a_small_photo_is_compressed_at_its_own_size_then_enlarged():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3)).astype(np.uint8), (0, 0), 2.0)
    params = {"resolution": 32, "jpeg_quality": 40}
    small = cv2.resize(img, (32, 32), interpolation=cv2.INTER_AREA)
    expect = cv2.resize(samplers.jpeg(small, 40), (256, 256), interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(samplers.develop(img, params), expect)
    # the other order (JPEG after the enlargement, its 8 px blocks on the large image) is a different picture
    late = samplers.jpeg(cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC), 40)
    assert np.abs(late.astype(int) - expect.astype(int)).mean() > 0.5
    # a photo at full size is compressed as it is; quality 100 is no compression
    assert np.array_equal(samplers.develop(img, {"jpeg_quality": 40}), samplers.jpeg(img, 40))
    assert np.array_equal(samplers.develop(img, {}), img)
