"""auxiliary.data.duplicates: exact and near duplicates, kept in one group and found across splits."""

from __future__ import annotations

import os
import shutil

import numpy as np
from data_fixtures import class_folders, noise_image, save

from auxiliary.base import images
from auxiliary.data import duplicates, readers, splits


def test_duplicates_exact_and_near(tmp_path):
    root = class_folders(tmp_path / "ds", n_per_class=10)
    src = root / "acne" / "acne_000.png"
    shutil.copy(src, root / "none" / "copy_of_acne.png")  # exact copy, other class and group
    img = images.read_image(root / "erythema" / "erythema_000.png").astype(int)
    save(root / "erythema" / "near.png", np.clip(img + 4, 0, 255).astype(np.uint8))  # near duplicate
    table, _ = readers.read_dataset(root)
    # byte-identical files are forced into one group: never split apart
    out = tmp_path / "out"
    result = splits.make_splits(table, out, val=0.3, test=0.3, seed=0)
    where = {os.path.basename(p): s for s, df in result.items() for p in df["path"]}
    assert where["acne_000.png"] == where["copy_of_acne.png"]
    assert splits.read_report(out)["merged_exact_duplicate_groups"] == 1
    # injected across splits, both kinds are found
    injected = table["path"].map(os.path.basename).isin(["copy_of_acne.png", "near.png"])
    parts = {"train": table[~injected], "val": table[injected], "test": table.iloc[:0]}
    found = duplicates.find_duplicates(parts)
    kinds = dict(zip(found["path_b"].map(os.path.basename), found["kind"]))
    assert kinds == {"copy_of_acne.png": "exact", "near.png": "near"}
    assert found.loc[found["kind"] == "near", "distance"].iloc[0] <= duplicates.NEAR_THRESHOLD
    # the check works on tables without stored hashes too (it computes them)
    bare = {k: v.drop(columns=["phash", "md5"]) for k, v in parts.items()}
    assert len(duplicates.find_duplicates(bare)) == 2


def test_noise_fixture_hashes_are_distinct():
    import imagehash
    from PIL import Image

    hashes = [imagehash.phash(Image.fromarray(noise_image(i))) for i in range(30)]
    dists = [a - b for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(dists) > duplicates.NEAR_THRESHOLD  # so the duplicate tests only find what they inject
