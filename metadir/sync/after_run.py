"""The program run after a replicator's run (``after_run``): told the outcome in its
environment, given its timeout, killed with everything it started when that runs out.

Its output is not kept: stdout goes nowhere, the last line of stderr explains a failure.
stderr goes to a temporary file rather than a pipe, so a background process the program
left behind (and that still holds stderr open) cannot hold the run up past the program's
own exit.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from metadir.core.processes import how_it_ended, kill_group
from metadir.core.schedule import AfterRun

if TYPE_CHECKING:
    from metadir.store.runs import RunRecord

# the end of stderr read for its last line; a failing program's last words fit
_TAIL = 4096
# a problem text quotes at most this much of the program's last line
_LAST_LINE = 200


def after_run_env(run: RunRecord, directory: str, node: str) -> dict[str, str]:
    """The environment an after_run program gets (on top of metadir's own) for ``run`` of
    a replicator in ``directory`` on ``node``."""
    return {
        "METADIR_REPLICATOR": run.replicator,
        "METADIR_DIRECTORY": directory,
        "METADIR_RUN_ID": "" if run.id is None else str(run.id),
        "METADIR_OUTCOME": run.outcome,
        "METADIR_TRIGGER": run.trigger,
        "METADIR_NODE": node,
        "METADIR_ADDED": str(run.added),
        "METADIR_UPDATED": str(run.updated),
        "METADIR_DELETED": str(run.deleted),
        "METADIR_UNCHANGED": str(run.unchanged),
        "METADIR_SKIPPED": str(run.skipped),
        # an environment value cannot hold a NUL byte
        "METADIR_MESSAGE": run.message.replace("\0", ""),
    }


def tell_after_run(
    after: AfterRun | None, run: RunRecord, directory: str, node: str, cwd: Path
) -> str | None:
    """Run a replicator's ``after_run`` (if it has one) for its recorded ``run``; None if
    there is none or it exits 0, else one line saying what went wrong."""
    if after is None:
        return None
    return run_after(after, after_run_env(run, directory, node), cwd)


def run_after(after: AfterRun, env: dict[str, str], cwd: Path) -> str | None:
    """Run ``after``'s command in ``cwd`` with metadir's environment plus ``env``; None if
    it exits 0, else one line saying what went wrong."""
    name = f"after_run {after.program}"
    seconds = after.timeout.total_seconds()
    with tempfile.TemporaryFile() as stderr:
        try:
            # a session of its own: a timeout kills the program's children too
            process = subprocess.Popen(
                after.command,
                cwd=cwd,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as exc:
            return f"{name}: cannot start: {exc.strerror or exc}"
        try:
            code = process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            kill_group(process)
            return f"{name}: killed after {seconds:g} s"
        if code == 0:
            return None
        problem = how_it_ended(name, code)
        last = _last_line(stderr)
        return f"{problem}: {last}" if last else problem


def _last_line(file: IO[bytes]) -> str:
    """The last non-blank line written to ``file``, cut short."""
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - _TAIL))
    lines = file.read().decode("utf-8", errors="replace").splitlines()
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return last if len(last) <= _LAST_LINE else last[: _LAST_LINE - 1] + "…"
