"""The contract every source kind keeps, run against each: check, full read, incremental
read, state round-trip, a failure or a cancel mid-read that leaves the store as it was.

A new source kind joins by adding a harness (a class with the methods of ``Harness``) and
its fixture to ``HARNESSES``: it makes a source with N contacts (``sn`` PersonI), changes
some (renames contact 0 to Changed0, deletes contact 1, adds contact N) and breaks the
source while it is read.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import ldap3
import psycopg
import pytest
import sqlalchemy

from metadir.core.records import Checkpoint, Problem, Record, Removed
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import open_source, run_replicator
from metadir.sync.job import Job, Numbers
from replicators import kinds
from replicators.base import Cancelled, Context, ReplicatorConfig
from tests import mariadb
from tests.cloud.dynamics_service import DynamicsHarness, dynamics_service  # noqa: F401
from tests.cloud.ews_service import EwsHarness, ews_service  # noqa: F401
from tests.cloud.google_service import GoogleHarness, google_service  # noqa: F401
from tests.cloud.salesforce_service import SalesforceHarness, salesforce_service  # noqa: F401
from tests.cloud.service import GraphService, graph_service  # noqa: F401
from tests.conftest import need_slapd
from tests.mariadb import mariadb_database, mariadb_url  # noqa: F401
from tests.servers import SourceSlapd, connect

N = 5
DIRECTORY, BASE_DN = "contacts", "ou=contacts,dc=meta"


class Harness(Protocol):
    # whether an incremental read reports deletions (else the next full read does)
    sees_deletions: bool

    def settings(self) -> dict[str, Any]:
        """The replicator's settings (name, type, ...), relative paths to ``base_dir``."""
        ...

    def fill(self, n: int) -> None:
        """Make the source hold contacts 0..n-1."""
        ...

    def change(self, n: int) -> None:
        """Rename contact 0 (sn Changed0), delete contact 1, add contact n."""
        ...

    def sabotage(self) -> None:
        """Break the source now, while it is being read (called between rows or pages)."""
        ...

    def repair(self) -> None:
        """Undo ``sabotage``."""
        ...


class RowsHarness:
    """A source written whole from ``rows`` (number -> surname) by ``_write``."""

    rows: dict[int, str]

    def fill(self, n: int) -> None:
        self.rows = {i: f"Person{i}" for i in range(n)}
        self._write()

    def change(self, n: int) -> None:
        self.rows[0] = "Changed0"
        del self.rows[1]
        self.rows[n] = f"Person{n}"
        self._write()

    def _write(self) -> None:
        raise NotImplementedError


class CsvHarness(RowsHarness):
    sees_deletions = True

    def __init__(self, base_dir: Path) -> None:
        self.path = base_dir / "contacts.csv"
        self.rows: dict[int, str] = {}

    def settings(self) -> dict[str, Any]:
        mapping = {"sn": "Last", "telephoneNumber": "Phone"}
        return {"name": "crm", "type": "csv", "path": self.path.name, "key": "Id",
                "mapping": mapping, "max_delete": "100%"}  # fmt: skip

    def _write(self) -> None:
        lines = ["Id;Last;Phone", *(f"C{i};{sn};+49 40 555-{i}" for i, sn in self.rows.items())]
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def sabotage(self) -> None:
        # the file is gone: the read notices at its end, and reading again fails
        self.path.unlink()

    def repair(self) -> None:
        self._write()


LDIF_ENTRY = """\
dn: uid=p{i},ou=people,dc=corp,dc=example
objectClass: inetOrgPerson
uid: p{i}
cn: {sn}
sn: {sn}
telephoneNumber: +49 40 555-{i}
entryUUID: 00000000-0000-4000-8000-{i:012}
"""


class LdifHarness(CsvHarness):
    def __init__(self, base_dir: Path) -> None:
        super().__init__(base_dir)
        self.path = base_dir / "contacts.ldif"

    def settings(self) -> dict[str, Any]:
        return {"name": "export", "type": "ldif", "flavor": "openldap", "path": self.path.name,
                "max_delete": "100%"}  # fmt: skip

    def _write(self) -> None:
        entries = [LDIF_ENTRY.format(i=i, sn=sn) for i, sn in self.rows.items()]
        self.path.write_text("version: 1\n\n" + "\n".join(entries), encoding="utf-8")

    def sabotage(self) -> None:
        # a disk or network share failing under the open file
        raise OSError(errno.EIO, "Input/output error")

    def repair(self) -> None:
        pass


class LdapHarness:
    # modifyTimestamp (OpenLDAP) sees deletions at the periodic full read only
    sees_deletions = False

    def __init__(self, server: SourceSlapd) -> None:
        self.server = server
        self.conn = connect(server.url, server.root_dn, server.root_pw)
        self.ou = f"ou=t{secrets.token_hex(4)},{SourceSlapd.suffix}"
        assert self.conn.add(self.ou, ["organizationalUnit"], {"ou": self.ou[3:11]})

    def settings(self) -> dict[str, Any]:
        server = self.server
        return {"name": "people", "type": "ldap", "flavor": "openldap", "url": server.url,
                "base_dn": self.ou, "bind_dn": server.root_dn, "password": server.root_pw,
                "retries": 0, "page_size": 2, "max_delete": "100%"}  # fmt: skip

    def _add(self, i: int) -> None:
        attributes = {"cn": f"Person{i}", "sn": f"Person{i}", "telephoneNumber": f"+49 40 555-{i}"}
        assert self.conn.add(f"uid=p{i},{self.ou}", ["inetOrgPerson"], attributes)

    def fill(self, n: int) -> None:
        for i in range(n):
            self._add(i)

    def change(self, n: int) -> None:
        replace = {"sn": [(ldap3.MODIFY_REPLACE, ["Changed0"])]}
        assert self.conn.modify(f"uid=p0,{self.ou}", replace), self.conn.result
        assert self.conn.delete(f"uid=p1,{self.ou}"), self.conn.result
        self._add(n)

    def sabotage(self) -> None:
        self.server.stop()  # the server goes away between two pages

    def repair(self) -> None:
        self.server.start()
        self.conn = connect(self.server.url, self.server.root_dn, self.server.root_pw)


# the type of a changed column per server
SQL_TIMESTAMP = {"postgres": "timestamp", "mariadb": "datetime", "sqlite": "text"}


class SqlHarness:
    """A table of a real database, read with ``changed_column``: hard deletes are seen at
    the next whole read. ``kill`` ends the replicator's connection from the server's side."""

    sees_deletions = False
    # the time of rows filled and changed
    FILLED, CHANGED = "2024-05-01 10:00:00", "2024-05-01 11:00:00"

    def __init__(self, server: str, source: dict[str, str], admin_url: str) -> None:
        self.server, self.source, self.admin_url = server, source, admin_url
        self.table = f"c_{secrets.token_hex(4)}"
        self.rows: dict[int, tuple[str, str]] = {}

    def settings(self) -> dict[str, Any]:
        return {"name": "crm", "type": "sql", **self.source, "table": self.table, "key": "id",
                "changed_column": "changed", "batch_size": 2, "max_delete": "100%",
                "mapping": {"sn": "sn", "telephoneNumber": "phone"}}  # fmt: skip

    def fill(self, n: int) -> None:
        self.rows = {i: (f"Person{i}", self.FILLED) for i in range(n)}
        self._write()

    def change(self, n: int) -> None:
        self.rows[0] = ("Changed0", self.CHANGED)
        del self.rows[1]
        self.rows[n] = (f"Person{n}", self.CHANGED)
        self._write()

    def _write(self) -> None:
        engine = sqlalchemy.create_engine(self.admin_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.table}")
            conn.exec_driver_sql(
                f"CREATE TABLE {self.table} (id VARCHAR(10) PRIMARY KEY, sn VARCHAR(40), "
                f"phone VARCHAR(40), changed {SQL_TIMESTAMP[self.server]})"
            )
            rows = [{"id": f"C{i}", "sn": sn, "phone": f"+49 40 555-{i}", "changed": at}
                    for i, (sn, at) in self.rows.items()]  # fmt: skip
            insert = f"INSERT INTO {self.table} VALUES (:id, :sn, :phone, :changed)"
            conn.execute(sqlalchemy.text(insert), rows)
        engine.dispose()

    def sabotage(self) -> None:
        database = sqlalchemy.engine.make_url(self.admin_url).database
        if self.server == "postgres":
            others = (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()"
            )
            with psycopg.connect(
                dbname=database, host="127.0.0.1", user="postgres", autocommit=True
            ) as admin:
                admin.execute(others, (database,))
        elif self.server == "mariadb":
            admin = mariadb.connect()
            with admin.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = %s AND id <> CONNECTION_ID()",
                    (database,),
                )
                for (thread,) in cursor.fetchall():
                    cursor.execute(f"KILL {int(thread)}")
            admin.close()
        else:  # SQLite has no server: the table goes between two pages
            engine = sqlalchemy.create_engine(self.admin_url)
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TABLE {self.table}")
            engine.dispose()

    def repair(self) -> None:
        if self.server == "sqlite":
            self._write()


def sql_harness(kind: str) -> Callable[[pytest.FixtureRequest, Path], Harness]:
    """How HARNESSES makes a SqlHarness for ``kind``: postgres, mariadb, sqlite, or odbc-
    and a server (through unixODBC's PostgreSQL Unicode or MariaDB Unicode driver)."""

    def make(request: pytest.FixtureRequest, base_dir: Path) -> Harness:
        server = kind.removeprefix("odbc-")
        if server == "sqlite":
            url = f"sqlite:///{base_dir}/source.db"
            return SqlHarness(server, {"url": url}, url)
        url = request.getfixturevalue(f"{server}_url")
        if not kind.startswith("odbc-"):
            return SqlHarness(server, {"url": url}, url)
        parsed = sqlalchemy.engine.make_url(url)
        driver = {"postgres": "PostgreSQL Unicode", "mariadb": "MariaDB Unicode"}[server]
        # psqlODBC reads a whole result into memory unless told to fetch by a cursor
        cursor = ";UseDeclareFetch=1;Fetch=2" if server == "postgres" else ""
        odbc = (f"DRIVER={{{driver}}};SERVER={parsed.host};PORT={parsed.port or ''};"
                f"DATABASE={parsed.database};UID={parsed.username}{cursor}")  # fmt: skip
        return SqlHarness(server, {"odbc": odbc}, url)

    return make


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SourceSlapd]:
    need_slapd()
    server = SourceSlapd(tmp_path_factory.mktemp("contract"))
    server.load(
        f"dn: {SourceSlapd.suffix}\nobjectClass: dcObject\nobjectClass: organization\n"
        "dc: corp\no: C\n"
    )
    server.start()
    yield server
    server.stop()


class CommandHarness(RowsHarness):
    """A program printing JSON lines of a data file; each row padded so that the program
    is still writing (blocked on the pipe) when the read is at its second row."""

    sees_deletions = True
    program = """\
import json, os, sys
open("program.pid", "w").write(str(os.getpid()))
pad = "x" * 256 * 1024
for n, sn in json.load(open("contacts.json")).items():
    print(json.dumps({"id": "C" + n, "sn": sn, "phone": "+49 40 555-" + n, "pad": pad}))
"""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        (base_dir / "export.py").write_text(self.program, encoding="utf-8")
        self.rows: dict[int, str] = {}

    def settings(self) -> dict[str, Any]:
        mapping = {"sn": "sn", "telephoneNumber": "phone"}
        return {"name": "erp", "type": "command", "command": [sys.executable, "export.py"],
                "key": "id", "mapping": mapping, "max_delete": "100%"}  # fmt: skip

    def _write(self) -> None:
        (self.base_dir / "contacts.json").write_text(json.dumps(self.rows), encoding="utf-8")

    def sabotage(self) -> None:
        # the program crashes halfway
        os.kill(int((self.base_dir / "program.pid").read_text()), signal.SIGKILL)

    def repair(self) -> None:
        pass


class GraphHarness:
    """Users of the Microsoft Graph fake (tests/cloud), read with the preset mapping; the
    service goes away (every connection cut) when sabotaged."""

    sees_deletions = True

    def __init__(self, service: GraphService) -> None:
        self.service = service
        self.users = service.graph.users

    def settings(self) -> dict[str, Any]:
        return self.service.settings(page_size=2, retries=0)

    def _put(self, i: int, sn: str) -> None:
        self.service.graph.put(self.users, {
            "id": f"87d349ed-0000-4000-8000-{i:012d}", "accountEnabled": True, "surname": sn,
            "businessPhones": [f"+49 40 555-{i}"],
        })  # fmt: skip

    def fill(self, n: int) -> None:
        for i in range(n):
            self._put(i, f"Person{i}")

    def change(self, n: int) -> None:
        self._put(0, "Changed0")
        self.service.graph.delete(self.users, "87d349ed-0000-4000-8000-000000000001")
        self._put(n, f"Person{n}")

    def sabotage(self) -> None:
        self.service.graph.down = True

    def repair(self) -> None:
        self.service.graph.down = False


HARNESSES: dict[str, Callable[[pytest.FixtureRequest, Path], Harness]] = {
    "csv": lambda request, base_dir: CsvHarness(base_dir),
    "ldif": lambda request, base_dir: LdifHarness(base_dir),
    "ldap": lambda request, base_dir: LdapHarness(request.getfixturevalue("slapd")),
    "command": lambda request, base_dir: CommandHarness(base_dir),
    "graph": lambda request, base_dir: GraphHarness(request.getfixturevalue("graph_service")),
    "dynamics": lambda request, base_dir: DynamicsHarness(
        request.getfixturevalue("dynamics_service")
    ),
    "ews": lambda request, base_dir: EwsHarness(request.getfixturevalue("ews_service")),
    "google": lambda request, base_dir: GoogleHarness(request.getfixturevalue("google_service")),
    "salesforce": lambda request, base_dir: SalesforceHarness(
        request.getfixturevalue("salesforce_service")
    ),
    "sql-postgres": sql_harness("postgres"),
    "sql-mariadb": sql_harness("mariadb"),
    "sql-sqlite": sql_harness("sqlite"),
    "sql-odbc-postgres": sql_harness("odbc-postgres"),
    "sql-odbc-mariadb": sql_harness("odbc-mariadb"),
}


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    made = HARNESSES[request.param](request, tmp_path)
    made.fill(N)
    return made


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        yield opened


def settings_of(harness: Harness) -> ReplicatorConfig:
    values = harness.settings()
    return kinds()[values["type"]].settings.model_validate(values)


def sync(store: Store, harness: Harness, base_dir: Path, **options: Any) -> RunRecord:
    job = Job(settings_of(harness), DIRECTORY, BASE_DN, Numbers(None), base_dir)
    return run_replicator(store, job, pause=lambda seconds: None, **options)


def surnames(store: Store) -> set[str]:
    _, entries = store.snapshot()
    return {entry.attributes["sn"][0] for entry in entries}


def everything(store: Store) -> tuple[object, ...]:
    """What a failed run must leave alone: the entries, the saved state, the sequence."""
    _, entries = store.snapshot()
    rep = entries[0].replicator if entries else ""
    return (
        store.current_seq(),
        sorted((e.uuid, e.modified, json.dumps(e.attributes)) for e in entries),
        store.replicator_state(rep),
    )


def cancelling(base_dir: Path, after: int = 2) -> Context:
    """A context that asks the read to stop once it has counted ``after`` rows."""
    context = Context(base_dir, cancelled=lambda: context.rows >= after)
    return context


def test_the_kind_is_installed(harness: Harness) -> None:
    kind = kinds()[harness.settings()["type"]]
    assert kind.package == "metadir"


def test_check_names_the_fields_the_mapping_needs(harness: Harness, tmp_path: Path) -> None:
    source, mapping = open_source(settings_of(harness), Context(tmp_path))
    fields = source.check()
    assert fields and all(isinstance(name, str) for name in fields)
    assert mapping.missing(fields) == []


def test_a_full_read(harness: Harness, tmp_path: Path) -> None:
    source = settings_of(harness).build(Context(tmp_path))
    items = list(source.read(None))
    records = [item for item in items if isinstance(item, Record)]
    assert [item for item in items if isinstance(item, Problem | Removed)] == []
    assert len(records) == N and len({record.key for record in records}) == N
    for record in records:
        # Record.values: one text or a list of texts per field
        for value in record.values.values():
            assert isinstance(value, str) or all(isinstance(v, str) for v in value)
    checkpoints = [item for item in items if isinstance(item, Checkpoint)]
    # no checkpoint: a full read that keeps no state; else one, last, and whole
    assert checkpoints in ([], [items[-1]])
    assert all(checkpoint.full for checkpoint in checkpoints)


def test_an_incremental_read(harness: Harness, store: Store, tmp_path: Path) -> None:
    first = sync(store, harness, tmp_path)
    assert (first.outcome, first.added, first.mode) == ("ok", N, "full")
    assert surnames(store) == {f"Person{i}" for i in range(N)}
    harness.change(N)
    run = sync(store, harness, tmp_path)
    assert run.outcome == "ok", run.message
    assert (run.added, run.updated) == (1, 1)
    truth = {"Changed0", *(f"Person{i}" for i in range(2, N + 1))}
    expected = truth if harness.sees_deletions else truth | {"Person1"}
    assert surnames(store) == expected
    assert run.deleted == (1 if harness.sees_deletions else 0)
    # a full read always ends equal to the source
    full = sync(store, harness, tmp_path, full=True)
    assert (full.outcome, full.mode) == ("ok", "full")
    assert surnames(store) == truth


def test_the_state_survives_a_round_trip(harness: Harness, store: Store, tmp_path: Path) -> None:
    source = settings_of(harness).build(Context(tmp_path))
    *_, last = source.read(None)
    if isinstance(last, Checkpoint):
        state = json.loads(json.dumps(last.state, allow_nan=False))
        assert state == last.state
        *_, again = settings_of(harness).build(Context(tmp_path)).read(state)
        assert isinstance(again, Checkpoint)
        assert again.note == ""  # the saved state counted
    assert sync(store, harness, tmp_path).outcome == "ok"
    # from the saved state, with nothing changed: nothing to write
    run = sync(store, harness, tmp_path)
    assert (run.outcome, run.added, run.updated, run.deleted) == ("ok", 0, 0, 0)


def test_a_failure_mid_read_changes_nothing(harness: Harness, store: Store, tmp_path: Path) -> None:
    assert sync(store, harness, tmp_path).outcome == "ok"
    harness.change(N)
    before = everything(store)
    broken: list[int] = []

    def progress(rows: int) -> None:
        if rows >= 2 and not broken:
            broken.append(rows)
            harness.sabotage()

    try:
        run = sync(store, harness, tmp_path, context=Context(tmp_path, progress=progress))
    finally:
        harness.repair()
    assert broken, "the source was not read row by row or page by page"
    assert run.outcome == "failed" and run.message, run
    assert everything(store) == before
    # the next run, from the old state, applies the change
    assert sync(store, harness, tmp_path).outcome == "ok"
    assert "Changed0" in surnames(store)


def test_a_cancelled_read_changes_nothing(harness: Harness, store: Store, tmp_path: Path) -> None:
    assert sync(store, harness, tmp_path).outcome == "ok"
    harness.change(N)
    before = everything(store)
    with pytest.raises(Cancelled, match="cancelled after"):
        list(settings_of(harness).build(cancelling(tmp_path)).read(None))
    run = sync(store, harness, tmp_path, context=cancelling(tmp_path))
    assert run.outcome == "failed"
    assert "cancelled after" in run.message
    assert everything(store) == before
