"""The search operation of a connection: the special entries (root DSE, subschema), base
and scope, access, and the result list shaped by the controls in layers: sort, then the
list view's window, then pages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from metadir.core import ber
from metadir.core.dn import normalize_dn
from metadir.directory import filters
from metadir.directory.attributes import object_class_name
from metadir.directory.filters import Equality, Present
from metadir.directory.index import Entry
from metadir.directory.tree import SUBSCHEMA_DN, NoSuchObject, Scope
from metadir.ldap import controls, writes
from metadir.ldap.decode import Control, SearchRequest
from metadir.ldap.entries import Selection, encode_entry
from metadir.ldap.pages import PagedSearch, Pages
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
    UNAVAILABLE_CRITICAL_EXTENSION,
    UNWILLING_TO_PERFORM,
    VLV_ERROR,
)

if TYPE_CHECKING:
    from metadir.ldap.protocol import LDAPServerFactory, Operation

SCOPES = (Scope.BASE, Scope.ONE, Scope.SUB, Scope.CHILDREN)

_VIEW_ERRORS = {
    controls.OFFSET_RANGE_ERROR: "the list view offset is out of range",
    controls.INAPPROPRIATE_MATCHING: "the list view's value cannot be compared with the sort key",
}


class Searches:
    """The search operation, mixed into ``LDAPConnection``."""

    server: LDAPServerFactory
    pages: Pages
    identity: object
    operations: dict[int, Operation]
    outgoing: list[bytes]
    transport: object
    _send: Callable[..., None]
    _tls_required: Callable[[], bool]
    _visible: Callable[[], set[str] | None]

    def _search(self, mid: int, request: SearchRequest, requested: list[Control]) -> None:
        response_controls: list[bytes] = []

        def done(code: int, matched: str = "", why: str = "") -> None:
            op = ber.result(ber.SEARCH_RESULT_DONE, code, matched, why)
            self._send(mid, op, controls.controls(*response_controls))

        base = request.base
        scope = SCOPES[request.scope]  # the decoder refused any other
        filter = request.filter
        selection = Selection.parse(request.attributes, request.types_only)
        deadline = time.monotonic() + request.time_limit if request.time_limit > 0 else None
        if self._tls_required() and not (scope == Scope.BASE and not base.strip()):
            return done(CONFIDENTIALITY_REQUIRED, "", TLS_FIRST)  # all but the root DSE
        special = self._special_entry(base, scope)
        if special is not None:
            # the root DSE and the subschema entry answer the usual reads: (objectClass=*),
            # and (objectClass=subschema) as RFC 4512 §4.4 asks
            if _reads(filter, special):
                # their attributes are operational, yet clients expect them without "+" too
                shown = replace(selection, all_user=selection.all_user or selection.all_operational)
                self._send_entries(mid, [special], shown, frozenset(), None)
            return done(SUCCESS)
        visible = self._visible()
        if visible is not None and not visible:
            return done(INSUFFICIENT_ACCESS_RIGHTS, "", "bind first: anonymous reads are disabled")
        most = self.server.limits.max_filter_elements
        if request.filter_bytes >= 2 * most and (elements := filters.size(filter)) > most:
            return done(
                ADMIN_LIMIT_EXCEEDED,
                "",
                f"the filter has {elements} elements; this server takes at most {most}",
            )
        try:
            wanted = controls.SearchControls.parse(requested)
        except controls.BadControl as exc:
            return done(PROTOCOL_ERROR, "", str(exc))
        paged = wanted.paged
        if wanted.view is not None and wanted.sort is None:
            response_controls.append(controls.vlv_response(0, 0, controls.SORT_CONTROL_MISSING))
            return done(VLV_ERROR, "", "a virtual list view needs a sort control")
        if wanted.view is not None and paged is not None:
            return done(UNWILLING_TO_PERFORM, "", "paged results and a list view together")
        tree = self.server.tree
        fingerprint = (base, scope, filter, selection, wanted.sort, self.identity)

        def page(search: PagedSearch) -> None:
            assert paged is not None
            self._page(mid, search, paged.size, request.size_limit, selection, deadline,
                       response_controls, done)  # fmt: skip

        if paged is not None and paged.cookie:
            search = self.pages.resume(paged.cookie, fingerprint)
            if search is None:
                return done(UNWILLING_TO_PERFORM, "", "unknown paged results cookie")
            return page(search)
        target = tree.resolve(base, visible)
        if isinstance(target, NoSuchObject):
            return done(NO_SUCH_OBJECT, target.matched_dn, f"no entry {base!r}")
        limits = [n for n in (request.size_limit, self.server.size_limit) if n > 0]
        limit = min(limits) if limits and paged is None else None
        # without sort, view or paging only the first limit + 1 entries matter
        plain = wanted.sort is None and wanted.view is None and paged is None
        first = limit + 1 if plain and limit is not None else None
        entries = tree.search(target, scope, filter, visible, first=first)
        if wanted.sort is not None:
            sorted_ = controls.sort_entries(entries, wanted.sort)
            response_controls.append(controls.sort_response(sorted_.code, sorted_.attribute))
            if sorted_.code and wanted.sort_critical:
                return done(UNAVAILABLE_CRITICAL_EXTENSION, "", "cannot sort as asked")
            entries = sorted_.entries
            if wanted.view is not None:
                window = controls.view(entries, wanted.view, wanted.sort[0])
                response_controls.append(
                    controls.vlv_response(
                        window.position, window.count, window.code, wanted.view.context
                    )
                )
                if window.code:
                    return done(VLV_ERROR, "", _VIEW_ERRORS[window.code])
                entries = window.entries
        if paged is not None:
            return page(PagedSearch(fingerprint, [e.id for e in entries]))
        if not self._send_entries(
            mid, entries[:limit], selection, self.server.operational, deadline
        ):
            return done(TIME_LIMIT_EXCEEDED, "", "time limit exceeded")
        if limit is not None and len(entries) > limit:
            return done(SIZE_LIMIT_EXCEEDED, "", f"more than {limit} entries match")
        return done(SUCCESS)

    def _page(
        self,
        mid: int,
        search: PagedSearch,
        size: int,
        size_limit: int,
        selection: Selection,
        deadline: float | None,
        response_controls: list[bytes],
        done: Callable[..., None],
    ) -> None:
        """Send the next page of a paged search (the server's size limit does not apply:
        paging is how sync clients read whole directories); a page size of 0 ends it."""
        if size == 0:
            response_controls.append(controls.paged_response(b""))
            return done(SUCCESS)
        if size_limit > 0:
            size = min(size, size_limit - search.sent)
        entries = self.server.tree.index.entries
        page = [
            entries[i] for i in search.ids[search.position : search.position + size] if i in entries
        ]
        search.position += size
        search.sent += len(page)
        if not self._send_entries(mid, page, selection, self.server.operational, deadline):
            response_controls.append(controls.paged_response(b""))
            return done(TIME_LIMIT_EXCEEDED, "", "time limit exceeded")
        more = search.position < len(search.ids)
        if more and size_limit > 0 and search.sent >= size_limit:
            response_controls.append(controls.paged_response(b""))
            return done(SIZE_LIMIT_EXCEEDED, "", f"more than {size_limit} entries match")
        cookie = self.pages.keep(search, mid) if more else b""
        # RFC 2696's size is an estimate of the whole result: the count the search found
        response_controls.append(controls.paged_response(cookie, estimate=len(search.ids)))
        return done(SUCCESS)

    def _special_entry(self, base: str, scope: Scope) -> Entry | None:
        if scope != Scope.BASE:
            return None
        if not base.strip():
            return self.server.root_dse
        try:
            if normalize_dn(base) == normalize_dn(SUBSCHEMA_DN):
                return self.server.subschema()
        except ValueError:
            pass
        return None

    def _send_entries(
        self,
        mid: int,
        entries: list[Entry],
        selection: Selection,
        operational: frozenset[str],
        deadline: float | None,
    ) -> bool:
        """Send ``entries``; False when the client's time limit ran out first."""
        operation = self.operations.get(mid)
        if operation is not None:
            operation.entries += len(entries)
        outgoing = self.outgoing
        for entry in entries:
            outgoing.append(ber.message(mid, encode_entry(entry, selection, operational)))
            if len(outgoing) >= 512:  # big results go out as they are encoded
                writes.send(self.transport, outgoing)
                outgoing.clear()
                if deadline is not None and time.monotonic() > deadline:
                    return False
        return True


def _reads(filter: object, entry: Entry) -> bool:
    """Whether ``filter`` is (objectClass=*) or (objectClass=<a class of ``entry``>)."""
    if not isinstance(filter, Present | Equality) or filter.attribute.lower() != "objectclass":
        return False
    classes = {name.lower() for name in entry.attributes["objectClass"]}
    if isinstance(filter, Present):
        return True
    name = object_class_name(filter.value)  # None: no class the schema knows
    return name is not None and name.lower() in classes
