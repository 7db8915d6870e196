"""The one exception family the command line turns into a single readable line.
"""

from __future__ import annotations


class AuxiliaryError(Exception):
    """A problem the user can fix (bad input, missing file, bad option), said in one line."""


class TrainError(AuxiliaryError):
    """Training cannot start or continue (bad setting, empty split, mismatching resume state...)."""


class SortError(AuxiliaryError):
    """A sorting problem the user can fix (bad folders, mismatching earlier run, missing calibration)."""
