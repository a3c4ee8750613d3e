"""The SQL source (``type: sql``) against real databases: PostgreSQL (psycopg), MariaDB
(PyMySQL), SQLite, and both servers again through unixODBC (Debian's odbc-postgresql and
odbc-mariadb drivers with pyodbc). Whole and incremental reads (a keyset page boundary
inside rows sharing a timestamp, a row committed late inside the overlap), soft deletes,
periodic and settings-forced whole reads, a database killed mid-read, the errors an admin
meets, and values as text per driver. SQL Server and Oracle cannot run here: their paths
(rowversion marks, TOP / FETCH FIRST pages) are SQLAlchemy's dialects, unexercised.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from metadir.core.errors import SourceError
from metadir.core.records import Checkpoint, Problem, Record, Removed
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators.base import Context
from replicators.sql.config import SqlConfig
from tests import mariadb
from tests.mariadb import mariadb_database, mariadb_url  # noqa: F401

BASE = datetime(2024, 5, 1, 10, 0, 0)
HIGH = BASE + timedelta(hours=1)


def kinds(*names: str) -> list[Any]:
    """Test parameters for these kinds of database, marked with the server each needs."""
    marks = {"postgres": pytest.mark.postgres, "mariadb": pytest.mark.mariadb}
    return [
        pytest.param(name, marks=[m for server, m in marks.items() if name.endswith(server)])
        for name in names
    ]


KINDS = kinds("postgres", "mariadb", "sqlite", "odbc-postgres", "odbc-mariadb")
# per kind of server: the column types of a contacts table
TIMESTAMP = {"postgres": "timestamp", "mariadb": "datetime", "sqlite": "text"}


@dataclass
class Db:
    """A test database: how the replicator reaches it, and how the test writes to it."""

    kind: str
    server: str  # postgres, mariadb or sqlite
    source: dict[str, str]  # url: or odbc:
    admin_url: str  # SQLAlchemy URL the test writes through

    def run(self, *statements: str, **params: Any) -> None:
        engine = create_engine(self.admin_url)
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)
        engine.dispose()

    def contacts(self, rows: list[tuple[int, str, datetime, int]]) -> str:
        """A new table (id, name, phone, updated_at, gone) holding ``rows``; its name."""
        name = f"t_{secrets.token_hex(4)}"
        self.run(
            f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(40), "
            f"phone VARCHAR(40), updated_at {TIMESTAMP[self.server]}, gone INTEGER)"
        )
        self.put(name, rows)
        return name

    def put(self, table: str, rows: list[tuple[int, str, datetime, int]]) -> None:
        for i, name, at, gone in rows:
            self.run(f"DELETE FROM {table} WHERE id = :i", i=i)
            self.run(
                f"INSERT INTO {table} VALUES (:i, :name, :phone, :at, :gone)",
                i=i,
                name=name,
                phone=f"+49 40 555-{i}",
                at=str(at),
                gone=gone,
            )


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    return make_db(request, tmp_path, request.param)


def make_db(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Db:
    server = kind.removeprefix("odbc-")
    if server == "sqlite":
        url = f"sqlite:///{tmp_path}/source.db"
        # named relative to the config file's folder (the context's base_dir)
        return Db(kind, server, {"url": "sqlite:///source.db"}, url)
    if server == "postgres":
        url = request.getfixturevalue("postgres_url")
        driver, port = "PostgreSQL Unicode", 5432
    else:
        url = request.getfixturevalue("mariadb_url")
        driver, port = "MariaDB Unicode", 3306
    parsed = make_url(url)
    if kind.startswith("odbc-"):
        connection = (
            f"DRIVER={{{driver}}};SERVER={parsed.host};PORT={parsed.port or port};"
            f"DATABASE={parsed.database};UID={parsed.username}"
        )
        return Db(kind, server, {"odbc": connection}, url)
    return Db(kind, server, {"url": url}, url)


def settings(db: Db, table: str, **extra: Any) -> SqlConfig:
    values = {
        "name": "crm",
        "type": "sql",
        **db.source,
        "table": table,
        "key": "id",
        "mapping": {"sn": "name", "telephoneNumber": "phone"},
        **extra,
    }
    return SqlConfig.model_validate(values, context={"base_dir": "."})


def read(
    config: SqlConfig, base_dir: Path, state: dict[str, Any] | None = None, **context: Any
) -> list[Any]:
    return list(config.build(Context(base_dir, **context)).read(state))


def keys(items: list[Any], kind: type = Record) -> list[str]:
    return [item.key[0] for item in items if isinstance(item, kind)]


def test_whole_then_incremental_read_by_keyset_pages(db: Db, tmp_path: Path) -> None:
    # five rows share the high-water timestamp: pages of 2 split them
    rows = [(i, f"Person{i}", BASE, 0) for i in (1, 2, 3)]
    rows += [(i, f"Person{i}", HIGH, 0) for i in (4, 5, 6, 7, 8)]
    table = db.contacts(rows)
    config = settings(db, table, changed_column="updated_at", batch_size=2)
    first = read(config, tmp_path)
    assert sorted(keys(first), key=int) == [str(i) for i in range(1, 9)]
    assert first[-1] == Checkpoint(first[-1].state, full=True, note="")
    assert first[-1].state["high_water"]["value"].startswith("2024-05-01")

    db.put(table, [(1, "Changed1", HIGH + timedelta(minutes=10), 0)])
    # committed late: older than the high-water mark, inside the 5 minutes overlap
    db.put(table, [(9, "Late9", HIGH - timedelta(minutes=2), 0)])
    # older than the overlap: an incremental read cannot see it (a whole read will)
    db.put(table, [(10, "Old10", HIGH - timedelta(minutes=10), 0)])
    second = read(config, tmp_path, first[-1].state)
    assert keys(second) == ["9", "4", "5", "6", "7", "8", "1"]
    last = second[-1]
    assert isinstance(last, Checkpoint) and (last.full, last.note) == (False, "")
    assert last.state["full_at"] == first[-1].state["full_at"]
    assert last.state["high_water"] != first[-1].state["high_water"]
    # nothing changed since: the overlap reads the newest rows again, no more
    third = read(config, tmp_path, last.state)
    assert keys(third) == ["1"]


def test_soft_deletes_and_full_every(db: Db, tmp_path: Path) -> None:
    table = db.contacts([(i, f"Person{i}", BASE, 0) for i in (1, 2, 3)])
    config = settings(db, table, changed_column="updated_at", deleted_column="gone")
    state = read(config, tmp_path)[-1].state
    db.put(table, [(2, "Person2", HIGH, 1)])
    changed = read(config, tmp_path, state)
    # rows 1 and 3 are inside the overlap: read again (unchanged by digest)
    assert [type(i).__name__ for i in changed] == ["Record", "Record", "Removed", "Checkpoint"]
    assert keys(changed, Removed) == ["2"]
    # a whole read leaves the flagged row out: gone by its absence
    assert keys(read(config, tmp_path)) == ["1", "3"]
    # a day later (full_every 1d): a whole read, saying why
    later = datetime.now(UTC) + timedelta(days=1, minutes=1)
    periodic = read(config, tmp_path, state, clock=lambda: later)
    assert keys(periodic) == ["1", "3"]
    assert periodic[-1].full and periodic[-1].note.startswith("periodic full read (full_every 1d)")


@pytest.mark.parametrize("kind", kinds("postgres"))
def test_other_settings_mean_a_full_read(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = make_db(request, tmp_path, kind)
    table = db.contacts([(i, f"Person{i}", BASE, 0) for i in (1, 2)])
    state = read(settings(db, table, changed_column="updated_at"), tmp_path)[-1].state
    narrower = settings(db, table, changed_column="updated_at", where="id > 1")
    again = read(narrower, tmp_path, state)
    assert keys(again) == ["2"]
    assert again[-1].full and again[-1].note.startswith("settings changed")
    unusable = read(narrower, tmp_path, {**state, "high_water": {"type": "x", "value": "1"}})
    assert unusable[-1].note == "saved state unusable: high_water has type 'x'"


def test_a_query_with_colons_and_a_composite_key(db: Db, tmp_path: Path) -> None:
    table = db.contacts([(1, "A", BASE, 0), (2, "B", BASE, 0)])
    query = f"SELECT id, gone, name, '10:00' AS opens FROM {table};"
    config = SqlConfig.model_validate(
        {"name": "crm", "type": "sql", **db.source, "query": query, "key": ["id", "gone"]}
    )
    items = read(config, tmp_path)
    assert [(r.key, r.values["opens"]) for r in items] == [
        (("1", "0"), "10:00"),
        (("2", "0"), "10:00"),
    ]


def test_a_row_without_its_key_is_a_problem(db: Db, tmp_path: Path) -> None:
    table = db.contacts([(1, "A", BASE, 0)])
    config = SqlConfig.model_validate(
        {
            "name": "crm",
            "type": "sql",
            **db.source,
            "query": f"SELECT name, phone, id AS nr FROM {table} UNION ALL SELECT 'B', '', NULL",
            "key": "nr",
        }
    )
    items = read(config, tmp_path)
    records = [i for i in items if isinstance(i, Record)]
    assert [r.key for r in records] == [("1",)]
    assert [(p.message, p.key) for p in items if isinstance(p, Problem)] == [
        ("key column nr is empty", None)
    ]


def test_values_read_as_text(db: Db, tmp_path: Path) -> None:
    types = {
        "postgres": ("numeric(10,2)", "double precision", "date", "timestamp", "boolean", "bytea"),
        "mariadb": ("decimal(10,2)", "double", "date", "datetime", "boolean", "blob"),
        "sqlite": ("numeric", "real", "date", "timestamp", "boolean", "blob"),
    }[db.server]
    table = f"v_{secrets.token_hex(4)}"
    columns = ", ".join(
        f"{n} {t}"
        for n, t in zip(("amount", "ratio", "born", "seen", "active", "photo"), types, strict=True)
    )
    db.run(
        f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(20), note VARCHAR(20), "
        f"blank VARCHAR(20), raw {types[-1]}, {columns})"
    )
    photo, junk = b"\xff\xd8\xff\xe0JFIF", b"\xfe\xff\x00\x81"
    insert = (
        f"INSERT INTO {table} VALUES (:id, :name, :note, :blank, :raw, :amount, :ratio, "
        ":born, :seen, :active, :photo)"
    )
    db.run(
        insert,
        id=1,
        name=" Anna ",
        note=None,
        blank="",
        raw=junk,
        amount="12.50",
        ratio=2.0,
        born="1980-01-02",
        seen="2024-05-01 10:00:00",
        active=True,
        photo=photo,
    )
    db.run(
        insert,
        id=2,
        name="Ben",
        note="x",
        blank="y",
        raw=None,
        amount="100.00",
        ratio=2.5,
        born=None,
        seen=None,
        active=False,
        photo=None,
    )
    config = SqlConfig.model_validate(
        {"name": "crm", "type": "sql", **db.source, "table": table, "key": "id", "mapping": {}}
    )
    by_key = {r.key: r.values for r in read(config, tmp_path)}
    first = {
        "id": "1",
        "name": "Anna",
        "amount": "12.5",
        "ratio": "2",
        "born": "1980-01-02",
        "seen": "2024-05-01T10:00:00",
        "active": "true",
    }
    if db.kind in ("mariadb", "odbc-mariadb", "odbc-postgres"):
        # BOOLEAN is TINYINT(1) in MariaDB; psqlODBC hands booleans on as characters
        first["active"] = "1"
    if db.server == "sqlite":
        first["seen"] = "2024-05-01 10:00:00"  # SQLite keeps the text it was given
        first["active"] = "1"
    # bytes that are no text and no photo are left out; a photo (below) is base64
    assert {k: v for k, v in by_key[("1",)].items() if k != "photo"} == first
    assert by_key[("2",)]["amount"] == "100" and by_key[("2",)]["ratio"] == "2.5"
    assert "born" not in by_key[("2",)] and "seen" not in by_key[("2",)]
    mapped = SqlConfig.model_validate(
        {
            "name": "crm",
            "type": "sql",
            **db.source,
            "table": table,
            "key": "id",
            "mapping": {"sn": "name", "jpegPhoto": "photo"},
        }
    )
    photos = {r.key: r.values.get("photo") for r in read(mapped, tmp_path)}
    assert photos == {("1",): base64.b64encode(photo).decode(), ("2",): None}


def test_the_errors_an_admin_meets(db: Db, tmp_path: Path) -> None:
    table = db.contacts([(1, "A", BASE, 0)])

    def error(**changes: Any) -> str:
        values = {"name": "crm", "type": "sql", **db.source, "table": table, "key": "id", **changes}
        with pytest.raises(SourceError) as caught:
            read(SqlConfig.model_validate(values), tmp_path)
        message = str(caught.value)
        assert "\n" not in message and "Traceback" not in message
        return message

    where = db.source.get("url") or "ODBC DRIVER="
    missing = error(table="nope")
    assert "looking at the columns: " in missing and "nope" in missing
    assert missing.startswith(where.replace("sqlite:///", "sqlite:///")[:12])
    assert error(key="Id") == (
        f"{error(key='Id').split(': key:')[0]}: key: the table {table} has no column 'Id' "
        "(columns: id, name, phone, updated_at, gone)"
    )
    syntax = error(table=None, query=f"SELEC id FROM {table}")
    assert "looking at the columns: " in syntax and "syntax" in syntax.lower()
    assert "changed_column: the table" in error(changed_column="modified")


@pytest.mark.parametrize("kind", kinds("postgres", "mariadb", "odbc-postgres", "odbc-mariadb"))
def test_unreachable_and_wrong_password_name_the_database_not_the_password(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = make_db(request, tmp_path, kind)
    secret = "s3cr;et}pw"
    values: dict[str, Any] = {
        "name": "crm",
        "type": "sql",
        "table": "t",
        "key": "id",
        "password": secret,
        "connect_timeout": 3,
    }
    if "url" in db.source:
        url = make_url(db.source["url"]).set(port=1, username="metadir_nobody")
        values["url"] = url.render_as_string(hide_password=False)
    else:
        values["odbc"] = (
            db.source["odbc"]
            .replace("PORT=5432", "PORT=1")
            .replace("PORT=3306", "PORT=1")
            .replace("UID=root", "UID=metadir_nobody")
        )
    with pytest.raises(SourceError) as caught:
        read(SqlConfig.model_validate(values), tmp_path)
    message = str(caught.value)
    assert secret not in message and "connecting:" in message and "\n" not in message
    assert ("127.0.0.1:1/" in message) or ("PORT=1;" in message)


@pytest.mark.mariadb
def test_a_wrong_password_on_mariadb(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    for kind in ("mariadb", "odbc-mariadb"):
        db = make_db(request, tmp_path, kind)
        user, secret = f"m{secrets.token_hex(3)}", "right;pw}x"
        admin = mariadb.connect()
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (secret,))
            cursor.execute(f"GRANT SELECT ON `{make_url(db.admin_url).database}`.* TO '{user}'@'%'")
        try:
            table = db.contacts([(1, "A", BASE, 0)])
            if kind == "mariadb":
                source = {
                    "url": make_url(db.admin_url)
                    .set(username=user)
                    .render_as_string(hide_password=False)
                }
            else:
                source = {"odbc": db.source["odbc"].replace("UID=root", f"UID={user}")}
            base = {"name": "crm", "type": "sql", **source, "table": table, "key": "id"}
            good = read(SqlConfig.model_validate({**base, "password": secret}), tmp_path)
            assert keys(good) == ["1"]
            with pytest.raises(SourceError, match="Access denied") as caught:
                read(SqlConfig.model_validate({**base, "password": secret + "x"}), tmp_path)
            assert secret not in str(caught.value)
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP USER '{user}'@'%'")
            admin.close()


@pytest.mark.parametrize("kind", kinds("postgres", "odbc-postgres"))
def test_a_database_killed_mid_read_changes_nothing(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = make_db(request, tmp_path, kind)
    if "odbc" in db.source:
        # psqlODBC reads a whole result into memory unless told to use a cursor
        db.source["odbc"] += ";UseDeclareFetch=1;Fetch=3"
    table = db.contacts([(i, f"Person{i}", BASE, 0) for i in range(10)])
    config = settings(db, table, batch_size=3)
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as store:
        job = Job(config, "contacts", "ou=contacts,dc=meta", Numbers(None), tmp_path)
        assert run_replicator(store, job).added == 10
        db.put(table, [(0, "Changed0", HIGH, 0)])
        before = (store.current_seq(), sorted(str(e.attributes) for e in store.snapshot()[1]))
        database = make_url(db.admin_url).database

        def kill(rows: int) -> None:
            if rows == 3:
                with psycopg.connect(
                    dbname=database, host="127.0.0.1", user="postgres", autocommit=True
                ) as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (database,),
                    )

        run = run_replicator(store, job, context=Context(tmp_path, progress=kill))
        assert run.outcome == "failed"
        assert run.message.startswith("replicator crm: ") and "reading: " in run.message
        assert "terminat" in run.message.lower() or "closed" in run.message.lower()
        after = (store.current_seq(), sorted(str(e.attributes) for e in store.snapshot()[1]))
        assert after == before
        assert run_replicator(store, job).updated == 1


@pytest.mark.postgres
def test_a_preset_with_a_company(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    db = make_db(request, tmp_path, "postgres")
    table = "CRONUS AG$Contact"
    db.run(
        f'CREATE TABLE "{table}" ("No_" VARCHAR(20) PRIMARY KEY, "Name" VARCHAR(50), '
        '"Company Name" VARCHAR(50), "Phone No_" VARCHAR(30), "E-Mail" VARCHAR(80), '
        '"Picture" BYTEA)'
    )
    db.run(
        f"INSERT INTO \"{table}\" VALUES ('CT0001', 'Anna Meier', 'ACME', "
        "'+49 89 1234-567', 'anna@acme.example', '\\x00ff')"
    )
    config = SqlConfig.model_validate(
        {
            "name": "nav",
            "type": "sql",
            **db.source,
            "preset": "nav-contact",
            "company": "CRONUS AG",
            "mapping": {"custom5": "Phone No_"},
        }
    )
    source = config.build(Context(tmp_path))
    assert {"No_", "Name", "Mobile Phone No_"} <= set(source.check())
    [record] = read(config, tmp_path)
    # the picture is not read: the mapping does not name it
    assert record.key == ("CT0001",) and "Picture" not in record.values
    assert record.values["Company Name"] == "ACME" and config.mapping["custom5"] == "Phone No_"
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as store:
        job = Job(config, "contacts", "ou=contacts,dc=meta", Numbers(None), tmp_path)
        assert run_replicator(store, job).added == 1
        [entry] = store.snapshot()[1]
    assert entry.attributes["displayName"] == ["Anna Meier"]
    assert entry.attributes["company"] == ["ACME"]
    assert entry.attributes["mail"] == ["anna@acme.example"]


@pytest.mark.postgres
def test_sync_through_the_cli(postgres_url: str, tmp_path: Path) -> None:
    db = Db("postgres", "postgres", {"url": postgres_url}, postgres_url)
    table = db.contacts([(i, f"Person{i}", BASE, 0) for i in (1, 2, 3)])
    replicator = {
        "name": "crm",
        "type": "sql",
        "url": postgres_url,
        "table": table,
        "max_delete": 1,
        "key": "id",
        "changed_column": "updated_at",
        "deleted_column": "gone",
        "mapping": {"sn": "name", "telephoneNumber": "phone"},
    }
    config = {
        "store": {"url": "sqlite:///metadir.db"},
        "location": {"country": "DE"},
        "directories": [{"name": "contacts", "replicators": [replicator]}],
    }
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    def sync() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "metadir", "sync", "-c", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr + done.stdout
        return done.stdout

    first = sync()
    assert "crm (sql -> contacts): ok" in first and "3 added" in first, first
    db.put(table, [(2, "Person2", HIGH, 1), (4, "Person4", HIGH, 0)])
    out = sync()
    assert "1 added, 0 updated, 1 deleted" in out, out
