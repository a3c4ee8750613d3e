"""Signing in and out: ``/signin`` (a form; failed attempts answered only after the brake's
delay, as failed LDAP binds are) and ``/signout``."""

from __future__ import annotations

from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.web.server import Request

from metadir.web.accounts import SignedIn
from metadir.web.context import Web
from metadir.web.http import Response, Route, client_host, parameter, redirect
from metadir.web.pages import render
from metadir.web.sessions import check_form, form_token, session_cookie


def routes(web: Web) -> list[Route]:
    return [
        Route("GET", "/signin", lambda request: _form(web, request)),
        Route("POST", "/signin", lambda request: _sign_in(web, request)),
        Route("POST", "/signout", lambda request: _sign_out(web, request)),
    ]


def local_target(target: str | None, default: str = "/") -> str:
    """Where to go after signing in: a path on this server only, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _form(web: Web, request: Request, problem: str = "", status: int = 200) -> Response:
    token, cookies = form_token(request)
    session, _ = web.visitor(request)
    response = render(
        "signin.html",
        status,
        title=web.settings.title,
        session=session,
        csrf=token,
        next=local_target(parameter(request, "next")),
        name=parameter(request, "name", "") if problem else "",
        problem=problem,
    )
    response.cookies += cookies
    return response


def _sign_in(web: Web, request: Request) -> Deferred[Response]:
    token, _ = form_token(request)
    check_form(request, token)
    name = (parameter(request, "name") or "").strip()
    password = parameter(request, "password") or ""
    address = client_host(request)
    found: Deferred[SignedIn | None] = web.in_thread(web.accounts.authenticate, name, password)

    def answered(signed: SignedIn | None) -> Response | Deferred[Response]:
        if signed is None or not password:
            delay = web.accounts.failed(address)
            problem = "Wrong name or password."
            # 200: the form again, saying what went wrong (a 401 would ask for HTTP auth)
            return task.deferLater(web.clock, delay, _form, web, request, problem)
        web.accounts.succeeded(address)
        session = web.sessions.start(signed.name, signed.identity, signed.admin)
        target = local_target(parameter(request, "next"), "/admin" if signed.admin else "/")
        cookie = session_cookie(request, session, web.sessions.timeout)
        return redirect(target, [cookie])

    return found.addCallback(answered)


def _sign_out(web: Web, request: Request) -> Response:
    session, _ = web.visitor(request)
    if session is None:
        return redirect("/")
    check_form(request, session.csrf)
    web.sessions.end(session)
    return redirect("/", [session_cookie(request, None, 0)])
