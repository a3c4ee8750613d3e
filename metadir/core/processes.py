"""What the programs metadir starts (``after_run``, the command source) share: each leads a
session of its own, so that it is killed with everything it started, and its end is told
in one way."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill ``process``'s process group (started with ``start_new_session``) and reap it."""
    # ProcessLookupError: the group is gone, children and all
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def how_it_ended(name: str, code: int) -> str:
    """``NAME: exit 3`` or ``NAME: killed by SIGTERM``, from a non-zero return code."""
    if code >= 0:
        return f"{name}: exit {code}"
    try:
        return f"{name}: killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"{name}: killed by signal {-code}"
