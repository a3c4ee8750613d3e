"""Exports in the scheduler of ``metadir serve``: the ones with a schedule are scheduled
beside the replicators; the others run after an import of one of their directories.

An export is known to the scheduler by its lease name (``export:NAME``), which no
replicator's name can be, so its slots, leases and workers never clash with a replicator's.

After imports: when this node's worker of an import ends ok with changes (added, updated
or deleted), every export without a schedule that reads the import's directory is marked
pending; the scheduler runs a pending export once it can take its lease. Marks are a set,
so several imports in a row (one run still going, or no lease yet) coalesce into one run,
and a mark made while the export runs brings one more run after it. Through the lease only
one node runs it at a time; the node whose worker imported the changes marks the export,
so each import leads to one run, not one per node.

The marks are kept in memory only: a node that stops with an export pending forgets it (the
next import with changes marks it again, and ``metadir export`` or Run now sends the
changes meanwhile: an export always sends everything since its saved position). Runs that
were not started by this node's scheduler (``metadir sync`` by hand, another node's
worker) mark nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metadir.config import Config
from metadir.core.schedule import Schedule
from metadir.store.leases import EXPORT_PREFIX
from replicators.base import ExportConfig

# the counts of a run's result line that say it changed the directory
CHANGES = ("added", "updated", "deleted")


def lease_name(export: ExportConfig) -> str:
    """The name of ``export``'s lease, runs and worker: ``export:NAME``."""
    return EXPORT_PREFIX + export.name


def export_of(name: str) -> str | None:
    """The export's own name if lease name ``name`` is an export's; None for a replicator."""
    return name.removeprefix(EXPORT_PREFIX) if name.startswith(EXPORT_PREFIX) else None


def scheduled_exports(config: Config) -> list[tuple[str, Schedule]]:
    """The exports with a schedule, by lease name, in config order."""
    return [(lease_name(e), e.schedule) for e in config.exports if e.schedule is not None]


class AfterImports:
    """The exports without a schedule of ``config``, and which of them wait for a run."""

    def __init__(self, config: Config) -> None:
        # lease names in config order: the order pending exports are started in
        self.exports: list[str] = []
        # directory -> the exports without a schedule that read it
        self.following: dict[str, list[str]] = {}
        for export in config.exports:
            if export.schedule is not None:
                continue
            name = lease_name(export)
            self.exports.append(name)
            for directory in config.exported(export):
                self.following.setdefault(directory.name, []).append(name)
        self.pending: set[str] = set()

    def imported(self, directory: str, result: Mapping[str, Any]) -> list[str]:
        """Note an import of ``directory`` that ended with worker result line ``result``;
        the exports it marked pending (none unless it was ok and changed something)."""
        if result.get("outcome") != "ok" or not any(result.get(n) for n in CHANGES):
            return []
        marked = self.following.get(directory, [])
        self.pending.update(marked)
        return marked

    def due(self) -> list[str]:
        """The pending exports, in config order."""
        return [name for name in self.exports if name in self.pending]

    def started(self, name: str) -> None:
        """``name`` started: what it was pending for is in the store before its read."""
        self.pending.discard(name)
