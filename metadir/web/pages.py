"""Pages from Jinja2 templates (``templates/``, HTML escaped by default) and the static
files beside them (``static/``), both read from the installed package."""

from __future__ import annotations

import mimetypes
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from metadir import __version__
from metadir.web.http import HTML, BadRequest, Response

_STATIC = {"app.css", "phonebook.js", "admin.js", "favicon.svg"}


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("metadir.web", "templates"),
        # every value is escaped unless a template says otherwise, and none does
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a misspelt name fails the test, not the page silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["version"] = __version__
    return env


def render(template: str, status: int = 200, **values: Any) -> Response:
    return Response(environment().get_template(template).render(**values), status, HTML)


def static(name: str) -> Response:
    """A file of ``static/``; only the files listed, so no path leaves the folder."""
    if name not in _STATIC:
        raise BadRequest(f"no static file {name!r}", 404)
    body = files("metadir.web").joinpath("static", name).read_bytes()
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith(("javascript", "svg+xml")):
        kind += "; charset=utf-8"
    return Response(body, 200, kind, {"Cache-Control": "public, max-age=3600"}, cache=True)
