"""Sync runs in worker processes: one ``metadir sync`` per run, watched by ``serve``.

A run reads and diffs a whole source; in the LDAP process it would stall answers and grow
the server's heap, so each run is a child process. The child's standard input is a pipe
that only closes when ``serve`` dies: the child then gives up its run (see
``metadir.sync.worker``). Its last line on standard output says how the run ended; a
child that ends without it crashed or was killed, and ``serve`` records the run for it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import error
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from metadir.service.timing import Clock, DelayedCall, ProcessReactor
from metadir.sync.worker import RESULT_MARK

log = logging.getLogger("metadir.server")

# seconds a worker has to end after SIGTERM before it gets SIGKILL
KILL_AFTER = 10.0
# stderr lines kept to explain a worker that died
TAIL = 20


@dataclass
class WorkerResult:
    """How a worker ended: its exit code or signal, its result line if it wrote one."""

    replicator: str
    exit_code: int | None = None
    signal: int | None = None
    result: dict[str, Any] | None = None
    timed_out: bool = False
    stopped: bool = False
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))

    def failure(self, timeout: float) -> str:
        """Why a worker without a result line failed, in words."""
        if self.timed_out:
            return f"worker killed: it hung past its run_timeout of {timeout:g} s"
        if self.stopped:
            return "worker stopped: metadir serve shut down"
        if self.signal is not None:
            why = f"worker killed by signal {self.signal}"
        else:
            why = f"worker exited with status {self.exit_code} without a result"
        last = next((line for line in reversed(self.stderr) if line.strip()), "")
        return f"{why}: {last}" if last else why


class WorkerProcess(ProcessProtocol):
    """One worker: its output goes to the log line by line, its end fires ``ended``."""

    def __init__(self, replicator: str, timeout: float, clock: Clock) -> None:
        self.replicator = replicator
        self.timeout = timeout
        self.clock = clock
        self.outcome = WorkerResult(replicator)
        self.ended: Deferred[WorkerResult] = Deferred()
        self._buffers = {1: b"", 2: b""}
        self._timer: DelayedCall | None = None
        self._kill: DelayedCall | None = None

    def connectionMade(self) -> None:
        # the worker stops itself at its timeout; this is for one that hangs
        self._timer = self.clock.callLater(self.timeout + KILL_AFTER, self._time_out)

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        lines = (self._buffers.get(childFD, b"") + data).split(b"\n")
        self._buffers[childFD] = lines.pop()
        for line in lines:
            self._line(childFD, line.decode("utf-8", "replace").rstrip("\r"))

    def _line(self, fd: int, text: str) -> None:
        if fd == 1 and text.startswith(RESULT_MARK):
            try:
                self.outcome.result = json.loads(text[len(RESULT_MARK) :])
            except ValueError:
                log.warning("worker %s: unreadable result line %r", self.replicator, text)
            return
        if fd == 2:
            self.outcome.stderr.append(text)
        if text:
            log.info("worker %s: %s", self.replicator, text)

    def stop(self) -> None:
        """Ask the worker to end its run (it records it as failed); kill it if it lingers."""
        self.outcome.stopped = True
        self._signal(signal.SIGTERM)

    def _time_out(self) -> None:
        self._timer = None
        self.outcome.timed_out = True
        log.error("worker %s: still running %g s past its run_timeout of %g s: stopping it",
                  self.replicator, KILL_AFTER, self.timeout)  # fmt: skip
        self._signal(signal.SIGTERM)

    def _signal(self, number: int) -> None:
        try:
            self.transport.signalProcess(number)  # type: ignore[union-attr,call-arg,misc]
        except error.ProcessExitedAlready:
            return
        if number != signal.SIGKILL and self._kill is None:
            self._kill = self.clock.callLater(KILL_AFTER, self._signal, signal.SIGKILL)

    def processEnded(self, reason: Failure) -> None:
        for fd, rest in self._buffers.items():
            if rest:
                self._line(fd, rest.decode("utf-8", "replace"))
        for call in (self._timer, self._kill):
            if call is not None and call.active():
                call.cancel()
        value = reason.value
        self.outcome.exit_code = getattr(value, "exitCode", None)
        self.outcome.signal = getattr(value, "signal", None)
        self.ended.callback(self.outcome)


def start_worker(
    reactor: ProcessReactor,
    clock: Clock,
    replicator: str,
    argv: list[str],
    timeout: float,
) -> WorkerProcess:
    """Start ``argv`` (``python -m metadir sync … --supervised``) as the worker running
    ``replicator``; stdin stays an open pipe for the child to watch, stdout and stderr are
    read line by line. The worker gives up its run itself after ``timeout`` seconds; if it
    still runs ``KILL_AFTER`` seconds later, it gets SIGTERM, and SIGKILL after as long
    again."""
    worker = WorkerProcess(replicator, timeout, clock)
    reactor.spawnProcess(
        worker,
        argv[0],
        argv,
        env=dict(os.environ),
        childFDs={0: "w", 1: "r", 2: "r"},
    )
    return worker
