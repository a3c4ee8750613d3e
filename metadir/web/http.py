"""Requests and answers of the web front end: a routing table of plain handler functions
on one twisted.web resource, the headers every answer carries, and the checks on
parameters (length, range) that turn absurd input into a 400 naming the parameter.

A handler takes the twisted.web request and returns a ``Response`` or a Deferred of one;
it never writes to the request itself, so every answer gets the same headers and the same
treatment of errors.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web import http
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

log = logging.getLogger("metadir.web")

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
# a query value longer than this is no search anybody typed
MAX_PARAMETER = 256
# the largest form a browser posts here (sign-in, Run now)
MAX_BODY = 16 * 1024

# scripts and styles only from this server, no inline script, no framing: contact values
# are data, and a value that slipped through escaping still could not run
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Response:
    body: bytes | str = b""
    status: int = 200
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # whole Set-Cookie values
    cache: bool = False  # static files may be cached; pages and answers are not


class BadRequest(Exception):
    """A request the server will not answer: 400 (or ``status``) with the message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[Request], "Response | Deferred[Response]"]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a path, or a regular expression whose groups are the handler's arguments
    handler: Callable[..., Response | Deferred[Response]]


class WebChannel(HTTPChannel):
    """twisted.web's HTTP/1.1 connection, but a request line too long to be a search is
    answered (400, saying why) instead of cut off without a word. The rest of the request
    is read and dropped for a moment before closing: closing with unread data would make
    the kernel reset the connection, and the client would lose the answer."""

    MAX_LENGTH = 16 * 1024  # the request line and each header line
    LINGER = 2.0  # seconds to wait for the client to take the answer and close

    def lineLengthExceeded(self, line: bytes) -> None:
        body = (
            f"the request line or a header is over {self.MAX_LENGTH} bytes; "
            f"a search is at most {MAX_PARAMETER} characters\n"
        ).encode()
        transport: Any = self.transport  # an ITCPTransport; zope interfaces are opaque to mypy
        transport.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        self.setTimeout(None)
        self.dataReceived = lambda data: None  # type: ignore[method-assign]
        transport.loseWriteConnection()
        self.callLater(self.LINGER, transport.abortConnection)


def redirect(location: str, cookies: list[str] | None = None) -> Response:
    """303 See Other: after a form, the browser GETs ``location``."""
    return Response(b"", 303, TEXT, {"Location": location}, cookies or [])


class Router(Resource):
    """One resource for the whole site: finds the route of a request's method and path,
    calls its handler and writes its response. ``on_error`` renders an error page."""

    isLeaf = True

    def __init__(
        self, routes: list[Route], on_error: Callable[[Request, int, str], Response]
    ) -> None:
        super().__init__()
        self.exact: dict[tuple[str, str], Route] = {}
        self.patterns: list[tuple[re.Pattern[str], Route]] = []
        for route in routes:
            if any(c in route.pattern for c in "()[]+*"):
                self.patterns.append((re.compile(route.pattern), route))
            else:
                self.exact[(route.method, route.pattern)] = route
        self.on_error = on_error

    def render(self, request: Request) -> bytes | int:
        method = request.method.decode("ascii", "replace")
        if method == "HEAD":
            method = "GET"  # twisted.web sends the headers only
        try:
            path = request.path.decode("utf-8")
        except UnicodeDecodeError:
            return self._write(request, self.on_error(request, 400, "the path is not UTF-8"))
        route, args = self._find(method, path)
        if route is None:
            allowed = args  # the methods the path takes, when only the method is wrong
            if allowed:
                response = self.on_error(request, 405, f"{method} is not allowed here")
                response.headers["Allow"] = ", ".join(allowed)
                return self._write(request, response)
            return self._write(request, self.on_error(request, 404, f"nothing at {path}"))
        try:
            content_length = int(request.getHeader("content-length") or 0)
            if content_length > MAX_BODY:
                raise BadRequest(f"the request body is over {MAX_BODY} bytes", 413)
            answer = route.handler(request, *args)
        except BadRequest as exc:
            return self._write(request, self.on_error(request, exc.status, str(exc)))
        except Exception:  # the last line of defence: this request fails, the server serves on
            log.exception("web: %s %s failed", method, path)
            return self._write(request, self.on_error(request, 500, "internal error"))
        if isinstance(answer, Response):
            return self._write(request, answer)
        done: list[Response] = []

        def kept(result: object) -> object:
            if isinstance(result, Response):
                done.append(result)
            return result

        answer.addBoth(kept)
        if done:  # answered at once (an anonymous search): no chunked encoding
            return self._write(request, done[0])
        answer.addErrback(self._failed, request, method, path)
        answer.addCallback(self._finish, request)
        return NOT_DONE_YET

    def _find(self, method: str, path: str) -> tuple[Route | None, Any]:
        route = self.exact.get((method, path))
        if route is not None:
            return route, ()
        allowed = sorted(m for (m, p) in self.exact if p == path)
        for pattern, candidate in self.patterns:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if candidate.method == method:
                return candidate, match.groups()
            allowed.append(candidate.method)
        return None, allowed

    def _failed(self, failure: Failure, request: Request, method: str, path: str) -> Response:
        if failure.check(BadRequest):
            exc = failure.value
            assert isinstance(exc, BadRequest)
            return self.on_error(request, exc.status, str(exc))
        log.error("web: %s %s failed: %s", method, path, failure.getTraceback())
        return self.on_error(request, 500, "internal error")

    def _finish(self, response: Response, request: Request) -> None:
        if request._disconnected:  # the browser left while we worked
            return
        body = self._write(request, response)
        request.setHeader("Content-Length", str(len(body)))  # not chunked
        request.write(body)
        request.finish()

    def _write(self, request: Request, response: Response) -> bytes:
        """Set the status and headers of ``response`` on ``request``; its body."""
        request.setResponseCode(response.status)
        request.setHeader("Content-Type", response.content_type)
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        if not response.cache:
            request.setHeader("Cache-Control", "no-store")
        for name, value in response.headers.items():
            request.setHeader(name, value)
        for cookie in response.cookies:
            request.responseHeaders.addRawHeader("Set-Cookie", cookie)
        body = response.body
        return body.encode("utf-8") if isinstance(body, str) else body


def parameter(request: Request, name: str, default: str | None = None) -> str | None:
    """The first value of query (or form) parameter ``name`` as text; 400 when it is not
    UTF-8 or longer than ``MAX_PARAMETER`` characters. Unknown parameters are not looked at."""
    values = (request.args or {}).get(name.encode("ascii"))
    if not values:
        return default
    try:
        text = values[0].decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(f"parameter {name!r} is not UTF-8") from None
    if len(text) > MAX_PARAMETER:
        raise BadRequest(f"parameter {name!r} is longer than {MAX_PARAMETER} characters")
    return text


def number_parameter(request: Request, name: str, default: int, most: int) -> int:
    """An integer parameter between 1 and ``most``; 400 saying so for anything else."""
    text = parameter(request, name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"parameter {name!r} must be a whole number, not {text[:20]!r}") from None
    if not 1 <= value <= most:
        raise BadRequest(f"parameter {name!r} must be between 1 and {most}, not {value}")
    return value


def cookie(request: Request, name: str) -> str | None:
    value = request.getCookie(name.encode("ascii"))
    return value.decode("ascii", "replace") if value else None


def client_host(request: http.Request) -> str:
    return str(getattr(request.getClientAddress(), "host", "?"))
