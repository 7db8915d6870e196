"""The one exception family the command line turns into a single readable line."""


class AuxiliaryError(Exception):
    """A problem the user can fix (bad input, missing file, bad option), said in one line."""
