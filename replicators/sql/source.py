"""The SQL replicator (``type: sql``): a table or query, read whole or, with
``changed_column``, only the rows changed since the last run.

A whole read is one SELECT streamed from a server-side cursor, ``batch_size`` rows per
round trip. An incremental read asks for the rows from the saved high-water mark less
``overlap`` on, in pages ordered by the changed column and the key (a keyset cursor: each
page starts after the last row of the one before, so rows sharing a timestamp are neither
lost nor read twice at a page boundary). Between batches the context may cancel the read
and hears how far it got. A connection lost mid-read fails the run, which then changes
nothing; the next run reads from the old state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import FromClause

from metadir.core import fields
from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.sql import statements
from replicators.sql.database import Database, open_database
from replicators.sql.settings import SqlSettings
from replicators.sql.state import MARK, checkpoint, decode, full_reason
from replicators.sql.values import is_unreadable_bytes, text

log = logging.getLogger(__name__)

Item = Record | Problem | Removed


class SqlReplicator:
    def __init__(self, config: SqlSettings, context: Context) -> None:
        self.config = config
        self.context = context

    def check(self) -> list[str]:
        """Connect and name the source's columns; the key, changed and deleted columns must
        be among them. Columns of a preset's mapping that the table lacks (an older version
        of the product) are named too: they read as empty."""
        with open_database(self.config, self.context.base_dir) as db:
            columns = self._columns(db)
        preset = self.config.chosen_preset
        absent = [c for c in preset.mapping.values() if c not in columns] if preset else []
        if absent:
            log.info("%s: columns of preset %s left empty: %s", self.config.name,
                     preset.name if preset else "", ", ".join(absent))  # fmt: skip
        return columns + absent

    def _columns(self, db: Database) -> list[str]:
        config = self.config
        columns = db.columns(statements.columns_of(config))
        needed = {
            "key": config.key_columns,
            "changed_column": [config.changed_column] if config.changed_column else [],
            "deleted_column": [config.deleted_column] if config.deleted_column else [],
        }
        source = "query" if config.query is not None else f"table {config.table}"
        for setting, names in needed.items():
            for name in names:
                if name not in columns:
                    raise SourceError(
                        f"{db.where}: {setting}: the {source} has no column {name!r} "
                        f"(columns: {', '.join(columns) or 'none'})"
                    )
        return columns

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Item | Checkpoint]:
        """Every row or, from ``state`` on, the rows changed since (and the keys of those
        flagged deleted); with ``changed_column`` then the Checkpoint."""
        config = self.config
        started = self.context.clock()
        reason = full_reason(config, state, started) if config.changed_column else ""
        with open_database(config, self.context.base_dir) as db:
            columns = self._columns(db)
            wanted = self._wanted(columns)
            rows = Rows(config, wanted, removals=reason is None)
            from_ = statements.source(config, columns)
            if reason is None:
                assert state is not None
                yield from self._changes(db, from_, rows, decode(state[MARK]))
            else:
                yield from self._whole(db, from_, rows)
        if config.changed_column:
            yield checkpoint(config, state, reason, started, rows.highest)

    def _wanted(self, columns: list[str]) -> list[str]:
        """The columns a read selects: those the mapping and the settings name (every
        column without a mapping). NAV's tables have a hundred, pictures among them."""
        config = self.config
        if not config.mapping:
            return columns
        named = {*config.key_columns, config.changed_column, config.deleted_column}
        sources = config.mapping.values()
        return [c for c in columns if c in named or any(_names(s, c) for s in sources)]

    def _whole(self, db: Database, from_: FromClause, rows: Rows) -> Iterator[Item]:
        if self.config.table is not None:
            # a count of a table is cheap next to reading it; a query's may not be
            self.context.expect(int(db.scalar(statements.count(self.config))))
        statement = statements.whole(from_, rows.columns)
        for batch in db.batches(statement, self.config.batch_size):
            yield from rows.items(batch)
            self.context.tick(len(batch))

    def _changes(self, db: Database, from_: FromClause, rows: Rows, mark: Any) -> Iterator[Item]:
        """The rows whose changed value is ``mark`` less the overlap or more, page by page."""
        config = self.config
        rows.highest = mark
        since = earlier(mark, config.overlap)
        order = [config.changed_column or "", *config.key_columns]
        at = [rows.columns.index(name) for name in order]
        after: Sequence[Any] | None = None
        while True:
            statement = statements.page(from_, rows.columns, order, since, after, config.batch_size)
            batch = [row for part in db.batches(statement, config.batch_size) for row in part]
            yield from rows.items(batch)
            self.context.tick(len(batch))
            if len(batch) < config.batch_size:
                return
            after = [batch[-1][i] for i in at]


def earlier(mark: Any, overlap: timedelta) -> Any:
    """Where a read from ``mark`` starts: a time ``overlap`` earlier (also one SQLite keeps
    as ISO text), a number or a rowversion at the mark itself."""
    if isinstance(mark, date):
        return mark - overlap
    if isinstance(mark, str):
        try:
            moment = datetime.fromisoformat(mark)
        except ValueError:
            return mark
        # written back the way the column writes it, so that text compares as time
        separator = mark[10] if len(mark) > 10 else "T"
        return (moment - overlap).isoformat(sep=separator)
    return mark


def _names(source: str, column: str) -> bool:
    """Whether mapping value ``source`` reads ``column``: by name, or in a template."""
    return source == column or f"{{{column}}}" in source or f"{{{column}:" in source


@dataclass
class Rows:
    """Rows of a read into Records, Problems and (``removals``) Removed keys; counts the
    rows (a row's number is its line) and keeps the highest changed value."""

    config: SqlSettings
    columns: list[str]
    removals: bool
    line: int = 0
    highest: Any = None
    _binary: frozenset[str] = frozenset()
    _left_out: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # photo attributes mapped straight from a column: its bytes become base64
        photos = [c for a, c in self.config.mapping.items() if _photo(a)]
        self._binary = frozenset(photos)

    def items(self, batch: Sequence[Sequence[Any]]) -> Iterator[Item]:
        for row in batch:
            self.line += 1
            item = self.item(row)
            if item is not None:
                yield item

    def item(self, row: Sequence[Any]) -> Item | None:
        config = self.config
        raw = dict(zip(self.columns, row, strict=True))
        if config.changed_column is not None:
            changed = raw[config.changed_column]
            if changed is not None and (self.highest is None or changed > self.highest):
                self.highest = changed
        values = {}
        for name, value in raw.items():
            shown = text(value, name in self._binary)
            if shown is not None:
                values[name] = shown
            elif is_unreadable_bytes(value) and name not in self._left_out:
                self._left_out.add(name)
                log.warning(
                    "%s: column %s holds bytes that are no text: left out (map it to "
                    "jpegPhoto to keep them as a photo)", config.name, name,
                )  # fmt: skip
        empty = [name for name in config.key_columns if name not in values]
        if empty:
            return Problem(f"key column {', '.join(empty)} is empty", self.line)
        key = tuple(_one(values[name]) for name in config.key_columns)
        if config.deleted_column is not None and self._deleted(values):
            return Removed(key) if self.removals else None
        return Record(key, values, self.line)

    def _deleted(self, values: dict[str, Any]) -> bool:
        flag = values.get(self.config.deleted_column or "")
        wanted = {v.lower() for v in self.config.deleted_values}
        return isinstance(flag, str) and flag.lower() in wanted


def _photo(attribute: str) -> bool:
    found = fields.lookup(attribute)
    return found is not None and found.is_binary


def _one(value: str | list[str]) -> str:
    return value if isinstance(value, str) else ",".join(value)
