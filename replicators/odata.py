"""OData delta reads: Microsoft Graph's ``/delta`` functions and Dataverse's change tracking
(``Prefer: odata.track-changes``) speak the same loop.

The first request (no token) returns every object; each answer is a page of ``value``
with ``@odata.nextLink`` to the next page, and the last page carries ``@odata.deltaLink``:
the URL that returns what changed since, kept verbatim as the source's state. Objects gone
since come as ``{"id": ..., "@removed": {"reason": ...}}`` (Graph) or as a
``$deletedEntity`` (Dataverse). The same object may come more than once (replays): the
later copy wins, merged over the earlier one (``Changes``). A delta link the service no
longer knows (410 Gone, ``syncStateNotFound`` and kin) is a ``DeltaExpired``: the caller
reads everything again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from metadir.core.errors import SourceError
from replicators.http_client import HttpClient, HttpStatusError

NEXT, DELTA = "@odata.nextLink", "@odata.deltaLink"
REMOVED = "@removed"
# error codes that say the delta token is unknown, expired or needs a new full sync: Graph's
# names, Dataverse's ExpiredVersionStamp (0x80044352: older than the organisation keeps
# changes, or the table's definition changed) and invalid version stamp (0x80044183)
_EXPIRED_CODES = ("syncstate", "resync", "deltatoken", "tokenexpired", "0x80044352",
                  "0x80044183")  # fmt: skip


class DeltaExpired(SourceError):
    """The service no longer accepts the saved delta link; ``reason`` says how it said so."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    # on the last page: where the next read resumes
    delta_link: str | None = None


def prefer(max_page_size: int | None = None, track_changes: bool = False) -> dict[str, str]:
    """The ``Prefer`` header of a delta read: a page size and Dataverse's change tracking."""
    wanted = ["odata.track-changes"] if track_changes else []
    if max_page_size is not None:
        wanted.append(f"odata.maxpagesize={max_page_size}")
    return {"Prefer": ", ".join(wanted)} if wanted else {}


def pages(
    http: HttpClient,
    url: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    untracked: bool = False,
) -> Iterator[Page]:
    """The pages of one delta read from ``url`` (a first request with its ``params``, or a
    saved delta link) up to the page with the next delta link. ``untracked``: a page with
    neither link ends the read too (Dataverse answers a table without change tracking so:
    every row, no delta link). Raises ``DeltaExpired`` when a link is refused as too old,
    ``SourceError`` for any other failure."""
    while True:
        try:
            body = http.get_json(url, params, headers)
        except HttpStatusError as exc:
            if expired(exc):
                raise DeltaExpired(f"delta link refused: {exc}") from None
            raise
        items = body.get("value")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SourceError(f"{http.what}: a delta page holds no list of objects (value)")
        delta, following = body.get(DELTA), body.get(NEXT)
        if isinstance(delta, str) and delta:
            yield Page(items, delta)
            return
        if (not isinstance(following, str) or not following) and untracked:
            yield Page(items)
            return
        if not isinstance(following, str) or not following:
            raise SourceError(f"{http.what}: a delta page has neither {NEXT} nor {DELTA}")
        yield Page(items)
        # the links carry every parameter of the first request
        url, params = following, None


def collection(
    http: HttpClient, url: str, params: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Every object of a plain (not delta) collection, following ``@odata.nextLink``."""
    following: str | None = url
    while following:
        body = http.get_json(following, params)
        items = body.get("value")
        if not isinstance(items, list):
            raise SourceError(f"{http.what}: a page holds no list of objects (value)")
        yield from (item for item in items if isinstance(item, dict))
        link = body.get(NEXT)
        following, params = (link if isinstance(link, str) else None), None


def expired(exc: HttpStatusError) -> bool:
    """Whether ``exc`` says the delta link is too old or unknown: 410 Gone, or a 4xx whose
    code names the sync state or token (Graph: ``syncStateNotFound``, ``resyncRequired``)."""
    if exc.status == 410:
        return True
    code = exc.code.lower()
    return 400 <= exc.status < 500 and any(part in code for part in _EXPIRED_CODES)


def is_removed(item: dict[str, Any]) -> bool:
    """Whether a delta item says its object is gone."""
    context = item.get("@odata.context")
    return REMOVED in item or (isinstance(context, str) and context.endswith("$deletedEntity"))


@dataclass
class Changes:
    """The objects of a delta read by id, in the order first seen: a replayed object is
    merged over its earlier copy (the later values win), a removal replaces it, and an
    object after its removal (restored meanwhile) comes back as itself alone."""

    key: str = "id"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, item: dict[str, Any]) -> None:
        ident = item.get(self.key)
        if not isinstance(ident, str) or not ident:
            raise SourceError(f"a delta item has no {self.key}")
        earlier = self.objects.get(ident)
        if earlier is None or is_removed(item) or is_removed(earlier):
            self.objects[ident] = item
        else:
            self.objects[ident] = {**earlier, **item}

    def __len__(self) -> int:
        return len(self.objects)
