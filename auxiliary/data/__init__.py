"""Datasets: reading any layout into one table, leakage-free splits, balancing, augmentation, loaders (notebook 02).

Data knows no model. Modules, one job each:

- ``formats``: the layouts on disk (class folders, CSV lists, the synthetic folder), detecting which, listing them;
  ``public_sets``: the download layouts of HAM10000, ISIC 2018 and MedMNIST.
- ``probe``: every image opened once (readable, hash, estimated skin tone), cached; ``report``: the problems found.
- ``readers``: ``read_dataset`` (any format -> one table), ``read_table``/``write_table``, ``load_split``,
  ``split_task`` (single or multilabel).
- ``splits``: grouped train/val/test lists with leakage checks; ``duplicates``: near-duplicate images across splits.
- ``balance``: sampling weights by class and/or tone group, class weights, offline oversampling.
- ``multilabel``: multi-label tables (one 0/1 column per label, a ``labels`` column, MedMNIST multi-label
  ``.npz``); ``multilabel_read``: which datasets are multi-label and reading them checked like any other;
  ``multilabel_splits``: iterative stratification of whole groups, label- and tone-balanced weights;
  ``multilabel_split_folder``: the multi-label split folder (``classes.json`` task ``multilabel``).
- ``augment``: the augmentation presets (albumentations); ``loaders``: the cached Dataset and DataLoaders.
- ``feedback``: images filed by a reviewer with provenance; ``feedback_labels``: the label-set folders of
  multi-label corrections; ``merge``: merging them into a new split version.

Public names used by the notebooks: ``read_dataset``, ``load_split``, ``split_summary``, ``check_split_dir``,
``read_report``, ``tone_column``, ``balanced_counts``, ``class_weights``, ``build_loader``, ``tone_agreement``,
``PRESETS``, ``read_provenance``, ``merge_feedback``; multi-label: ``split_task``, ``label_shares``,
``multilabel_balanced_counts``.
"""

from auxiliary.data.augment import PRESETS, eval_transform, train_transform
from auxiliary.data.balance import balanced_counts, class_weights, make_sampler, oversample, tone_column
from auxiliary.data.duplicates import find_duplicates
from auxiliary.data.feedback import file_image, read_provenance
from auxiliary.data.formats import FORMATS, detect_format
from auxiliary.data.loaders import ImageDataset, build_loader
from auxiliary.data.merge import merge_feedback
from auxiliary.data.multilabel_splits import label_shares, multilabel_balanced_counts
from auxiliary.data.probe import estimate_tone, probe_images, tone_agreement
from auxiliary.data.readers import load_split, read_dataset, read_table, split_task, write_table
from auxiliary.data.report import DatasetError, DatasetReport
from auxiliary.data.splits import assign_splits, check_split_dir, make_splits, read_report, split_summary

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
    "file_image",
    "find_duplicates",
    "FORMATS",
    "ImageDataset",
    "label_shares",
    "load_split",
    "make_sampler",
    "make_splits",
    "merge_feedback",
    "multilabel_balanced_counts",
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
