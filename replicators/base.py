"""The small interface every import replicator implements (Singer/Airbyte style).

``check()`` opens the source and names its fields; ``read(state)`` yields one ``Record`` per
source row (raw source field -> value) and a ``Problem`` for every row it had to skip. A
source that can tell what changed also yields ``Removed`` keys and ends with a
``Checkpoint``: the state its next read resumes from. Mapping, normalisation, diff, guard,
the transaction and keeping the state belong to the sync engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from metadir.core.errors import SourceError
from metadir.core.phone import Location
from metadir.core.records import Checkpoint, Problem, Record, Removed
from metadir.core.settings import MAX_NAME

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class SourceChanged(SourceError):
    """The source changed while it was read: the read is no consistent picture of it. The
    engine reads it once more after a short wait."""


class Replicator(Protocol):
    def check(self) -> list[str]:
        """Open the source and return the names of its fields. Raises ``SourceError``."""
        ...

    def read(
        self, state: dict[str, Any] | None
    ) -> Iterator[Record | Problem | Removed | Checkpoint]:
        """Yield the source's rows: all of them, or with ``state`` (what the last successful
        run's ``Checkpoint`` saved; None on a first or ``--full`` run) only what changed
        since, then a ``Checkpoint``. Records are complete rows, also in incremental reads.
        A read without a ``Checkpoint`` is a full one. Raises ``SourceError`` if the source
        fails, ``SourceChanged`` if it changed while it was read."""
        ...


def one_or_more(value: object) -> object:
    """A setting that takes one name or a list of them: a single string as a one-item list
    (anything else is left for pydantic to judge)."""
    return [value] if isinstance(value, str) else value


class ChangeLimit(BaseModel):
    """How many of a replicator's entries one run may delete or update: a share or a
    count."""

    model_config = ConfigDict(frozen=True)
    percent: float | None = None
    count: int | None = None

    def allowed(self, existing: int, floor: int = 0) -> int:
        """The most of ``existing`` entries a run may change; a share never allows fewer
        than ``floor`` (a count is the admin's own number and stands as given)."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        return max(floor, int(existing * self.percent / 100))

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g} %"


class ReplicatorConfig(BaseModel):
    """Settings every replicator has; each source kind extends it with its own."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=MAX_NAME)
    type: str
    # target attribute -> source field, or a template such as "{FirstName} {LastName}"
    mapping: dict[str, str] = {}
    # a run that would delete more than this stops unless forced: "20%" or a count
    max_delete: ChangeLimit = ChangeLimit(percent=20)
    # a run that would update more than this stops unless forced (a source read otherwise,
    # say in another text encoding, rewrites every entry): "50%" or a count
    max_update: ChangeLimit = ChangeLimit(percent=50)
    # how the source writes phone numbers, when it differs from its directory's location
    location: Location | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not re.match(NAME_PATTERN, value):
            raise ValueError(
                "use letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return value

    @field_validator("max_delete", "max_update", mode="before")
    @classmethod
    def _limit(cls, value: object) -> object:
        if isinstance(value, ChangeLimit):
            return value
        if isinstance(value, bool):
            raise ValueError("expected a share such as '20%' or a count such as 50")
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must not be negative")
            return ChangeLimit(count=value)
        if isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)):
            percent = float(m.group(1))
            if percent > 100:
                raise ValueError("a share cannot exceed 100%")
            return ChangeLimit(percent=percent)
        raise ValueError("expected a share such as '20%' or a count such as 50")

    def build(self, base_dir: Path) -> Replicator:
        """The replicator these settings describe."""
        raise NotImplementedError(f"replicator type {self.type!r} cannot be built")

    def reading(self, source: Replicator) -> str:
        """How ``source`` (built from these settings) read its last rows, where that can
        explain a run that rewrites most entries (a CSV's text encoding); "" if nothing."""
        return ""
