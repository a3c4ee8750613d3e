"""A program run for a read: started in a session of its own, its stdout handed on line by
line as it comes (memory stays flat however much it prints), stopped with everything it
started when the read ends, fails, is cancelled or runs out of time.

stderr goes to a temporary file rather than a pipe (as for ``after_run``): nothing has to
drain it while stdout is read, and a background process that still holds it open cannot
hold the read up. What the program wrote there is summed up once it has ended.
"""

from __future__ import annotations

import codecs
import os
import selectors
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO

from metadir.core.errors import SourceError
from metadir.core.processes import how_it_ended, kill_group
from metadir.core.records import Problem
from metadir.core.schedule import format_duration

# bytes read from stdout at a time
_CHUNK = 1 << 16
# a line longer than this is no contact: the read fails rather than holding it in memory
MAX_LINE = 1 << 20
# how often a silent program's read asks whether it should stop (seconds)
_POLL = 0.2
# stderr lines kept as the run's problems (and logged); all are counted
STDERR_KEPT = 100
# a stderr line is cut to this many characters
_STDERR_WIDTH = 200
# an environment value shorter than this is not masked in the program's output: "1" or
# "yes" would mask half the text and hide nothing
_MASKED_FROM = 4


class ProgramTimeout(SourceError):
    """The program ran longer than its timeout and was killed."""


@dataclass(frozen=True, slots=True)
class Stderr:
    """What a program wrote to stderr: how many non-blank lines, the first ``STDERR_KEPT``,
    the last."""

    count: int = 0
    first: tuple[str, ...] = ()
    last: str = ""

    def problems(self) -> tuple[Problem, ...]:
        """The lines as problems of the run, and how many more were written."""
        more = self.count - len(self.first)
        tail = (Problem(f"stderr: … {more} more lines, not kept"),) if more > 0 else ()
        return tuple(Problem(f"stderr: {line}") for line in self.first) + tail


@dataclass(slots=True)
class Program:
    """One run of a program whose stdout a read consumes.

    ``name`` names it in messages; ``secrets`` are values that must not appear in them (the
    program may echo its environment)."""

    command: list[str]
    cwd: Path
    env: dict[str, str]
    name: str
    # from its start until it is killed
    timeout: timedelta
    secrets: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    # when it is killed (``time.monotonic``)
    deadline: float = field(default=0.0, init=False)
    _stderr: IO[bytes] | None = field(default=None, init=False)

    def __enter__(self) -> Program:
        if not self.cwd.is_dir():
            raise SourceError(f"{self.name}: cwd {self.cwd} is no folder")
        self._stderr = tempfile.TemporaryFile()
        self.deadline = time.monotonic() + self.timeout.total_seconds()
        try:
            # a session of its own: stopping the read stops the program's children too
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                start_new_session=True,
            )
        except OSError as exc:
            self._stderr.close()
            raise SourceError(f"{self.name}: cannot start: {exc.strerror or exc}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        # also after a clean exit: whatever the program left running goes with it
        assert self.process is not None and self._stderr is not None
        kill_group(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def lines(self, encoding: str, idle: Callable[[], None]) -> Iterator[str]:
        """stdout decoded as ``encoding`` (bytes it cannot decode kept as lone surrogates,
        ``surrogateescape``), line by line with their line ends. ``idle`` is called when
        the program has been silent for a while (it raises to stop the read); past its
        timeout the program is killed and ``ProgramTimeout`` raised."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        pending = ""
        count = 0
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise self._timed_out()
                if not selector.select(min(left, _POLL)):
                    idle()
                    continue
                chunk = os.read(fd, _CHUNK)
                text = pending + decoder.decode(chunk, final=not chunk)
                start = 0
                while (end := text.find("\n", start)) >= 0:
                    count += 1
                    yield text[start : end + 1]
                    start = end + 1
                pending = text[start:]
                if len(pending) > MAX_LINE:
                    raise SourceError(
                        f"{self.name}: line {count + 1} of its output is longer than "
                        f"{MAX_LINE >> 20} MiB"
                    )
                if not chunk:
                    break
        if pending:
            yield pending

    def wait(self) -> Stderr:
        """Wait for the program to end once its stdout is closed; what it wrote to stderr.
        Raises ``SourceError`` if it exited non-zero or was killed by a signal,
        ``ProgramTimeout`` past its timeout."""
        assert self.process is not None
        try:
            code = self.process.wait(timeout=max(0.0, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise self._timed_out() from None
        stderr = self.stderr()
        if code == 0:
            return stderr
        problem = how_it_ended(self.name, code)
        raise SourceError(
            f"{problem}: {stderr.last}" if stderr.last else problem, stderr.problems()
        )

    def stderr(self) -> Stderr:
        """The program's stderr so far, read line by line (it may be long), masked."""
        assert self._stderr is not None
        self._stderr.seek(0)
        count, last = 0, ""
        first: list[str] = []
        for raw in self._stderr:
            line = self.mask(raw.decode("utf-8", errors="replace").strip())
            if not line:
                continue
            count += 1
            last = _cut(line)
            if len(first) < STDERR_KEPT:
                first.append(last)
        return Stderr(count, tuple(first), last)

    def mask(self, text: str) -> str:
        """``text`` with every secret value of the environment replaced by ``***``."""
        for secret in self.secrets:
            if len(secret) >= _MASKED_FROM:
                text = text.replace(secret, "***")
        return text

    def _timed_out(self) -> ProgramTimeout:
        assert self.process is not None
        kill_group(self.process)
        stderr = self.stderr()
        killed = f"{self.name}: killed after its timeout of {format_duration(self.timeout)}"
        return ProgramTimeout(
            f"{killed}: {stderr.last}" if stderr.last else killed, stderr.problems()
        )


def _cut(line: str) -> str:
    return line if len(line) <= _STDERR_WIDTH else line[: _STDERR_WIDTH - 1] + "…"
