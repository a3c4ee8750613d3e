"""``metadir serve`` as a process, around its service tree: a listener that cannot listen
ends it with exit code 1; a sync committed while it serves is followed; SIGTERM stops the
tree and exits 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.servers import MetadirServer, free_port, start_metadir

CSV = "Id,First,Last,Phone\n1,Jürgen,Müller,+49 89 1234567\n"
REPLICATOR = {
    "name": "crm", "type": "csv", "path": "contacts.csv", "key": "Id",
    "mapping": {"custom0": "Id", "givenName": "First", "sn": "Last", "telephoneNumber": "Phone"},
}  # fmt: skip
CONFIG = {
    "location": {"country": "DE"},
    "server": {"refresh_interval": 0.2},
    "directories": [{"name": "contacts", "replicators": [REPLICATOR]}],
}


def wait_for_log(server: MetadirServer, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while text not in server.stderr:
        assert time.monotonic() < deadline, f"no {text!r} in the log:\n{server.stderr}"
        time.sleep(0.05)
    return server.stderr


def test_a_listener_that_cannot_listen_ends_serve_with_exit_1(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "metadir.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    good, busy = f"ldap://127.0.0.1:{free_port()}", f"ldap://127.0.0.1:{free_port()}"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(busy.rsplit(":", 1)[1])))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "metadir", "serve", "-c", "metadir.yaml",
             "--listen", good, "--listen", busy],
            capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on {busy}: " in done.stderr
    assert "shutting down" in done.stderr


def test_a_sync_is_followed_and_sigterm_stops_with_exit_0(tmp_path: Path) -> None:
    server = start_metadir(tmp_path, CONFIG, {"contacts.csv": CSV})
    try:
        wait_for_log(server, f"listening on {server.url}")
        (tmp_path / "contacts.csv").write_text(CSV + "2,Anna,Schmidt,+49 30 5550100\n")
        server.sync()
        wait_for_log(server, "store change 2 visible: 1 added, 0 updated, 0 deleted")
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0, server.stderr
        assert "shutting down" in server.stderr
    finally:
        server.stop()
