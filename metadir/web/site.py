"""The web site: every route of the front end on one ``Router``, in a twisted.web
``Site`` that the service listens with."""

from __future__ import annotations

import json

from twisted.web import http
from twisted.web.server import Request, Site

from metadir.ldap.accesslog import access_log
from metadir.ldap.logtext import loggable, quoted
from metadir.web import admin, phonebook, probes, signin
from metadir.web.context import Web
from metadir.web.http import JSON, Response, Router, WebChannel, client_host
from metadir.web.pages import render

# seconds a browser's idle keep-alive connection is held open (twisted.web's default: 12 h)
IDLE_TIMEOUT = 60


def web_site(web: Web) -> Site:
    routes = [
        *phonebook.routes(web),
        *signin.routes(web),
        *admin.routes(web),
        *probes.routes(web),
    ]

    def on_error(request: Request, status: int, message: str) -> Response:
        return error_page(web, request, status, message)

    site = WebSite(Router(routes, on_error), timeout=IDLE_TIMEOUT, reactor=web.clock)
    site.access_log = web.access_log
    site.protocol = WebChannel  # type: ignore[method-assign,assignment]  # HTTP/1.1 only
    site.displayTracebacks = False
    site.noisy = False
    return site


class WebSite(Site):
    """twisted.web's site, logging each request as the LDAP server logs each operation: one
    line to ``metadir.access`` (``server.access_log``), wire values escaped and cut."""

    access_log = True

    def log(self, request: http.Request) -> None:
        if not self.access_log:
            return
        access_log.info(
            "web peer=%s %s %s status=%d bytes=%d",
            client_host(request),
            loggable(request.method.decode("ascii", "replace")),
            quoted(request.uri.decode("utf-8", "replace")),
            request.code,
            request.sentLength,
        )


def error_page(web: Web, request: Request, status: int, message: str) -> Response:
    """An error as the asker reads it: JSON for the API and the page's own requests, a page
    for a person."""
    if request.path == b"/search.json" or "json" in (request.getHeader("accept") or ""):
        response = Response(json.dumps({"error": message}), status, JSON)
    else:
        session = web.sessions.of(request)
        response = render(
            "error.html", status, title=web.settings.title, session=session, code=status,
            message=message,
        )  # fmt: skip
    if status == 401 and request.path == b"/search.json":
        response.headers["WWW-Authenticate"] = 'Basic realm="metadir", charset="UTF-8"'
    return response
