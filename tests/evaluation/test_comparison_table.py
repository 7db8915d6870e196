"""auxiliary.evaluation.comparison_table: its selection error is an AuxiliaryError."""

from __future__ import annotations

from auxiliary.errors import AuxiliaryError
from auxiliary.evaluation import comparison_table


def test_selection_error_is_an_auxiliary_error():
    assert issubclass(comparison_table.SelectionError, AuxiliaryError)
