"""Column values as text, the way a person writes them, whatever the driver hands over.

Dates and times in ISO 8601 (``2024-05-01``, ``2024-05-01T10:00:00``, an offset when the
database keeps one); integers and decimals without a fraction they do not have (``12``,
``12.5``, not ``12.50`` or ``12.0``); floats the same, else their shortest ``repr``;
booleans ``true`` / ``false``; NUL characters removed and the text trimmed. NULL and empty
text are absent. Bytes become base64 in a column mapped to a photo attribute, text when
they are UTF-8, and are left out otherwise (once logged per column: metadir cannot guess
what they mean).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from metadir.core.records import Value

# floats beyond this are no longer exact integers: keep their repr (1e+16)
_EXACT = 2.0**53


def text(value: Any, binary: bool = False) -> Value | None:
    """``value`` as the text a record holds (a list for an array column); None when it is
    absent (NULL, empty) or bytes that are no text and ``binary`` is false. ``binary``: the
    column is mapped to a photo attribute, whose bytes are stored as base64."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes(bytes(value), binary)
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list | tuple):
        return _many(value, binary)
    return _scalar(value)


def _scalar(value: Any) -> str | None:
    # bool before int: True is an int
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _decimal(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        # MySQL TIME columns arrive as timedelta (a time of day or a span of hours)
        return _span(value)
    # UUIDs, intervals, JSON documents...: their own text
    return _clean(str(value))


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))  # "100", never "1E+2"
    return format(value.normalize(), "f")


def _span(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    seconds = abs(value.total_seconds())
    hours, rest = divmod(int(seconds), 3600)
    minutes, whole = divmod(rest, 60)
    fraction = f"{seconds - int(seconds):.6f}".rstrip("0").rstrip(".")[1:]
    return f"{sign}{hours:02d}:{minutes:02d}:{whole:02d}{fraction}"


def _bytes(raw: bytes, binary: bool) -> str | None:
    if not raw:
        return None
    if binary:
        return base64.b64encode(raw).decode("ascii")
    try:
        return _clean(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _clean(value: str) -> str | None:
    return value.replace("\x00", "").strip() or None


def _many(values: Iterable[Any], binary: bool) -> list[str] | None:
    items: list[str] = []
    for item in values:
        shown = text(item, binary)
        if isinstance(shown, str):
            items.append(shown)
        elif shown:
            items.extend(shown)
    return items or None


def is_unreadable_bytes(value: Any) -> bool:
    """Whether ``text(value)`` leaves ``value`` out because it is bytes that are no text."""
    if not isinstance(value, bytes | bytearray | memoryview):
        return False
    try:
        bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
