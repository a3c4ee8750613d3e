"""What the cloud sources' integration tests share: a SQLite store, a source kind's settings
as the config loader makes them, one sync through the engine, and what it left."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from metadir.core.phone import Location
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.job import Job, Numbers
from replicators import kinds
from replicators.base import Context, ReplicatorConfig


@pytest.fixture(name="store")
def store_fixture(tmp_path: Path) -> Iterator[Store]:
    """A test's SQLite store (imported as ``store_fixture``, used as ``store``)."""
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as opened:
        yield opened


def settings_of(kind: str, values: dict[str, Any], base_dir: Path) -> ReplicatorConfig:
    """``values`` (name, type, ...) as the settings of source kind ``kind``."""
    return kinds()[kind].settings.model_validate(values, context={"base_dir": base_dir})


def sync(
    store: Store,
    settings: ReplicatorConfig,
    base_dir: Path,
    location: Location | None = None,
    **options: Any,
) -> RunRecord:
    """One run into directory ``contacts``, numbers read as written at ``location``."""
    job = Job(settings, "contacts", "ou=contacts,dc=meta", Numbers(location), base_dir)
    return run_replicator(store, job, pause=lambda seconds: None, **options)


def entries(store: Store) -> dict[str, dict[str, list[str]]]:
    """The stored entries' attributes by the first part of their key."""
    _, stored = store.snapshot()
    return {entry.key[0]: entry.attributes for entry in stored}


def everything(store: Store, replicator: str) -> tuple[object, ...]:
    """All a run could change: the change sequence, every entry, the replicator's state."""
    _, stored = store.snapshot()
    return (
        store.current_seq(),
        sorted((e.uuid, e.modified, json.dumps(e.attributes)) for e in stored),
        store.replicator_state(replicator),
    )


def on_rows(after: int, action: Callable[[], None], base_dir: Path) -> Context:
    """A context that does ``action`` once, when ``after`` rows have been read."""
    done: list[int] = []

    def progress(rows: int) -> None:
        if rows >= after and not done:
            done.append(rows)
            action()

    return Context(base_dir, progress=progress)
