"""What a SQL source keeps between runs, and when a run must read every row.

The state holds a fingerprint of the settings that decide which rows and values a read
returns, when the source was last read whole, and the high-water mark: the highest value
of ``changed_column`` a read saw, typed (a timestamp, a date, a number, bytes such as SQL
Server's rowversion, or text) so that the next read compares it as the database does. A
state that does not fit — other settings, malformed, or a whole read due (``full_every``)
— means a full run, and the reason becomes the Checkpoint's note.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from metadir.core.records import Checkpoint
from replicators import full_reads
from replicators.sql.settings import SqlSettings

MARK = "high_water"


def settings(config: SqlSettings) -> dict[str, Any]:
    """The settings that change which rows and values a read returns, by their names."""
    return {
        "database": config.where_shown,
        "query": config.query,
        "table": config.table,
        "where": config.where,
        "key": config.key_columns,
        "changed_column": config.changed_column,
        "deleted_column": config.deleted_column,
        "deleted_values": config.deleted_values,
        "mapping": config.mapping,
    }


def encode(value: Any) -> dict[str, Any]:
    """A high-water mark as JSON, with its type."""
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, bool | int):
        return {"type": "int", "value": int(value)}
    if isinstance(value, Decimal | float):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "bytes", "value": bytes(value).hex()}
    return {"type": "text", "value": str(value)}


def decode(mark: Any) -> Any:
    """The value ``encode`` wrote. Raises ``ValueError`` for anything else."""
    if not isinstance(mark, dict) or not isinstance(mark.get("value"), str | int):
        raise ValueError(f"high_water is {mark!r}")
    kind, value = mark.get("type"), mark["value"]
    readers: dict[str, Callable[[Any], Any]] = {
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "int": int,
        "decimal": Decimal,
        "bytes": bytes.fromhex,
        "text": str,
    }
    if kind not in readers:
        raise ValueError(f"high_water has type {kind!r}")
    try:
        return readers[kind](value)
    except (ValueError, ArithmeticError):
        raise ValueError(f"high_water is {mark!r}") from None


def full_reason(config: SqlSettings, state: dict[str, Any] | None, now: datetime) -> str | None:
    """Why this run must read every row ("" without a state: a first or ``--full`` run), or
    None when it may read only the rows changed since ``state``."""
    if state is None:
        return ""
    if not isinstance(state, dict) or not isinstance(state.get(full_reads.FULL_AT), str):
        return "saved state unusable: no time of the last whole read"
    if state.get(MARK) is None:
        return f"no row had a {config.changed_column} value yet"
    try:
        decode(state[MARK])
    except ValueError as exc:
        return f"saved state unusable: {exc}"
    return full_reads.stale(
        state, settings(config), config.full_every, "finds the rows deleted for good", now
    )


def checkpoint(
    config: SqlSettings,
    state: dict[str, Any] | None,
    reason: str | None,
    started: datetime,
    mark: Any,
) -> Checkpoint:
    """The Checkpoint a read ends with. ``reason`` is ``full_reason``'s: None for an
    incremental read, which keeps when the source was last read whole; else a full read
    that ``started`` then. ``mark``: the high-water mark, None when no row had a value."""
    saved: dict[str, Any] = full_reads.kept(settings(config), state, reason, started)
    if mark is not None:
        saved[MARK] = encode(mark)
    return Checkpoint(saved, full=reason is not None, note=reason or "")
