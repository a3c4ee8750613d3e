"""Profile photos of users and mailbox contacts, read only when the mapping maps the field
``photo`` (``jpegPhoto: photo``): one request an object, so a directory without photos
costs nothing, and the service's smaller renditions keep entries small for phones.

Graph's delta answers say nothing of a changed photo: an object's photo is read again when
the object changes, and every photo at a whole read (``full_every``). Organisational
contacts have no photo in Graph.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from replicators.graph.objects import Kind
from replicators.graph.settings import ORIGINAL
from replicators.http_client import HttpClient, HttpStatusError

PHOTO_KINDS: frozenset[Kind] = frozenset({"users", "mailbox_contacts"})


def photo_url(kind: Kind, stream_url: str, ident: str, size: str) -> str:
    """Where the photo of object ``ident`` of the delta stream at ``stream_url`` is: a
    user's rendition of ``size`` (``original``: as uploaded), a mailbox contact's photo
    (one size only)."""
    where = f"{stream_url.removesuffix('/delta')}/{quote(ident, safe='')}"
    if kind == "users" and size != ORIGINAL:
        return f"{where}/photos/{size}/$value"
    return f"{where}/photo/$value"


def read_photo(graph: HttpClient, url: str) -> str | None:
    """The photo at ``url`` as base64 (as the store keeps photos), or None if there is none:
    Graph answers 404 for an object without a photo, or without one of the size asked."""
    try:
        response = graph.get(url, headers={"Accept": "image/*"})
    except HttpStatusError as exc:
        if exc.status == 404:
            return None
        raise
    return base64.b64encode(response.content).decode("ascii") if response.content else None
