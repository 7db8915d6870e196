"""Datasets: reading any layout into one table, leakage-free splits, balancing, augmentation, loaders (notebook 02).

Data knows no model and no task: what differs between one class per image and several labels per image is data
here (a table's label columns, ``classes.json``'s task in :data:`~auxiliary.data.labels.SPLIT_TASKS`), and the
targets and sampling weights of a loader are computed above (:mod:`auxiliary.tasks`) and passed in as arrays.
Modules, one job each:

- ``formats``: the layouts on disk (class folders, CSV lists, the synthetic folder), detecting which, listing them;
  ``public_sets``: the download layouts of HAM10000, ISIC 2018 and MedMNIST (single- and multi-label ``.npz``).
- ``labels``: labels as data: one int 0/1 column per label, label lists (``acne|wrinkles``), what each row shows,
  label-set feedback folders (``acne+wrinkles``), what a split's task means for its lists.
- ``probe``: every image opened once (readable, hash, estimated skin tone), cached; ``report``: the problems found.
- ``readers``: ``read_dataset`` (any format, one class or several labels per image -> one table),
  ``read_table``/``write_table``, ``load_split``, ``split_task`` (single or multilabel).
- ``stratification``: which split each row goes to (grouped; stratified by class, or iteratively by label);
  ``splits``: the split folder with its leakage checks and summaries; ``duplicates``: near-duplicate images
  across splits.
- ``balance``: sampling weights by class or label and/or tone group, class weights, expected draws, offline
  oversampling.
- ``augment``: the augmentation presets (albumentations); ``loaders``: the cached Dataset and DataLoaders.
- ``feedback``: images filed by a reviewer with provenance; ``merge``: merging them into a new split version.

Public names used by the notebooks: ``read_dataset``, ``load_split``, ``split_summary``, ``check_split_dir``,
``read_report``, ``tone_column``, ``balanced_counts``, ``expected_draws``, ``class_weights``, ``build_loader``,
``tone_agreement``, ``PRESETS``, ``read_provenance``, ``merge_feedback``, ``split_task``, ``label_shares``.
"""

from auxiliary.data.augment import PRESETS, eval_transform, train_transform
from auxiliary.data.balance import (
    balanced_counts,
    class_weights,
    expected_draws,
    make_sampler,
    oversample,
    tone_column,
)
from auxiliary.data.duplicates import find_duplicates
from auxiliary.data.feedback import file_image, read_provenance
from auxiliary.data.formats import FORMATS, detect_format
from auxiliary.data.loaders import ImageDataset, build_loader
from auxiliary.data.merge import merge_feedback
from auxiliary.data.probe import estimate_tone, probe_images, tone_agreement
from auxiliary.data.readers import load_split, read_dataset, read_table, split_task, write_table
from auxiliary.data.report import DatasetError, DatasetReport
from auxiliary.data.splits import check_split_dir, label_shares, make_splits, read_report, split_summary
from auxiliary.data.stratification import assign_splits

__all__ = [
    "assign_splits",
    "balanced_counts",
    "build_loader",
    "check_split_dir",
    "class_weights",
    "DatasetError",
    "DatasetReport",
    "detect_format",
    "estimate_tone",
    "eval_transform",
    "expected_draws",
    "file_image",
    "find_duplicates",
    "FORMATS",
    "ImageDataset",
    "label_shares",
    "load_split",
    "make_sampler",
    "make_splits",
    "merge_feedback",
    "oversample",
    "PRESETS",
    "probe_images",
    "read_dataset",
    "read_provenance",
    "read_report",
    "read_table",
    "split_summary",
    "split_task",
    "tone_agreement",
    "tone_column",
    "train_transform",
    "write_table",
]
