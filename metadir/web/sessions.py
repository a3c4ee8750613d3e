"""Signed-in visitors: a session per sign-in, kept in memory (a restart signs everybody
out), named by a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure``
over HTTPS), and a second random token per session that every form must post back
(CSRF). Before sign-in, the sign-in form is protected by a double-submit cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from twisted.web.server import Request

from metadir.ldap.authenticator import Identity
from metadir.web.http import BadRequest, cookie

SESSION_COOKIE = "metadir_session"
FORM_COOKIE = "metadir_form"  # the sign-in form's CSRF token before there is a session
_MOST = 10_000  # sessions held at once; the oldest go first


@dataclass(slots=True)
class Session:
    token: str
    csrf: str
    name: str  # who signed in, as shown
    identity: Identity  # what the phone book shows them: as an LDAP bind would
    admin: bool  # may open /admin and press Run now
    expires: float
    notice: str = ""  # one message for the next page (after Run now)


class Sessions:
    """The sessions of one web server; ``now`` is the service's clock in seconds."""

    def __init__(self, timeout: float, now: Callable[[], float]) -> None:
        self.timeout = timeout
        self._now = now
        self._held: dict[str, Session] = {}

    def start(self, name: str, identity: Identity, admin: bool) -> Session:
        if len(self._held) >= _MOST:
            self._forget_expired()
            while len(self._held) >= _MOST:
                del self._held[next(iter(self._held))]
        token = secrets.token_urlsafe(32)
        session = Session(token, secrets.token_urlsafe(32), name, identity, admin, 0.0)
        session.expires = self._now() + self.timeout
        self._held[token] = session
        return session

    def of(self, request: Request) -> Session | None:
        """The live session of ``request``'s cookie; each request keeps it alive longer."""
        token = cookie(request, SESSION_COOKIE)
        session = self._held.get(token) if token else None
        if session is None:
            return None
        now = self._now()
        if session.expires <= now:
            del self._held[session.token]
            return None
        session.expires = now + self.timeout
        return session

    def end(self, session: Session) -> None:
        self._held.pop(session.token, None)

    def _forget_expired(self) -> None:
        now = self._now()
        self._held = {t: s for t, s in self._held.items() if s.expires > now}


def session_cookie(request: Request, session: Session | None, max_age: float) -> str:
    """The Set-Cookie value that holds ``session`` (None: clears it)."""
    value, age = (session.token, int(max_age)) if session else ("", 0)
    return _cookie(request, SESSION_COOKIE, value, age)


def form_token(request: Request) -> tuple[str, list[str]]:
    """The sign-in form's CSRF token: the visitor's form cookie, or a new one with the
    Set-Cookie that gives it."""
    held = cookie(request, FORM_COOKIE)
    if held and len(held) == 43:
        return held, []
    token = secrets.token_urlsafe(32)
    return token, [_cookie(request, FORM_COOKIE, token, 3600)]


def check_form(request: Request, expected: str | None) -> None:
    """Refuse a form post (403) whose ``csrf`` field is not ``expected``, or that comes
    from another site (its Origin header names another host)."""
    origin = request.getHeader("origin")
    host = request.getHeader("host")
    if origin and origin != "null" and host and origin.split("://", 1)[-1] != host:
        raise BadRequest("this form was sent from another site", 403)
    values = (request.args or {}).get(b"csrf") or [b""]
    sent = values[0].decode("ascii", "replace")
    if not expected or not hmac.compare_digest(sent, expected):
        raise BadRequest("the form has expired: reload the page and try again", 403)


def _cookie(request: Request, name: str, value: str, max_age: int) -> str:
    secure = "; Secure" if request.isSecure() else ""
    return f"{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
