"""The program run after a replicator's run: its environment, its exit, its timeout."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from metadir.core.schedule import AfterRun
from metadir.store.runs import RunRecord
from metadir.sync.after_run import after_run_env, run_after


def program(tmp_path: Path, name: str, body: str) -> AfterRun:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return AfterRun.model_validate(
        {"command": [f"./{name}"], "timeout": 0.5}, context={"base_dir": tmp_path}
    )


def test_success_is_none_and_the_environment_arrives(tmp_path: Path) -> None:
    after = program(tmp_path, "ok.sh", 'echo "$METADIR_OUTCOME $FROM_METADIR $(pwd)" > out\n')
    os.environ["FROM_METADIR"] = "inherited"
    try:
        assert run_after(after, {"METADIR_OUTCOME": "ok"}, tmp_path) is None
    finally:
        del os.environ["FROM_METADIR"]
    assert (tmp_path / "out").read_text() == f"ok inherited {tmp_path}\n"


def test_a_failure_names_the_exit_code_and_the_last_stderr_line(tmp_path: Path) -> None:
    after = program(
        tmp_path,
        "fail.sh",
        "echo chatter\necho 'first' >&2\necho 'mail server down' >&2\necho >&2\nexit 3\n",
    )
    assert run_after(after, {}, tmp_path) == (
        f"after_run {tmp_path}/fail.sh: exit 3: mail server down"
    )


def test_a_failure_without_stderr(tmp_path: Path) -> None:
    after = program(tmp_path, "quiet.sh", "exit 1\n")
    assert run_after(after, {}, tmp_path) == f"after_run {tmp_path}/quiet.sh: exit 1"


def test_a_program_killed_by_a_signal(tmp_path: Path) -> None:
    after = program(tmp_path, "term.sh", "kill -TERM $$\n")
    assert run_after(after, {}, tmp_path) == f"after_run {tmp_path}/term.sh: killed by SIGTERM"


def test_a_slow_program_is_killed_with_its_children(tmp_path: Path) -> None:
    # the child writes its pid, then sleeps; the timeout must end both
    after = program(tmp_path, "slow.sh", "sleep 30 &\necho $! > child\nwait\n")
    started = time.monotonic()
    assert run_after(after, {}, tmp_path) == f"after_run {tmp_path}/slow.sh: killed after 0.5 s"
    assert time.monotonic() - started < 5
    child = int((tmp_path / "child").read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_background_child_does_not_hold_up_a_finished_program(tmp_path: Path) -> None:
    # it keeps stderr open, but the program itself has exited 0
    after = program(tmp_path, "bg.sh", "sleep 3 &\nexit 0\n")
    started = time.monotonic()
    assert run_after(after, {}, tmp_path) is None
    assert time.monotonic() - started < 0.5


def test_a_program_that_cannot_start(tmp_path: Path) -> None:
    after = program(tmp_path, "gone.sh", "exit 0\n")
    (tmp_path / "gone.sh").unlink()
    problem = run_after(after, {}, tmp_path)
    assert problem == f"after_run {tmp_path}/gone.sh: cannot start: No such file or directory"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has ended; only its parent (init here) has not reaped it yet
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_the_environment_of_a_run() -> None:
    start = datetime(2026, 12, 3, 17, tzinfo=UTC)
    run = RunRecord(
        "crm",
        "failed",
        start,
        start + timedelta(seconds=5),
        added=1,
        updated=2,
        deleted=3,
        unchanged=4,
        skipped=5,
        message="source: cannot read\0crm.csv",
        id=42,
        node="pbx-a",
        trigger="schedule",
    )
    assert after_run_env(run, "contacts", "pbx-b") == {
        "METADIR_REPLICATOR": "crm",
        "METADIR_DIRECTORY": "contacts",
        "METADIR_RUN_ID": "42",
        "METADIR_OUTCOME": "failed",
        "METADIR_TRIGGER": "schedule",
        "METADIR_NODE": "pbx-b",
        "METADIR_ADDED": "1",
        "METADIR_UPDATED": "2",
        "METADIR_DELETED": "3",
        "METADIR_UNCHANGED": "4",
        "METADIR_SKIPPED": "5",
        "METADIR_MESSAGE": "source: cannot readcrm.csv",
    }


def test_a_run_not_yet_recorded_has_an_empty_id() -> None:
    start = datetime(2026, 12, 3, 17, tzinfo=UTC)
    run = RunRecord("crm", "ok", start, start)
    assert after_run_env(run, "contacts", "n")["METADIR_RUN_ID"] == ""
