"""The Dynamics 365 / Dataverse replicator (``type: dynamics``): contacts and accounts
through the Dataverse Web API with change tracking (``Prefer: odata.track-changes``).

Each table is one delta stream (``replicators.odata``, the loop Graph's delta functions
speak too): the first run reads it whole with a ``$select`` of every column the mapping
reads and keeps its delta link; later runs follow the links and get only the rows changed
since, a ``$deletedEntity`` for each deleted one. A link the service no longer accepts
(ExpiredVersionStamp: older than the environment keeps changes, or the table's definition
changed), a table without one, or other settings make the run a full one that says why. A
table whose "Track changes" is off answers every row and no delta link: while one table
has none, every run reads all tables whole (only a whole run finds deleted rows), and the
run's note says what to turn on. Every stream is read to its end before
the first row is handed on, so that a replayed row counts once and an expired link met late
drops nothing already passed on. Inactive rows (statecode 1) are left out: removed in an
incremental read, where they may have been there before.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.dynamics.objects import FIELDS, FORMATTED, STATE, TABLES, Kind, row, select
from replicators.dynamics.settings import DynamicsSettings, privileges
from replicators.dynamics.state import LINKS, checkpoint, full_reason
from replicators.entra import Credentials
from replicators.http_client import HttpClient, HttpStatusError
from replicators.odata import Changes, DeltaExpired, is_removed, pages, prefer

log = logging.getLogger(__name__)

Item = Record | Problem | Removed
# Dataverse's error codes: the app is no (application) user of the environment; the user
# lacks a privilege (SecLib::AccessCheckEx, "... is missing prvReadContact privilege")
NOT_A_USER = "0x80072560"
PRIVILEGE_DENIED = "0x80040220"
_PRIVILEGE = re.compile(r"\bprv[A-Za-z0-9_]+")
# formatted values: a lookup's display name (the company of a contact), a choice's label
ANNOTATIONS = f'odata.include-annotations="{FORMATTED[1:]}"'


@dataclass(frozen=True, slots=True)
class Stream:
    """One table's delta read: ``name`` keys its link in the state."""

    name: str
    kind: Kind
    url: str


class DynamicsReplicator:
    def __init__(self, config: DynamicsSettings, context: Context) -> None:
        self.config = config
        self.context = context
        # requests of the last check or read, tries included (scripts/bench_dynamics.py)
        self.requests = 0
        self.credentials: Credentials | None = None

    def check(self) -> list[str]:
        """Get a token and read one row of each table: what the application user may not
        read is named with the privilege it needs."""
        with self._session() as api:
            for stream in self._streams():
                table = TABLES[stream.kind]
                with self._refusals(stream.kind):
                    api.get_json(stream.url, {"$select": table.key, "$top": "1"})
        return list(dict.fromkeys([*FIELDS, *self.config.wanted_fields]))

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Item | Checkpoint]:
        config = self.config
        started = self.context.clock()
        streams = self._streams()
        with self._session() as api:
            reason = full_reason(config, state, started)
            read: list[tuple[Stream, Changes]] = []
            links: dict[str, str] = {}
            if reason is None:
                assert state is not None
                saved = state[LINKS]
                missing = [s.name for s in streams if s.name not in saved]
                if missing:
                    reason = f"no delta link for {missing[0]}"
                else:
                    try:
                        read, links = self._read(api, streams, saved)
                    except DeltaExpired as exc:
                        reason = f"{exc.reason}: read whole again"
                        log.info("%s: %s", config.name, reason)
            if reason is not None:
                read, links = self._read(api, streams, None)
            yield from self._items(read, incremental=reason is None)
        untracked = [TABLES[s.kind].logical_name for s in streams if s.name not in links]
        warning = ""
        if untracked:
            warning = (
                f"change tracking is off for table {', '.join(untracked)}: each run reads "
                "every table whole; turn on Track changes in the table's properties "
                "(Power Apps)"
            )
            log.warning("%s: %s", config.name, warning)
        yield checkpoint(config, state, reason, started, links, warning)

    @contextmanager
    def _session(self) -> Iterator[HttpClient]:
        config = self.config
        api = HttpClient(config, self.context.base_dir, "Dataverse")
        try:
            if self.credentials is None:
                scopes = [f"{config.environment_url}/.default"]
                self.credentials = Credentials(config, scopes, api.client)
            else:  # the check's tokens serve the read
                self.credentials.use(api.client)
            api.token = self.credentials
            yield api
        finally:
            self.requests += api.requests
            api.close()

    def _streams(self) -> list[Stream]:
        base = self.config.api_url
        return [
            Stream(kind, kind, f"{base}/{TABLES[kind].entity_set}") for kind in self.config.objects
        ]

    def _read(
        self, api: HttpClient, streams: list[Stream], saved: dict[str, str] | None
    ) -> tuple[list[tuple[Stream, Changes]], dict[str, str]]:
        """Every stream, from its saved link or (``saved`` None) whole: the rows of each
        and the new links (none for a table without change tracking)."""
        headers = prefer(self.config.page_size, track_changes=True)
        headers["Prefer"] += f", {ANNOTATIONS}"
        read, links = [], {}
        for stream in streams:
            changes = Changes()
            key = TABLES[stream.kind].key
            if saved is None:
                params: dict[str, str] | None = {"$select": self._select(stream.kind)}
                url = stream.url
            else:
                url, params = saved[stream.name], None
            with self._refusals(stream.kind):
                for page in pages(api, url, params, headers, untracked=True):
                    for item in page.items:
                        changes.add(item if is_removed(item) else _identified(item, key))
                    if page.delta_link is not None:
                        links[stream.name] = page.delta_link
                    self.context.tick(len(page.items))
            read.append((stream, changes))
        return read, links

    def _select(self, kind: Kind) -> str:
        return ",".join(select(kind, self.config.wanted_fields))

    def _items(self, read: list[tuple[Stream, Changes]], incremental: bool) -> Iterator[Item]:
        active_only = self.config.active_only
        line = 0
        for stream, changes in read:
            for ident, item in changes.objects.items():
                line += 1
                # statecode: 0 active, 1 inactive (deactivated, not deleted)
                if is_removed(item) or (active_only and item.get(STATE) not in (0, None)):
                    if incremental:
                        yield Removed((ident,))
                    continue
                yield Record((ident,), row(stream.kind, item), line)

    @contextmanager
    def _refusals(self, kind: Kind) -> Iterator[None]:
        """Refusals of the service while reading ``kind`` told as what to grant or fix."""
        config = self.config
        table = TABLES[kind]
        try:
            yield
        except HttpStatusError as exc:
            said = exc.code or f"HTTP {exc.status}"
            if exc.code == NOT_A_USER:
                raise SourceError(
                    f"Dataverse: the app {config.client_id} is no user of "
                    f"{config.environment_url} ({said}): add it as an application user "
                    "(Power Platform admin center, the environment's Settings, Users + "
                    "permissions, Application users) with a security role that reads "
                    "Contact and Account"
                ) from None
            if exc.status == 403:
                found = _PRIVILEGE.search(exc.detail)
                privilege = found.group(0) if found else privileges()[kind]
                raise SourceError(
                    f"Dataverse denied reading {kind} ({said}): give the application user a "
                    f"security role with Read on {table.display_name} ({privilege})"
                ) from None
            if exc.status == 401:
                raise SourceError(
                    f"Dataverse refused the app's token ({said}): check environment_url and "
                    f"that the environment belongs to tenant {config.tenant_id}"
                ) from None
            if exc.status == 404:
                raise SourceError(
                    f"Dataverse: no table {table.entity_set} at {config.api_url} ({said}): "
                    "check environment_url and api_version"
                ) from None
            raise


def _identified(item: dict[str, Any], key: str) -> dict[str, Any]:
    """A row with its primary key also as ``id``, the name deleted rows carry theirs by."""
    ident = item.get(key)
    if not isinstance(ident, str) or not ident:
        raise SourceError(f"Dataverse: a row has no {key}")
    return {**item, "id": ident}
