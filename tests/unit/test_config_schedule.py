"""Schedules, timeouts, after_run, node, history and scheduler in the config: read, given
their defaults, their faults named at their key paths; and what ``metadir check`` shows
of them."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metadir.commands.check import check_command
from metadir.config import load_config
from tests.unit.test_config import problems, write

REP = "      - {name: crm, type: csv, path: crm.csv, key: Id, "
REP2 = "      - {name: hr, type: csv, path: crm.csv, key: Id, "


def directory(*lines: str, extra: str = "") -> str:
    return f"directories:\n  - name: contacts\n{extra}    replicators:\n" + "\n".join(lines) + "\n"


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "bin" / "notify.sh"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def test_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, directory(REP + "}")))
    contacts = config.directories[0]
    rep = contacts.replicators[0]
    assert rep.schedule is None and rep.after_run is None
    assert rep.run_timeout == timedelta(hours=1)
    assert contacts.schedule is None and config.schedule_for(contacts, rep) is None
    assert config.node is None
    assert config.node_name() == f"{socket.gethostname()}-{os.getpid()}"
    assert config.history.keep_days == 90
    assert config.scheduler.lease == timedelta(seconds=30)


def test_everything_given(tmp_path: Path, script: Path) -> None:
    text = (
        "node: pbx-a.example.com\nhistory: {keep_days: 30}\nscheduler: {lease: 1m}\n"
        + directory(
            REP + "schedule: '*/5 * * * *', run_timeout: 10m, after_run: 'bin/notify.sh --all'}",
            REP2 + "after_run: {command: [bin/notify.sh], timeout: 5s}}",
            extra="    schedule: {every: 1h, timezone: Europe/Berlin, run_at_start: true}\n",
        )
    )
    config = load_config(write(tmp_path, text))
    contacts = config.directories[0]
    crm, hr = contacts.replicators
    assert config.node_name() == "pbx-a.example.com"
    assert config.history.keep_days == 30
    assert config.scheduler.lease == timedelta(minutes=1)
    # a replicator's own schedule, else its directory's
    assert str(config.schedule_for(contacts, crm)) == 'cron "*/5 * * * *"'
    assert str(config.schedule_for(contacts, hr)) == "every 1h (Europe/Berlin) and at start"
    assert crm.run_timeout == timedelta(minutes=10)
    # a program with a '/' is found from the config file's folder
    assert crm.after_run is not None and crm.after_run.command == [str(script), "--all"]
    assert crm.after_run.timeout == timedelta(seconds=60)
    assert hr.after_run is not None and hr.after_run.command == [str(script)]
    assert hr.after_run.timeout == timedelta(seconds=5)


def test_an_ldap_sources_timeout_is_its_wait_for_an_answer(tmp_path: Path) -> None:
    ldap = "      - {name: dc, type: ldap, url: 'ldap://dc1', base_dn: 'dc=corp', "
    config = load_config(write(tmp_path, directory(ldap + "timeout: 30, run_timeout: 2h}")))
    rep = config.directories[0].replicators[0]
    assert rep.timeout == 30  # type: ignore[attr-defined]
    assert rep.run_timeout == timedelta(hours=2)


def test_a_program_on_path_is_kept_by_name(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, directory(REP + "after_run: 'sh -c \"exit 0\"'}")))
    after = config.directories[0].replicators[0].after_run
    assert after is not None and after.command == ["sh", "-c", "exit 0"]


def test_a_node_name_may_be_long(tmp_path: Path) -> None:
    name = "n" * 200
    assert load_config(write(tmp_path, f"node: {name}\n")).node == name


R0 = "directories[0].replicators[0]"
R1 = "directories[0].replicators[1]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            directory(REP + "}", REP2 + "schedule: '*/15 * * *'}"),
            f"{R1}.schedule: not a cron expression: '*/15 * * *': expected five fields "
            "(minute hour day month weekday) or @hourly, @daily, …",
        ),
        (
            directory(REP + "schedule: '15m'}"),
            f"{R0}.schedule: not a cron expression: '15m': for an interval write 'every: 15m'",
        ),
        (
            directory(REP + "schedule: {cron: '61 * * * *'}}"),
            f"{R0}.schedule.cron: not a cron expression: '61 * * * *': a value is out of range",
        ),
        (
            directory(REP + "schedule: {cron: '0 0 30 2 *'}}"),
            f"{R0}.schedule.cron: cron expression '0 0 30 2 *' matches no date",
        ),
        (
            directory(REP + "schedule: {every: 1h, timezone: Europe/Berlinn}}"),
            f"{R0}.schedule.timezone: unknown time zone 'Europe/Berlinn' "
            "(did you mean 'Europe/Berlin'?)",
        ),
        (
            directory(REP + "}", extra="    schedule: {every: 1h, timezone: europe/berlin}\n"),
            "directories[0].schedule.timezone: unknown time zone 'europe/berlin' "
            "(did you mean 'Europe/Berlin'?)",
        ),
        (
            directory(REP + "schedule: {every: 1h, tz: UTC}}"),
            f"{R0}.schedule.tz: unknown key (did you mean 'timezone'?)",
        ),
        (
            directory(REP + "schedule: {interval: 1h}}"),
            f"{R0}.schedule.interval: unknown key (did you mean 'every'?)",
        ),
        (directory(REP + "schedule: {}}"), f"{R0}.schedule: give either 'cron' or 'every'"),
        (
            directory(REP + "schedule: {cron: '@daily', every: 1h}}"),
            f"{R0}.schedule: give 'cron' or 'every', not both",
        ),
        (
            directory(REP + "schedule: {every: 1 fortnight}}"),
            f"{R0}.schedule.every: expected a duration such as 30s, 15m, 2h, 1d or 1h30m, "
            "not '1 fortnight'",
        ),
        (directory(REP + "run_timeout: 0}"), f"{R0}.run_timeout: must be longer than 0s, not 0"),
        (
            directory(REP + "after_run: bin/missing.sh}"),
            f"{R0}.after_run: program '{{tmp}}/bin/missing.sh' does not exist",
        ),
        (
            directory(REP + "after_run: {command: bin/plain.txt}}"),
            f"{R0}.after_run.command: program '{{tmp}}/bin/plain.txt' is not executable",
        ),
        (
            directory(REP + "after_run: no-such-program-anywhere}"),
            f"{R0}.after_run: program 'no-such-program-anywhere' is not on PATH",
        ),
        (
            directory(REP + "after_run: {command: []}}"),
            f"{R0}.after_run.command: must name a program to run",
        ),
        (
            directory(REP + "after_run: {command: sh, timeout: -1}}"),
            f"{R0}.after_run.timeout: must not be negative, not -1",
        ),
        (
            directory(REP + "post_run: sh}"),
            f"{R0}.post_run: unknown key (did you mean 'after_run'?)",
        ),
        (
            "node: 'pbx a'\n",
            "node: use letters, digits, '.', '_' or '-', starting with a letter or digit",
        ),
        (f"node: {'n' * 201}\n", "node: String should have at most 200 characters"),
        ("history: {keep_days: 0}\n", "history.keep_days: must be at least 1, not 0"),
        ("history: {keep: 10}\n", "history.keep: unknown key (did you mean 'keep_days'?)"),
        ("scheduler: {lease: 2s}\n", "scheduler.lease: must be at least 5s, not 2s"),
        ("scheduler: {ttl: 30s}\n", "scheduler.ttl: unknown key (did you mean 'lease'?)"),
    ],
)
def test_faults_are_named_at_their_keys(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "plain.txt").write_text("not a program\n")
    assert problems(tmp_path, text) == [expected.replace("{tmp}", str(tmp_path))]


# --- metadir check -------------------------------------------------------------------------

NOW = datetime(2026, 12, 3, 17, 1, tzinfo=UTC)  # 18:01 in Berlin


def test_check_shows_the_next_runs_in_the_schedules_zone(
    tmp_path: Path, script: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "crm.csv").write_text("Id;Name\n1;Hans\n")
    text = directory(
        REP + "mapping: {cn: Name}, run_timeout: 10m, "
        "after_run: {command: 'bin/notify.sh --all', timeout: 30s}}",
        REP2 + "mapping: {cn: Name}, schedule: {cron: '0 */2 * * *', timezone: UTC}}",
        "      - {name: plain, type: csv, path: crm.csv, key: Id, mapping: {cn: Name}}",
        extra="    schedule: {every: 15m, timezone: Europe/Berlin}\n",
    )
    path = write(tmp_path, text)
    assert check_command(load_config(path), now=NOW) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}: ok: 1 directories, 3 replicators")
    assert lines[1:-2] == [
        "  crm: every 15m (Europe/Berlin); next runs 2026-12-03T18:15:00+01:00, "
        "2026-12-03T18:30:00+01:00, 2026-12-03T18:45:00+01:00; run_timeout 10m",
        f"  crm: after_run {script} --all (timeout 30s)",
        '  hr: cron "0 */2 * * *" (UTC); next runs 2026-12-03T18:00:00+00:00, '
        "2026-12-03T20:00:00+00:00, 2026-12-03T22:00:00+00:00; run_timeout 1h",
        # the directory's schedule is plain's too
        "  plain: every 15m (Europe/Berlin); next runs 2026-12-03T18:15:00+01:00, "
        "2026-12-03T18:30:00+01:00, 2026-12-03T18:45:00+01:00; run_timeout 1h",
    ]


def test_check_shows_an_after_run_without_a_schedule(
    tmp_path: Path, script: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "crm.csv").write_text("Id;Name\n1;Hans\n")
    text = directory(
        REP + "mapping: {cn: Name}, after_run: bin/notify.sh}",
        REP2 + "mapping: {cn: Name}}",
    )
    assert check_command(load_config(write(tmp_path, text)), now=NOW) == 0
    assert capsys.readouterr().out.splitlines()[1:-2] == [
        "  crm: no schedule (runs by metadir sync only); run_timeout 1h",
        f"  crm: after_run {script} (timeout 1m)",
    ]


def test_check_across_the_clock_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "crm.csv").write_text("Id;Name\n1;Hans\n")
    text = directory(
        REP + "mapping: {cn: Name}, schedule: {cron: '30 2 * * *', timezone: Europe/Berlin}}"
    )
    saturday = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert check_command(load_config(write(tmp_path, text)), now=saturday) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        '  crm: cron "30 2 * * *" (Europe/Berlin); next runs 2026-03-29T03:00:00+02:00, '
        "2026-03-30T02:30:00+02:00, 2026-03-31T02:30:00+02:00; run_timeout 1h"
    )
