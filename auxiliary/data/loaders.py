"""The image Dataset with its uint8 cache, the collate function and DataLoaders (balanced sampling, seeded workers).

Data knows no task: the targets and the balanced sampler's per-row weights are computed above and passed in as
arrays (a run's task gives them: ``task.targets(table, classes)``, ``task.sample_weights(table, classes,
balance)``, :mod:`auxiliary.tasks`). A target row is a class index (int64 targets of shape (N,)) or one 0/1 per
label (float32 targets of shape (N, L)); the batches stack them as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from auxiliary.base.files import PART_SUFFIX, temp_path
from auxiliary.base.images import ImageReadError, read_image
from auxiliary.base.layout import cache_dir as cache_folder
from auxiliary.base.progress import progress_bar
from auxiliary.data.augment import (
    eval_transform,
    fit_transform,
    is_square_area,
    normalize_transform,
    train_transform,
)
from auxiliary.data.balance import stratified_subset, weighted_sampler
from auxiliary.data.formats import hash_strings
from auxiliary.data.report import DatasetError

# ----------------------------------------------------------------------------------- cache
#: The sub-folder of the cache folder that holds the decoded images.
IMAGE_CACHE = "images"


class ImageCache:
    """Images decoded and area-resized once to ``size``×``size`` RGB uint8 in a memory-mapped file.

    ``geometry`` (an evaluation loader's: the model's resize and centre crop, see
    :func:`auxiliary.data.augment.fit_ops`) replaces the square area resize; ``None`` keeps it.
    The file name is a hash of the ordered file list, the size, the geometry (when not the square area resize: the
    caches of earlier versions stay valid) and every file's size and mtime, so a changed image or list gives a new
    cache; an unchanged one is reused across runs and across DataLoader workers (each opens the memmap lazily,
    read-only). ``cache_dir`` defaults to ``images/`` of
    the cache folder (:func:`auxiliary.base.layout.cache_dir`): it can be rebuilt at any time, so it belongs to no
    step's output.
    """

    def __init__(self, paths_: Sequence[str], size: int, cache_dir: str | Path | None = None,
                 geometry: dict[str, Any] | None = None):
        self.paths = [str(p) for p in paths_]
        self.size = int(size)
        self.dir = Path(cache_dir) if cache_dir else cache_folder(IMAGE_CACHE, create=False)
        self.geometry = None if is_square_area(geometry) else dict(geometry or {})
        items = [f"v1|{self.size}"] + ([f"fit|{sorted(self.geometry.items())}"] if self.geometry else [])
        for p in self.paths:
            try:
                st = os.stat(p)
                items.append(f"{p}|{st.st_size}|{st.st_mtime_ns}")
            except OSError:
                items.append(f"{p}|missing")
        self.key = hash_strings(items)
        self.file = self.dir / f"images-{self.size}px-{len(self.paths)}-{self.key}.u8"
        self._mm: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.size, self.size, 3)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def exists(self) -> bool:
        return self.file.is_file() and self.file.stat().st_size == self.nbytes

    def build(self, progress: bool = True) -> ImageCache:
        """Decode everything once (skipped when the cache file already exists)."""
        if self.exists() or not self.paths:
            return self

        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(self.file)
        arr = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=self.shape)
        fit = fit_transform(self.size, self.geometry) if self.geometry else None
        failed: list[str] = []
        try:
            for i, p in enumerate(progress_bar(self.paths, desc=f"caching images at {self.size}px", disable=not progress,
                                       leave=False)):
                try:
                    rgb = read_image(p)
                except ImageReadError as exc:
                    failed.append(f"{p}: {exc.reason}")
                    continue
                if fit is not None:
                    rgb = fit(image=rgb)["image"]
                elif rgb.shape[0] != self.size or rgb.shape[1] != self.size:
                    rgb = cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_AREA)
                arr[i] = rgb
            arr.flush()
        finally:
            del arr
        if failed:
            tmp.unlink(missing_ok=True)
            raise DatasetError(f"{len(failed)} images could not be read while caching, e.g. {failed[0]} "
                               "(read the dataset with data.read_dataset to drop them)")
        tmp.replace(self.file)
        return self

    def array(self) -> np.ndarray:
        if self._mm is None:
            if not self.exists():
                self.build(progress=False)
            self._mm = np.memmap(self.file, dtype=np.uint8, mode="r", shape=self.shape)
        return self._mm

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.array(self.array()[i])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_mm"] = None  # workers re-open the file instead of pickling the pixels
        return state


def clear_cache(cache_dir: str | Path | None = None) -> int:
    """Delete the decoded-image caches (of ``cache_dir``, default :class:`ImageCache`'s); returns the bytes freed."""
    d = Path(cache_dir) if cache_dir else cache_folder(IMAGE_CACHE, create=False)
    freed = 0
    for f in list(d.glob("images-*.u8")) + list(d.glob(f".images-*.u8.*{PART_SUFFIX}")):
        freed += f.stat().st_size
        f.unlink()
    return freed


# ----------------------------------------------------------------------------------- Dataset
class ImageDataset(torch.utils.data.Dataset):
    """Samples of a table: ``(image tensor, target, meta)``; meta has the row ``index``
    (position in ``table``), ``path``, ``group``, ``tone_group`` and ``is_augmented``.

    ``targets``: one per row of ``table`` (see the module docstring): an int class index, or a float32 array
    of 0/1 per label. ``indices`` selects rows (e.g. a stratified fraction); ``cache`` (an :class:`ImageCache`
    over exactly those rows, in that order) replaces decoding; ``transform`` is an albumentations Compose
    (:func:`auxiliary.data.augment.train_transform` / ``eval_transform``) or ``None`` for raw uint8 HWC.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        targets: np.ndarray,
        transform: Any = None,
        *,
        indices: Sequence[int] | None = None,
        cache: ImageCache | None = None,
    ):
        self.targets = np.asarray(targets)
        if len(self.targets) != len(table) or self.targets.dtype.kind not in "iuf":
            raise DatasetError(f"targets must be numbers, one per row of the table ({len(table)} rows), got "
                               f"{len(self.targets)} of type {self.targets.dtype}")
        self.indices = np.arange(len(table)) if indices is None else np.asarray(indices, dtype=np.int64)
        self.paths = table["path"].astype(str).to_numpy()
        self.groups = table["group"].astype(str).to_numpy() if "group" in table else self.paths
        self.tones = table["tone_group"].astype(str).to_numpy() if "tone_group" in table else None
        self.augmented = (table["is_augmented"].astype(bool).to_numpy() if "is_augmented" in table
                          else np.zeros(len(table), dtype=bool))
        self.transform = transform
        self.cache = cache
        if cache is not None and len(cache) != len(self.indices):
            raise ValueError("the cache must cover exactly the selected rows")

    def __len__(self) -> int:
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        """RGB uint8 of the ``i``-th selected sample (cached when a cache is set)."""
        if self.cache is not None:
            return self.cache[i]
        return read_image(self.paths[self.indices[i]])

    def __getitem__(self, i: int) -> tuple[Any, Any, dict[str, Any]]:
        idx = int(self.indices[i])
        rgb = self.image(i)
        x = self.transform(image=rgb)["image"] if self.transform is not None else rgb
        meta = {
            "index": idx,
            "path": str(self.paths[idx]),
            "group": str(self.groups[idx]),
            "tone_group": str(self.tones[idx]) if self.tones is not None else "unknown",
            "is_augmented": bool(self.augmented[idx]),
        }
        target = self.targets[idx]  # a row of label flags stays an array, a class index becomes an int
        return x, (target.copy() if target.ndim else target.item()), meta


# ----------------------------------------------------------------------------------- loader
def collate(batch: Sequence[tuple[Any, Any, dict[str, Any]]]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Stack ``(x, y, meta)`` samples: ``y`` int64 (B,) of class indices, or float32 (B, L) of multi-label
    targets (arrays). Images are stacked from their HWC memory (what
    ``ToTensorV2`` views) into an NCHW tensor in ``channels_last`` memory format: same shape and
    values, one plain copy instead of a transposing one."""
    xs, ys, metas = zip(*batch)
    if isinstance(xs[0], torch.Tensor) and xs[0].dim() == 3:
        x = torch.stack([t.permute(1, 2, 0) for t in xs]).permute(0, 3, 1, 2)
    else:
        x = torch.utils.data.default_collate(list(xs))
    if isinstance(ys[0], np.ndarray):
        y = torch.from_numpy(np.stack(ys).astype(np.float32))
    else:
        y = torch.as_tensor(ys, dtype=torch.int64)
    return x, y, torch.utils.data.default_collate(list(metas))


def _worker_init(worker_id: int) -> None:
    info = torch.utils.data.get_worker_info()
    tf = getattr(info.dataset, "transform", None) if info is not None else None
    if tf is not None and hasattr(tf, "set_random_seed"):
        tf.set_random_seed(int(torch.initial_seed() % 2**31))


def build_loader(
    table: pd.DataFrame,
    *,
    targets: np.ndarray,
    weights: np.ndarray | None = None,
    img_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    train: bool,
    data_cfg: Any,
    batch_size: int,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    drop_last: bool = False,
    progress: bool = True,
    geometry: dict[str, Any] | None = None,
) -> torch.utils.data.DataLoader:
    """DataLoader of ``(x float32 (B,3,S,S), y, meta)`` over ``table``: ``y`` stacks ``targets`` (one per row: int64
    (B,) class indices, or float32 (B, L) label flags).

    ``train=True``: the square area resize, ``geometry``'s colour constancy (``"color_constancy"``, when given),
    ``data_cfg.augment`` preset, and a balanced sampler drawing rows with ``weights`` (one per
    row of ``table``: the ``data_cfg.balance`` weights of the run's task; ``None``: plain shuffling).
    ``train=False``: the model's resize and centre crop (``geometry``, plain values computed above: the model's
    :meth:`~auxiliary.models.preprocess.Preprocessing.geometry`; ``None``: the square area resize) + normalise, the same
    numbers as :func:`auxiliary.models.preprocess.preprocess` with that spec, so that validation (the epoch chosen,
    the temperature fitted) sees what inference will; table order, and oversampled rows (``is_augmented``) are
    refused. ``data_cfg.fraction`` keeps a stratified portion (its rows keep their weights); ``data_cfg.cache``
    decodes once into the uint8 memmap cache (``cache_dir``, default ``images/`` of the cache folder,
    :func:`auxiliary.base.layout.cache_dir`; an evaluation loader's holds the images already fitted to its geometry).
    """
    table = table.reset_index(drop=True)
    if not train and "is_augmented" in table and table["is_augmented"].astype(bool).any():
        n = int(table["is_augmented"].astype(bool).sum())
        raise DatasetError(f"{n} oversampled (is_augmented) rows in an evaluation table: they belong to train only")
    fraction = float(getattr(data_cfg, "fraction", 1.0))
    idx = stratified_subset(table, fraction, seed)
    if train and len(idx) == 0:
        raise DatasetError("the training table is empty: nothing to train on (check the split fractions)")
    cache = None
    if getattr(data_cfg, "cache", False) and len(idx):  # evaluation caches the fitted images, training the square
        cache = ImageCache(table["path"].iloc[idx].tolist(), img_size, cache_dir,
                           None if train else geometry).build(progress=progress)
    if train:
        tf = train_transform(getattr(data_cfg, "augment", "none"), img_size, mean, std, seed=seed,
                             color_constancy=(geometry or {}).get("color_constancy"))
    elif cache is not None:
        tf = normalize_transform(mean, std)  # the cache holds the images fitted to the input already
    else:
        tf = eval_transform(img_size, mean, std, geometry)
    ds = ImageDataset(table, targets, tf, indices=idx, cache=cache)
    g = torch.Generator()
    g.manual_seed(int(seed))
    if weights is not None and len(weights) != len(table):
        raise DatasetError(f"{len(weights)} sampling weights for a table of {len(table)} rows")
    sampler = weighted_sampler(np.asarray(weights)[idx], seed) if train and weights is not None else None
    shuffle = train and sampler is None
    workers = int(getattr(data_cfg, "num_workers", 0))
    return torch.utils.data.DataLoader(
        ds,
        batch_size=int(batch_size),
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        drop_last=drop_last,
        collate_fn=collate,
        generator=g,
        worker_init_fn=_worker_init if workers > 0 else None,
        persistent_workers=workers > 0,
    )


# ----------------------------------------------------------------------------------- several processes
class ShardedSampler(torch.utils.data.Sampler):
    """Rank ``rank`` of ``num_replicas`` processes takes positions ``rank, rank + W, ...`` of the order of
    ``sampler`` (any sampler: sequential, shuffled, or the balanced ``WeightedRandomSampler``).

    Every rank draws the same order (its generator is reseeded per epoch by
    :func:`auxiliary.training.seeding.reseed_loader` with the same seed), so the ranks see disjoint
    positions of one epoch: what Fabric's ``DistributedSamplerWrapper`` does, without an epoch counter of
    its own (a resumed run continues the same orders). ``drop_last`` (training) leaves out the last
    ``len % W`` positions so that no position is seen twice; otherwise (evaluation) the order is padded by
    wrapping around to a multiple of ``W``, and :func:`gather_order` restores the single-process order.
    """

    def __init__(self, sampler: Any, num_replicas: int, rank: int, drop_last: bool):
        self.sampler = sampler
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.drop_last = bool(drop_last)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")

    def total(self) -> int:
        """Positions of one epoch on all ranks together (after dropping or padding)."""
        n = len(self.sampler)
        w = self.num_replicas
        return n - n % w if self.drop_last else -(-n // w) * w

    def __len__(self) -> int:
        return self.total() // self.num_replicas

    def __iter__(self):
        order = list(self.sampler)
        total = self.total()
        if total > len(order):
            order = (order * (total // max(len(order), 1) + 1))[:total]
        return iter(order[:total][self.rank::self.num_replicas])


def shard_loader(loader: Any, num_replicas: int, rank: int, *, drop_last: bool) -> Any:
    """``loader`` with its sampler wrapped in a :class:`ShardedSampler` for one of ``num_replicas`` ranks
    (the loader itself when there is one process, or when its batches come from a custom batch sampler)."""
    if num_replicas <= 1 or not isinstance(loader, torch.utils.data.DataLoader):
        return loader
    if not isinstance(loader.batch_sampler, torch.utils.data.BatchSampler):
        return loader
    return torch.utils.data.DataLoader(
        loader.dataset,
        batch_size=loader.batch_size,
        sampler=ShardedSampler(loader.sampler, num_replicas, rank, drop_last),
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        generator=loader.generator,
        persistent_workers=loader.persistent_workers,
    )


def gather_order(parts: Sequence[np.ndarray], n: int) -> np.ndarray:
    """The single-process order of ``n`` samples from the per-rank arrays of a padded
    :class:`ShardedSampler` (rank ``r``'s ``j``-th sample is position ``j * W + r``)."""
    stacked = np.stack([np.asarray(p) for p in parts], axis=1)  # (per_rank, W, ...)
    return stacked.reshape((-1, *stacked.shape[2:]))[:n]
