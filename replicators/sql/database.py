"""One connection to a source database: through SQLAlchemy (``url:``) or straight through
pyodbc and unixODBC (``odbc:``, which SQLAlchemy has no dialect for in general). Both run
the Core statements of ``statements.py`` and hand rows on in batches from a cursor that
streams (a server-side cursor where the driver has one), so memory stays flat.

Every failure becomes one ``SourceError`` line: the database without its password, what
was being done, the server's message on one line (the password, should a driver echo it,
replaced by ``***``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, create_engine
from sqlalchemy.engine import URL, Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from metadir.core.errors import SourceError
from replicators.sql import odbc
from replicators.sql.settings import SqlSettings

Row = Sequence[Any]
# how each kind of database is told the connect timeout (seconds)
_TIMEOUT_ARG = {"postgresql": "connect_timeout", "mysql": "connect_timeout", "mariadb":
                "connect_timeout", "mssql": "timeout"}  # fmt: skip


class Database:
    """An open connection; ``close`` it (``open_database`` does)."""

    def __init__(self, config: SqlSettings, base_dir: Path) -> None:
        self.where = config.where_shown
        self._secret = config.password.get_secret_value()
        self._conn: Connection | None = None
        self._odbc: Any = None
        with self.failing("connecting"):
            if config.odbc is not None:
                self._odbc, self.dialect = _open_odbc(config)
            else:
                self._conn = _open_engine(config, base_dir)
                self.dialect = self._conn.dialect

    @contextmanager
    def failing(self, doing: str) -> Iterator[None]:
        """Any database error in the block as one ``SourceError`` line."""
        try:
            yield
        except ImportError as exc:
            raise SourceError(f"{self.where}: its driver is not installed ({exc})") from None
        except _errors() as exc:
            raise SourceError(f"{self.where}: {doing}: {self._message(exc)}") from None

    def _message(self, exc: Exception) -> str:
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            exc = exc.orig
        args = exc.args
        # pyodbc: (SQLSTATE, text); PyMySQL: (code, text); others: (text,)
        parts = [str(a) for a in args[1:2] or args[:1]] if args else [str(exc)]
        text = " ".join(" ".join(parts).split()) or type(exc).__name__
        if self._secret:
            text = text.replace(self._secret, odbc.HIDDEN)
        return text

    def columns(self, statement: Executable) -> list[str]:
        """The names of the columns ``statement`` returns."""
        with self.failing("looking at the columns"):
            if self._conn is not None:
                return list(self._conn.execute(statement).keys())
            cursor = self._odbc.cursor()
            cursor.execute(*self._compiled(statement))
            names = [d[0] for d in cursor.description]
            cursor.close()
            return names

    def scalar(self, statement: Executable) -> Any:
        with self.failing("counting the rows"):
            if self._conn is not None:
                return self._conn.execute(statement).scalar()
            cursor = self._odbc.cursor()
            cursor.execute(*self._compiled(statement))
            value = cursor.fetchone()[0]
            cursor.close()
            return value

    def batches(self, statement: Executable, size: int) -> Iterator[Sequence[Row]]:
        """The rows of ``statement``, ``size`` at a time, streamed."""
        with self.failing("reading"):
            if self._conn is not None:
                options = self._conn.execution_options(stream_results=True, yield_per=size)
                yield from options.execute(statement).partitions(size)
                return
            cursor = self._odbc.cursor()
            try:
                cursor.execute(*self._compiled(statement))
                while batch := cursor.fetchmany(size):
                    yield batch
            finally:
                cursor.close()

    def _compiled(self, statement: Executable) -> tuple[str, list[Any]]:
        compiled = statement.compile(  # type: ignore[attr-defined]
            dialect=self.dialect, compile_kwargs={"render_postcompile": True}
        )
        return compiled.string, [compiled.params[name] for name in compiled.positiontup or ()]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # a read changes nothing: rolled back
        if self._odbc is not None:
            with self.failing("closing"):
                self._odbc.close()


@contextmanager
def open_database(config: SqlSettings, base_dir: Path) -> Iterator[Database]:
    database = Database(config, base_dir)
    try:
        yield database
    finally:
        database.close()


def _open_engine(config: SqlSettings, base_dir: Path) -> Connection:
    assert config.url is not None
    url = _local(make_url(config.url), base_dir)
    if secret := config.password.get_secret_value():
        url = url.set(password=secret)
    timeout = _TIMEOUT_ARG.get(url.get_backend_name())
    args = {timeout: int(config.connect_timeout)} if timeout else {}
    engine = create_engine(url, poolclass=NullPool, connect_args=args)
    return engine.connect()


def _local(url: URL, base_dir: Path) -> URL:
    """A SQLite file named relative to the config file's folder."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return url.set(database=str(base_dir / database))


def _open_odbc(config: SqlSettings) -> tuple[Any, Dialect]:
    import pyodbc

    assert config.odbc is not None
    text = config.odbc
    if secret := config.password.get_secret_value():
        text = odbc.with_password(text, secret)
    conn = pyodbc.connect(text, timeout=int(config.connect_timeout))
    return conn, _dialect(str(conn.getinfo(pyodbc.SQL_DBMS_NAME)))


# the product name an ODBC driver reports -> the SQLAlchemy dialect that speaks its SQL
_DIALECTS = {
    "postgresql": ("sqlalchemy.dialects.postgresql.base", "PGDialect"),
    "mariadb": ("sqlalchemy.dialects.mysql.base", "MySQLDialect"),
    "mysql": ("sqlalchemy.dialects.mysql.base", "MySQLDialect"),
    "microsoft sql server": ("sqlalchemy.dialects.mssql.base", "MSDialect"),
    "sqlite": ("sqlalchemy.dialects.sqlite.base", "SQLiteDialect"),
    "oracle": ("sqlalchemy.dialects.oracle.base", "OracleDialect"),
}


def _dialect(product: str) -> Dialect:
    """The dialect to write SQL for ``product`` in, with pyodbc's ``?`` parameters; the
    generic (ANSI) one for a database SQLAlchemy does not know."""
    import importlib

    from sqlalchemy.engine.default import DefaultDialect

    found = next((v for k, v in _DIALECTS.items() if re.match(k, product, re.I)), None)
    kind = getattr(importlib.import_module(found[0]), found[1]) if found else DefaultDialect
    dialect: Dialect = kind(paramstyle="qmark")
    return dialect


def _errors() -> tuple[type[Exception], ...]:
    """What SQLAlchemy and the ODBC layer raise when a database fails."""
    try:
        import pyodbc
    except ImportError:  # no unixODBC: only URLs can be read
        return (SQLAlchemyError,)
    return (SQLAlchemyError, pyodbc.Error)
