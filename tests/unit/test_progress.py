"""``metadir sync``'s progress: a line rewritten in place on a terminal, log lines without
one; on an injected clock and a string stream, so no test sleeps."""

from __future__ import annotations

import io
import itertools
import logging
import threading

import pytest

from metadir.commands.progress import LOG_EVERY, ProgressDisplay

ERASE = "\x1b[K"


class Clock:
    """Seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def at(self, seconds: float) -> None:
        """``seconds`` after the start, exactly (no sum of small steps drifting)."""
        self.now = 1000.0 + seconds


def terminal(clock: Clock, width: int = 200) -> tuple[ProgressDisplay, io.StringIO]:
    stream = io.StringIO()
    return ProgressDisplay("crm", stream, terminal=True, clock=clock, width=width), stream


def shown(stream: io.StringIO) -> list[str]:
    """The lines drawn, in order (each draw is ``\\r`` + text + erase)."""
    return [part.removesuffix(ERASE) for part in stream.getvalue().split("\r") if part]


def test_a_read_shows_rows_rate_and_time_left() -> None:
    clock = Clock()
    display, stream = terminal(clock)
    display.phase("connect")
    display.phase("read")
    display.expect(50_000)
    clock.advance(3.0)
    display.rows(12_300)
    assert shown(stream)[-1] == "crm: read 12,300 rows, 4,100/s, about 10 s left"
    assert display.snapshot() == ("read", 12_300, 50_000)


def test_no_rate_in_the_first_second_of_a_read() -> None:
    clock = Clock()
    display, stream = terminal(clock)
    display.phase("read")
    display.expect(1_000_000)
    clock.advance(0.5)
    display.rows(800)
    assert shown(stream)[-1] == "crm: read 800 rows"


def test_no_time_left_without_a_total_or_beyond_it() -> None:
    clock = Clock()
    display, _ = terminal(clock)
    display.phase("read")
    clock.advance(2.0)
    display.rows(1000)
    assert display.line() == "crm: read 1,000 rows, 500/s"
    # the estimate was short (a source that had more rows than lines): no negative time
    display.expect(900)
    assert display.line() == "crm: read 1,000 rows, 500/s"


@pytest.mark.parametrize(
    ("left", "words"),
    [
        (1_000, "about 10 s left"),
        (1_001, "about 11 s left"),
        (12_000, "about 2 min left"),
        (504_000, "about 1 h 24 min left"),
    ],
)
def test_time_left_is_as_coarse_as_it_is_uncertain(left: int, words: str) -> None:
    clock = Clock()
    display, _ = terminal(clock)
    display.phase("read")
    display.expect(10_000 + left)
    clock.advance(100.0)
    display.rows(10_000)  # 100 rows a second
    assert display.line() == f"crm: read 10,000 rows, 100/s, {words}"


def test_no_time_left_while_nothing_is_read() -> None:
    clock = Clock()
    display, _ = terminal(clock)
    display.phase("read")
    display.expect(10_000)
    clock.advance(30.0)
    display.rows(0)
    assert display.line() == "crm: read 0 rows, 0.0/s"


def test_the_rate_is_rounded_to_what_it_can_tell() -> None:
    clock = Clock()
    display, _ = terminal(clock)
    display.phase("read")
    clock.advance(7.0)
    display.rows(123_457)
    assert display.line() == "crm: read 123,457 rows, 18,000/s"


class TimedStream(io.StringIO):
    """Notes the clock's time of every write."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[float] = []

    def write(self, text: str) -> int:
        self.times.append(self.clock.now)
        return super().write(text)


def test_at_most_five_updates_a_second() -> None:
    clock = Clock()
    stream = TimedStream(clock)
    display = ProgressDisplay("crm", stream, terminal=True, clock=clock, width=80)
    display.phase("read")
    for row in range(1, 3001):
        clock.at(row / 1000)  # a thousand rows a second, for three seconds
        display.rows(row)
    gaps = [b - a for a, b in itertools.pairwise(stream.times)]
    assert all(gap >= 0.2 for gap in gaps)
    # the phase's own line at once, then one every 0.2 s (give or take a row)
    assert len(stream.times) in (15, 16)
    assert shown(stream)[0] == "crm: read 0 rows"
    assert shown(stream)[4].startswith("crm: read 80")


def test_a_phase_change_is_shown_at_once() -> None:
    clock = Clock()
    display, stream = terminal(clock)
    display.phase("connect")
    display.phase("read")
    display.rows(5)
    display.phase("diff")
    display.phase("write")
    assert shown(stream) == [
        "crm: connect",
        "crm: read 0 rows",
        "crm: diff, 5 rows read",
        "crm: write, 5 rows read",
    ]
    assert display.snapshot() == ("write", 5, None)


def test_a_read_again_counts_from_zero() -> None:
    clock = Clock()
    display, _ = terminal(clock)
    display.phase("read")
    display.rows(3000)
    display.phase("connect")
    clock.advance(10.0)
    display.phase("read")
    clock.advance(2.0)
    display.rows(1000)
    assert display.line() == "crm: read 1,000 rows, 500/s"


def test_close_clears_the_line_and_writes_the_outcome() -> None:
    clock = Clock()
    display, stream = terminal(clock)
    display.phase("read")
    display.close("crm (csv -> main): ok in 0.20 s")
    assert stream.getvalue().endswith("\r" + ERASE + "crm (csv -> main): ok in 0.20 s\n")
    # nothing is drawn after close, nor erased twice
    before = stream.getvalue()
    clock.advance(1.0)
    display.rows(10)
    display.phase("write")
    display.close()
    assert stream.getvalue() == before
    assert display.snapshot() == ("write", 10, None)


def test_close_without_a_line_writes_nothing_to_erase() -> None:
    stream = io.StringIO()
    display = ProgressDisplay("crm", stream, terminal=True, clock=Clock(), width=80)
    display.close()
    assert stream.getvalue() == ""


def test_a_long_line_is_cut_to_the_terminal() -> None:
    clock = Clock()
    stream = io.StringIO()
    display = ProgressDisplay("a" * 100, stream, terminal=True, clock=clock, width=40)
    display.phase("connect")
    assert shown(stream) == ["a" * 38 + "…"]


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "metadir.sync"]


def test_without_a_terminal_a_short_run_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "metadir.sync")
    clock = Clock()
    stream = io.StringIO()
    display = ProgressDisplay("crm", stream, terminal=False, clock=clock)
    for phase in ("connect", "read"):
        display.phase(phase)
    for row in range(1, 4001):
        clock.at(row / 1000)
        display.rows(row)
    display.phase("diff")
    display.phase("write")
    display.close()
    assert logged(caplog) == []
    assert stream.getvalue() == ""


def test_without_a_terminal_a_log_line_every_five_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "metadir.sync")
    clock = Clock()
    stream = io.StringIO()
    display = ProgressDisplay("crm", stream, terminal=False, clock=clock)
    display.phase("connect")
    display.phase("read")
    display.expect(20_000)
    for row in range(1, 12_001):
        clock.at(row / 1000)  # a thousand rows a second for twelve seconds
        display.rows(row)
    display.phase("diff")
    display.close("crm: ok")
    assert logged(caplog) == [
        "crm: read 5,000 rows, 1,000/s, about 15 s left",
        "crm: read 10,000 rows, 1,000/s, about 10 s left",
        # a run long enough to be logged logs its phases at once
        "crm: diff, 12,000 rows read",
    ]
    # no escapes in a log or a pipe; the outcome still gets its line
    assert stream.getvalue() == "crm: ok\n"
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_an_own_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    log = logging.getLogger("metadir.tests.progress")
    display = ProgressDisplay("crm", io.StringIO(), terminal=False, clock=clock, log=log)
    display.phase("read")
    clock.advance(LOG_EVERY)
    display.rows(50)
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("metadir.tests.progress", "crm: read 50 rows, 10/s")
    ]


def test_the_snapshot_can_be_read_from_another_thread() -> None:
    clock = Clock()
    display, _ = terminal(clock)
    display.phase("read")
    display.expect(100_000)
    seen: list[tuple[str, int, int | None]] = []
    done = threading.Event()

    def keeper() -> None:
        while not done.is_set():
            seen.append(display.snapshot())

    thread = threading.Thread(target=keeper)
    thread.start()
    try:
        for row in range(1, 20_001):
            display.rows(row)
    finally:
        done.set()
        thread.join()
    rows = [count for _, count, _ in seen]
    assert rows == sorted(rows) and all(total == 100_000 for _, _, total in seen)
    assert display.snapshot() == ("read", 20_000, 100_000)
