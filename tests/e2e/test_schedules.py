"""``metadir serve`` scheduling on one node (SQLite), with real worker processes: runs come
on schedule and are listed by ``metadir history``; a manual ``metadir sync`` never runs
beside a scheduled run (exit 3, or ``--wait``); a worker past its ``run_timeout`` or killed
is recorded as failed and the directory stays as it was; ``after_run`` gets the outcome; a
second ``serve`` on the same SQLite file serves but does not schedule."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import ldap3

from tests.servers import MetadirServer, start_metadir, wait_for

SMALL = "Id,First,Last,Phone\n1,Anna,Alpha,+49 89 1234\n2,Ben,Beta,+49 89 5678\n"


def big_csv(rows: int, department: str = "sales") -> str:
    lines = ["Id,First,Last,Phone,Dept"]
    lines += (f"{i},First{i},Last{i},+49 89 {i:07d},{department}" for i in range(rows))
    return "\n".join(lines) + "\n"


def crm(**extra: Any) -> dict[str, Any]:
    mapping = {"givenName": "First", "sn": "Last", "telephoneNumber": "Phone"}
    return {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id", "mapping": mapping,
            **extra}  # fmt: skip


def config(rep: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "node": "node-a",
        "server": {"refresh_interval": 0.2},
        "directories": [{"name": "contacts", "replicators": [rep]}],
        **top,
    }


def metadir(server: MetadirServer, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        server.argv(*args), capture_output=True, text=True, timeout=timeout, check=False,
        cwd=server.workdir,
    )  # fmt: skip


def history(server: MetadirServer, *args: str) -> list[dict[str, Any]]:
    done = metadir(server, "history", "--json", "--limit", "1000", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def scheduled(server: MetadirServer) -> list[dict[str, Any]]:
    return [run for run in history(server) if run["trigger"] != "manual"]


def count(server: MetadirServer, search: str = "(sn=*)") -> int:
    with ldap3.Connection(server.url, auto_bind=True) as conn:
        conn.search("ou=contacts,dc=meta", search, attributes=["cn"], paged_size=1000)
        total = len(conn.entries)
        cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        while cookie:
            conn.search("ou=contacts,dc=meta", search, attributes=["cn"], paged_size=1000,
                        paged_cookie=cookie)  # fmt: skip
            total += len(conn.entries)
            cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
        return total


def test_scheduled_runs_come_in_workers_and_history_lists_them(tmp_path: Path) -> None:
    rep = crm(schedule={"every": "2s"})
    server = start_metadir(tmp_path, config(rep), {"crm.csv": SMALL})
    try:
        runs = wait_for("three scheduled runs", lambda: len(scheduled(server)) >= 3 and
                        scheduled(server))  # fmt: skip
        newest = runs[0]
        assert {"id", "replicator", "trigger", "node", "started", "ended", "mode", "outcome",
                "counts"} <= set(newest)  # fmt: skip
        assert (newest["replicator"], newest["node"], newest["outcome"]) == ("crm", "node-a", "ok")
        assert newest["started"].endswith("+00:00") and newest["ended"] >= newest["started"]
        assert newest["counts"]["unchanged"] == 2
        # the first run of all was the manual one start_metadir ran
        assert history(server)[-1]["trigger"] == "manual"
        # a change in the source reaches LDAP with the next slot, no one typing anything
        (tmp_path / "crm.csv").write_text(SMALL + "3,Cem,Gamma,+49 89 9999\n")
        wait_for("the new contact", lambda: count(server) == 3)
        assert "scheduler: starting crm (schedule" in server.stderr
        # slots do not overlap: each run started after the one before ended
        ordered = sorted(scheduled(server), key=lambda run: run["id"])
        for before, after in itertools.pairwise(ordered):
            assert after["started"] >= before["ended"]
    finally:
        server.stop()


def test_a_manual_sync_waits_for_a_scheduled_run_or_exits_3(tmp_path: Path) -> None:
    rep = crm(schedule={"cron": "0 0 1 1 *", "run_at_start": True})
    server = MetadirServer(tmp_path, config(rep))
    (tmp_path / "crm.csv").write_text(big_csv(100_000))
    server.start()
    try:
        status = wait_for("the start run", lambda: "running on node node-a" in (
            out := metadir(server, "status").stdout) and out)  # fmt: skip
        assert "(start, lease 1" in status
        busy = metadir(server, "sync", "crm")
        assert busy.returncode == 3, busy.stderr
        assert "metadir sync: crm is running on node node-a since " in busy.stderr
        assert "not started (--wait waits for it)" in busy.stderr
        waited = metadir(server, "sync", "--wait", "crm")
        assert waited.returncode == 0, waited.stderr
        assert "crm is running on node node-a since" in waited.stderr and "waiting" in waited.stderr
        start_run, manual = sorted(history(server), key=lambda run: run["id"])
        assert (start_run["trigger"], start_run["outcome"]) == ("start", "ok")
        assert manual["trigger"] == "manual" and manual["started"] >= start_run["ended"]
        assert manual["counts"]["unchanged"] == 100_000
    finally:
        server.stop()


def test_a_worker_past_its_timeout_is_killed_and_nothing_changes(tmp_path: Path) -> None:
    rep = crm(schedule={"every": "1h"}, run_timeout="2s")
    # the first (manual) run writes two contacts; the scheduled one, due at start, would
    # add 100k
    server = MetadirServer(tmp_path, config(rep))
    (tmp_path / "crm.csv").write_text(SMALL)
    server.sync()
    (tmp_path / "crm.csv").write_text(big_csv(100_000))
    server.start()
    try:
        failed = wait_for("the killed run", lambda: scheduled(server))
        assert failed[0]["outcome"] == "failed"
        message = failed[0]["message"]
        # stopped while it read, or at the latest before it wrote
        assert message.startswith("replicator crm: ran past its run_timeout of 2 s (")
        assert count(server) == 2
    finally:
        server.stop()


def test_a_worker_killed_with_sigkill_is_recorded_and_after_run_told(tmp_path: Path) -> None:
    hook = tmp_path / "after.sh"
    hook.write_text('#!/bin/sh\nenv | grep ^METADIR_ | sort >> "$0.out"\necho >> "$0.out"\n')
    hook.chmod(0o755)
    rep = crm(schedule={"every": "1h", "run_at_start": True}, after_run={"command": str(hook)})
    server = MetadirServer(tmp_path, config(rep))
    (tmp_path / "crm.csv").write_text(big_csv(100_000))
    server.start()
    try:
        assert server.process is not None
        worker = wait_for("the worker", lambda: _worker_pid(server.process.pid))
        wait_for("the read", lambda: "running on node node-a" in metadir(server, "status").stdout)
        os.kill(worker, signal.SIGKILL)
        failed = wait_for("the failed run", lambda: scheduled(server))
        assert failed[0]["message"] == "worker killed by signal 9"
        out = Path(f"{hook}.out")
        told = wait_for("after_run", lambda: out.exists() and out.read_text())
        assert "METADIR_OUTCOME=failed" in told and "METADIR_TRIGGER=start" in told
        assert f"METADIR_RUN_ID={failed[0]['id']}" in told and "METADIR_NODE=node-a" in told
        # the lease is free: a manual run goes at once and runs after_run too
        done = metadir(server, "sync", "crm")
        assert done.returncode == 0, done.stderr
        assert out.read_text().count("METADIR_OUTCOME=ok") == 1
    finally:
        server.stop()


def _worker_pid(serve_pid: int) -> int | None:
    # serve's only child process is the worker of its run
    found = subprocess.run(["pgrep", "-P", str(serve_pid)], capture_output=True, text=True,
                           check=False)  # fmt: skip
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


def test_a_second_serve_on_one_sqlite_file_only_serves(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = start_metadir(tmp_path / "a", config(crm(schedule={"every": "2s"})), {"crm.csv": SMALL})
    shared = crm(schedule={"every": "2s"}, path=str(tmp_path / "a" / "crm.csv"))
    store = {"url": f"sqlite:///{tmp_path / 'a' / 'metadir.db'}"}
    second = MetadirServer(tmp_path / "b", config(shared, node="node-b", store=store))
    second.start()
    try:
        wait_for("the warning", lambda: "this one serves but does not schedule" in second.stderr)
        wait_for("two scheduled runs", lambda: len(scheduled(first)) >= 2)
        assert {run["node"] for run in scheduled(first)} == {"node-a"}
        assert "scheduler: starting" not in second.stderr
        status = wait_for("both nodes", lambda: "node-b: metadir" in (
            out := metadir(first, "status").stdout) and out)  # fmt: skip
        assert "node-a: metadir" in status and "serves and schedules" in status
        assert "serves only" in status
    finally:
        second.stop()
        first.stop()
