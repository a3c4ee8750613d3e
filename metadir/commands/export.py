"""``metadir export``: run export replicators now and print what each sent."""

from __future__ import annotations

import sys
from datetime import datetime

from metadir.commands.runner import BUSY, Runner
from metadir.commands.sync import details
from metadir.config import Config
from metadir.service.load import ensure_layout
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.export import PREFIX, ExportJob
from metadir.sync.worker import Stop, watch_supervisor
from replicators.base import ExportConfig

PROG = "metadir export"


def export_command(
    config: Config,
    names: list[str],
    *,
    force: bool,
    full: bool,
    wait: bool = False,
    trigger: str = "manual",
    lease_token: int | None = None,
    node: str | None = None,
    supervised: bool = False,
    slot: datetime | None = None,
) -> int:
    """Run the named exports (all when none are named) and print what each sent; ``full``
    sends every entry again instead of the changes since the last run, ``force`` lets a run
    delete more than its ``max_delete``.

    Each run holds its export's lease, as scheduled runs do (an export waits for no
    replicator, and none waits for it). The rest, and the exit status, as ``metadir
    sync``: 0 if every run was ok, 1 if any failed or was stopped, 2 for an unknown name,
    3 if none failed but one was not started because it was running elsewhere."""
    exports: list[ExportConfig] = list(config.exports)
    unknown = [name for name in names if config.export(name) is None]
    if unknown:
        listed = ", ".join(export.name for export in exports) or "none configured"
        for name in dict.fromkeys(unknown):
            print(f"{PROG}: no export named {name!r}; known: {listed}", file=sys.stderr)
        return 2
    wanted = set(names)
    selected = [export for export in exports if export.name in wanted] if names else exports
    if not selected:
        print(f"{PROG}: {config.path}: no exports configured", file=sys.stderr)
        return 0
    stop = Stop()
    if supervised:
        watch_supervisor(stop)
    node = node or config.node_name()
    runner = Runner(config, node, trigger, stop, supervised, slot, command=PROG)
    failures = busy = 0
    with Store.open(config.store_url()) as store:
        ensure_layout(store, config)
        for export in selected:
            job = config.export_job(export)
            # the lease row is the export's row: it must exist before the lease is asked
            store.ensure_replicator(PREFIX + export.name, export.type, min(job.directories))
            lease = runner.lease(store, PREFIX + export.name, lease_token, wait)
            if lease is None:
                busy += 1
                continue
            result = runner.run_export(store, job, lease, force=force, full=full)
            print(summary(result, job), flush=True)
            failures += result.outcome != "ok"
    return 1 if failures else BUSY if busy else 0


def summary(result: RunRecord, job: ExportJob) -> str:
    """What one export run did, as ``metadir sync`` says it of a replicator."""
    export = job.export
    source = ", ".join(job.directories)
    head = f"{export.name} ({export.type} <- {source}): {result.outcome} in {result.seconds:.2f} s"
    head += ": " + (sent(result) if result.outcome == "ok" else "nothing sent")
    return "\n".join([head, *details(result, "(see `metadir status`)", "  ")])


def sent(run: RunRecord) -> str:
    """What an ok export run sent its target."""
    mode = "incremental: " if run.mode == "incremental" else ""
    return f"{mode}{run.added} added, {run.updated} updated, {run.deleted} deleted"
