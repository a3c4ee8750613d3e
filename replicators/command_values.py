"""One line of a program's JSON output (``format: jsonl``) as what a read hands on.

A line is one JSON object: field name -> text, number (kept as written: ``0049`` is no
JSON number, but ``4989123`` stays those digits), a list of them (several values), or
null (no value). Anything else makes the line a ``Problem`` naming it, with the line's key
when that could be read, so that its entry is kept as it was.
"""

from __future__ import annotations

import json
import re
from typing import Any

from metadir.core.errors import SourceError
from replicators.base import Problem, Record, Removed

CHECKPOINT = "_checkpoint"
REMOVED = "_removed"
# what no stored text may hold: a NUL, or a lone surrogate (a byte that was no text)
_FLAWED = re.compile("[\x00\ud800-\udfff]")


class _Unusable(ValueError):
    """Why a value cannot be a field's value."""


def json_item(
    text: str, line: int, key: list[str], incremental: bool
) -> Record | Problem | Removed | dict[str, Any]:
    """What JSON line number ``line`` says: a row, why it is broken, or (``incremental``
    only) a removed key or the checkpoint line's object (see ``checkpoint_of``)."""
    try:
        # numbers as written: a number's text is its value (and no float rounds it)
        data = json.loads(text, parse_int=str, parse_float=str)
    except json.JSONDecodeError as exc:
        return Problem(f"not JSON: {exc.msg} (column {exc.colno})", line)
    except RecursionError:
        return Problem("not JSON this program can read: nested too deeply", line)
    if not isinstance(data, dict):
        return Problem(f"{_kind(data)} in JSON, not an object", line)
    if incremental and CHECKPOINT in data:
        # read again with numbers as numbers: the state goes back to the program as it was
        checkpoint: dict[str, Any] = json.loads(text)
        return checkpoint
    if incremental and REMOVED in data:
        gone = data[REMOVED]
        found = _key(gone, key) if isinstance(gone, dict) else f"{REMOVED}: not an object"
        return Removed(found) if isinstance(found, tuple) else Problem(found, line)
    found = _key(data, key)
    if isinstance(found, str):
        return Problem(found, line)
    values: dict[str, str | list[str]] = {}
    for name, value in data.items():
        try:
            usable = _value(value)
        except _Unusable as exc:
            return Problem(f"field {name!r}: {exc}", line, found)
        if usable is not None:
            values[name] = usable
    return Record(found, values, line)


def checkpoint_of(data: dict[str, Any], line: int, name: str) -> tuple[dict[str, Any], bool]:
    """The state and wholeness of a checkpoint line ``{"_checkpoint": {...}, "whole":
    bool}``. Raises ``SourceError`` for a malformed one: a lost state would read the whole
    source again, a wrong one would skip changes."""
    state, whole = data.get(CHECKPOINT), data.get("whole", False)
    extra = sorted(set(data) - {CHECKPOINT, "whole"})
    where = f"{name}: line {line}: checkpoint"
    if not isinstance(state, dict):
        raise SourceError(f"{where}: {CHECKPOINT} must be an object")
    if not isinstance(whole, bool):
        raise SourceError(f"{where}: whole must be true or false")
    if extra:
        raise SourceError(f"{where}: unknown key {', '.join(map(repr, extra))}")
    return state, whole


def _key(data: dict[str, Any], key: list[str]) -> tuple[str, ...] | str:
    """The key ``data`` gives, or why it gives none."""
    parts = []
    for name in key:
        value = data.get(name)
        if value is None or value == "":
            return f"key field {name!r} is missing"
        if not isinstance(value, str) or _FLAWED.search(value):
            return f"key field {name!r}: not one text or number"
        parts.append(value)
    return tuple(parts)


def _value(value: Any) -> str | list[str] | None:
    """A JSON value as a field's value (None: no value). Raises ``_Unusable``."""
    if value is None:
        return None
    if isinstance(value, list):
        texts = [_text(item) for item in value if item is not None]
        return texts or None
    return _text(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Unusable(f"{_kind(value)} is no text or number")
    if found := _FLAWED.search(value):
        char = found.group()
        raise _Unusable(
            "holds a NUL character"
            if char == "\x00"
            else "holds bytes that are no text in the output's encoding"
        )
    return value


def _kind(value: Any) -> str:
    """What ``value`` is in JSON's words (numbers were read as their text)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float):
        return "NaN or Infinity"
    return "a text or number"
