"""The Google replicator (``type: google``): the Workspace directory, users' contacts and
their "other contacts" through the People API, incremental by sync tokens.

Each read is a set of streams: the directory (``people:listDirectoryPeople``, domain
profiles and/or shared contacts) and, for each user (a service account acting as them
through domain-wide delegation, or the refresh token's own account), ``people/me/
connections`` and ``otherContacts``. A first read lists a stream whole with
``requestSyncToken=true`` and keeps the ``nextSyncToken`` of its last page; later reads
send the same parameters with ``syncToken`` and get only what changed, deleted people as
``metadata.deleted``, a person whose resource name changed with its former names. A sync
token Google no longer takes (``EXPIRED_SYNC_TOKEN``; older answers 410), a stream
without one or other settings make the run a full one that says why. Every stream is read
to its end before the first row is handed on, so that an expired token met late drops
nothing already passed on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from metadir.core.errors import SourceError
from metadir.core.records import Value
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.google.auth import Tokens
from replicators.google.people import (
    FIELDS,
    Kind,
    is_deleted,
    person_fields,
    previous_names,
    row,
)
from replicators.google.settings import ME, GoogleSettings, scope_of
from replicators.google.state import TOKENS, checkpoint, full_reason
from replicators.google.status import explain, parse
from replicators.http_client import HttpClient, HttpStatusError

log = logging.getLogger(__name__)

Item = Record | Problem | Removed
# directory sources as the API names them
_SOURCES = {"profiles": "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE",
            "shared_contacts": "DIRECTORY_SOURCE_TYPE_DOMAIN_CONTACT"}  # fmt: skip
# where each kind's people are in an answer
_LISTED = {"directory": "people", "contacts": "connections", "other_contacts": "otherContacts"}


class SyncTokenExpired(SourceError):
    """Google no longer takes a saved sync token; ``reason`` says how it said so."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Stream:
    """One listing: ``name`` keys its sync token in the state, ``what`` names it in
    messages, ``owner`` the user whose people they are ("" for the directory), ``subject``
    whom a service account acts as to read it."""

    name: str
    kind: Kind
    what: str
    owner: str
    subject: str | None
    url: str
    params: tuple[tuple[str, str], ...]

    def key(self, resource_name: str) -> tuple[str]:
        """A record's key: a user's contact ids are that user's alone."""
        return (f"{self.owner}/{resource_name}" if self.owner else resource_name,)


@dataclass
class Listing:
    """The people of one stream's read as rows (None: deleted), by resource name in the
    order first seen (a person sent again replaces the earlier copy), and the names gone
    from it. Rows, not the Person objects: the read holds every stream at once."""

    people: dict[str, dict[str, Value] | None]
    renamed: list[str]
    sync_token: str = ""


class GoogleReplicator:
    def __init__(self, config: GoogleSettings, context: Context) -> None:
        self.config = config
        self.context = context
        # requests of the last check or read, tries included (scripts/bench_google.py)
        self.requests = 0
        self.tokens: dict[str | None, Tokens] = {}

    def check(self) -> list[str]:
        """Get a token for each account (the sync engine calls this before every read, so
        it stays cheap: the tokens serve the read) and read one person of the first
        stream: credentials, delegation and the API being enabled, each named with what
        to grant or fix."""
        with self._session() as people:
            streams = self.streams()
            for stream in streams:
                self._use(people, stream)
                self.tokens[stream.subject](False)
            first = streams[0]
            self._use(people, first)
            params = [(k, v) for k, v in first.params if k != "pageSize"] + [("pageSize", "1")]
            with self._refusals(first):
                people.get_json(f"{first.url}?{urlencode(params)}")
        return list(dict.fromkeys([*FIELDS, *self.config.wanted_fields]))

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Item | Checkpoint]:
        config = self.config
        started = self.context.clock()
        reason = full_reason(config, state, started)
        streams = self.streams()
        read: list[tuple[Stream, Listing]] = []
        with self._session() as people:
            if reason is None:
                assert state is not None
                saved = state[TOKENS]
                missing = [s.what for s in streams if s.name not in saved]
                if missing:
                    reason = f"no sync token yet for {missing[0]}"
                else:
                    try:
                        read = [(s, self._list(people, s, saved[s.name]))
                                for s in streams]  # fmt: skip
                    except SyncTokenExpired as exc:
                        reason = f"{exc.reason}: read whole again"
                        log.info("%s: %s", config.name, reason)
            if reason is not None:
                read = [(s, self._list(people, s, None)) for s in streams]
        yield from self._items(read, incremental=reason is None)
        tokens = {stream.name: listing.sync_token for stream, listing in read}
        yield checkpoint(config, state, reason, started, tokens)

    def streams(self) -> list[Stream]:
        config = self.config
        base = f"{config.people_url}/v1"
        size = ("pageSize", str(config.page_size))
        streams = []
        if "directory" in config.objects:
            sources = [("sources", _SOURCES[source]) for source in config.sources]
            mask = person_fields("directory", config.wanted_fields)
            streams.append(Stream(
                "directory", "directory", "the directory", "", config.acting_as,
                f"{base}/people:listDirectoryPeople", (("readMask", mask), *sources, size),
            ))  # fmt: skip
        owners: list[str | None] = list(config.users) if config.users else [None]
        for owner in owners:
            name = owner or ME
            if "contacts" in config.objects:
                mask = person_fields("contacts", config.wanted_fields)
                streams.append(Stream(
                    f"contacts:{name}", "contacts", f"the contacts of {name}", name, owner,
                    f"{base}/people/me/connections", (("personFields", mask), size),
                ))  # fmt: skip
            if "other_contacts" in config.objects:
                mask = person_fields("other_contacts", config.wanted_fields)
                streams.append(Stream(
                    f"other_contacts:{name}", "other_contacts", f"the other contacts of {name}",
                    name, owner, f"{base}/otherContacts", (("readMask", mask), size),
                ))  # fmt: skip
        return streams

    @contextmanager
    def _session(self) -> Iterator[HttpClient]:
        people = HttpClient(self.config, self.context.base_dir, "Google People API")
        try:
            yield people
        finally:
            self.requests += people.requests
            people.close()

    def _use(self, people: HttpClient, stream: Stream) -> None:
        """Tokens of the account that reads ``stream`` (one per user acted as)."""
        if stream.subject not in self.tokens:
            self.tokens[stream.subject] = Tokens(self.config, people.client, stream.subject)
        else:  # a new session: the same credentials on this read's client
            self.tokens[stream.subject].request.client = people.client
        people.token = self.tokens[stream.subject]

    def _list(self, people: HttpClient, stream: Stream, sync_token: str | None) -> Listing:
        """Every page of ``stream``: whole (``sync_token`` None) or what changed since
        ``sync_token``. All parameters but the page token are those of the first call."""
        self._use(people, stream)
        params = [*stream.params, ("requestSyncToken", "true")]
        if sync_token is not None:
            params.append(("syncToken", sync_token))
        listing = Listing({}, [])
        page_token: str | None = None
        with self._refusals(stream, incremental=sync_token is not None):
            while True:
                query = [*params, ("pageToken", page_token)] if page_token else params
                body = people.get_json(f"{stream.url}?{urlencode(query)}")
                found = body.get(_LISTED[stream.kind], [])
                if not isinstance(found, list):
                    raise SourceError(f"Google People API: {stream.what}: a page holds no "
                                      f"list of people ({_LISTED[stream.kind]})")  # fmt: skip
                for person in found:
                    name = person.get("resourceName") if isinstance(person, dict) else None
                    if not isinstance(name, str) or not name:
                        raise SourceError(f"Google People API: {stream.what}: a person "
                                          "without resourceName")  # fmt: skip
                    listing.people.pop(name, None)  # sent again: the later copy, in its place
                    gone = is_deleted(person)
                    listing.people[name] = None if gone else row(stream.kind, stream.owner, person)
                    listing.renamed += previous_names(person)
                self.context.tick(len(found))
                following = body.get("nextPageToken")
                if isinstance(following, str) and following:
                    page_token = following
                    continue
                token = body.get("nextSyncToken")
                if not isinstance(token, str) or not token:
                    raise SourceError(f"Google People API: {stream.what}: the last page has "
                                      "no nextSyncToken")  # fmt: skip
                listing.sync_token = token
                return listing

    def _items(self, read: list[tuple[Stream, Listing]], incremental: bool) -> Iterator[Item]:
        line = 0
        for stream, listing in read:
            if incremental:
                for former in listing.renamed:
                    if former not in listing.people:
                        yield Removed(stream.key(former))
            for name, values in listing.people.items():
                line += 1
                if values is None:
                    if incremental:
                        yield Removed(stream.key(name))
                    continue
                yield Record(stream.key(name), values, line)

    @contextmanager
    def _refusals(self, stream: Stream, incremental: bool = False) -> Iterator[None]:
        """Refusals of the service while reading ``stream`` told as what to grant or fix;
        an expired sync token as ``SyncTokenExpired``."""
        try:
            yield
        except HttpStatusError as exc:
            status = parse(exc.status, exc.body)
            if incremental and status.expired_sync_token:
                raise SyncTokenExpired(
                    f"sync token of {stream.what} refused (HTTP {status.code}, {status.said()})"
                ) from None
            raise SourceError(explain(status, stream.what, scope_of(stream.kind))) from None
