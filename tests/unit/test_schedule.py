"""Schedules: durations, cron slots and intervals in a time zone, across clock changes."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from metadir.core.schedule import (
    AfterRun,
    History,
    Schedule,
    SchedulerSettings,
    format_duration,
    local_zone,
    parse_duration,
)

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int, fold: int = 0) -> datetime:
    """A wall time in Berlin as its instant in UTC (an ambiguous local time never compares
    equal to another zone's, PEP 495)."""
    return datetime(*args, tzinfo=BERLIN, fold=fold).astimezone(UTC)  # type: ignore[misc]


def shown(slots: list[datetime]) -> list[str]:
    return [slot.astimezone(BERLIN).isoformat() for slot in slots]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d 2h 3m 4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("2H", timedelta(hours=2)),
        ("90", timedelta(seconds=90)),
        ("0.5", timedelta(seconds=0.5)),
        ("1.5s", timedelta(seconds=1.5)),
        (45, timedelta(seconds=45)),
        (0.25, timedelta(seconds=0.25)),
        (timedelta(minutes=1), timedelta(minutes=1)),
    ],
)
def test_durations_are_read(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0s", "must be longer than 0s, not '0s'"),
        (0, "must be longer than 0s, not 0"),
        (-5, "must not be negative, not -5"),
        ("-5m", "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not '-5m'"),
        ("", "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not ''"),
        ("1 fortnight", "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not '1 fortnight'"),
        ("30m1h", "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not '30m1h'"),
        ("1.5h", "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not '1.5h'"),
        (True, "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not True"),
        ([1], "expected a duration such as 30s, 15m, 2h, 1d or 1h30m, not [1]"),
    ],
)
def test_bad_durations_are_refused_in_words(value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=1), "1d"),
        (timedelta(days=1, seconds=5), "1d5s"),
        (timedelta(seconds=0.5), "0.5s"),
        (timedelta(seconds=61.5), "1m1.5s"),
        (timedelta(0), "0s"),
    ],
)
def test_durations_are_shown_as_written(duration: timedelta, text: str) -> None:
    assert format_duration(duration) == text


def test_a_plain_string_is_a_cron_expression() -> None:
    schedule = Schedule.model_validate("  */15   * * * *")
    assert schedule.cron == "*/15 * * * *"
    assert schedule.every is None and schedule.run_at_start is False


def test_cron_slots_follow_the_wall_clock() -> None:
    schedule = Schedule(cron="0 */2 * * *", timezone="Europe/Berlin")
    at = berlin(2026, 12, 3, 17, 5)
    assert shown(schedule.upcoming(at)) == [
        "2026-12-03T18:00:00+01:00",
        "2026-12-03T20:00:00+01:00",
        "2026-12-03T22:00:00+01:00",
    ]
    assert shown([schedule.latest(at)]) == ["2026-12-03T16:00:00+01:00"]  # type: ignore[list-item]
    # a slot at ``at`` itself is the latest, and the next is after it
    assert schedule.latest(berlin(2026, 12, 3, 18)) == berlin(2026, 12, 3, 18)
    assert schedule.next_after(berlin(2026, 12, 3, 18)) == berlin(2026, 12, 3, 20)
    # always in UTC
    assert schedule.next_after(at).tzinfo is UTC


def test_cron_words_and_weekdays() -> None:
    daily = Schedule(cron="@daily", timezone="Europe/Berlin")
    assert daily.next_after(berlin(2026, 12, 3, 17)) == berlin(2026, 12, 4, 0)
    weekdays = Schedule(cron="30 7 * * MON-FRI", timezone="Europe/Berlin")
    # Friday evening: the next run is Monday morning
    assert weekdays.next_after(berlin(2026, 12, 4, 18)) == berlin(2026, 12, 7, 7, 30)


def test_a_daily_slot_in_the_hour_the_clocks_skip_runs_when_they_skip() -> None:
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist that night
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    assert shown(schedule.upcoming(berlin(2026, 3, 27, 12), 4)) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert schedule.latest(berlin(2026, 3, 29, 3, 10)) == berlin(2026, 3, 29, 3)
    assert schedule.latest(berlin(2026, 3, 29, 1, 59)) == berlin(2026, 3, 28, 2, 30)


def test_slots_in_the_skipped_hour_run_once_when_the_clocks_skip() -> None:
    schedule = Schedule(cron="*/15 * * * *", timezone="Europe/Berlin")
    assert shown(schedule.upcoming(berlin(2026, 3, 29, 1, 40), 4)) == [
        "2026-03-29T01:45:00+01:00",
        # 02:00, 02:15, 02:30, 02:45 and 03:00 all fall on the same instant
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:15:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_a_daily_slot_in_the_hour_that_repeats_runs_once() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 occurs twice that night
    schedule = Schedule(cron="30 2 * * *", timezone="Europe/Berlin")
    assert shown(schedule.upcoming(berlin(2026, 10, 24, 12), 3)) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]
    second = berlin(2026, 10, 25, 2, 40, fold=1)
    assert second.astimezone(BERLIN).utcoffset() == timedelta(hours=1)
    # in the hour's second pass the slot is behind us, not ahead
    assert schedule.next_after(second) == berlin(2026, 10, 26, 2, 30)
    assert schedule.latest(second) == berlin(2026, 10, 25, 2, 30)
    assert shown([schedule.latest(second)]) == ["2026-10-25T02:30:00+02:00"]  # type: ignore[list-item]


def test_slots_in_the_hour_that_repeats_run_at_their_first_occurrence() -> None:
    schedule = Schedule(cron="*/15 * * * *", timezone="Europe/Berlin")
    slots = schedule.upcoming(berlin(2026, 10, 25, 2, 10), 6)
    assert shown(slots) == [
        "2026-10-25T02:15:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+02:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T03:15:00+01:00",
        "2026-10-25T03:30:00+01:00",
    ]
    assert len(set(slots)) == len(slots)
    # in the second pass of 02:xx the latest slot is the first pass's last one
    second = berlin(2026, 10, 25, 2, 20, fold=1)
    assert shown([schedule.latest(second)]) == ["2026-10-25T02:45:00+02:00"]  # type: ignore[list-item]
    assert schedule.next_after(second) == berlin(2026, 10, 25, 3, 0)


def test_walking_a_year_of_slots_never_repeats_or_goes_back() -> None:
    schedule = Schedule(cron="0 * * * *", timezone="Europe/Berlin")
    slots = schedule.upcoming(berlin(2025, 12, 31, 23, 30), 24 * 366)
    assert all(a < b for a, b in itertools.pairwise(slots))
    per_day = Counter(d for s in slots if (d := s.astimezone(BERLIN).date()).year == 2026)
    # the skipped hour's slot runs when the clocks skip, at 03:00 with 03:00's own; the
    # repeated hour's slot runs once
    assert per_day.pop(date(2026, 3, 29)) == 23
    assert per_day.pop(date(2026, 10, 25)) == 24
    assert len(per_day) == 363 and set(per_day.values()) == {24}
    for slot in slots[:: 24 * 7]:
        assert schedule.latest(slot) == slot
        assert schedule.latest(slot + timedelta(minutes=59)) == slot
        assert schedule.next_after(slot - timedelta(seconds=1)) == slot


def test_intervals_count_from_2000_in_the_zone() -> None:
    schedule = Schedule(every=timedelta(minutes=15), timezone="Europe/Berlin")
    at = berlin(2026, 12, 3, 18, 1)
    assert shown(schedule.upcoming(at)) == [
        "2026-12-03T18:15:00+01:00",
        "2026-12-03T18:30:00+01:00",
        "2026-12-03T18:45:00+01:00",
    ]
    assert schedule.latest(at) == berlin(2026, 12, 3, 18, 0)
    assert schedule.latest(berlin(2026, 12, 3, 18)) == berlin(2026, 12, 3, 18)
    # 7 minutes does not divide an hour: the slots are where counting from 2000 puts them
    odd = Schedule(every=timedelta(minutes=7), timezone="Europe/Berlin")
    start = berlin(2000, 1, 1)
    slot = odd.latest(berlin(2026, 12, 3, 18))
    assert slot is not None and (slot - start) % timedelta(minutes=7) == timedelta(0)
    # the same slots in every zone's view of the instant
    assert Schedule(every=timedelta(hours=1), timezone="UTC").latest(
        datetime(2026, 12, 3, 17, 30, tzinfo=UTC)
    ) == datetime(2026, 12, 3, 17, tzinfo=UTC)


def test_intervals_keep_their_pace_across_clock_changes() -> None:
    schedule = Schedule(every=timedelta(hours=1), timezone="Europe/Berlin")
    slots = schedule.upcoming(berlin(2026, 10, 25, 1, 30), 4)
    assert shown(slots) == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00",
        "2026-10-25T04:00:00+01:00",
    ]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(slots))


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="a time with its zone"):
        Schedule(cron="* * * * *").latest(datetime(2026, 1, 1))


def test_without_a_timezone_the_machines_zone_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert local_zone() == BERLIN
    schedule = Schedule(cron="0 3 * * *")
    assert schedule.next_after(berlin(2026, 12, 3, 17)) == berlin(2026, 12, 4, 3)
    monkeypatch.setenv("TZ", ":UTC")
    assert local_zone() == ZoneInfo("UTC")


def test_schedules_say_what_they_are() -> None:
    assert str(Schedule(every=timedelta(minutes=15))) == "every 15m"
    assert (
        str(Schedule(cron="0 */2 * * *", timezone="Europe/Berlin"))
        == 'cron "0 */2 * * *" (Europe/Berlin)'
    )
    assert (
        str(Schedule.model_validate({"every": "1h30m", "run_at_start": True}))
        == "every 1h30m and at start"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("*/15 * * *", "not a cron expression: '*/15 * * *': expected five fields"),
        ("15m", "not a cron expression: '15m': for an interval write 'every: 15m'"),
        ("61 * * * *", "not a cron expression: '61 * * * *': a value is out of range"),
        ("*/0 * * * *", "not a cron expression: '*/0 * * * *': step '0'"),
        ("0 0 30 2 *", "cron expression '0 0 30 2 *' matches no date"),
        ("* * * * * *", "not a cron expression: '* * * * * *': expected five fields"),
        ({}, "give either 'cron' or 'every'"),
        ({"cron": "@daily", "every": "1h"}, "give 'cron' or 'every', not both"),
        ({"every": "0.5s"}, "must be at least 1s, not 0.5s"),
        (
            {"every": "1h", "timezone": "Europe/Berlinn"},
            "unknown time zone 'Europe/Berlinn' (did you mean 'Europe/Berlin'?)",
        ),
        (
            {"every": "1h", "timezone": "Mars/Olympus"},
            "unknown time zone 'Mars/Olympus'",
        ),
        ({"every": "1h", "timezone": "Europe"}, "unknown time zone 'Europe'"),
        ({"every": "1h", "timezone": "../etc/passwd"}, "unknown time zone '../etc/passwd'"),
    ],
)
def test_bad_schedules_are_refused_in_words(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Schedule.model_validate(value)
    assert message in str(info.value)


def test_after_run_commands_are_split_and_found(tmp_path: object) -> None:
    after = AfterRun.model_validate("sh -c 'exit 0'")
    assert after.command == ["sh", "-c", "exit 0"]
    assert after.timeout == timedelta(seconds=60)
    assert str(after) == "sh -c 'exit 0'"


def test_history_and_scheduler_defaults() -> None:
    assert History().keep_days == 90
    assert SchedulerSettings().lease == timedelta(seconds=30)
    assert SchedulerSettings.model_validate({"lease": "1m"}).lease == timedelta(minutes=1)
    with pytest.raises(ValidationError, match="must be at least 5s, not 2s"):
        SchedulerSettings.model_validate({"lease": "2s"})
