"""One exception type for everything a user can fix: the CLI prints its message on one line and exits 2; and what
such messages share: a value shown as Python writes it, the closest of the names one may type."""
from __future__ import annotations

import datetime
import difflib
import math
from collections.abc import Iterable, Mapping


class UserError(Exception):
    """Bad input or bad arguments. The message names the file/column/id and says what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


SHOWN_CHARS = 200  # a value in a message or a table at most: a longer list or text is cut, never built whole


class _Full(Exception):
    """``show``'s text has reached its length: the rest of the value is never visited."""


def show(value, setting: bool = False, quote: bool = True, compact: bool = False, limit: int = SHOWN_CHARS) -> str:
    """A value for a message or a table, numpy scalars as plain Python values (2, not np.int64(2)): as Python writes
    it, or with ``setting`` as one types it after ``--set`` (YAML's spelling: true / false / null, dates as
    2020-01-31, lists in brackets); text quoted, or with ``quote`` off bare unless empty or space-padded;
    ``compact``: one shell word, lists without spaces and numbers in their short form (300, 1e-05). At most
    ``limit`` characters: a longer value ends in "...", and no more of it is visited than that takes, so a list
    that holds itself or a YAML alias bomb costs no more to show than a short list."""
    parts, room = [], [limit + 1]

    def emit(text: str) -> None:
        parts.append(text[:room[0]])
        room[0] -= len(text)
        if room[0] <= 0:
            raise _Full

    try:
        _show(value, setting, quote, compact, emit, limit)
    except _Full:
        return "".join(parts)[:max(limit - 3, 0)] + "..."
    return "".join(parts)


def _show(value, setting: bool, quote: bool, compact: bool, emit, limit: int) -> None:
    """``show``'s walk: containers item by item, each piece handed to ``emit`` (which stops the walk when full)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, (list, tuple)):
        brackets = "[]" if setting or isinstance(value, list) else "()"
        emit(brackets[0])
        for i, item in enumerate(value):
            emit(("," if compact and setting else ", ") if i else "")
            _show(item, setting, quote, compact, emit, limit)
        emit("," + brackets[1] if len(value) == 1 and brackets == "()" else brackets[1])
    elif isinstance(value, dict):
        emit("{")
        for i, (key, item) in enumerate(value.items()):
            emit(", " if i else "")
            _show(key, setting, quote, compact, emit, limit)
            emit(": ")
            _show(item, setting, quote, compact, emit, limit)
        emit("}")
    else:
        emit(_scalar(value[:limit + 1] if isinstance(value, str) else value, setting, quote, compact))


def _scalar(value, setting: bool, quote: bool, compact: bool) -> str:
    if setting:
        if isinstance(value, bool):
            return str(value).lower()
        if value is None:
            return "null"
        if isinstance(value, (datetime.date, datetime.time)):
            return value.isoformat()
        if isinstance(value, str) and not quote and value and value == value.strip():
            return value
        if isinstance(value, float) and compact:
            return f"{value:g}"
    if isinstance(value, int) and value.bit_length() > 700:  # over 200 digits: cut anyway, and past 4300 repr refuses
        return f"a {'negative ' if value < 0 else ''}number of about {round(value.bit_length() * math.log10(2))} digits"
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
