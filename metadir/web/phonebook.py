"""The phone book (``/``, results as you type from ``/results``, a page per contact) and
the estos-compatible JSON search (``/search.json``), over the in-memory tree: no SQL per
search, the same reading of names and numbers as LDAP's ``searchContact`` and
``searchNumber``, and the same access rules (anonymous, ``allow_from``, accounts)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from twisted.internet import task
from twisted.internet.defer import Deferred, succeed
from twisted.web.server import Request

from metadir.directory import filters as f
from metadir.directory.index import Entry
from metadir.directory.tree import Scope
from metadir.ldap.authenticator import Identity
from metadir.web.accounts import SignedIn
from metadir.web.contacts import contact, display_name, json_of
from metadir.web.context import Web
from metadir.web.http import (
    JSON,
    BadRequest,
    Response,
    Route,
    client_host,
    number_parameter,
    parameter,
)
from metadir.web.pages import render

_UUID = r"/contact/([0-9a-fA-F-]{36})"


def routes(web: Web) -> list[Route]:
    return [
        Route("GET", "/", lambda request: _page(web, request, "phonebook.html")),
        Route("GET", "/results", lambda request: _page(web, request, "results.html")),
        Route("GET", _UUID, lambda request, uuid: _contact_page(web, request, uuid)),
        Route("GET", "/search.json", lambda request: _search_json(web, request)),
    ]


@dataclass(frozen=True, slots=True)
class Found:
    entries: list[Entry]
    more: bool  # more matched than were shown


def search(
    web: Web, filter: f.Filter, visible: set[str] | None, directory: str | None, limit: int
) -> Found:
    """The contacts matching ``filter`` that ``visible`` allows (in ``directory`` only,
    when given), at most ``limit``, by name."""
    tree = web.tree
    base = tree.root
    if directory is not None:
        container = tree.containers.get(directory)
        if container is None or (visible is not None and directory not in visible):
            # a directory the visitor may not read is not named as existing either
            raise BadRequest(f"no directory {directory!r} you may read")
        base = container.entry
    found = [
        e
        for e in tree.search(base, Scope.SUB, filter, visible, limit + 1 + len(tree.containers))
        if e.directory is not None and e is not tree.containers[e.directory].entry
    ]
    shown = sorted(found[:limit], key=lambda e: display_name(e).casefold())
    return Found(shown, len(found) > limit)


def name_or_number(text: str) -> f.Filter:
    """What the search box means: words that start names, or a number however written
    (``searchContact`` with a trailing wildcard, as estos' search assistant)."""
    return f.Substrings("searchContact", text, (), None)


def _page(web: Web, request: Request, template: str) -> Response:
    session, identity = web.visitor(request)
    visible = web.visible(request, identity)
    query = (parameter(request, "q") or "").strip()
    limit = web.settings.search_limit
    found = search(web, name_or_number(query), visible, None, limit) if query else Found([], False)
    hidden = visible is not None and len(visible) < len(web.tree.containers)
    return render(
        template,
        title=web.settings.title,
        session=session,
        query=query,
        contacts=[contact(e) for e in found.entries],
        more=found.more,
        limit=limit,
        nothing_visible=visible is not None and not visible,
        more_after_sign_in=hidden and session is None,
    )


def _contact_page(web: Web, request: Request, uuid: str) -> Response:
    session, identity = web.visitor(request)
    visible = web.visible(request, identity)
    found = web.tree.search(web.tree.root, Scope.SUB, f.Equality("entryUUID", uuid), visible, 2)
    entries = [e for e in found if e.directory is not None]
    if not entries:
        raise BadRequest("no such contact (or you may not see it)", 404)
    return render(
        "contact.html", title=web.settings.title, session=session, contact=contact(entries[0])
    )


def _search_json(web: Web, request: Request) -> Deferred[Response]:
    number = parameter(request, "searchNumber")
    text = parameter(request, "searchContact")
    if (number is None) == (text is None):
        raise BadRequest("give one of searchNumber=NUMBER or searchContact=TEXT")
    query = (number if number is not None else text or "").strip()
    if not query:
        raise BadRequest("the search is empty")
    if number is not None and not any(c.isdigit() for c in query):
        raise BadRequest("searchNumber must hold a phone number")
    settings = web.settings
    limit = number_parameter(request, "limit", settings.search_limit, settings.max_search_limit)
    directory = parameter(request, "directory")
    filter = f.Equality("searchNumber", query) if number is not None else name_or_number(query)

    def answer(identity: Identity) -> Response:
        found = search(web, filter, web.visible(request, identity), directory, limit)
        body = b"[" + b",".join(json_of(e) for e in found.entries) + b"]"
        return Response(body, 200, JSON, {"X-Result-Truncated": str(found.more).lower()})

    return _api_identity(web, request).addCallback(answer)


def _api_identity(web: Web, request: Request) -> Deferred[Identity]:
    """The caller: HTTP Basic credentials of a server account (or web admin), else the
    session's, else anonymous. Wrong credentials are a 401 after the brake's delay."""
    header = request.getHeader("authorization") or ""
    if not header.lower().startswith("basic "):
        return succeed(web.visitor(request)[1])
    try:
        name, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest("malformed Authorization header", 401) from None
    address = client_host(request)

    def checked(signed: SignedIn | None) -> Identity | Deferred[Identity]:
        if signed is None:
            return task.deferLater(web.clock, web.accounts.failed(address), _refuse)
        web.accounts.succeeded(address)
        return signed.identity

    return web.in_thread(web.accounts.authenticate, name, password).addCallback(checked)


def _refuse() -> Identity:
    raise BadRequest("wrong name or password", 401)
