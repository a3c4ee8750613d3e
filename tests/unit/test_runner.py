"""Runs under a lease, by hand as by ``serve``'s workers: ``metadir sync`` refuses (exit 3)
or waits for a replicator that runs elsewhere; a run whose lease is taken over writes
nothing and says why; the lease keeper notices a lost lease; ``after_run`` is told. (A run
past its ``run_timeout``: tests/e2e/test_schedules.py.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from metadir.cli import main
from metadir.config import load_config
from metadir.service.load import ensure_layout
from metadir.store.leases import Lease, Progress
from metadir.store.store import Store
from metadir.sync.engine import run_replicator
from metadir.sync.lease import LeaseKeeper

CSV = "Id;Name\n1;Anna\n2;Ben\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "crm.csv").write_text(CSV, encoding="utf-8")
    rep = {"name": "crm", "type": "csv", "path": "crm.csv", "key": "Id",
           "mapping": {"sn": "Name"}}  # fmt: skip
    settings = {
        "node": "node-a",
        "store": {"url": "sqlite:///metadir.db"},
        "scheduler": {"lease": "5s"},
        "directories": [{"name": "contacts", "replicators": [rep]}],
    }
    path = tmp_path / "metadir.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    with Store.open(f"sqlite:///{tmp_path}/metadir.db") as store:
        ensure_layout(store, load_config(path))
    return path


def store_of(config: Path) -> Store:
    return Store.open(f"sqlite:///{config.parent}/metadir.db")


def held_by(store: Store, node: str) -> Lease:
    lease = store.acquire_lease("crm", node, 30, "schedule", datetime(2026, 1, 1, tzinfo=UTC))
    assert isinstance(lease, Lease)
    return lease


def test_sync_exits_3_while_another_node_runs_the_replicator(config: Path, capsys) -> None:
    with store_of(config) as store:
        held_by(store, "node-b")
        assert main(["sync", "-c", str(config), "crm"]) == 3
        assert store.history("crm") == []
    err = capsys.readouterr().err
    assert "metadir sync: crm is running on node node-b since " in err
    assert "(schedule); not started (--wait waits for it)" in err


def test_sync_wait_runs_once_the_other_run_ends(config: Path, capsys) -> None:
    with store_of(config) as store:
        lease = held_by(store, "node-b")
        threading.Timer(0.5, store.release_lease, [lease]).start()
        assert main(["sync", "-c", str(config), "--wait", "crm"]) == 0
        [run] = store.history("crm")
        assert (run.outcome, run.trigger, run.node, run.added) == ("ok", "manual", "node-a", 2)
        # the lease is free again, and the slot the other node ran stays done
        [state] = store.leases()
        assert state.holder is None and state.slot_done
    err = capsys.readouterr().err
    assert "crm is running on node node-b since" in err and err.count("waiting") == 1


def test_a_run_whose_lease_was_taken_over_writes_nothing(config: Path) -> None:
    loaded = load_config(config)
    directory, rep = loaded.directories[0], loaded.directories[0].replicators[0]
    with store_of(config) as store:
        mine = held_by(store, "node-a")
        store.release_lease(mine, False)  # as if it had expired
        held_by(store, "node-b")
        run = run_replicator(store, loaded.job(directory, rep), lease=mine, node="node-a")
        assert run.outcome == "failed" and run.added == 0
        assert f"lease {mine.token} of node 'node-a' is lost: node 'node-b' holds it now" in (
            run.message
        )
        assert store.snapshot()[1] == []
        [recorded] = store.history("crm")
        assert recorded.outcome == "failed" and recorded.id == run.id


def test_the_keeper_notices_a_lost_lease(config: Path) -> None:
    with store_of(config) as store:
        mine = store.acquire_lease("crm", "node-a", 0.3, "manual")
        assert isinstance(mine, Lease)
        with LeaseKeeper(store, mine, 0.3) as keeper:
            assert not keeper.lost.wait(0.5)  # renewed every 0.1 s: still held
            store.release_lease(keeper.lease, False)
            held_by(store, "node-b")
            assert keeper.lost.wait(2)


def test_after_run_is_told_the_outcome(config: Path) -> None:
    told = config.parent / "told"
    hook = config.parent / "hook.sh"
    hook.write_text(
        f'#!/bin/sh\necho "$METADIR_OUTCOME $METADIR_ADDED $METADIR_TRIGGER" > {told}\n'
    )
    hook.chmod(0o755)
    settings = yaml.safe_load(config.read_text())
    settings["directories"][0]["replicators"][0]["after_run"] = str(hook)
    config.write_text(yaml.safe_dump(settings))
    assert main(["sync", "-c", str(config), "crm"]) == 0
    assert told.read_text() == "ok 2 manual\n"


def test_a_new_phase_is_in_the_store_at_once(config: Path) -> None:
    with store_of(config) as store:
        mine = store.acquire_lease("crm", "node-a", 30, "manual")
        assert isinstance(mine, Lease)
        with LeaseKeeper(store, mine, 30, lambda: Progress("diff", 1200, 5000)) as keeper:
            assert keeper.interval == 5
            keeper.poke()  # as the run's phase callback does
            deadline = time.monotonic() + 2
            while store.leases()[0].phase is None:
                assert time.monotonic() < deadline, "the poke did not renew"
                time.sleep(0.02)
        [state] = store.leases()
        assert (state.phase, state.rows, state.total) == ("diff", 1200, 5000)
