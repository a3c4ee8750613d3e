"""``type: command`` with real programs: small Python scripts written to a temp folder and
run with this interpreter, read through the sync engine into a real store."""

from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metadir.core.errors import SourceError
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators.base import Cancelled, Context, Problem, Record
from replicators.command import CommandConfig

SECRET = "s3cret-Token-4711"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        yield opened


def program(tmp_path: Path, body: str, name: str = "source.py") -> str:
    """A Python program in ``tmp_path``; its path relative to the config's folder."""
    (tmp_path / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return name


def settings(tmp_path: Path, script: str, **extra: Any) -> CommandConfig:
    values = {"name": "erp", "type": "command", "command": [sys.executable, script],
              "key": "id", "max_delete": "100%", **extra}  # fmt: skip
    return CommandConfig.model_validate(values, context={"base_dir": tmp_path})


def sync(store: Store, config: CommandConfig, tmp_path: Path, **options: Any) -> RunRecord:
    job = Job(config, "contacts", "ou=contacts,dc=meta", Numbers(None), tmp_path)
    return run_replicator(store, job, pause=lambda seconds: None, **options)


def names(store: Store) -> set[str]:
    _, entries = store.snapshot()
    return {entry.attributes["sn"][0] for entry in entries}


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs 5 s from now; a SIGKILLed process ends in a moment
    (the kernel delivers the signal after ``killpg`` returns)."""
    deadline = time.monotonic() + 5
    while running(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return running(pid)


PEOPLE = """\
import json, sys
people = {people!r}
for n, sn in enumerate(people):
    print(json.dumps({{"id": n, "sn": sn, "telephoneNumber": f"+49 89 1234-{{n}}"}}))
"""


def test_jsonl_rows_become_entries(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, PEOPLE.format(people=["Berg", "Weber", "Öztürk"]))
    run = sync(store, settings(tmp_path, script), tmp_path)
    assert (run.outcome, run.added, run.skipped, run.note) == ("ok", 3, 0, ""), run
    assert names(store) == {"Berg", "Weber", "Öztürk"}
    # run again with one gone: a whole read deletes it
    program(tmp_path, PEOPLE.format(people=["Berg", "Weber"]))
    again = sync(store, settings(tmp_path, script), tmp_path)
    assert (again.outcome, again.deleted, again.unchanged) == ("ok", 1, 2)


def test_broken_lines_are_problems_with_their_line(tmp_path: Path) -> None:
    script = program(tmp_path, """\
        print('{"id": "1", "sn": "Berg"}')
        print('{"id": "2", "sn": ')
        print('[1, 2]')
        print('{"sn": "Keyless"}')
        print('{"id": "5", "sn": {"nested": 1}}')
        print('{"id": "6", "sn": true}')
        print('')
        print('{"id": 8, "sn": "Weber", "mobile": ["0170 1", 1234567], "title": null}')
    """)  # fmt: skip
    items = list(settings(tmp_path, script).build(Context(tmp_path)).read(None))
    assert items == [
        Record(("1",), {"id": "1", "sn": "Berg"}, 1),
        Problem("not JSON: Expecting value (column 18)", 2),
        Problem("a list in JSON, not an object", 3),
        Problem("key field 'id' is missing", 4),
        Problem("field 'sn': an object is no text or number", 5, ("5",)),
        Problem("field 'sn': true/false is no text or number", 6, ("6",)),
        Record(("8",), {"id": "8", "sn": "Weber", "mobile": ["0170 1", "1234567"]}, 8),
    ]


def test_csv_output_with_the_csv_options(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, """\
        import sys
        out = sys.stdout.buffer
        out.write("Nr;Name;Telefon\\r\\n".encode("cp1252"))
        out.write("1;Jürgen Groß;+49 89 1234567\\r\\n".encode("cp1252"))
        out.write('2;"Müller; Weiß";+49 89 7654321\\r\\n'.encode("cp1252"))
        out.write('3;"unclosed;+49 89 1\\r\\n'.encode("cp1252"))
    """)  # fmt: skip
    config = settings(tmp_path, script, format="csv", delimiter=";", encoding="cp1252",
                      key="Nr", mapping={"sn": "Name", "telephoneNumber": "Telefon"})  # fmt: skip
    run = sync(store, config, tmp_path)
    assert (run.outcome, run.added, run.skipped) == ("ok", 2, 1), run
    assert names(store) == {"Jürgen Groß", "Müller; Weiß"}
    assert [(p.line, p.message) for p in run.problems] == [(4, "unclosed quote")]


def test_a_csv_header_without_a_mapped_column_fails(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, "print('id,Name'); print('1,Berg')")
    config = settings(tmp_path, script, format="csv", mapping={"sn": "Surname"})
    run = sync(store, config, tmp_path)
    assert run.outcome == "failed"
    assert run.message == (
        "replicator erp: program python: output: no column 'Surname'; its columns: id, Name"
    )


def test_stderr_is_noted_and_holds_back_nothing(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    script = program(tmp_path, PEOPLE.format(people=["Berg", "Weber"]))
    assert sync(store, settings(tmp_path, script), tmp_path).added == 2
    program(tmp_path, PEOPLE.format(people=["Berg"]) + textwrap.dedent("""\
        for n in range(5):
            print(f"warning {n}: address book 7 unreachable", file=sys.stderr)
    """))  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="replicators.command"):
        run = sync(store, settings(tmp_path, script), tmp_path)
    assert (run.outcome, run.deleted, run.skipped) == ("ok", 1, 0), run
    assert run.note == (
        "program python wrote 5 lines to stderr (the run's problems), the first: "
        "warning 0: address book 7 unreachable"
    )
    assert [(p.line, p.message) for p in run.problems] == [
        (None, f"stderr: warning {n}: address book 7 unreachable") for n in range(5)
    ]
    assert "program python: stderr: warning 4: address book 7 unreachable" in caplog.text


def test_a_program_writing_much_to_stderr_keeps_the_first_lines(
    tmp_path: Path, store: Store
) -> None:
    script = program(tmp_path, PEOPLE.format(people=["Berg"]) + textwrap.dedent("""\
        for n in range(250):
            print(f"row {n}: no phone", file=sys.stderr)
    """))  # fmt: skip
    run = sync(store, settings(tmp_path, script), tmp_path)
    assert (run.outcome, run.added, run.skipped) == ("ok", 1, 0), run
    messages = [p.message for p in run.problems]
    assert messages[:2] == ["stderr: row 0: no phone", "stderr: row 1: no phone"]
    assert messages[99:] == ["stderr: row 99: no phone", "stderr: … 150 more lines, not kept"]


def test_a_failing_program_changes_nothing(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, PEOPLE.format(people=["Berg", "Weber", "Kaya"]))
    assert sync(store, settings(tmp_path, script), tmp_path).added == 3
    # the connection broke after one row: exit 3 after half a list
    program(tmp_path, PEOPLE.format(people=["Berg"]) + textwrap.dedent("""\
        print("ERP: connection reset by peer", file=sys.stderr)
        sys.exit(3)
    """))  # fmt: skip
    run = sync(store, settings(tmp_path, script), tmp_path)
    assert run.outcome == "failed"
    assert run.message == "replicator erp: program python: exit 3: ERP: connection reset by peer"
    assert [p.message for p in run.problems] == ["stderr: ERP: connection reset by peer"]
    assert (run.deleted, names(store)) == (0, {"Berg", "Weber", "Kaya"})


def test_a_program_killed_by_a_signal_fails_the_run(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    run = sync(store, settings(tmp_path, script), tmp_path)
    assert (run.outcome, run.message) == (
        "failed", "replicator erp: program python: killed by SIGTERM"
    )  # fmt: skip


def test_a_timeout_kills_the_program_and_its_children(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, """\
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("child.pid", "w").write(str(child.pid))
        print('{"id": "1", "sn": "Berg"}', flush=True)
        print("still waiting for the ERP", file=sys.stderr, flush=True)
        time.sleep(60)
    """)  # fmt: skip
    started = time.monotonic()
    run = sync(store, settings(tmp_path, script, timeout="0.5s"), tmp_path)
    assert time.monotonic() - started < 10
    assert run.outcome == "failed"
    assert run.message == (
        "replicator erp: program python: killed after its timeout of 0.5s: "
        "still waiting for the ERP"
    )
    assert names(store) == set()
    assert not alive(int((tmp_path / "child.pid").read_text()))


def test_cancelling_kills_the_process_group(tmp_path: Path) -> None:
    script = program(tmp_path, """\
        import json, os, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("pids", "w").write(f"{os.getpid()} {child.pid}")
        for n in range(100_000):
            print(json.dumps({"id": n, "sn": f"Person{n}"}))
    """)  # fmt: skip
    context = Context(tmp_path, cancelled=lambda: context.rows >= 2)
    with pytest.raises(Cancelled, match="cancelled after 2 rows"):
        list(settings(tmp_path, script).build(context).read(None))
    pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    assert not [pid for pid in pids if alive(pid)]


def test_a_silent_program_is_cancelled_too(tmp_path: Path) -> None:
    script = program(tmp_path, """\
        import os, time
        open("pid", "w").write(str(os.getpid()))
        time.sleep(60)
    """)  # fmt: skip
    asked: list[float] = []

    def cancelled() -> str | bool:
        asked.append(time.monotonic())
        return "shutting down" if (tmp_path / "pid").exists() else False

    started = time.monotonic()
    with pytest.raises(Cancelled, match="shutting down"):
        list(settings(tmp_path, script).build(Context(tmp_path, cancelled=cancelled)).read(None))
    assert time.monotonic() - started < 10 and asked
    assert not alive(int((tmp_path / "pid").read_text()))


def test_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="program 'no-such-erp-export' is not on PATH"):
        CommandConfig.model_validate(
            {"name": "erp", "type": "command", "command": "no-such-erp-export --all",
             "key": "id"}, context={"base_dir": tmp_path})  # fmt: skip
    script = tmp_path / "export.sh"
    script.write_text("#!/bin/sh\necho '{}'\n")
    with pytest.raises(ValueError, match=r"export\.sh' is not executable"):
        CommandConfig.model_validate(
            {"name": "erp", "type": "command", "command": "./export.sh", "key": "id"},
            context={"base_dir": tmp_path})  # fmt: skip
    # gone between loading the config and the run
    script.chmod(0o755)
    config = CommandConfig.model_validate(
        {"name": "erp", "type": "command", "command": "./export.sh", "key": "id"},
        context={"base_dir": tmp_path})  # fmt: skip
    script.unlink()
    with pytest.raises(SourceError, match=r"^program export.sh: cannot start: No such file"):
        list(config.build(Context(tmp_path)).read(None))


def test_secrets_never_appear_in_messages(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    os.environ["METADIR_TEST_ERP_TOKEN"] = SECRET
    script = program(tmp_path, """\
        import os, sys
        print("debug: token=" + os.environ["ERP_TOKEN"], file=sys.stderr)
        print("login failed for token " + os.environ["ERP_TOKEN"], file=sys.stderr)
        sys.exit(1)
    """)  # fmt: skip
    try:
        config = settings(tmp_path, script, environment={"ERP_TOKEN": SECRET})
        with caplog.at_level(logging.DEBUG):
            run = sync(store, config, tmp_path)
    finally:
        del os.environ["METADIR_TEST_ERP_TOKEN"]
    assert run.message == "replicator erp: program python: exit 1: login failed for token ***"
    assert SECRET not in repr(config) and SECRET not in str(config.model_dump())
    assert SECRET not in caplog.text and SECRET not in str(run)


def test_cwd_is_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "people.jsonl").write_text('{"id": "1", "sn": "Berg"}\n')
    script = program(tmp_path, "print(open('people.jsonl').read(), end='')")
    config = settings(tmp_path, str(tmp_path / script), cwd="exports")
    assert list(config.build(Context(tmp_path)).read(None)) == [
        Record(("1",), {"id": "1", "sn": "Berg"}, 1)
    ]
    missing = settings(tmp_path, script, cwd="nowhere")
    with pytest.raises(SourceError, match=r"cwd .*nowhere is no folder"):
        list(missing.build(Context(tmp_path)).read(None))


INCREMENTAL = """\
import json, os
state = json.loads(os.environ.get("METADIR_STATE", "null"))
if state is None:
    for n, sn in enumerate(["Berg", "Weber", "Kaya"]):
        print(json.dumps({"id": str(n), "sn": sn}))
    print(json.dumps({"_checkpoint": {"since": 1700000000}, "whole": True}))
else:
    assert state == {"since": 1700000000}, state
    print(json.dumps({"id": "0", "sn": "Berg-Weber"}))
    print(json.dumps({"_removed": {"id": "1"}}))
    print(json.dumps({"_checkpoint": {"since": 1700000600}, "whole": False}))
"""


def test_an_incremental_program(tmp_path: Path, store: Store) -> None:
    script = program(tmp_path, INCREMENTAL)
    config = settings(tmp_path, script, incremental=True)
    first = sync(store, config, tmp_path)
    assert (first.outcome, first.added, first.mode) == ("ok", 3, "full"), first
    assert store.replicator_state("erp") == {"since": 1700000000}
    second = sync(store, config, tmp_path)
    assert (second.outcome, second.mode, second.updated, second.deleted) == (
        "ok", "incremental", 1, 1
    ), second  # fmt: skip
    assert names(store) == {"Berg-Weber", "Kaya"}
    assert store.replicator_state("erp") == {"since": 1700000600}


def test_output_after_the_checkpoint_fails_the_read(tmp_path: Path) -> None:
    script = program(tmp_path, """\
        print('{"_checkpoint": {}, "whole": true}')
        print('{"id": "1", "sn": "Berg"}')
    """)  # fmt: skip
    with pytest.raises(SourceError, match="line 2: output after the checkpoint on line 1"):
        list(settings(tmp_path, script, incremental=True).build(Context(tmp_path)).read(None))


def test_many_lines_stream(tmp_path: Path) -> None:
    # 200k rows go through a pipe of 64 KiB: they are handed on as the program prints them
    script = program(tmp_path, """\
        import json, sys
        for n in range(200_000):
            sys.stdout.write(json.dumps({"id": n, "sn": f"Person{n}"}) + "\\n")
    """)  # fmt: skip
    seen = 0
    for item in settings(tmp_path, script).build(Context(tmp_path)).read(None):
        assert isinstance(item, Record)
        seen += 1
    assert seen == 200_000 and json.dumps(item.values) == '{"id": "199999", "sn": "Person199999"}'
