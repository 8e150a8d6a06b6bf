"""One exception type for everything a user can fix: the CLI prints its message on one line and exits 2; and what
such messages share: a value shown as Python writes it, the closest of the names one may type."""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


class UserError(Exception):
    """Bad input or bad arguments. The message names the file/column/id and says what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


def show(value, setting: bool = False, quote: bool = True, compact: bool = False) -> str:
    """A value for a message or a table, numpy scalars as plain Python values (2, not np.int64(2)): as Python writes
    it, or with ``setting`` as one types it after ``--set`` (YAML's spelling: true / false / null, lists in
    brackets); text quoted, or with ``quote`` off bare unless empty or space-padded; ``compact``: one shell word,
    lists without spaces and numbers in their short form (300, 1e-05)."""
    value = value.item() if hasattr(value, "item") else value
    if setting:
        if isinstance(value, bool):
            return str(value).lower()
        if value is None:
            return "null"
        if isinstance(value, (list, tuple)):
            return "[" + ("," if compact else ", ").join(show(v, setting, quote, compact) for v in value) + "]"
        if isinstance(value, str) and not quote and value and value == value.strip():
            return value
        if isinstance(value, float) and compact:
            return f"{value:g}"
    return repr(value)


def closest(word, options: Iterable, aliases: Mapping | None = None):
    """The option closest to ``word`` (case aside): the one option it begins, or the closest spelling (difflib), or
    None when none is close. ``aliases`` maps an option to the name to suggest in its place (a Kaggle slug to its
    competition's folder name)."""
    if not isinstance(word, str) or not word:
        return None
    by_lower = {str(o).lower(): o for o in options}
    begun = [o for o in by_lower if o.startswith(word.lower())]
    close = begun if len(begun) == 1 else difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    if not close:
        return None
    option = by_lower[close[0]]
    return option if aliases is None else aliases.get(option, option)


def did_you_mean(word, options: Iterable, aliases: Mapping | None = None) -> str:
    """" did you mean 'X'?" for the ``closest`` option to ``word``, or "" when none is close."""
    close = closest(word, options, aliases)
    return "" if close is None else f" did you mean {close!r}?"
