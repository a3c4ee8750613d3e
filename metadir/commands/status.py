"""``metadir status``: each directory's size; each replicator's and export's schedule, last
run and the run going on now; the nodes sharing the store and the leases they hold."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from metadir.commands.export import sent
from metadir.commands.sync import details, entries, last_run, replicators
from metadir.config import Config
from metadir.store.leases import LeaseState
from metadir.store.nodes import NodeRecord
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.export import PREFIX

# a node silent for longer than this is shown as gone (it signs in every 10 s)
GONE_AFTER = timedelta(seconds=30)


def status_command(config: Config) -> int:
    """Print what ``metadir status`` shows."""
    with Store.open(config.store_url()) as store:
        sizes = store.directory_sizes()
        runs = store.last_runs()
        leases = {lease.replicator: lease for lease in store.leases()}
        nodes = store.nodes()
        now = store.db_now()
    lines = []
    for directory in config.directories:
        count = sizes.get(directory.name, 0)
        lines.append(f"directory {directory.name} ({directory.dn}): {entries(count)}")
        for rep in replicators(directory):
            run = runs.get(rep.name)
            lines.append(f"  {rep.name} ({rep.type}): " + (last_run(run) if run else "never run"))
            schedule = config.schedule_for(directory, rep)
            if schedule is not None:
                upcoming = schedule.upcoming(now, 1)
                when = f"; next run {upcoming[0].isoformat()}" if upcoming else ""
                lines.append(f"    schedule {schedule}{when}")
            lease = leases.get(rep.name)
            if lease is not None and lease.holder is not None:
                lines.append("    " + running(lease))
            if run:
                lines += details(run, None, indent="    ")
    if not config.directories:
        lines.append(f"{config.path}: no directories configured")
    lines += _exports(config, runs, leases, now)
    if nodes:
        lines.append("nodes:")
        held = _held(leases.values())
        lines += ["  " + node_line(node, now, held.get(node.name, [])) for node in nodes]
    print("\n".join(lines))
    return 0


def _exports(
    config: Config, runs: dict[str, RunRecord], leases: dict[str, LeaseState], now: datetime
) -> list[str]:
    """``metadir status``'s lines on the exports: last run, schedule, the run going on."""
    lines = ["exports:"] if config.exports else []
    for export in config.exports:
        job = config.export_job(export)
        run = runs.get(PREFIX + export.name)
        head = f"  {export.name} ({export.type} <- {', '.join(job.directories)}): "
        if run is None:
            lines.append(head + "never run")
        else:
            when = f"{run.started:%Y-%m-%d %H:%M:%S} UTC"
            forced = " (forced)" if run.forced else ""
            done = sent(run) if run.outcome == "ok" else "nothing sent"
            lines.append(f"{head}last run {when}{forced}, {run.outcome}: {done}")
        if export.schedule is not None:
            upcoming = export.schedule.upcoming(now, 1)
            when = f"; next run {upcoming[0].isoformat()}" if upcoming else ""
            lines.append(f"    schedule {export.schedule}{when}")
        else:
            lines.append("    runs after an import into its directories changed something")
        lease = leases.get(PREFIX + export.name)
        if lease is not None and lease.holder is not None:
            lines.append("    " + running(lease))
        if run is not None:
            lines += details(run, None, indent="    ")
    return lines


def running(lease: LeaseState) -> str:
    """A lease held: who runs the replicator since when, and how far it got."""
    since = f" since {_local(lease.acquired_at)}" if lease.acquired_at else ""
    head = f"running on node {lease.holder}{since} ({lease.trigger}, lease {lease.token}"
    if lease.expired:
        head += ", expired: the node is gone or cut off; another takes the run over)"
    elif lease.expires_at is not None:
        head += f", renewed until {_local(lease.expires_at)})"
    else:
        head += ")"
    if lease.phase:
        rows = f"{lease.rows or 0:,} rows"
        if lease.total:
            rows += f" of about {lease.total:,}"
        head += f": {lease.phase}, {rows}"
    return head


def node_line(node: NodeRecord, now: datetime, holds: list[str]) -> str:
    """One node: what it runs, when it was last seen."""
    silent = now - node.last_seen
    seen = f"last seen {_ago(silent)} ago — gone?" if silent > GONE_AFTER else "up"
    role = "serves and schedules" if node.schedules else "serves only"
    line = (
        f"{node.name}: metadir {node.version} on {node.host} (pid {node.pid}), "
        f"started {_local(node.started_at)}, {seen}, {role}"
    )
    if holds:
        line += f"; runs {', '.join(holds)}"
    return line


def _held(leases: Iterable[LeaseState]) -> dict[str, list[str]]:
    held: dict[str, list[str]] = {}
    for lease in leases:
        if lease.holder is not None and not lease.expired:
            held.setdefault(lease.holder, []).append(lease.replicator)
    return held


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _local(moment: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S %Z}"
