"""The tree a configuration serves, loaded from the store."""

from __future__ import annotations

from metadir.config import Config
from metadir.core.memory import paused_gc
from metadir.directory.tree import DirectoryTree
from metadir.store.leases import EXPORT_PREFIX
from metadir.store.store import Store


def load_tree(store: Store, config: Config) -> tuple[int, DirectoryTree]:
    """The tree ``config`` serves, loaded from one store snapshot, and that snapshot's
    change sequence number (where following the store goes on from)."""
    tree = DirectoryTree(config.directories, config.location)
    names = [d.name for d in config.directories]
    with store.streamed_snapshot(names) as (seq, entries), paused_gc():
        tree.apply(entries)
    return seq, tree


def ensure_layout(store: Store, config: Config) -> None:
    """Give the store every configured directory, replicator and export (an export's row,
    ``export:NAME``, holds its lease, state and runs)."""
    for directory in config.directories:
        store.ensure_directory(directory.name, directory.dn)
        for rep in directory.replicators:
            store.ensure_replicator(rep.name, rep.type, directory.name)
    for export in config.exports:
        # filed under one of the directories it reads, as ``run_export`` files it
        first = min(d.name for d in config.exported(export))
        store.ensure_replicator(EXPORT_PREFIX + export.name, export.type, first)
