"""What the scheduler starts when: cron and interval slots, one catch-up run for many missed
slots, a slot run once across nodes, a dead holder's slot run again, run_at_start, and the
replicators of one directory one after the other. Plain values, no clock to wait for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metadir.core.schedule import Schedule
from metadir.service.due import Due, Scheduled, due_runs
from metadir.store.leases import LeaseState

T0 = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
EVERY_2S = Schedule.model_validate({"every": "2s", "timezone": "UTC"})
HOURLY = Schedule.model_validate({"cron": "0 * * * *", "timezone": "UTC"})


def lease(
    replicator: str,
    slot: datetime | None,
    *,
    done: bool = True,
    holder: str | None = None,
    expired: bool = False,
) -> LeaseState:
    return LeaseState(
        replicator, holder, 7, T0 if holder else None, T0 + timedelta(seconds=30) if holder
        else None, "schedule", slot, done, None, None, None, None, expired,
    )  # fmt: skip


def due(
    scheduled: list[Scheduled],
    leases: list[LeaseState],
    now: datetime,
    running: set[str] | None = None,
    start: set[str] | None = None,
) -> list[Due]:
    return due_runs(
        scheduled,
        {item.replicator: item for item in leases},
        now,
        running=running or set(),
        start_pending=start or set(),
    )


CRM = Scheduled("crm", "contacts", HOURLY)
HR = Scheduled("hr", "contacts", HOURLY)
ERP = Scheduled("erp", "suppliers", HOURLY)


def test_a_replicator_never_run_is_due_for_the_latest_slot() -> None:
    assert due([CRM], [], T0 + timedelta(minutes=20)) == [Due("crm", T0, "schedule")]


def test_a_slot_run_to_the_end_is_not_run_again_until_the_next() -> None:
    done = [lease("crm", T0)]
    assert due([CRM], done, T0 + timedelta(minutes=59, seconds=59)) == []
    assert due([CRM], done, T0 + timedelta(hours=1)) == [
        Due("crm", T0 + timedelta(hours=1), "schedule")
    ]


def test_many_missed_slots_are_one_catch_up_run_for_the_latest() -> None:
    # every node was down for a day and a half
    long_ago = [lease("crm", T0 - timedelta(days=1, hours=12))]
    now = T0 + timedelta(minutes=5)
    assert due([CRM], long_ago, now) == [Due("crm", T0, "schedule")]


def test_a_running_lease_is_left_to_its_holder() -> None:
    held = [lease("crm", T0, done=False, holder="node-b")]
    assert due([CRM], held, T0 + timedelta(hours=2)) == []


def test_a_slot_whose_holder_died_is_run_again_once_its_lease_expired() -> None:
    dead = [lease("crm", T0, done=False, holder="node-b", expired=True)]
    assert due([CRM], dead, T0 + timedelta(minutes=1)) == [Due("crm", T0, "schedule")]
    # a holder that released without finishing (serve stopped) leaves the slot open too
    released = [lease("crm", T0, done=False)]
    assert due([CRM], released, T0 + timedelta(minutes=1)) == [Due("crm", T0, "schedule")]


def test_replicators_of_one_directory_go_one_at_a_time_in_config_order() -> None:
    now = T0 + timedelta(minutes=1)
    assert due([CRM, HR, ERP], [], now) == [Due("crm", T0, "schedule"), Due("erp", T0, "schedule")]
    # crm done: hr is next; while this node runs crm, nothing else of its directory starts
    assert due([CRM, HR], [lease("crm", T0)], now) == [Due("hr", T0, "schedule")]
    assert due([CRM, HR, ERP], [], now, running={"crm"}) == [Due("erp", T0, "schedule")]


def test_run_at_start_runs_once_even_when_the_slot_was_run() -> None:
    now = T0 + timedelta(minutes=1)
    assert due([CRM], [lease("crm", T0)], now, start={"crm"}) == [Due("crm", None, "start")]
    # a slot that is due anyway is that run, told as the start run
    assert due([CRM], [], now, start={"crm"}) == [Due("crm", T0, "start")]


def test_intervals_slots_are_the_same_on_every_node() -> None:
    ticking = Scheduled("crm", "contacts", EVERY_2S)
    first = due([ticking], [], T0 + timedelta(seconds=3.5))
    assert first == [Due("crm", T0 + timedelta(seconds=2), "schedule")]
    # another node a moment later sees the slot done
    assert due([ticking], [lease("crm", first[0].slot)], T0 + timedelta(seconds=3.9)) == []
