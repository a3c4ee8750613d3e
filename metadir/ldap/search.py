"""The search operation over a backend: the special entries (root DSE, subschema), base
and scope, access, and the backend's result through the control stages (sort, then the
list view's window), then paged or sent whole.

A function, not a part of the connection: it gets what the front end shares (``Frontend``)
and what the connection knows of its client, and returns how the search ends; the entries
go out through ``send`` as they are ready.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import NamedTuple, Protocol

from metadir.directory import filters
from metadir.directory.index import Entry
from metadir.directory.tree import NoSuchObject, Scope
from metadir.ldap import controls, stages
from metadir.ldap.authenticator import Identity
from metadir.ldap.backend import Backend
from metadir.ldap.decode import Control, SearchRequest
from metadir.ldap.entries import Selection
from metadir.ldap.pages import PagedSearch, Pages, next_page
from metadir.ldap.results import (
    ADMIN_LIMIT_EXCEEDED,
    CONFIDENTIALITY_REQUIRED,
    INSUFFICIENT_ACCESS_RIGHTS,
    NO_SUCH_OBJECT,
    PROTOCOL_ERROR,
    SIZE_LIMIT_EXCEEDED,
    SUCCESS,
    TIME_LIMIT_EXCEEDED,
    TLS_FIRST,
    UNWILLING_TO_PERFORM,
)
from metadir.ldap.settings import Limits
from metadir.ldap.special import reads, special_entry

SCOPES = (Scope.BASE, Scope.ONE, Scope.SUB, Scope.CHILDREN)


class Frontend(Protocol):
    """What a search needs of the front end (``LDAPServerFactory``)."""

    backend: Backend
    limits: Limits
    size_limit: int  # the server's own; 0: none
    operational: frozenset[str]  # the operational attribute names, for "+"
    root_dse: Entry


class SendEntries(Protocol):
    def __call__(
        self,
        mid: int,
        entries: list[Entry],
        selection: Selection,
        operational: frozenset[str],
        deadline: float | None,
    ) -> bool:
        """Send ``entries``; False when the client's time limit ran out first."""
        ...


class Done(NamedTuple):
    """How a search ends: its SearchResultDone and the response controls."""

    code: int
    matched: str = ""
    why: str = ""
    controls: list[bytes] | None = None


def search(
    server: Frontend,
    mid: int,
    request: SearchRequest,
    requested: list[Control],
    who: Identity,
    visible: set[str] | None,
    tls_missing: bool,
    pages: Pages,
    send: SendEntries,
) -> Done:
    """Answer search ``mid`` of a client that is ``who`` and may read ``visible``
    (``AccessPolicy.visible``); ``tls_missing``: the client must use TLS first."""
    base = request.base
    scope = SCOPES[request.scope]  # the decoder refused any other
    filter = request.filter
    selection = Selection.parse(request.attributes, request.types_only)
    deadline = time.monotonic() + request.time_limit if request.time_limit > 0 else None
    if tls_missing and not (scope == Scope.BASE and not base.strip()):
        return Done(CONFIDENTIALITY_REQUIRED, "", TLS_FIRST)  # all but the root DSE
    special = special_entry(base, scope, server.root_dse)
    if special is not None:
        # the root DSE and the subschema entry answer the usual reads: (objectClass=*),
        # and (objectClass=subschema) as RFC 4512 §4.4 asks
        if reads(filter, special):
            # their attributes are operational, yet clients expect them without "+" too
            shown = replace(selection, all_user=selection.all_user or selection.all_operational)
            send(mid, [special], shown, frozenset(), None)
        return Done(SUCCESS)
    if visible is not None and not visible:
        return Done(INSUFFICIENT_ACCESS_RIGHTS, "", "bind first: anonymous reads are disabled")
    most = server.limits.max_filter_elements
    if request.filter_bytes >= 2 * most and (elements := filters.size(filter)) > most:
        why = f"the filter has {elements} elements; this server takes at most {most}"
        return Done(ADMIN_LIMIT_EXCEEDED, "", why)
    try:
        wanted = controls.SearchControls.parse(requested)
    except controls.BadControl as exc:
        return Done(PROTOCOL_ERROR, "", str(exc))
    response: list[bytes] = []
    shaping = stages.plan(wanted, response)
    if isinstance(shaping, stages.Refusal):
        return Done(shaping.code, "", shaping.why, response)
    paged = wanted.paged
    fingerprint = (base, scope, filter, selection, wanted.sort, who)
    if paged is not None and paged.cookie:
        resumed = pages.resume(paged.cookie, fingerprint)
        if resumed is None:
            return Done(UNWILLING_TO_PERFORM, "", "unknown paged results cookie")
        return _page(server, mid, resumed, paged.size, request.size_limit, selection, deadline,
                     pages, send, response)  # fmt: skip
    backend = server.backend
    target = backend.resolve(base, visible)
    if isinstance(target, NoSuchObject):
        return Done(NO_SUCH_OBJECT, target.matched_dn, f"no entry {base!r}")
    limits = [n for n in (request.size_limit, server.size_limit) if n > 0]
    limit = min(limits) if limits and paged is None else None
    # without stages or paging only the first limit + 1 entries matter
    first = limit + 1 if not shaping and paged is None and limit is not None else None
    entries = backend.search(target, scope, filter, visible, first)
    if shaping:
        shaped = stages.run(shaping, entries, response)
        if isinstance(shaped, stages.Refusal):
            return Done(shaped.code, "", shaped.why, response)
        entries = shaped
    if paged is not None:
        return _page(server, mid, PagedSearch(fingerprint, [e.id for e in entries]), paged.size,
                     request.size_limit, selection, deadline, pages, send, response)  # fmt: skip
    if not send(mid, entries[:limit], selection, server.operational, deadline):
        return Done(TIME_LIMIT_EXCEEDED, "", "time limit exceeded", response)
    if limit is not None and len(entries) > limit:
        return Done(SIZE_LIMIT_EXCEEDED, "", f"more than {limit} entries match", response)
    return Done(SUCCESS, "", "", response)


def _page(
    server: Frontend,
    mid: int,
    search: PagedSearch,
    size: int,
    size_limit: int,
    selection: Selection,
    deadline: float | None,
    pages: Pages,
    send: SendEntries,
    response: list[bytes],
) -> Done:
    """Send the next page of a paged search (the server's size limit does not apply:
    paging is how sync clients read whole directories); a page size of 0 ends it."""
    if size == 0:
        response.append(controls.paged_response(b""))
        return Done(SUCCESS, "", "", response)
    page = next_page(server.backend, search, size, size_limit)
    if not send(mid, page, selection, server.operational, deadline):
        response.append(controls.paged_response(b""))
        return Done(TIME_LIMIT_EXCEEDED, "", "time limit exceeded", response)
    more = search.position < len(search.ids)
    if more and size_limit > 0 and search.sent >= size_limit:
        response.append(controls.paged_response(b""))
        return Done(SIZE_LIMIT_EXCEEDED, "", f"more than {size_limit} entries match", response)
    cookie = pages.keep(search, mid) if more else b""
    # RFC 2696's size is an estimate of the whole result: the count the search found
    response.append(controls.paged_response(cookie, estimate=len(search.ids)))
    return Done(SUCCESS, "", "", response)
