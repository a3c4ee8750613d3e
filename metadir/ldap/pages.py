"""Paged-results state of one connection (RFC 2696).

A paged search is evaluated once, on its first page: its result is kept as a list of entry
ids behind a cookie, and each later page is a slice of it — a sync client pages through a
million entries without the server searching again per page. Entries that left the
directory meanwhile are skipped, changed ones are sent as they are now. The state belongs
to the connection and dies with it; a page size of 0, the last page, an Abandon of the
request that got the latest page, or too many open searches free it.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field

from metadir.directory.index import Entry
from metadir.ldap.backend import Backend

# open paged searches one connection may hold; the oldest is dropped beyond that
MAX_OPEN = 16


@dataclass(slots=True)
class PagedSearch:
    fingerprint: object  # what identifies the search, so a cookie cannot switch searches
    ids: list[int]
    position: int = 0
    sent: int = 0  # entries sent so far, for the client's size limit
    mid: int = 0  # the message id of the request that got the latest page


@dataclass
class Pages:
    open: OrderedDict[bytes, PagedSearch] = field(default_factory=OrderedDict)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    def keep(self, search: PagedSearch, mid: int) -> bytes:
        """A new cookie for the rest of ``search``, whose latest page request ``mid`` got:
        every cookie is good for one page."""
        cookie = next(self._counter).to_bytes(8, "big")
        search.mid = mid
        self.open[cookie] = search
        while len(self.open) > MAX_OPEN:
            self.open.popitem(last=False)
        return cookie

    def resume(self, cookie: bytes, fingerprint: object) -> PagedSearch | None:
        """The search behind ``cookie``, if it is this connection's and the same search;
        the cookie is used up either way."""
        search = self.open.pop(cookie, None)
        if search is None or search.fingerprint != fingerprint:
            return None
        return search

    def abandon(self, mid: int) -> None:
        """Free the search whose latest page request ``mid`` got: the client wants no more."""
        for cookie, search in self.open.items():
            if search.mid == mid:
                del self.open[cookie]
                return


def next_page(backend: Backend, search: PagedSearch, size: int, size_limit: int) -> list[Entry]:
    """The next ``size`` entries of ``search`` (fewer where the client's ``size_limit``
    ends it, or entries left the backend meanwhile), moving it past them."""
    if size_limit > 0:
        size = min(size, size_limit - search.sent)
    page = backend.entries(search.ids[search.position : search.position + size])
    search.position += size
    search.sent += len(page)
    return page
