"""The worker side of a scheduled run: how ``metadir sync --supervised`` tells ``serve``
its result, and notices that ``serve`` is gone or wants it to stop.

``serve`` keeps the worker's standard input open as a pipe and never writes to it: end of
file means ``serve`` died (kill -9 of the node), and SIGTERM means it shuts down. Both
cancel the run between rows; the run is recorded as failed and its lease freed, so another
node can take the slot.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from typing import Any

from metadir.store.runs import RunRecord

log = logging.getLogger("metadir.sync")

# the line a worker ends with on standard output: this mark, then a JSON object
RESULT_MARK = "metadir-run-result "


def result_line(run: RunRecord) -> str:
    """The last line a worker writes for ``serve``: its run's id, outcome and changes (an
    import's changes start the exports that follow its directory)."""
    result: dict[str, Any] = {"run_id": run.id, "replicator": run.replicator,
                              "outcome": run.outcome, "added": run.added,
                              "updated": run.updated, "deleted": run.deleted}  # fmt: skip
    return RESULT_MARK + json.dumps(result)


class Stop:
    """Why the runs of this process must stop, once something says so: a source asks it
    between rows (``Context.cancelled``). The first reason given stands."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def __call__(self) -> str | bool:
        return self.reason or False


def watch_supervisor(stop: Stop) -> None:
    """Stop the run when ``serve`` closes our standard input (it died) or sends SIGTERM."""

    def stdin_closed() -> None:
        # the file descriptor, not sys.stdin: a thread blocked in a buffered read would
        # hold its lock while the interpreter shuts down, which Python treats as fatal
        while os.read(0, 4096):
            pass
        log.error("metadir serve is gone: giving up the run")
        stop.set("metadir serve, which started the run, is gone")

    def terminated(_signum: int, _frame: object) -> None:
        log.warning("asked to stop: giving up the run")
        stop.set("metadir serve asked the run to stop")

    signal.signal(signal.SIGTERM, terminated)
    threading.Thread(target=stdin_closed, name="supervisor", daemon=True).start()
