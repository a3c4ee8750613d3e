"""Settings of SQL sources (``type: sql``): where the database is (a SQLAlchemy URL or an
ODBC connection string), what to read (a query, or a table with a condition), the key,
and how runs after the first read only what changed.

SQLAlchemy is imported when a URL is checked, not with this module: reading a config file
loads no database library (``tests/unit/test_layers.py``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from metadir.core import fields
from metadir.core.schedule import Duration, DurationOrZero
from metadir.core.settings import read_secret_files
from replicators.base import ReplicatorConfig, one_or_more
from replicators.sql import odbc
from replicators.sql.presets import Preset, presets

# what a deleted_column holds for a deleted row (compared as text, any case)
DELETED = ["1", "true", "t", "yes", "y", "x", "-1"]


class SqlSettings(ReplicatorConfig):
    """A database table or query; ``config.SqlConfig`` adds building the replicator."""

    type: Literal["sql"]
    # a SQLAlchemy URL: postgresql+psycopg://user@host/db, mysql+pymysql://..., mssql+pyodbc://
    # ..., sqlite:///contacts.db (relative to the config file's folder)
    url: str | None = None
    # or an ODBC connection string: DSN=crm;UID=reader or DRIVER={MariaDB Unicode};SERVER=...
    odbc: str | None = None
    # merged into the URL or the connection string (PWD=); never shown
    password: SecretStr = SecretStr("")
    # a SELECT, or a table ("name" or "schema.name", as the database spells it) with an
    # optional condition (SQL, as after WHERE)
    query: str | None = None
    table: str | None = None
    where: str | None = None
    # the column(s) that identify a row across runs
    key: list[str] | None = None
    # a column that grows with every change (a timestamp, a number or SQL Server's
    # rowversion): runs after the first read the rows from the last run's highest value on
    changed_column: str | None = None
    # how far before that highest value (a timestamp) the next run starts: a row written
    # late by a long transaction carries an earlier time than rows read already
    overlap: Duration = timedelta(minutes=5)
    # a soft-delete flag: a row whose value is one of deleted_values is gone
    deleted_column: str | None = None
    deleted_values: list[str] = DELETED
    # a run reads every row again when the last whole read is this old: it finds the rows
    # deleted for good (not only flagged); 0: every run
    full_every: DurationOrZero = timedelta(days=1)
    # rows fetched per round trip; progress and cancellation between batches
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    connect_timeout: float = Field(default=10, gt=0)
    # a layout of schema/sql_presets.yaml: table, key and mapping
    preset: str | None = None
    # Dynamics NAV / Business Central: the company (as NAV shows it) and, from Business
    # Central 15 on premises, the app that owns the table ("base": the Base Application)
    company: str | None = None
    app_id: str | None = None

    _key = field_validator("key", "deleted_values", mode="before")(one_or_more)

    @model_validator(mode="before")
    @classmethod
    def _password_file(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value)

    @field_validator("odbc")
    @classmethod
    def _odbc(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                pairs = odbc.parse(value)
            except ValueError as exc:
                raise ValueError(f"not an ODBC connection string: {exc}") from None
            if not any(k.lower() in ("dsn", "driver", "filedsn") for k, _ in pairs):
                raise ValueError("name a DSN=... or a DRIVER={...}")
        return value

    @field_validator("query", "where")
    @classmethod
    def _sql(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # a statement's own end would end the SELECT metadir builds around it
        value = value.strip().rstrip(";").strip()
        if not value:
            raise ValueError("empty")
        return value

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str | None) -> str | None:
        return BASE_APP if value == "base" else value

    @model_validator(mode="after")
    def _check(self) -> SqlSettings:
        self._where_to()
        self._what_to_read()
        if not self.key or not all(k.strip() for k in self.key):
            raise ValueError("key: name the column(s) that identify a row")
        self.key = [k.strip() for k in self.key]
        if self.deleted_column is not None and not self.deleted_values:
            raise ValueError("deleted_values: name what deleted_column holds for a deleted row")
        return self

    def _where_to(self) -> None:
        if (self.url is None) == (self.odbc is None):
            raise ValueError("give either url (a SQLAlchemy URL) or odbc (a connection string)")
        if self.password.get_secret_value():
            if self.odbc is not None and odbc.has_password(self.odbc):
                raise ValueError("odbc: holds a password (PWD=) and password is given too")
            if self.url is not None and "@" in self.url and _url_password(self.url):
                raise ValueError("url: holds a password and password is given too")

    def _what_to_read(self) -> None:
        chosen = self.chosen_preset
        if chosen is not None:
            if self.query is None and self.table is None:
                if chosen.needs_company and not self.company:
                    raise ValueError(f"company: preset {chosen.name} reads a company's tables")
                self.table = chosen.table_name(self.company, self.app_id)
            self.key = self.key or list(chosen.key)
            # a target the replicator maps itself (in any spelling) is not the preset's
            own = {f.name for f in map(fields.lookup, self.mapping) if f is not None}
            kept = {k: v for k, v in chosen.mapping.items() if k not in own}
            self.mapping = {**kept, **self.mapping}
        if (self.query is None) == (self.table is None):
            raise ValueError("give either query (a SELECT) or table")
        if self.where is not None and self.table is None:
            raise ValueError("where: only with table (a query has its own WHERE)")

    @property
    def chosen_preset(self) -> Preset | None:
        if self.preset is None:
            return None
        known = presets()
        if self.preset not in known:
            raise ValueError(f"preset: {self.preset!r} is none of {', '.join(sorted(known))}")
        return known[self.preset]

    @property
    def key_columns(self) -> tuple[str, ...]:
        assert self.key is not None  # checked when the settings were read
        return tuple(self.key)

    @property
    def where_shown(self) -> str:
        """Which database, as messages name it: without the password."""
        if self.odbc is not None:
            return f"ODBC {odbc.hidden(self.odbc)}"
        from sqlalchemy.engine import make_url

        assert self.url is not None
        return make_url(self.url).render_as_string(hide_password=True)


# Business Central's Base Application: the app that owns Contact, Customer and Vendor
BASE_APP = "437dbf0e-84ff-417a-965d-ed2bb9650972"


def check_url(value: str) -> str:
    """``value`` if SQLAlchemy reads it as a URL of a database kind it knows. Raises
    ``ValueError`` without the URL's password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a SQLAlchemy URL such as postgresql+psycopg://user@host/database"
        ) from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"no database kind {url.drivername!r} (postgresql+psycopg, mysql+pymysql, "
            "mariadb+pymysql, mssql+pyodbc, sqlite, oracle+oracledb)"
        ) from None
    return value


def _url_password(value: str) -> bool:
    from sqlalchemy.engine import make_url

    return bool(make_url(value).password)
