"""What machines ask: ``/metrics`` (Prometheus), ``/healthz`` (the process answers),
``/readyz`` (the directory is loaded and the store answers: a load balancer sends phones
here), ``/openapi.json`` (the search API described), and the static files."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from twisted.web.server import Request

from metadir import __version__
from metadir.web.context import Web
from metadir.web.http import JSON, TEXT, Response, Route
from metadir.web.pages import static


def routes(web: Web) -> list[Route]:
    return [
        Route("GET", "/metrics", lambda request: _metrics(web, request)),
        Route("GET", "/healthz", lambda request: Response("ok\n", 200, TEXT)),
        Route("GET", "/readyz", lambda request: _ready(web)),
        Route("GET", "/openapi.json", lambda request: Response(openapi(), 200, JSON)),
        Route("GET", r"/static/([A-Za-z0-9_.-]{1,64})", lambda request, name: static(name)),
        Route("GET", "/favicon.ico", lambda request: static("favicon.svg")),
    ]


def _metrics(web: Web, request: Request) -> Response:
    body, kind = web.metrics.render(request.getHeader("accept"))
    return Response(body, 200, kind)


def _ready(web: Web) -> Response:
    if not web.status.reachable:
        why = web.status.problem or "the store has not answered yet"
        return Response(f"not ready: store unreachable: {why}\n", 503, TEXT)
    return Response(f"ready: {web.tree.size} contacts\n", 200, TEXT)


@cache
def openapi() -> str:
    """``openapi.json`` of the package, with this metadir's version."""
    text = files("metadir.web").joinpath("openapi.json").read_text(encoding="utf-8")
    document = json.loads(text)
    document["info"]["version"] = __version__
    return json.dumps(document, indent=2)
