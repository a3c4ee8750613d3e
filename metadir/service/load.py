"""The tree a configuration serves, loaded from the store."""

from __future__ import annotations

from metadir.config import Config
from metadir.core.memory import paused_gc
from metadir.directory.tree import DirectoryTree
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
    """Give the store every configured directory and replicator."""
    for directory in config.directories:
        store.ensure_directory(directory.name, directory.dn)
        for rep in directory.replicators:
            store.ensure_replicator(rep.name, rep.type, directory.name)
