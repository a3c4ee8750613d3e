"""What every file export shares: the settings of a file and its cache, and the target that
keeps the rendered rows between runs (``rows.RowCache``) and writes the whole file from
them at the end of each run, atomically (``atomic.replace_file``).

A format brings a ``Renderer``: the file's head and tail, and one entry's row.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import Field

from metadir.core.records import Problem, StoredEntry
from replicators.base import Context, ExportConfig, Target, TargetError
from replicators.targets.atomic import replace_file
from replicators.targets.rows import Row, RowCache, sort_key

CACHE_SUFFIX = ".metadir-cache"


class Renderer(Protocol):
    def head(self) -> bytes:
        """What the file starts with."""
        ...

    def row(self, entry: StoredEntry) -> bytes:
        """``entry`` as it goes into the file (b"" for an entry the format leaves out).
        Raises ``TargetError`` naming the entry when it cannot be written."""
        ...

    def tail(self) -> bytes:
        """What the file ends with."""
        ...


class FileExportConfig(ExportConfig):
    """Settings of an export that writes one file."""

    # the file written, relative to the config file's folder
    path: str = Field(min_length=1)
    # where the rows are kept between runs; default: .NAME.metadir-cache beside the file
    cache: str | None = None

    # the layout of a format's rows: raised when the code renders them otherwise, so that
    # caches written by an older version are rebuilt
    ROWS_VERSION: ClassVar[int] = 1
    # a format's settings that shape only the file's head or tail, not its rows
    HEAD_ONLY: ClassVar[frozenset[str]] = frozenset()

    def renderer(self) -> Renderer:
        raise NotImplementedError(f"export type {self.type!r} renders no rows")

    def rendering(self) -> str:
        """What shapes a row, as text: a cache written otherwise cannot be reused. Only a
        format's own settings count (the directories, a schedule or the path do not)."""
        own = set(type(self).model_fields) - set(FileExportConfig.model_fields) - self.HEAD_ONLY
        return f"{type(self).__name__}/{self.ROWS_VERSION}/{self.model_dump_json(include=own)}"

    def files(self, base_dir: Path) -> tuple[Path, Path]:
        """The file written and the cache of its rows."""
        output = base_dir / self.path
        cache = (
            base_dir / self.cache
            if self.cache
            else output.with_name(f".{output.name}{CACHE_SUFFIX}")
        )
        return output, cache

    def outputs(self, base_dir: Path) -> dict[str, str]:
        output, cache = self.files(base_dir)
        return {"path": str(output.resolve()), "cache": str(cache.resolve())}

    def check(self, context: Context) -> None:
        for path in self.files(context.base_dir):
            folder = path.parent
            if not folder.is_dir():
                raise TargetError(f"folder {folder} does not exist")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise TargetError(f"folder {folder} is not writable")

    def build(self, context: Context) -> Target:
        output, cache = self.files(context.base_dir)
        return FileTarget(output, cache, self.rendering(), self.renderer())


class FileTarget:
    """One run of a file export: changes into the kept rows, then the file from them."""

    def __init__(self, output: Path, cache: Path, settings: str, renderer: Renderer) -> None:
        self.output = output
        self.cache_path = cache
        self.settings = settings
        self.renderer = renderer
        self._rows: RowCache | None = None

    def start(self, state: dict[str, Any] | None) -> None:
        self._rows = RowCache.open(self.cache_path, self.settings, state)

    def write(self, changes: Sequence[StoredEntry]) -> list[Problem]:
        rows = self._open()
        gone = [entry.uuid for entry in changes if entry.deleted]
        kept: list[Row] = [
            (entry.uuid, sort_key(entry.attributes), self.renderer.row(entry))
            for entry in changes
            if not entry.deleted
        ]
        rows.drop(gone)
        rows.put(kept)
        return []  # a file takes every entry

    def finish(self) -> dict[str, Any]:
        rows = self._open()
        head, tail = self.renderer.head(), self.renderer.tail()
        # the file is rewritten when a row changed, when its head or tail did (a setting
        # such as the CSV header), or when it is not the file this target wrote last
        frame = hashlib.sha256(b"%d:%b%b" % (len(head), head, tail)).hexdigest()[:16]
        if rows.changed or rows.output() != f"{frame}/{_identity(self.output)}":
            try:
                replace_file(self.output, chain([head], rows.bodies(), [tail]))
            except OSError as exc:
                raise TargetError(f"cannot write {self.output}: {exc.strerror}") from None
        state = rows.commit(f"{frame}/{_identity(self.output)}")
        self._rows = None  # committed and closed
        return state

    def _open(self) -> RowCache:
        if self._rows is None:
            raise RuntimeError("a file target's run begins with start()")
        return self._rows

    def close(self) -> None:
        """The cache closed: as the last committed run left it, unless this run finished."""
        if self._rows is not None:
            self._rows.close()
            self._rows = None


def _identity(path: Path) -> str:
    """What tells the file this target wrote from one put there or changed since."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return ""
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"
