"""One exception hierarchy for metadir; every message names the file, key, replicator or line."""

from typing import Any


class MetadirError(Exception):
    """Base of every error metadir reports to an admin."""


class ConfigError(MetadirError):
    """The configuration is invalid. Each problem reads ``FILE: key.path: what is wrong``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(MetadirError):
    """The meta database cannot be opened, migrated or written."""


class SourceError(MetadirError):
    """A replicator cannot read its source (missing file, bad header, unreachable host).

    ``problems``: what the source reported before it failed (a program's stderr lines,
    ``metadir.core.records.Problem``), recorded with the failed run."""

    def __init__(self, message: str, problems: tuple[Any, ...] = ()) -> None:
        self.problems = problems
        super().__init__(message)


class LeaseLost(StoreError):
    """A run's lease on its replicator was taken over or ran out before its changes were
    written: another node may be running the replicator, so this run writes nothing."""
