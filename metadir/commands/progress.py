"""The progress of one replicator's run as ``metadir sync`` shows it.

On a terminal one line, rewritten in place (``\\r`` and erase to the end of the line) at
most ``REDRAWS_PER_SECOND`` times a second: ``crm: read 12,345 rows, 4,100/s, about 30 s
left``. Without a terminal (a cron job, a service's journal) the same words as a log line
every ``LOG_EVERY`` seconds, and nothing for a run shorter than that: a log should not get
four lines for every run that takes a second.

``ProgressDisplay``'s methods fit the engine's ``Context``: ``phase``, ``expect`` and
``rows`` (as ``progress``). ``snapshot()`` is read from another thread (the lease keeper
writes it to the store): the display keeps its state in plain attributes, each read whole.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from typing import TextIO

# a terminal line changes at most this often: quicker is flicker, and a slow terminal
# (ssh) would cost the read time
REDRAWS_PER_SECOND = 5
# seconds between log lines without a terminal, and how long a run goes before the first
LOG_EVERY = 5.0
# no rate (and no time left) until the read has gone on this long: the first rows, read
# in a few milliseconds, would promise millions a second
RATE_AFTER = 1.0
# erase from the cursor to the end of the line (ANSI EL)
_ERASE = "\x1b[K"


class ProgressDisplay:
    """The live progress of replicator ``name`` on ``stream``: a line rewritten in place
    when ``terminal``, else log lines on ``log`` (``metadir.sync``). ``clock`` gives
    seconds (monotonic); ``width`` is the terminal's (by default asked of the system),
    which the line must not exceed, or each rewrite would leave a wrapped line behind."""

    def __init__(
        self,
        name: str,
        stream: TextIO,
        *,
        terminal: bool,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
        width: int | None = None,
    ) -> None:
        self.name = name
        self.stream = stream
        self.terminal = terminal
        self.clock = clock
        self.log = log or logging.getLogger("metadir.sync")
        self.width = width or shutil.get_terminal_size().columns
        # what snapshot() hands out: plain attributes, each assigned whole
        self._phase = "start"
        self._rows = 0
        self._total: int | None = None
        self._started = clock()
        self._read_started: float | None = None
        # when the line or log may next change; whether a line stands on the terminal
        self._interval = 1 / REDRAWS_PER_SECOND if terminal else LOG_EVERY
        self._next = self._started + (0.0 if terminal else LOG_EVERY)
        self._drawn = False
        self._closed = False

    def phase(self, name: str) -> None:
        """The run does ``name`` now ("connect", "read", "diff", "write"). Shown at once on
        a terminal, not waiting for the next redraw: the engine changes phase four times a
        run, and a long phase without rows (a slow connect, the write) must say what it
        waits for. Logged at once too once the run is long enough to be logged at all."""
        self._phase = name
        if name == "read":
            # the engine counts each read from zero (a source read again after it changed)
            self._read_started = self.clock()
            self._rows = 0
        if not self._closed:
            now = self.clock()
            if self.terminal or now >= self._started + LOG_EVERY:
                self._show(now)

    def expect(self, total: int) -> None:
        """The read will hand on about ``total`` rows."""
        self._total = total

    def rows(self, count: int) -> None:
        """The read has handed on ``count`` rows so far (``Context.progress``)."""
        self._rows = count
        if not self._closed:
            # called for every row: one clock reading, and the line only when due
            now = self.clock()
            if now >= self._next:
                self._show(now)

    def snapshot(self) -> tuple[str, int, int | None]:
        """The phase, the rows read so far, and the rows expected (None: not known)."""
        return self._phase, self._rows, self._total

    def close(self, outcome_line: str | None = None) -> None:
        """Take the live line off the terminal, then write ``outcome_line`` (if any) on a
        line of its own. Nothing is shown after."""
        if self._drawn:
            self.stream.write("\r" + _ERASE)
            self._drawn = False
        if outcome_line is not None:
            self.stream.write(outcome_line + "\n")
        self.stream.flush()
        self._closed = True

    def line(self, now: float | None = None) -> str:
        """The words for the run's progress at ``now`` (default: the clock's now)."""
        now = self.clock() if now is None else now
        phase, rows, total = self.snapshot()
        if phase in ("start", "connect"):
            return f"{self.name}: {phase}"
        if phase != "read":
            return f"{self.name}: {phase}, {rows:,} rows read"
        words = [f"{self.name}: read {rows:,} rows"]
        rate = self.rate(now)
        if rate is not None:
            words.append(f"{_rate(rate)}/s")
            if total is not None and rate > 0 and rows < total:
                words.append(f"about {_duration((total - rows) / rate)} left")
        return ", ".join(words)

    def rate(self, now: float) -> float | None:
        """Rows a second over the read so far; None before ``RATE_AFTER`` seconds of it.

        The average over the whole read rather than over a recent window: sources hand on
        rows in bursts (an LDAP page of a thousand entries, then a wait for the next), which
        makes a window of a few seconds swing between nothing and double; a read's pace is
        even enough (one file, one server) for the average to give a steady time left."""
        if self._read_started is None:
            return None
        seconds = now - self._read_started
        if seconds < RATE_AFTER:
            return None
        return self._rows / seconds

    def _show(self, now: float) -> None:
        self._next = now + self._interval
        text = self.line(now)
        if not self.terminal:
            self.log.info("%s", text)
            return
        # one column kept free: a line that fills the last column wraps on some terminals
        if len(text) >= self.width:
            text = text[: max(1, self.width - 2)] + "…"
        self.stream.write("\r" + text + _ERASE)
        self.stream.flush()
        self._drawn = True


def _rate(rate: float) -> str:
    """Rows a second, to two or three significant digits: 4,100 not 4,093.7."""
    if rate >= 100:
        digits = max(0, math.floor(math.log10(rate)) - 1)
        return f"{round(rate, -digits):,.0f}"
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"


def _duration(seconds: float) -> str:
    """A time left, as coarse as it is uncertain: ``30 s``, ``4 min``, ``1 h 5 min``."""
    seconds = math.ceil(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
