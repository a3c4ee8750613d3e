"""``metadir sync``: run replicators now and print what each did."""

from __future__ import annotations

import sys
from datetime import datetime

from metadir.commands.runner import BUSY, Runner
from metadir.config import Config, DirectoryConfig
from metadir.service.load import ensure_layout
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.worker import Stop, watch_supervisor
from replicators.base import ReplicatorConfig

# problem lines `metadir sync` prints per replicator; `metadir status` shows all recorded
PROBLEMS_SHOWN = 20


def sync_command(
    config: Config,
    names: list[str],
    force: bool,
    dry_run: bool,
    full: bool = False,
    *,
    wait: bool = False,
    trigger: str = "manual",
    lease_token: int | None = None,
    node: str | None = None,
    supervised: bool = False,
    slot: datetime | None = None,
) -> int:
    """Run the named replicators (all when none are named) and print what each did;
    ``full`` has each read its whole source instead of resuming from its saved state.

    Each run holds its replicator's lease, as scheduled runs do: one running elsewhere
    (``metadir serve``'s scheduler, another node) is waited for with ``wait``, else
    skipped. ``serve`` starts its workers with ``lease_token`` (the lease it took for the
    run), ``node`` (its name), ``slot`` (the schedule slot the run stands for) and
    ``supervised``.

    Exit status: 0 if every run was ok, 1 if any failed or was stopped, 2 for an unknown
    name, 3 if none failed but one was not started because it was running elsewhere.
    """
    known = [(d, r) for d in config.directories for r in replicators(d)]
    found = {name: config.replicator(name) for name in dict.fromkeys(names)}
    unknown = [name for name in names if found[name] is None]
    if unknown:
        listed = ", ".join(r.name for _, r in known) or "none configured"
        for name in unknown:
            print(f"metadir sync: no replicator named {name!r}; known: {listed}", file=sys.stderr)
        return 2
    selected = [pair for pair in found.values() if pair is not None] if names else known
    if not selected:
        print(f"metadir sync: {config.path}: no replicators configured", file=sys.stderr)
        return 0
    stop = Stop()
    if supervised:
        watch_supervisor(stop)
    runner = Runner(config, node or config.node_name(), trigger, stop, supervised, slot)
    failures = busy = 0
    with Store.open(config.store_url()) as store:
        if not dry_run:
            ensure_layout(store, config)
        for directory, rep in selected:
            job = config.job(directory, rep)
            if dry_run:
                result = run_replicator(store, job, force=force, dry_run=True, full=full)
            else:
                lease = runner.lease(store, rep.name, lease_token, wait)
                if lease is None:
                    busy += 1
                    continue
                result = runner.run(store, job, lease, force=force, full=full)
            print(_summary(result, directory.name, rep, dry_run), flush=True)
            failures += result.outcome != "ok"
            if not dry_run:
                runner.after(rep, directory.name, result)
    return 1 if failures else BUSY if busy else 0


def replicators(directory: DirectoryConfig) -> list[ReplicatorConfig]:
    # the config's list holds one settings model per installed kind, a union mypy cannot
    # see through: each is a ReplicatorConfig
    return list(directory.replicators)


def _summary(result: RunRecord, directory: str, rep: ReplicatorConfig, dry_run: bool) -> str:
    head = f"{rep.name} ({rep.type} -> {directory}): {result.outcome} in {result.seconds:.2f} s"
    if dry_run:
        head += " (dry run, nothing written)"
    head += ": " + (_counts(result) if result.outcome == "ok" else "nothing changed")
    more = "(see `metadir status`)" if not dry_run else ""
    return "\n".join([head, *details(result, more, "  ")])


def last_run(run: RunRecord) -> str:
    counts = _counts(run) if run.outcome == "ok" else "nothing changed"
    forced = " (forced)" if run.forced else ""
    when = f"{run.started:%Y-%m-%d %H:%M:%S} UTC"
    return f"last run {when}{forced}, {run.outcome} in {run.seconds:.2f} s: {counts}"


def _counts(run: RunRecord) -> str:
    n = run.numbers_kept
    kept = f", {n} number{'s' if n != 1 else ''} kept as written" if n else ""
    # a full read says nothing extra: most sources (files) only ever read in full
    mode = "incremental: " if run.mode == "incremental" else ""
    return (
        f"{mode}{run.added} added, {run.updated} updated, {run.deleted} deleted, "
        f"{run.unchanged} unchanged, {run.skipped} skipped{kept}"
    )


def details(run: RunRecord, more: str | None, indent: str) -> list[str]:
    """The replicator's note on how it read, the run's message, then its problems: at most
    PROBLEMS_SHOWN when ``more`` says where to find the rest, else all that were recorded."""
    lines = []
    if run.note:
        mode = "full run" if run.mode == "full" else "incremental"
        lines.append(f"{indent}{mode}: {run.note}")
    if run.message:
        lines.append(f"{indent}{run.message}")
    shown = run.problems[:PROBLEMS_SHOWN] if more is not None else run.problems
    for problem in shown:
        where = f"line {problem.line}: " if problem.line is not None else ""
        lines.append(f"{indent}{where}{problem.message}")
    rest = run.skipped - len(shown)
    if rest > 0:
        note = more if more is not None else "(not recorded)"
        lines.append(f"{indent}… and {rest} more {note}".rstrip())
    return lines


def entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count} entries"
