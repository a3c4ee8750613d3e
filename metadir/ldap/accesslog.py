"""The access log: one line per operation, written when its final response goes out
(``server.access_log``), with every wire value escaped and cut (``logtext.py``)."""

from __future__ import annotations

import logging
import time
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

_SCOPES = ("base", "one", "sub", "children")


@dataclass(slots=True)
class Operation:
    """A request in progress, for the access log."""

    name: str
    detail: str
    started: float
    entries: int = 0


def begin(request: Request) -> Operation:
    return Operation(*describe(request), time.perf_counter())


def finish(operation: Operation, connection: int, peer: str, who: str, response: bytes) -> None:
    """Log ``operation``, answered with the encoded protocol op ``response``."""
    access_log.info(
        "conn=%d peer=%s who=%s op=%s %s result=%d entries=%d ms=%.2f", connection, peer,
        quoted(who), operation.name, operation.detail, ber.result_code(response),
        operation.entries, (time.perf_counter() - operation.started) * 1000,
    )  # fmt: skip


def describe(request: Request) -> tuple[str, str]:
    """An operation's name and what it asked, for the access log (wire values escaped)."""
    if isinstance(request, SearchRequest):
        attrs = loggable(",".join(request.attributes)) or "*"
        return "SEARCH", (
            f"base={quoted(request.base)} scope={_SCOPES[request.scope]} "
            f"filter={quoted(to_text(request.filter))} attrs={attrs}"
        )
    if isinstance(request, BindRequest):
        sasl = f" sasl={loggable(request.sasl)}" if request.sasl is not None else ""
        return "BIND", f"dn={quoted(request.name)}{sasl}"
    if isinstance(request, CompareRequest):
        return "COMPARE", f"dn={quoted(request.entry)} attr={loggable(request.attribute)}"
    if isinstance(request, ExtendedRequest):
        return "EXTENDED", f"oid={loggable(request.name)}"
    assert isinstance(request, WriteRequest)  # unbind and abandon are not logged
    return request.name, ""
