"""When replicators run: cron expressions and intervals in a time zone, durations, the
program run after a sync, run history and lease settings.

Every node computes the same slots from the config alone: a cron expression follows the
wall clock of its zone, an interval counts elapsed time from 2000-01-01 00:00 in its zone.
On the night the clocks go back, a wall time that occurs twice is one slot, at its first
occurrence; on the night they go forward, a wall time that does not exist runs when the
clocks skip past it (02:30 at 03:00). So no slot runs twice and none is lost.

Slots are instants (UTC-aware datetimes); the scheduler compares them with the database's
clock and shows them in the schedule's zone.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import shlex
import shutil
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from metadir.core.settings import Strict

if TYPE_CHECKING:
    from croniter import croniter

# a plain number is seconds; else parts from days down to seconds, each at most once
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_DURATION_HINT = "expected a duration such as 30s, 15m, 2h, 1d or 1h30m"
# intervals count from here, in the schedule's zone, so every node has the same slots
_EPOCH = datetime(2000, 1, 1)
_CRON_HINT = "expected five fields (minute hour day month weekday) or @hourly, @daily, …"


def parse_duration(value: object, *, zero: bool = False) -> timedelta:
    """``value`` as a duration: "30s", "15m", "2h", "1d", "1h30m", a number of seconds or a
    ``timedelta``. Raises ``ValueError`` in words; negative durations too, and zero unless
    ``zero`` allows it."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, bool):  # an int to Python, a mistake in a config
        raise ValueError(f"{_DURATION_HINT}, not {value!r}")
    elif isinstance(value, int | float):
        duration = timedelta(seconds=value)
    elif isinstance(value, str):
        text = "".join(value.split()).lower()
        if _NUMBER.fullmatch(text):
            duration = timedelta(seconds=float(text))
        elif text and (m := _DURATION.fullmatch(text)):
            days, hours, minutes, seconds = (float(part or 0) for part in m.groups())
            duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        else:
            raise ValueError(f"{_DURATION_HINT}, not {value!r}")
    else:
        raise ValueError(f"{_DURATION_HINT}, not {value!r}")
    if duration < timedelta(0):
        raise ValueError(f"must not be negative, not {value!r}")
    if duration == timedelta(0) and not zero:
        raise ValueError(f"must be longer than 0s, not {value!r}")
    return duration


def format_duration(duration: timedelta) -> str:
    """``duration`` the way a config writes it: "15m", "1h30m", "0.5s"."""
    seconds = duration.total_seconds()
    if seconds <= 0:
        return "0s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    fraction = seconds - whole
    if fraction:
        parts.append(f"{secs + fraction:g}s")
    elif secs:
        parts.append(f"{secs}s")
    return "".join(parts)


def _duration(value: object) -> timedelta:
    return parse_duration(value)


def _duration_or_zero(value: object) -> timedelta:
    return parse_duration(value, zero=True)


# a duration setting: "30s", "15m", "2h", "1d", "1h30m" or seconds
Duration = Annotated[timedelta, BeforeValidator(_duration)]
# the same, where 0 means "every time"
DurationOrZero = Annotated[timedelta, BeforeValidator(_duration_or_zero)]


def _at_least(value: timedelta, least: timedelta) -> timedelta:
    if value < least:
        raise ValueError(f"must be at least {format_duration(least)}, not {format_duration(value)}")
    return value


def _croniter() -> type[croniter]:
    # imported when a cron expression is read: croniter and dateutil cost the LDAP server,
    # which reads directory settings but schedules nothing, 50 ms at start
    from croniter import croniter

    return croniter


def check_cron(expression: str) -> str:
    """``expression`` with its spaces tidied if it is a cron expression that matches some
    date; raises ``ValueError`` in words."""
    from croniter import CroniterBadCronError, CroniterBadDateError

    tidy = " ".join(expression.split())
    fields = tidy.split(" ")
    # croniter also reads 6 and 7 fields (seconds, years); an admin writing them meant
    # something else, so only the five of cron(5) and its @ words
    if not (len(fields) == 5 or (len(fields) == 1 and tidy.startswith("@"))):
        hint = _CRON_HINT
        try:
            parse_duration(tidy)
            hint = f"for an interval write 'every: {tidy}'"
        except ValueError:
            pass
        raise ValueError(f"not a cron expression: {expression!r}: {hint}")
    try:
        _croniter()(tidy, _EPOCH).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"cron expression {expression!r} matches no date") from None
    except (CroniterBadCronError, ValueError, KeyError) as exc:
        # croniter says "[EXPR] is not acceptable, out of range"; the expression is named once
        reason = re.sub(r"^\[.*?\]\s*", "", str(exc))
        if reason.startswith("is not acceptable"):
            reason = "a value is out of range" if "out of range" in reason else _CRON_HINT
        raise ValueError(f"not a cron expression: {expression!r}: {reason}") from None
    return tidy


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every time zone the system knows, by its name in lower case."""
    return {name.lower(): name for name in available_timezones()}


def check_zone(name: str) -> str:
    """``name`` if it names a time zone (IANA, such as Europe/Berlin); raises ``ValueError``
    naming the closest known one."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        known = _zone_names()
        guess = known.get(name.strip().lower())
        if guess is None:
            close = difflib.get_close_matches(name.strip().lower(), sorted(known), n=1)
            guess = known[close[0]] if close else None
        hint = f" (did you mean {guess!r}?)" if guess else " (an IANA name such as Europe/Berlin)"
        raise ValueError(f"unknown time zone {name!r}{hint}") from None
    return name


def local_zone() -> tzinfo:
    """The machine's time zone, with its clock changes: ``TZ``, else /etc/localtime."""
    name = os.environ.get("TZ", "").removeprefix(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # a POSIX rule such as CET-1CEST; the system's file says the same
    localtime = Path("/etc/localtime")
    try:
        target = str(localtime.resolve())
        if "/zoneinfo/" in target:
            return ZoneInfo(target.split("/zoneinfo/", 1)[1])
        with localtime.open("rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def _instant(wall: datetime, zone: tzinfo) -> datetime:
    """The instant (UTC) a slot at the naive wall time ``wall`` in ``zone`` runs: its first
    occurrence when the clocks went back, the end of the gap when they went forward."""
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # in a gap: fold 0 reads it with the offset before, fold 1 with the one after; the
    # clocks skipped between the two, at the first instant whose wall time is past ``wall``
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = sorted((int(first.timestamp()), int(other.timestamp())))
    while low < high:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle + 1
    return datetime.fromtimestamp(high, UTC)


def _offset(at: datetime) -> timedelta:
    return at.utcoffset() or timedelta(0)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a schedule needs a time with its zone, not {at.isoformat()}")
    return at


class Schedule(Strict):
    """When a replicator runs: a cron expression or an interval, in a time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # five fields, "*/15 * * * *", or @hourly, @daily, …
    cron: str | None = None
    # an interval, counted from 2000-01-01 00:00 in the zone: "15m", "2h"
    every: Duration | None = None
    # an IANA zone such as Europe/Berlin; None: the machine's
    timezone: str | None = None
    # also run once when the scheduler starts
    run_at_start: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # a plain string is a cron expression; read here so a fault is named at the key
        # the admin wrote, not at a "cron" key they did not
        if isinstance(data, str):
            return {"cron": check_cron(data)}
        return data

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("every")
    @classmethod
    def _every(cls, value: timedelta | None) -> timedelta | None:
        return None if value is None else _at_least(value, timedelta(seconds=1))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)

    @model_validator(mode="after")
    def _one_of(self) -> Schedule:
        if (self.cron is None) == (self.every is None):
            raise ValueError(
                "give either 'cron' or 'every'"
                if self.cron is None
                else "give 'cron' or 'every', not both"
            )
        return self

    @property
    def zone(self) -> tzinfo:
        """The zone slots are computed and shown in."""
        return ZoneInfo(self.timezone) if self.timezone else local_zone()

    def latest(self, at: datetime) -> datetime | None:
        """The latest slot at or before ``at`` (UTC); None if there is none."""
        at = _aware(at)
        zone = self.zone
        if self.every is not None:
            anchor = _instant(_EPOCH, zone)
            return anchor + ((at - anchor) // self.every) * self.every
        from croniter import CroniterBadDateError

        local = at.astimezone(zone)
        wall = local.replace(tzinfo=None)
        # in the hour the clocks went back, wall times up to an hour later than ``at``'s
        # had their first occurrence before it
        back = _offset(wall.replace(tzinfo=zone, fold=0)) - _offset(local)
        start = (wall + max(back, timedelta(0))).replace(second=0, microsecond=0)
        slots = _croniter()(self.cron, start + timedelta(minutes=1))
        try:
            while True:
                slot = _instant(slots.get_prev(datetime), zone)
                if slot <= at:
                    return slot
        except CroniterBadDateError:
            return None

    def next_after(self, at: datetime) -> datetime:
        """The first slot after ``at`` (UTC)."""
        at = _aware(at)
        zone = self.zone
        if self.every is not None:
            anchor = _instant(_EPOCH, zone)
            return anchor + ((at - anchor) // self.every + 1) * self.every
        slots = _croniter()(self.cron, at.astimezone(zone).replace(tzinfo=None))
        while True:
            # wall times map to instants in order, so the first one after ``at`` is next
            slot = _instant(slots.get_next(datetime), zone)
            if slot > at:
                return slot

    def upcoming(self, at: datetime, n: int = 3) -> list[datetime]:
        """The next ``n`` slots after ``at`` (UTC)."""
        slots: list[datetime] = []
        for _ in range(n):
            at = self.next_after(at)
            slots.append(at)
        return slots

    def __str__(self) -> str:
        text = f"every {format_duration(self.every)}" if self.every else f'cron "{self.cron}"'
        if self.timezone:
            text += f" ({self.timezone})"
        return text + (" and at start" if self.run_at_start else "")


def _program(words: list[str], base_dir: Path) -> list[str]:
    """``words`` with the program found: a path (it has a '/') relative to the config
    file's folder, else a name on PATH. Raises ``ValueError`` if it is missing or cannot
    be run."""
    if not words or not words[0]:
        raise ValueError("must name a program to run")
    program = words[0]
    if "/" not in program:
        if shutil.which(program) is None:
            raise ValueError(f"program {program!r} is not on PATH")
        return words
    # absolute: a run's working folder need not be the config file's
    path = Path(os.path.abspath(base_dir / program))
    if not path.exists():
        raise ValueError(f"program {str(path)!r} does not exist")
    if not path.is_file() or not os.access(path, os.X_OK):
        raise ValueError(f"program {str(path)!r} is not executable")
    return [str(path), *words[1:]]


def found_program(command: list[str], info: ValidationInfo) -> list[str]:
    """``command`` with its program found: on PATH, or relative to the config file's
    folder (the validation context's ``base_dir``). Raises ``ValueError``."""
    return _program(command, Path((info.context or {}).get("base_dir", ".")))


def split_command(value: Any) -> Any:
    """A command written as one string, split as a shell would (without a shell); a list
    as it is."""
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"cannot read {value!r} as a command: {exc}") from None
    return value


class AfterRun(Strict):
    """A program run after each run of a replicator, told the outcome in its environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the program and its arguments; a string is split as a shell would, without a shell
    command: list[str]
    # how long it may take before it is killed
    timeout: Duration = timedelta(seconds=60)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any, info: ValidationInfo) -> Any:
        # "after_run: bin/notify.sh" is the command; a fault is named at after_run then
        if isinstance(data, str | list):
            return {"command": found_program(split_command(data), info)}
        return data

    _split = field_validator("command", mode="before")(split_command)
    _found = field_validator("command")(found_program)

    @property
    def program(self) -> str:
        return self.command[0]

    def __str__(self) -> str:
        return shlex.join(self.command)


class History(Strict):
    """How long run records are kept."""

    keep_days: int = Field(default=90, ge=1)


class SchedulerSettings(Strict):
    """How the scheduler shares replicators between nodes."""

    # how long a node's claim on a running replicator lasts unless renewed; a node that
    # stops renewing loses its runs to another after this long
    lease: Duration = timedelta(seconds=30)

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: timedelta) -> timedelta:
        return _at_least(value, timedelta(seconds=5))
