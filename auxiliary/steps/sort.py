"""Notebook 06 and ``python -m auxiliary sort``: copy new images into class folders and ``low_confidence/``.

A multi-label checkpoint copies each image into every ``<label>/`` it is positive for, ``none/`` when it is
positive for none, or ``low_confidence/`` when a label's probability is too close to its threshold (``--conf``
sets that band); ``--tone-thresholds`` uses the thresholds of each image's *estimated* tone group instead of
the global ones (:mod:`auxiliary.inference.multilabel_sort`).

A very large folder in several processes: ``sort ... --shard i/n`` for ``i = 0 .. n-1`` (any machines that
see the folders), then ``sort --input IN --out OUT --merge`` (:mod:`auxiliary.inference.shards`,
:mod:`auxiliary.inference.sort_merge`).
"""

from __future__ import annotations

