"""auxiliary.inference.labelled: the label map of ``evaluate --label-map`` (reading the data is tested through
``evaluate``, tests/steps/test_evaluate*.py)."""

from __future__ import annotations

import pytest

from auxiliary.evaluation import report
from auxiliary.inference import labelled


def test_parse_label_map():
    assert labelled.parse_label_map("a=b, c = d,") == {"a": "b", "c": "d"}
    assert labelled.parse_label_map(None) == {} and labelled.parse_label_map({"x": "y"}) == {"x": "y"}
    with pytest.raises(report.EvaluationError, match="twice"):
        labelled.parse_label_map("a=b,a=c")
    with pytest.raises(report.EvaluationError, match="empty side"):
        labelled.parse_label_map("a=")


def test_every_task_has_a_reader():
    from auxiliary.tasks import TASKS

    assert set(labelled.LABELLED_READERS) == set(TASKS)
