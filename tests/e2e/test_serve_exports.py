"""``metadir serve`` runs an export without a schedule after each import of its directory
that changed something: a CSV source imported every 2 s, a CSV export written by the
worker that follows; a change in the source reaches the export file by itself; imports
without changes start no export. The status page lists the export and its last run, and
its Run now starts it."""

from __future__ import annotations

from pathlib import Path

from metadir.store.runs import RunRecord
from metadir.store.store import Store
from tests.servers import MetadirServer, hash_password, wait_for
from tests.web import Browser

SMALL = "Id,First,Last,Phone\n1,Anna,Alpha,+49 89 1234\n2,Ben,Beta,+49 89 5678\n"
ADMIN = ("admin", "export-admin-pw")


def history(store: Store, name: str) -> list[RunRecord]:
    """The runs of ``name``, newest first, read from the store that serve writes (as
    ``metadir history`` reads it, without a process per look)."""
    return store.history(name)


def exported(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text(encoding="utf-8")


def test_an_export_follows_the_imports_of_its_directory(tmp_path: Path) -> None:
    mapping = {"givenName": "First", "sn": "Last", "telephoneNumber": "Phone"}
    crm = {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id", "mapping": mapping,
           "schedule": {"every": "2s"}}  # fmt: skip
    config = {
        "node": "node-a",
        "server": {"refresh_interval": 0.2},
        "directories": [{"name": "contacts", "replicators": [crm]}],
        "exports": [{"name": "book", "type": "csv", "path": "book.csv", "directory": "contacts"}],
        "http": {"admins": [{"name": ADMIN[0], "password": hash_password(ADMIN[1])}]},
    }
    (tmp_path / "crm.csv").write_text(SMALL, encoding="utf-8")
    server = MetadirServer(tmp_path, config)
    server.start()
    book = tmp_path / "book.csv"
    store = Store.open(f"sqlite:///{tmp_path}/metadir.db")
    try:
        wait_for("the first export", lambda: exported(book, "Alpha"), timeout=60)
        assert "Beta" in book.read_text(encoding="utf-8")
        (tmp_path / "crm.csv").write_text(SMALL + "3,Cem,Gamma,+49 89 9999\n", encoding="utf-8")
        wait_for("the changed contact exported", lambda: exported(book, "Gamma"), timeout=60)
        runs = history(store, "export:book")
        assert [(r.trigger, r.outcome, r.node, r.added) for r in runs] == [
            ("after-import", "ok", "node-a", 1),
            ("after-import", "ok", "node-a", 2),
        ]
        # the imports since found nothing new: no export ran after them
        wait_for("an import without changes", lambda: history(store, "crm")[0].unchanged == 3)
        assert len(history(store, "export:book")) == 2

        assert server.http_url is not None
        client = Browser(server.http_url)
        client.sign_in(*ADMIN)

        def book_row() -> str:
            status = client.get("/admin/status").text
            return status.split('data-export="book"', 1)[1].split("</tr>", 1)[0]

        # the status page reads the store every 2 s
        row = wait_for(
            "the export's last run in the status page",
            lambda: "1 added, 0 updated, 0 deleted" in (row := book_row()) and row,
        )
        assert "after an import of contacts changed something" in row
        assert "(after-import on node-a" in row and "idle" in row
        token = client.get("/admin").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        answer = client.post(
            "/admin/run", {"replicator": "export:book", "csrf": token},
            {"Accept": "application/json"},
        )  # fmt: skip
        assert answer.status == 200, answer.text
        assert "export:book started on node node-a" in answer.json()["message"]
        wait_for("the web run", lambda: history(store, "export:book")[0].trigger == "web")
    finally:
        store.close()
        server.stop()
    assert "scheduler: crm changed contacts: export:book pending" in server.stderr
