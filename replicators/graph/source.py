"""The Microsoft 365 replicator (``type: graph``): users, organisational contacts and
mailbox contact folders through Microsoft Graph's delta functions.

Each kind of object (and each mailbox folder) is one delta stream: the first run reads it
whole with a ``$select`` of every field the mapping reads and keeps its delta link; later
runs follow the links and get only what changed, ``@removed`` objects as removals. A link
the service no longer accepts (410 Gone, ``syncStateNotFound``), a stream without one, other
settings or a changed group make the run a full one that says why. Every stream is read to
its end before the first row is handed on, so that a replayed object counts once (merged,
the later copy wins) and an expired link met late drops nothing already passed on. Users
that are disabled or (with ``group``) no members are left out: removed in an incremental
read, where they may have been there before.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.entra import GUID
from replicators.graph.auth import Credentials
from replicators.graph.objects import ACCOUNT_ENABLED, FIELDS, PHOTO, Kind, row, select
from replicators.graph.photos import PHOTO_KINDS, photo_url, read_photo
from replicators.graph.settings import DEFAULT_FOLDER, GraphSettings, Mailbox, permissions
from replicators.graph.state import LINKS, checkpoint, full_reason, members_digest
from replicators.http_client import HttpClient, HttpStatusError
from replicators.odata import Changes, DeltaExpired, collection, is_removed, pages, prefer

log = logging.getLogger(__name__)

Item = Record | Problem | Removed
USER_TYPE = "#microsoft.graph.user"


@dataclass(frozen=True, slots=True)
class Stream:
    """One delta read: ``name`` keys its link in the state, ``what`` names it in messages."""

    name: str
    kind: Kind
    what: str
    url: str


class GraphReplicator:
    def __init__(self, config: GraphSettings, context: Context) -> None:
        self.config = config
        self.context = context
        # requests of the last check or read, tries included (scripts/bench_graph.py)
        self.requests = 0
        self.credentials: Credentials | None = None

    def check(self) -> list[str]:
        """Get a token, find the group and the mailbox folders, and read one object of
        each kind: what the app may not read is named with the permission it needs."""
        config = self.config
        with self._session() as graph:
            for kind, path in (("users", "users"), ("contacts", "contacts")):
                if kind in config.objects:
                    url = f"{config.graph_url}/v1.0/{path}"
                    with self._refusals(kind, path):
                        graph.get_json(url, {"$top": "1", "$select": "id"})
            if config.group is not None:
                self._group_id(graph)
            self._streams(graph)
        return list(dict.fromkeys([*FIELDS, *config.wanted_fields]))

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Item | Checkpoint]:
        config = self.config
        started = self.context.clock()
        with self._session() as graph:
            members = self._members(graph) if config.group is not None else None
            digest = members_digest(members)
            reason = full_reason(config, state, digest, started)
            streams = self._streams(graph)
            read: list[tuple[Stream, Changes]] = []
            links: dict[str, str] = {}
            if reason is None:
                assert state is not None
                saved = state[LINKS]
                missing = [s.what for s in streams if s.name not in saved]
                if missing:
                    reason = f"no delta link yet for {missing[0]}"
                else:
                    try:
                        read, links = self._read(graph, streams, saved)
                    except DeltaExpired as exc:
                        reason = f"{exc.reason}: read whole again"
                        log.info("%s: %s", config.name, reason)
            if reason is not None:
                read, links = self._read(graph, streams, None)
            yield from self._items(graph, read, members, incremental=reason is None)
        yield checkpoint(config, state, reason, started, links, digest)

    @contextmanager
    def _session(self) -> Iterator[HttpClient]:
        graph = HttpClient(self.config, self.context.base_dir, "Microsoft Graph")
        try:
            if self.credentials is None:
                self.credentials = Credentials(self.config, graph.client)
            else:  # the check's tokens serve the read
                self.credentials.use(graph.client)
            graph.token = self.credentials
            yield graph
        finally:
            self.requests += graph.requests
            graph.close()

    def _read(
        self, graph: HttpClient, streams: list[Stream], saved: dict[str, str] | None
    ) -> tuple[list[tuple[Stream, Changes]], dict[str, str]]:
        """Every stream, from its saved link or (``saved`` None) whole: the objects of
        each and the new links."""
        headers = prefer(self.config.page_size)
        read, links = [], {}
        for stream in streams:
            changes = Changes()
            if saved is None:
                params: dict[str, str] | None = {"$select": self._select(stream.kind)}
                url = stream.url
            else:
                url, params = saved[stream.name], None
            with self._refusals(stream.kind, stream.what):
                for page in pages(graph, url, params, headers):
                    for item in page.items:
                        changes.add(item)
                    if page.delta_link is not None:
                        links[stream.name] = page.delta_link
                    self.context.tick(len(page.items))
            read.append((stream, changes))
        return read, links

    def _select(self, kind: Kind) -> str:
        return ",".join(["id", *select(kind, self.config.wanted_fields)])

    def _items(
        self,
        graph: HttpClient,
        read: list[tuple[Stream, Changes]],
        members: set[str] | None,
        incremental: bool,
    ) -> Iterator[Item]:
        skip_disabled = self.config.skip_disabled
        photos = PHOTO in self.config.wanted_fields
        line = 0
        for stream, changes in read:
            for ident, item in changes.objects.items():
                line += 1
                gone = is_removed(item) or (
                    stream.kind == "users"
                    and (
                        (skip_disabled and item.get(ACCOUNT_ENABLED) is False)
                        or (members is not None and ident not in members)
                    )
                )
                if gone:
                    if incremental:
                        yield Removed((ident,))
                    continue
                values = row(stream.kind, item)
                if photos and stream.kind in PHOTO_KINDS:
                    url = photo_url(stream.kind, stream.url, ident, self.config.photo_size)
                    with self._refusals(stream.kind, f"the photo of {ident} ({stream.what})"):
                        photo = read_photo(graph, url)
                    if photo is not None:
                        values[PHOTO] = photo
                yield Record((ident,), values, line)

    def _streams(self, graph: HttpClient) -> list[Stream]:
        config = self.config
        base = f"{config.graph_url}/v1.0"
        streams = []
        if "users" in config.objects:
            streams.append(Stream("users", "users", "users", f"{base}/users/delta"))
        if "contacts" in config.objects:
            streams.append(
                Stream("contacts", "contacts", "organisational contacts", f"{base}/contacts/delta")
            )
        for mailbox in config.mailboxes:
            for folder_id, name in self._folders(graph, mailbox):
                where = f"{base}/users/{quote(mailbox.mailbox)}/contactFolders/{folder_id}"
                streams.append(Stream(
                    f"mailbox:{mailbox.mailbox}/{folder_id}", "mailbox_contacts",
                    f"contact folder {name!r} of {mailbox.mailbox}", f"{where}/contacts/delta",
                ))  # fmt: skip
        return streams

    def _folders(self, graph: HttpClient, mailbox: Mailbox) -> list[tuple[str, str]]:
        """(id, name) of the chosen contact folders of ``mailbox``. The mailbox's own
        folder is not among those the service lists: its well-known name stands for it."""
        url = f"{self.config.graph_url}/v1.0/users/{quote(mailbox.mailbox)}/contactFolders"
        what = f"the contact folders of {mailbox.mailbox}"
        with self._refusals("mailbox_contacts", what):
            found = list(collection(graph, url, {"$select": "id,displayName", "$top": "100"}))
        by_name = {str(f.get("displayName", "")).casefold(): str(f.get("id")) for f in found}
        chosen = []
        for name in mailbox.folders:
            if name.casefold() in by_name:
                chosen.append((by_name[name.casefold()], name))
            elif name.casefold() == DEFAULT_FOLDER.casefold():
                chosen.append(("contacts", name))
            else:
                names = ", ".join([DEFAULT_FOLDER, *(str(f.get("displayName")) for f in found)])
                raise SourceError(
                    f"mailboxes: {mailbox.mailbox} has no contact folder {name!r} (it has {names})"
                )
        return chosen

    def _group_id(self, graph: HttpClient) -> str:
        group = self.config.group
        assert group is not None
        if GUID.fullmatch(group):
            return group
        url = f"{self.config.graph_url}/v1.0/groups"
        quoted = group.replace("'", "''")
        params = {"$filter": f"displayName eq '{quoted}'", "$select": "id,displayName"}
        with self._refusals("group", f"group {group!r}"):
            found = list(collection(graph, url, params))
        if len(found) != 1:
            many = f"{len(found)} groups are" if found else "no group is"
            raise SourceError(f"group: {many} called {group!r}; give the group's id")
        return str(found[0].get("id"))

    def _members(self, graph: HttpClient) -> set[str]:
        """The ids of the users in the group, nested groups' members too."""
        ident = self._group_id(graph)
        url = f"{self.config.graph_url}/v1.0/groups/{quote(ident)}/transitiveMembers"
        what = f"the members of group {self.config.group!r}"
        with self._refusals("group", what):
            found = list(collection(graph, url, {"$select": "id", "$top": "999"}))
        return {
            str(m["id"])
            for m in found
            if m.get("@odata.type", USER_TYPE) == USER_TYPE and "id" in m
        }

    @contextmanager
    def _refusals(self, kind: str, what: str) -> Iterator[None]:
        """Refusals of the service while reading ``what`` told as what to grant or fix."""
        try:
            yield
        except HttpStatusError as exc:
            said = exc.code or f"HTTP {exc.status}"
            if exc.status == 403:
                raise SourceError(
                    f"Microsoft Graph denied reading {what} ({said}): grant the application "
                    f"permission {permissions()[kind]} (admin consent)"
                ) from None
            if exc.status == 404:
                raise SourceError(f"Microsoft Graph: {what}: not found ({said})") from None
            raise
