"""One exception type for everything a user can fix: the CLI prints its message on one line and exits 2."""


class UserError(Exception):
    """Bad input or bad arguments. The message names the file/column/id and says what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


def show(value) -> str:
    """repr of a value for a message, numpy scalars as plain Python values (2, not np.int64(2))."""
    return repr(value.item() if hasattr(value, "item") else value)
