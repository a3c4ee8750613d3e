"""The SELECTs a read sends, as SQLAlchemy Core statements: each dialect quotes the names
(``[Phone No_]``, ```Phone No_```, ``"Phone No_"``) and limits a page its own way
(LIMIT, TOP, FETCH FIRST); an ODBC source gets them compiled for the database behind
the driver.

The admin's SQL (``query:``, ``where:``) is taken as written: its colons are escaped, so
that ``'10:00'`` or ``::date`` are no bind parameters to SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    and_,
    column,
    false,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)

from replicators.sql.settings import SqlSettings


def _sql(admin_text: str) -> str:
    return admin_text.replace(":", r"\:")


def source(config: SqlSettings, columns: Sequence[str]) -> FromClause:
    """What a read selects from: the table (with ``where``) or the query, with
    ``columns`` (none: only for ``SELECT *``)."""
    if config.query is not None:
        return text(_sql(config.query)).columns(*map(column, columns)).subquery("src")
    assert config.table is not None
    # "schema.name": NAV's company names have their dots replaced, so the first one splits
    first, dot, rest = config.table.partition(".")
    schema, name = (first, rest) if dot else (None, first)
    named = table(name, *map(column, columns), schema=schema)
    if config.where is None:
        return named
    chosen = select(*named.c) if columns else select(literal_column("*")).select_from(named)
    return chosen.where(text(_sql(config.where))).subquery("src")


def columns_of(config: SqlSettings) -> Select[Any]:
    """A SELECT that returns no row, only the source's columns."""
    return select(literal_column("*")).select_from(source(config, ())).where(false())


def count(config: SqlSettings) -> Select[Any]:
    return select(func.count()).select_from(source(config, ()))


def whole(from_: FromClause, wanted: Sequence[str]) -> Select[Any]:
    """Every row, in the order the database finds them."""
    return select(*(from_.c[name] for name in wanted))


def page(
    from_: FromClause,
    wanted: Sequence[str],
    order: Sequence[str],
    since: Any,
    after: Sequence[Any] | None,
    size: int,
) -> Select[Any]:
    """The next ``size`` rows in ``order`` (the changed column, then the key): from
    ``since`` on (its value included) for the first page, then the rows after ``after``
    (the last row's values of ``order``). Rows sharing one changed value are split between
    pages by their key, so none is lost or read twice."""
    by = [from_.c[name] for name in order]
    chosen = select(*(from_.c[name] for name in wanted)).order_by(*by).limit(size)
    if after is None:
        return chosen.where(by[0] >= since)
    return chosen.where(_after(by, after))


def _after(by: Sequence[ColumnElement[Any]], values: Sequence[Any]) -> ColumnElement[bool]:
    """``(by...) > (values...)`` spelt out, for databases without row-value comparison:
    ``a > x OR (a = x AND (b > y OR ...))``."""
    first, *rest = by
    if not rest:
        return first > values[0]
    return or_(first > values[0], and_(first == values[0], _after(rest, values[1:])))
