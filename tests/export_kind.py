"""An export kind of the tests' own (``type: jsonl``): appends each change as a JSON line,
and can be told to fail, or to have lost its own state. Installed like a plug-in (a
distribution with a ``metadir.exports`` entry point) by ``install_export_kind``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from metadir.core.records import Problem, StoredEntry
from replicators.base import Context, ExportConfig, Target, TargetError, TargetNeedsFull

# the states each target was started with, in order (tests clear it)
STARTS: list[dict[str, Any] | None] = []
# each target's end: "finished, closed" or "closed" (tests clear it)
ENDS: list[str] = []


class JsonLinesExport(ExportConfig):
    type: Literal["jsonl"] = "jsonl"
    path: str = "export.jsonl"
    # a write that holds the entry with this source key fails
    fail_on: str | None = None
    # the entries with these source keys are refused, one by one
    refuse: tuple[str, ...] = ()

    def build(self, context: Context) -> Target:
        return JsonLinesTarget(self, context)


class JsonLinesTarget:
    def __init__(self, config: JsonLinesExport, context: Context) -> None:
        self.path = context.base_dir / config.path
        self.fail_on = config.fail_on
        self.refuse = set(config.refuse)
        self.written = 0

    def start(self, state: dict[str, Any] | None) -> None:
        STARTS.append(state)
        # its "cache": a file beside the output that the state counts on
        if state is not None and not self.path.with_suffix(".seen").exists():
            raise TargetNeedsFull(f"{self.path.with_suffix('.seen').name} is gone")
        self.written = state["written"] if state else 0

    def write(self, changes: Sequence[StoredEntry]) -> list[Problem]:
        if self.fail_on is not None and any(e.key == (self.fail_on,) for e in changes):
            raise TargetError(f"{self.path}: disk full")
        refused = [e for e in changes if e.key[0] in self.refuse]
        with self.path.open("a", encoding="utf-8") as file:
            for entry in changes:
                if entry in refused:
                    continue
                line = {"uuid": entry.uuid, "key": entry.key[0], "deleted": entry.deleted}
                file.write(json.dumps(line) + "\n")
        self.written += len(changes) - len(refused)
        return [Problem(f"{e.key[0]}: refused", key=(e.uuid,)) for e in refused]

    def finish(self) -> dict[str, Any]:
        self.path.with_suffix(".seen").touch()
        ENDS.append("finished")
        return {"written": self.written}

    def close(self) -> None:
        ENDS.append("closed")


def lines(path: Path) -> list[tuple[str, bool]]:
    """(source key, deleted) of each line the target wrote to ``path``."""
    if not path.exists():
        return []
    read = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(line["key"], line["deleted"]) for line in read]


def install_export_kind(site: Path) -> None:
    """What pip leaves in site-packages for a package declaring ``type: jsonl``; put
    ``site`` and the checkout on the path to have it."""
    dist = site / "metadir_jsonl-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: metadir-jsonl\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[metadir.exports]\njsonl = tests.export_kind:JsonLinesExport\n"
    )
