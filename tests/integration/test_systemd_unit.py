"""contrib/systemd: the unit passes ``systemd-analyze verify`` and its sandbox review, says
what README.md "Run as a service" promises, and the sysusers file makes the user.

``verify`` refuses a unit whose ExecStart program does not exist, and /opt/metadir is not
this machine's install: the test verifies a copy that starts this virtualenv's metadir.
``verify`` only warns (exit 0) about an unknown key or a bad value, so the test also wants
its output free of the unit's name; one test shows that a typo is caught so.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib/systemd/metadir.service"
SYSUSERS = ROOT / "contrib/systemd/metadir.sysusers.conf"
INSTALLED = "/opt/metadir/.venv/bin/metadir"


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/bin")
    if found is None:
        pytest.skip(f"{name} is not installed (Debian package systemd)")
    return found


def settings(text: str) -> dict[str, dict[str, list[str]]]:
    """The unit's sections: key -> its values in order (a key may be given more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return sections


SERVICE = settings(UNIT.read_text(encoding="utf-8"))["Service"]


def metadir_program() -> str:
    """This virtualenv's metadir (the program ExecStart names, installed elsewhere)."""
    beside = Path(sys.executable).with_name("metadir")
    found = str(beside) if beside.exists() else shutil.which("metadir")
    assert found, "metadir is not installed in this environment (pip install -e .)"
    return found


def local_copy(tmp_path: Path, extra: str = "") -> Path:
    """The unit, starting this machine's metadir, with ``extra`` lines in [Service]."""
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED in text
    text = text.replace(INSTALLED, metadir_program())
    text = text.replace("[Service]\n", f"[Service]\n{extra}", 1)
    unit = tmp_path / "metadir.service"
    unit.write_text(text, encoding="utf-8")
    return unit


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def complaints(result: subprocess.CompletedProcess[str], unit: Path) -> list[str]:
    """What ``verify`` said about ``unit`` (not about the host's own units)."""
    said = (result.stdout + result.stderr).splitlines()
    return [line for line in said if unit.name in line or str(unit) in line]


def test_the_unit_verifies(tmp_path: Path) -> None:
    unit = local_copy(tmp_path)
    result = verify(unit)
    assert result.returncode == 0, result.stderr
    assert complaints(result, unit) == []


def test_verify_catches_a_typo(tmp_path: Path) -> None:
    # the check above would pass a unit systemd ignores half of, but for its output
    unit = local_copy(tmp_path, "KillMod=mixed\n")
    assert any("KillMod" in line for line in complaints(verify(unit), unit))


def test_the_sandbox_review(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = local_copy(tmp_path)
    # exposure is 0.0 (locked down) to 10.0 (none); the unit scores about 1.7 ("OK"),
    # the threshold is in tenths and leaves room, not a loosened sandbox
    command = [analyze, "security", "--offline=yes", "--threshold=30", str(unit)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("systemd-analyze security --offline needs systemd 250")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_exec_start_runs_metadir_serve_with_the_config_in_etc() -> None:
    (command,) = SERVICE["ExecStart"]
    words = shlex.split(command)
    assert words == [INSTALLED, "serve", "-c", "/etc/metadir/metadir.yaml"]
    # the words are ones `metadir` takes (--help stops it before it reads the config)
    help_text = subprocess.run(
        [metadir_program(), *words[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "--listen" in help_text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("User", "metadir"),
        ("Group", "metadir"),
        ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("Restart", "on-failure"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("KillMode", "mixed"),
        ("StandardOutput", "journal"),
        ("StandardError", "journal"),
        ("SyslogIdentifier", "metadir"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/metadir"),
        ("StateDirectory", "metadir"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ],
)
def test_the_unit_says(key: str, value: str) -> None:
    assert SERVICE.get(key) == [value]


def test_workers_may_be_started_and_are_given_time_to_stop() -> None:
    from metadir.service.workers import KILL_AFTER

    # serve starts `python -m metadir sync` workers and after_run commands: nothing may
    # forbid creating processes
    for value in SERVICE.get("SystemCallFilter", []):
        if value.startswith("~"):
            assert not {"@process", "execve", "fork", "clone"} & set(value[1:].split())
    assert "TasksMax" not in SERVICE or int(SERVICE["TasksMax"][0]) >= 64
    # a stop waits for serve to stop its workers, which kills a lingering one after KILL_AFTER
    (timeout,) = SERVICE["TimeoutStopSec"]
    assert float(timeout.removesuffix("s")) > KILL_AFTER


def test_the_sysusers_file_makes_the_user(tmp_path: Path) -> None:
    sysusers = tool("systemd-sysusers")
    result = subprocess.run(
        [sysusers, "--dry-run", f"--root={tmp_path}", str(SYSUSERS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "Creating group 'metadir'" in said
    assert "Creating user 'metadir'" in said
