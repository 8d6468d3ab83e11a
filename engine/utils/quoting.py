"""User values quoted in messages, bounded: a hostile file never makes a huge error line.

Every message that shows a value from a job file, an MLTable or the command line quotes it
through `quote` (a `repr` of at most `error_value_chars` characters, see schemas/limits.json)
or `shorten` (text already formatted).
"""

from __future__ import annotations

import reprlib
from typing import Any

ELLIPSIS = "..."


def _max_chars() -> int:
    from automl.schemas import limit

    return limit("error_value_chars")


def quote(value: Any, max_chars: int | None = None) -> str:
    """`repr(value)` cut to `max_chars` (default: the error_value_chars limit).

    Containers are abbreviated level by level (reprlib), so the full repr of a large value
    is never built; a cut value ends with '...' and says how long the text was.
    """
    max_chars = max_chars or _max_chars()
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxdict = short.maxlist = short.maxtuple = short.maxset = 8
    short.maxstring = short.maxother = short.maxlong = max_chars
    text = short.repr(value)
    if isinstance(value, str) and len(value) > max_chars:
        return shorten(text, max_chars) + f" ({len(value):,} characters)"
    return shorten(text, max_chars)


def shorten(text: str, max_chars: int | None = None) -> str:
    """`text` if it has at most `max_chars` characters, else its start and '...'."""
    max_chars = max_chars or _max_chars()
    if len(text) <= max_chars:
        return text
    return text[: max(max_chars - len(ELLIPSIS), 1)] + ELLIPSIS
