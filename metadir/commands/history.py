"""``metadir history``: past sync runs, newest first; one run with its problems, a page at a
time; as text for people or as JSON for scripts."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime
from typing import Any

from metadir.config import Config
from metadir.core.records import Problem
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.export import PREFIX

COUNTS = ("added", "updated", "deleted", "unchanged", "skipped")
_COLUMNS = ("ID", "STARTED", "REPLICATOR", "TRIGGER", "NODE", "MODE", "OUTCOME", "SECONDS")
# columns aligned right: the numbers
_RIGHT = {"ID", "SECONDS", *(c.upper() for c in COUNTS)}


def history_command(
    config: Config,
    name: str | None,
    *,
    limit: int,
    as_json: bool,
    run: int | None,
    offset: int,
) -> int:
    """Print the latest ``limit`` runs (of replicator ``name``, or all), or with ``run`` that
    run and ``limit`` of its problems from ``offset``. Exit status 0, or 2 for a bad option,
    an unknown replicator or an unknown run."""
    if limit < 1:
        return _usage(f"--limit must be at least 1, not {limit}")
    if offset < 0:
        return _usage(f"--offset must be 0 or more, not {offset}")
    if offset and run is None:
        return _usage("--offset pages through the problems of one run: give --run ID too")
    configured = name is None or config.replicator(name) or config.export(name)
    if name is not None and config.replicator(name) is None and config.export(name) is not None:
        name = PREFIX + name  # an export's runs are recorded under its row's name
    with Store.open(config.store_url()) as store:
        if run is not None:
            return _one_run(config, store, name, run, limit, offset, as_json)
        # one more than asked for: whether to say that there are older runs
        runs = store.history(name, limit=limit + 1)
        if not runs and not configured:
            # a replicator gone from the config keeps its history; a typo has none
            known = sorted(r.name for d in config.directories for r in d.replicators)
            known += sorted(export.name for export in config.exports)
            listed = ", ".join(known) or "none configured"
            return _usage(f"no replicator named {name!r}; known: {listed}")
    more, runs = len(runs) > limit, runs[:limit]
    if as_json:
        print(json.dumps([_as_json(r) for r in runs], indent=2, ensure_ascii=False))
        return 0
    if not runs:
        print("no runs recorded" + (f" for {name}" if name else ""))
        return 0
    print(_table(runs))
    if more:
        named = f" {shlex.quote(name)}" if name else ""
        print(f"… older runs: {_command(config)}{named} --limit {limit * 2}")
    return 0


def _one_run(
    config: Config,
    store: Store,
    name: str | None,
    run_id: int,
    limit: int,
    offset: int,
    as_json: bool,
) -> int:
    run = store.run(run_id)
    if run is None:
        return _usage(f"no run {run_id} in the store")
    if name is not None and run.replicator != name:
        return _usage(f"run {run_id} is one of {run.replicator!r}, not of {name!r}")
    total = store.problem_count(run_id)
    problems = store.problems(run_id, offset=offset, limit=limit) if total > offset else []
    if as_json:
        shown = {
            **_as_json(run),
            "problems": [{"line": p.line, "message": p.message} for p in problems],
            "problems_total": total,
        }
        print(json.dumps(shown, indent=2, ensure_ascii=False))
        return 0
    lines = [f"run {run.id}: {run.replicator} (directory {run.directory})", *_fields(run)]
    lines += _problems(config, run, problems, total, offset)
    print("\n".join(lines))
    return 0


def _fields(run: RunRecord) -> list[str]:
    counts = ", ".join(f"{getattr(run, c)} {c}" for c in COUNTS)
    if run.numbers_kept:
        counts += f", {run.numbers_kept} numbers kept as written"
    fields = [
        ("started", _local(run.started)),
        ("ended", f"{_local(run.finished)} ({run.seconds:.2f} s)"),
        ("trigger", run.trigger + (f" (slot {_local(run.slot)})" if run.slot else "")),
        ("node", run.node or "(not recorded)"),
        ("mode", run.mode),
        ("outcome", run.outcome + (" (forced)" if run.forced else "")),
        ("counts", counts if run.outcome == "ok" else f"nothing changed ({run.skipped} skipped)"),
        ("change", "none" if run.change_seq is None else f"written as change {run.change_seq}"),
    ]
    if run.message:
        fields.append(("message", run.message))
    if run.note:
        fields.append(("note", run.note))
    return [f"  {key + ':':<9} {value}" for key, value in fields]


def _problems(
    config: Config, run: RunRecord, problems: list[Problem], total: int, offset: int
) -> list[str]:
    unrecorded = (
        f" ({run.skipped} skipped, the first {total} recorded)" if run.skipped > total else ""
    )
    if not total:
        return ["no problems recorded" + (f" ({run.skipped} skipped)" if run.skipped else "")]
    if not problems:
        return [f"no problems from offset {offset}: {total} recorded{unrecorded}"]
    last = offset + len(problems)
    lines = [f"problems {offset + 1}-{last} of {total}{unrecorded}:"]
    for problem in problems:
        where = f"line {problem.line}: " if problem.line is not None else ""
        lines.append(f"  {where}{problem.message}")
    if total > last:
        lines.append(f"… {total - last} more: {_command(config)} --run {run.id} --offset {last}")
    return lines


def _table(runs: list[RunRecord]) -> str:
    header = [*_COLUMNS, *(c.upper() for c in COUNTS)]
    rows = [
        [
            str(r.id),
            _local(r.started),
            r.replicator,
            r.trigger,
            r.node or "-",
            r.mode,
            r.outcome,
            f"{r.seconds:.2f}",
            *(str(getattr(r, c)) for c in COUNTS),
        ]
        for r in runs
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        aligned = (
            cell.rjust(width) if title in _RIGHT else cell.ljust(width)
            for cell, width, title in zip(cells, widths, header, strict=True)
        )
        return "  ".join(aligned).rstrip()

    return "\n".join(line(cells) for cells in [header, *rows])


def _as_json(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "replicator": run.replicator,
        "directory": run.directory,
        "trigger": run.trigger,
        "slot": run.slot.isoformat() if run.slot else None,
        "node": run.node,
        "started": run.started.isoformat(),
        "ended": run.finished.isoformat(),
        "seconds": round(run.seconds, 3),
        "mode": run.mode,
        "outcome": run.outcome,
        "forced": run.forced,
        "message": run.message,
        "note": run.note,
        "change_seq": run.change_seq,
        "numbers_kept": run.numbers_kept,
        "counts": {c: getattr(run, c) for c in COUNTS},
    }


def _local(when: datetime) -> str:
    """A stored (UTC) time in the machine's time zone, to the second, with its offset."""
    return when.astimezone().isoformat(timespec="seconds")


def _command(config: Config) -> str:
    return f"metadir history -c {shlex.quote(str(config.path))}"


def _usage(message: str) -> int:
    print(f"metadir history: {message}", file=sys.stderr)
    return 2
