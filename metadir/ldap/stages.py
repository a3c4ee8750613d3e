"""The search controls as stages over a backend's result (slapd's sssvlv overlay in
spirit): sort, then the virtual list view's window; paging, the last stage, keeps what is
left as ids between pages (``pages.py``).

A stage takes the entries the stage before it passed on and the response controls so
far, appends its own response control, and passes entries on, or refuses the search with
a result code. Stages know neither the backend nor the connection.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from metadir.directory.index import Entry
from metadir.ldap import controls
from metadir.ldap.results import UNAVAILABLE_CRITICAL_EXTENSION, UNWILLING_TO_PERFORM, VLV_ERROR

_VIEW_ERRORS = {
    controls.OFFSET_RANGE_ERROR: "the list view offset is out of range",
    controls.INAPPROPRIATE_MATCHING: "the list view's value cannot be compared with the sort key",
}


class Refusal(NamedTuple):
    """How a stage ends a search: the result code and the diagnostic message."""

    code: int
    why: str


class Stage(Protocol):
    def __call__(self, entries: list[Entry], response: list[bytes]) -> list[Entry] | Refusal:
        """The entries passed on, or why the search ends here; response controls are
        appended to ``response``."""
        ...


class Sort:
    """Server-side sort (RFC 2891). Keys it cannot sort by leave the entries unsorted,
    which ends the search only when the control was critical."""

    def __init__(self, keys: tuple[controls.SortKey, ...], critical: bool) -> None:
        self.keys = keys
        self.critical = critical

    def __call__(self, entries: list[Entry], response: list[bytes]) -> list[Entry] | Refusal:
        sorted_ = controls.sort_entries(entries, self.keys)
        response.append(controls.sort_response(sorted_.code, sorted_.attribute))
        if sorted_.code and self.critical:
            return Refusal(UNAVAILABLE_CRITICAL_EXTENSION, "cannot sort as asked")
        return sorted_.entries


class ListView:
    """The window of a sorted result a virtual list view asks for."""

    def __init__(self, request: controls.ViewRequest, key: controls.SortKey) -> None:
        self.request = request
        self.key = key

    def __call__(self, entries: list[Entry], response: list[bytes]) -> list[Entry] | Refusal:
        window = controls.view(entries, self.request, self.key)
        response.append(
            controls.vlv_response(window.position, window.count, window.code, self.request.context)
        )
        if window.code:
            return Refusal(VLV_ERROR, _VIEW_ERRORS[window.code])
        return window.entries


NONE: tuple[Stage, ...] = ()


def plan(wanted: controls.SearchControls, response: list[bytes]) -> tuple[Stage, ...] | Refusal:
    """The stages the controls of one search ask for, in the order they apply; or why
    those controls cannot go together (response controls for that go to ``response``).
    Paging is not among them: it follows the last stage (``pages.py``)."""
    if wanted.sort is None:
        if wanted.view is not None:
            response.append(controls.vlv_response(0, 0, controls.SORT_CONTROL_MISSING))
            return Refusal(VLV_ERROR, "a virtual list view needs a sort control")
        return NONE  # the usual search: no stage, nothing allocated
    if wanted.view is not None and wanted.paged is not None:
        return Refusal(UNWILLING_TO_PERFORM, "paged results and a list view together")
    sort = Sort(wanted.sort, wanted.sort_critical)
    if wanted.view is None:
        return (sort,)
    return (sort, ListView(wanted.view, wanted.sort[0]))


def run(
    stages: tuple[Stage, ...], entries: list[Entry], response: list[bytes]
) -> list[Entry] | Refusal:
    """``entries`` through ``stages`` in order."""
    for stage in stages:
        passed = stage(entries, response)
        if isinstance(passed, Refusal):
            return passed
        entries = passed
    return entries
