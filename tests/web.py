"""A ``metadir serve`` with its web server, for the web tests over HTTP and in the browser:
two directories — ``contacts`` for everybody, ``staff`` for signed-in accounts only — a
contact whose every field is hostile markup, a CSV with broken lines (problems to see),
and a replicator whose file is missing (a failed run to see)."""

from __future__ import annotations

import csv
import io
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import MetadirServer, hash_password

ADMIN = ("admin", "admin-secret")
ACCOUNT = ("cn=pbx,dc=meta", "pbx-secret")  # may read both directories
HOSTILE = "<script>alert(1)</script>\"'&"
# what estos MetaDirectory's /search.json answers with, and metadir's stable id
ESTOS_KEYS = (
    "displayName", "givenName", "sn", "company", "department", "title", "telephoneNumber",
    "otherTelephone", "mobile", "mail", "url", "streetAddress", "postalCode", "l",
    "databaseName", "entryUUID",
)  # fmt: skip
COLUMNS = ["Id", "First", "Last", "Company", "Department", "Title", "Phone", "Mobile", "Mail"]
CONTACTS = [
    ["1", "Jürgen", "Groß", "Schmitz Bau AG", "Einkauf", "Leiter", "+49 89 9687931",
     "+49 174 96790156", "juergen.gross@schmitz-bau.de"],
    ["2", "Anna", "Müller", "Acme GmbH", "Vertrieb", "", "(089) 1234-567", "", "anna@acme.example"],
    ["3", "Hans", "Müller", "Beta KG", "IT", "", "0711 555 01", "", ""],
    ["4", HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, "+49 30 777777", "", "x@evil.example"],
]  # fmt: skip
BROKEN_LINES = ['9;"unclosed;Quote;Co;;;;;\n', "10;too;many;fields;a;b;c;d;e;f;g\n"]
STAFF = [["s1", "Sigrid", "Intern", "Our Company", "HR", "", "+49 89 111 2222", "", ""]]


def _csv(rows: list[list[str]], extra: Sequence[str] = ()) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue() + "".join(extra)


MAPPING = {
    "givenName": "First", "sn": "Last", "displayName": "{First} {Last}", "company": "Company",
    "department": "Department", "title": "Title", "telephoneNumber": "Phone", "mobile": "Mobile",
    "mail": "Mail",
}  # fmt: skip


def web_config(workdir: Path) -> dict[str, Any]:
    (workdir / "contacts.csv").write_text(_csv(CONTACTS, BROKEN_LINES), encoding="utf-8")
    (workdir / "staff.csv").write_text(_csv(STAFF), encoding="utf-8")
    csv_source = {"type": "csv", "key": "Id", "mapping": MAPPING}
    return {
        "server": {
            "allow_anonymous": True,
            "accounts": [{"dn": ACCOUNT[0], "password": hash_password(ACCOUNT[1])}],
            "limits": {"bind_failure_delay": 2},
        },
        "location": {"country": "DE", "area_code": "89", "outside_line": "0"},
        "directories": [
            {
                "name": "contacts",
                "replicators": [
                    {"name": "crm", **csv_source, "path": "contacts.csv"},
                    {"name": "erp", **csv_source, "path": "missing.csv", "key": "Id"},
                ],
            },
            {
                "name": "staff",
                "anonymous": False,
                "replicators": [{"name": "hr", **csv_source, "path": "staff.csv"}],
            },
        ],
        "http": {"admins": [{"name": ADMIN[0], "password": hash_password(ADMIN[1])}]},
    }


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


_UNVERIFIED = ssl._create_unverified_context()


class Browser:
    """A tiny HTTP client with cookies, for the tests that need no real browser."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, None, headers)

    def post(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> Answer:
        return self.request("POST", path, urllib.parse.urlencode(form).encode(), headers)

    def request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> Answer:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        request = urllib.request.Request(self.base + path, body, sent, method=method)
        opener = urllib.request.build_opener(
            _NoRedirect, urllib.request.HTTPSHandler(context=_UNVERIFIED)
        )
        try:
            with opener.open(request, timeout=30) as response:
                answer = Answer(response.status, dict(response.headers), response.read())
                raw = response.headers.get_all("Set-Cookie") or []
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, dict(error.headers), error.read())
            raw = error.headers.get_all("Set-Cookie") or []
        for cookie in raw:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        answer.headers["_set_cookie"] = "\n".join(raw)
        return answer

    def sign_in(self, name: str, password: str, next: str = "/") -> Answer:
        form = self.get("/signin")
        token = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return self.post(
            "/signin", {"csrf": token, "name": name, "password": password, "next": next}
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetadirServer]:
    """A served store with the web server on, after one sync of every replicator."""
    workdir = tmp_path_factory.mktemp("web")
    server = MetadirServer(workdir, web_config(workdir))
    for name in ("crm", "hr"):
        server.sync(name)
    server.start()
    yield server
    server.stop()
