"""The meta database (SQL, the source of truth) and its change sequence."""

from metadir.store.store import (
    EntryData,
    RunRecord,
    Store,
    StoredDigest,
    StoredEntry,
)

__all__ = ["EntryData", "RunRecord", "Store", "StoredDigest", "StoredEntry"]
