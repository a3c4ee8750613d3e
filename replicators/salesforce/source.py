"""The Salesforce replicator (``type: salesforce``): contacts, and optionally leads and
accounts, through SOQL over the REST API's ``queryAll``.

A full run reads every live record of each kind. An incremental run first reads each
kind's delete log (``sobjects/<Object>/deleted/``: records deleted for good, or emptied
from the recycle bin) from where the last run stopped, then queries what changed since the
newest ``SystemModstamp`` the last run saw, less ``overlap`` (a record saved while the last
run read carries an earlier stamp); ``queryAll`` returns records in the recycle bin too
(``IsDeleted``): removals. A record the query sees again in the overlap counts once (the
later copy wins) and a record deleted and restored since stays. A delete log that no
longer reaches back to the saved position (``earliestDateAvailable`` after it, or older
than the 15 days Salesforce keeps it), other settings or a stale whole read make the run a
full one that says why. Every kind is read to its end before the first row is handed on,
so a failure mid-read hands on nothing. Converted leads are left out (removed in an
incremental read). The org's API usage (``Sforce-Limit-Info``) is logged at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.salesforce.api import Api, DeleteLogGone
from replicators.salesforce.objects import (
    CONTACT,
    FIELDS,
    ID,
    MODSTAMP,
    SOBJECT,
    Kind,
    gone,
    row,
    select,
    soql,
)
from replicators.salesforce.settings import SalesforceSettings
from replicators.salesforce.state import Position, checkpoint, full_reason

log = logging.getLogger(__name__)

Item = Record | Problem | Removed


class Changes:
    """The records of one kind's read by Id, the later copy winning, and what the delete
    log says went (Id -> when)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.deleted: dict[str, datetime] = {}
        self.newest: datetime | None = None

    def add(self, record: dict[str, Any]) -> None:
        ident = record.get(ID)
        if not isinstance(ident, str) or not ident:
            raise SourceError("Salesforce: a query answered a record without Id")
        self.records[ident] = record
        stamp = stamp_of(record)
        if stamp is not None and (self.newest is None or stamp > self.newest):
            self.newest = stamp

    def removed(self) -> list[str]:
        """The Ids the delete log names that the query did not see saved after."""
        gone = []
        for ident, when in self.deleted.items():
            record = self.records.get(ident)
            stamp = stamp_of(record) if record is not None else None
            if stamp is None or stamp <= when:
                gone.append(ident)
        return gone


class SalesforceReplicator:
    def __init__(self, config: SalesforceSettings, context: Context) -> None:
        self.config = config
        self.context = context
        # requests and tokens of the last check or read, tries included (the benchmark)
        self.requests = 0
        self.tokens = 0
        # the session of the last check or read (token, instance): the engine checks the
        # source before each read, and one login serves both
        self.session: tuple[str, str] | None = None

    def check(self) -> list[str]:
        """Log in and query one record of each kind with the mapped fields: what the user
        may not read, and a mapped field the org lacks, are named."""
        with self._session() as api:
            for kind in self.config.objects:
                query = soql(kind, select(kind, self.config.wanted_fields), None) + " LIMIT 1"
                with api.refusals(SOBJECT[kind]):
                    next(api.query(query), None)
        return list(dict.fromkeys([*FIELDS, *CONTACT, *self.config.wanted_fields]))

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Item | Checkpoint]:
        config = self.config
        started = self.context.clock()
        with self._session() as api:
            decided = full_reason(config, state, started)
            reason = decided if isinstance(decided, str) else None
            read: dict[Kind, Changes] = {}
            covered: dict[str, datetime] = {}
            begins: datetime | None = None
            if not isinstance(decided, str):
                try:
                    read, covered = self._incremental(api, decided, started)
                except DeleteLogGone as exc:
                    reason, begins = f"{exc}: read whole again", exc.earliest
                    log.info("%s: %s", config.name, reason)
            if reason is not None:
                read, covered = self._full(api), {}
            found = self._positions(api, read, covered, started, begins)
            yield from self._items(read, incremental=reason is None)
            api.report_usage(config.name)
        yield checkpoint(config, state, reason, started, found)

    @contextmanager
    def _session(self) -> Iterator[Api]:
        api = Api(self.config, self.context.base_dir)
        try:
            if self.session is None:
                api.login()
            else:
                api.credentials.token, api.credentials.instance_url = self.session
            yield api
            self.session = (api.credentials.token, api.credentials.instance_url)
        finally:
            self.requests += api.http.requests + api.credentials.issued
            self.tokens += api.credentials.issued
            api.close()

    def _full(self, api: Api) -> dict[Kind, Changes]:
        """Every live record of each kind."""
        return {kind: self._query(api, kind, None) for kind in self.config.objects}

    def _incremental(
        self, api: Api, saved: dict[str, Position], started: datetime
    ) -> tuple[dict[Kind, Changes], dict[str, datetime]]:
        """Each kind's delete log and changes since its saved position, and how far each
        delete log was read."""
        read: dict[Kind, Changes] = {}
        covered: dict[str, datetime] = {}
        for kind in self.config.objects:
            position = saved[kind]
            deleted, covered[kind] = self._delete_log(api, kind, position.deleted, started)
            changes = self._query(api, kind, position.modstamp)
            changes.deleted = deleted
            read[kind] = changes
        return read, covered

    def _positions(
        self, api: Api, read: dict[Kind, Changes], covered: dict[str, datetime],
        started: datetime, floor: datetime | None,
    ) -> dict[str, Position]:  # fmt: skip
        """Where the next read of each kind starts. A record saved while this read ran
        may carry an earlier SystemModstamp than the newest read (its transaction began
        before): the next query asks from ``overlap`` before this read began (on the
        service's clock), or from the newest record read if that is older (what was saved
        before then has been read). The delete log likewise, unless it was read (up to
        ``covered``); ``floor``: where the delete log begins, when a full read follows
        because it begins after the last position (the next must not ask from before)."""
        since = (api.began or started) - self.config.overlap
        found: dict[str, Position] = {}
        for kind, changes in read.items():
            newest = changes.newest
            # SOQL compares whole seconds: the rest of the newest record's second holds no
            # record unseen when it is before ``since``
            modstamp = min(_next_second(newest), since) if newest is not None else since
            deleted = covered.get(kind, max(since, floor) if floor is not None else since)
            found[kind] = Position(modstamp, deleted)
        return found

    def _delete_log(
        self, api: Api, kind: Kind, start: datetime, end: datetime
    ) -> tuple[dict[str, datetime], datetime]:
        """The records of ``kind`` deleted between ``start`` and ``end``, and how far the
        log answered. Raises ``DeleteLogGone`` when it begins after ``start``."""
        sobject = SOBJECT[kind]
        # the service reads whole minutes and answers only a window of more than one
        # (INVALID_REPLICATION_DATE): a run soon after the last leaves it to the next
        if _minute(end) - _minute(start) <= timedelta(minutes=1):
            return {}, start
        with api.refusals(sobject):
            body = api.deleted(sobject, start, end)
        earliest = _when(body.get("earliestDateAvailable"))
        if earliest is not None and earliest > start:
            raise DeleteLogGone(
                f"Salesforce's delete log of {sobject} begins {earliest:%Y-%m-%d %H:%M} UTC "
                f"(earliestDateAvailable), after the last run's position {start:%Y-%m-%d %H:%M}",
                earliest,
            )
        deleted = {}
        for entry in body.get("deletedRecords") or ():
            when = _when(entry.get("deletedDate")) if isinstance(entry, dict) else None
            if when is not None and isinstance(entry.get("id"), str):
                deleted[entry["id"]] = when
        covered = _when(body.get("latestDateCovered"))
        return deleted, covered if covered is not None and covered > start else start

    def _query(self, api: Api, kind: Kind, since: datetime | None) -> Changes:
        changes = Changes()
        query = soql(kind, select(kind, self.config.wanted_fields), since)
        with api.refusals(SOBJECT[kind]):
            for page in api.query(query):
                for record in page:
                    changes.add(record)
                self.context.tick(len(page))
        return changes

    def _items(self, read: dict[Kind, Changes], incremental: bool) -> Iterator[Item]:
        line = 0
        for kind, changes in read.items():
            told = set()
            for ident, record in changes.records.items():
                line += 1
                if gone(kind, record):
                    if incremental:
                        told.add(ident)
                        yield Removed((ident,))
                    continue
                yield Record((ident,), row(kind, record), line)
            for ident in changes.removed():
                if ident not in told:
                    yield Removed((ident,))


def _minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def _next_second(when: datetime) -> datetime:
    """``when``, or the next whole second after it."""
    whole = when.replace(microsecond=0)
    return whole if whole == when else whole + timedelta(seconds=1)


def stamp_of(record: dict[str, Any]) -> datetime | None:
    return _when(record.get(MODSTAMP))


def _when(value: object) -> datetime | None:
    """A Salesforce dateTime ("2026-11-01T10:00:00.000+0000"), or None."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
