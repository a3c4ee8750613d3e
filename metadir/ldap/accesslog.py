"""Operations in progress, and the access log: one line per operation, written when its
final response goes out (``server.access_log``), with every wire value escaped and cut
(``logtext.py``).

Every request is begun here, logged or not, so that its name and start time are there for
the ``on_operation`` hook (metrics) when it is answered; what only the log needs (the
filter as text, escaping) is computed only when the log is on: a number lookup costs
about 100 µs in all, and an unlogged operation adds one ``perf_counter`` and one small
object to it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from metadir.core import ber
from metadir.directory.filters import to_text
from metadir.ldap.decode import (
    BindRequest,
    CompareRequest,
    ExtendedRequest,
    Request,
    SearchRequest,
    WriteRequest,
)
from metadir.ldap.logtext import loggable, quoted

access_log = logging.getLogger("metadir.access")
log = logging.getLogger("metadir.ldap")

_SCOPES = ("base", "one", "sub", "children")


@dataclass(slots=True)
class Operation:
    """A request in progress: its name as counted (``search``, ``bind``, ``compare``,
    ``extended``, ``add``, ``modify``, ``delete``, ``modifydn``), when it arrived
    (``perf_counter``), and for the access log what it asked (None: not logged)."""

    name: str
    started: float
    detail: str | None = None
    entries: int = 0


# by request type: one dict lookup instead of an isinstance chain on the hot path
_NAMES: dict[type, str] = {
    SearchRequest: "search",
    BindRequest: "bind",
    CompareRequest: "compare",
    ExtendedRequest: "extended",
}


def begin(request: Request, started: float, logged: bool) -> Operation:
    """``request`` arrived at ``started`` (``perf_counter``); ``logged``: the access log
    will show it."""
    name = _NAMES.get(type(request))
    if name is None:
        assert isinstance(request, WriteRequest)  # unbind and abandon are not begun
        name = request.name.lower()
    return Operation(name, started, describe(request) if logged else None)


def finish(
    operation: Operation,
    response: bytes,
    connection: int,
    peer: str,
    who: str,
    on_operation: Callable[[str, int, float], None] | None,
) -> None:
    """``operation`` was answered with the encoded protocol op ``response``: log it (if it
    was begun to be logged) and tell ``on_operation``."""
    if operation.detail is None and on_operation is None:
        return
    seconds = time.perf_counter() - operation.started
    code = ber.result_code(response)
    if operation.detail is not None:
        access_log.info(
            "conn=%d peer=%s who=%s op=%s %s result=%d entries=%d ms=%.2f", connection, peer,
            quoted(who), operation.name.upper(), operation.detail, code, operation.entries,
            seconds * 1000,
        )  # fmt: skip
    if on_operation is not None:
        try:
            on_operation(operation.name, code, seconds)
        except Exception:  # counting must not cost the client its answer or connection
            log.exception("on_operation failed for %s", operation.name)


def describe(request: Request) -> str:
    """What an operation asked, for the access log (wire values escaped)."""
    if isinstance(request, SearchRequest):
        attrs = loggable(",".join(request.attributes)) or "*"
        return (
            f"base={quoted(request.base)} scope={_SCOPES[request.scope]} "
            f"filter={quoted(to_text(request.filter))} attrs={attrs}"
        )
    if isinstance(request, BindRequest):
        sasl = f" sasl={loggable(request.sasl)}" if request.sasl is not None else ""
        return f"dn={quoted(request.name)}{sasl}"
    if isinstance(request, CompareRequest):
        return f"dn={quoted(request.entry)} attr={loggable(request.attribute)}"
    if isinstance(request, ExtendedRequest):
        return f"oid={loggable(request.name)}"
    return ""  # a write, refused whole: its name says it all
