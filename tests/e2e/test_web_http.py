"""The web server of ``metadir serve`` over TCP: the estos JSON search, the phone book's
HTML, sign-in and sessions, CSRF, the admin pages' access, metrics and probes, bad input
and HTTPS. The pages in a real browser are in ``test_web_browser.py``."""

from __future__ import annotations

import base64
import json
import socket
import time
from urllib.parse import quote, urlsplit

import ldap3
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.pki import issue, make_authority, write_pair
from tests.servers import MetadirServer, wait_for
from tests.web import ACCOUNT, ADMIN, ESTOS_KEYS, HOSTILE, Browser, web_config, web_server

__all__ = ["web_server"]  # the fixture, for pytest


@pytest.fixture
def client(web_server: MetadirServer) -> Browser:
    assert web_server.http_url is not None
    return Browser(web_server.http_url)


def names(answer: object) -> list[str]:
    return sorted(c["displayName"] for c in answer)  # type: ignore[attr-defined]


# --- /search.json ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "number", ["+49 89 9687931", "089 9687931", "(089) 968-7931", "0049899687931", "0 089 9687931"]
)
def test_search_number_finds_the_caller_however_written(client: Browser, number: str) -> None:
    answer = client.get("/search.json?searchNumber=" + quote(number))
    assert answer.status == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    assert int(answer.headers["Content-Length"]) == len(answer.body)  # not chunked
    found = answer.json()
    assert names(found) == ["Jürgen Groß"]
    contact = found[0]
    assert set(contact) == set(ESTOS_KEYS)
    assert contact["company"] == "Schmitz Bau AG"
    assert contact["databaseName"] == "contacts"
    assert contact["mail"] == "juergen.gross@schmitz-bau.de"
    assert contact["url"] == ""  # every key, empty where the contact has nothing


def test_search_contact_by_words_and_limit(client: Browser) -> None:
    assert names(client.get("/search.json?searchContact=m%C3%BCller").json()) == [
        "Anna Müller",
        "Hans Müller",
    ]
    assert names(client.get("/search.json?searchContact=m%C3%BCller%20ann").json()) == [
        "Anna Müller"
    ]
    one = client.get("/search.json?searchContact=m%C3%BCller&limit=1")
    assert len(one.json()) == 1
    assert one.headers["X-Result-Truncated"] == "true"
    nobody = client.get("/search.json?searchNumber=%2B1%20555%200100")
    assert (nobody.status, nobody.json()) == (200, [])


def test_unknown_parameters_are_ignored(client: Browser) -> None:
    answer = client.get("/search.json?searchContact=gro%C3%9F&format=xml&callback=x")
    assert names(answer.json()) == ["Jürgen Groß"]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("", "give one of searchNumber"),
        ("searchNumber=1&searchContact=a", "give one of searchNumber"),
        ("searchNumber=%20", "the search is empty"),
        ("searchNumber=abc", "must hold a phone number"),
        ("searchNumber=1&limit=-1", "'limit' must be between 1 and 500, not -1"),
        ("searchNumber=1&limit=0", "between 1 and 500"),
        ("searchNumber=1&limit=many", "'limit' must be a whole number"),
        ("searchNumber=1&limit=100000", "between 1 and 500"),
        ("searchContact=" + "a" * 300, "longer than 256 characters"),
        ("searchContact=%FF", "not UTF-8"),
        ("searchContact=a&directory=nowhere", "no directory 'nowhere' you may read"),
        # a directory the visitor may not read is not told apart from one that is not there
        ("searchContact=a&directory=staff", "no directory 'staff' you may read"),
    ],
)
def test_absurd_parameters_get_400_saying_why(client: Browser, query: str, says: str) -> None:
    answer = client.get("/search.json?" + query)
    assert answer.status == 400
    assert says in answer.json()["error"]


def test_a_megabyte_query_gets_400_with_a_message(web_server: MetadirServer) -> None:
    assert web_server.http_url is not None
    address = urlsplit(web_server.http_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"GET /search.json?searchContact=" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"a search is at most 256 characters" in answer
    # and the server serves on
    assert Browser(web_server.http_url).get("/healthz").status == 200


def test_contact_values_are_data_in_json_and_html(client: Browser) -> None:
    answer = client.get("/search.json?searchNumber=030777777")
    assert b"<script>" not in answer.body and b"<" not in answer.body
    (contact,) = answer.json()
    assert contact["company"] == HOSTILE
    page = client.get("/?q=030777777")
    assert page.status == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&#39;&amp;" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    uuid = contact["entryUUID"]
    card = client.get(f"/contact/{uuid}")
    assert card.status == 200 and "<script>alert(1)" not in card.text
    assert card.text.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4


def test_phone_book_html_links_numbers_and_mail(client: Browser) -> None:
    page = client.get("/results?q=gro%C3%9F")
    assert 'href="tel:+49899687931"' in page.text
    assert 'href="mailto:juergen.gross@schmitz-bau.de"' in page.text
    assert "/contact/" in page.text


# --- access: the rules of LDAP ---------------------------------------------------------


def test_anonymous_visitors_see_what_anonymous_binds_see(client: Browser) -> None:
    assert client.get("/search.json?searchContact=sigrid").json() == []
    assert "sign in" in client.get("/?q=sigrid").text


def test_an_account_signs_in_with_basic_auth_or_a_session(web_server: MetadirServer) -> None:
    assert web_server.http_url is not None
    client = Browser(web_server.http_url)
    for name in (ACCOUNT[0], "pbx"):  # the DN, or its first RDN's value
        token = base64.b64encode(f"{name}:{ACCOUNT[1]}".encode()).decode()
        answer = client.get(
            "/search.json?searchContact=sigrid", {"Authorization": f"Basic {token}"}
        )
        assert names(answer.json()) == ["Sigrid Intern"], answer.text
        assert int(answer.headers["Content-Length"]) == len(answer.body)
    signed = client.sign_in("pbx", ACCOUNT[1])
    assert (signed.status, signed.headers["Location"]) == (303, "/")
    assert names(client.get("/search.json?searchContact=sigrid").json()) == ["Sigrid Intern"]
    assert "Sigrid Intern" in client.get("/?q=sigrid").text


def test_wrong_credentials_are_slowed_as_ldap_binds_are(web_server: MetadirServer) -> None:
    assert web_server.http_url is not None
    client = Browser(web_server.http_url)
    bad = base64.b64encode(f"{ACCOUNT[0]}:wrong".encode()).decode()
    first = client.get("/search.json?searchContact=a", {"Authorization": f"Basic {bad}"})
    assert first.status == 401
    assert first.headers["WWW-Authenticate"].startswith("Basic ")
    started = time.monotonic()
    second = client.sign_in("admin", "wrong")
    # the form again, saying so (no session cookie, no redirect)
    assert second.status == 200 and "Wrong name or password." in second.text
    assert "metadir_session" not in second.headers["_set_cookie"]
    # the same address failed before (over HTTP Basic): the brake holds this answer back
    assert time.monotonic() - started >= 0.25
    # and the LDAP server shares the brake: a bind from here is slowed too
    server = ldap3.Server(web_server.url, connect_timeout=5)
    started = time.monotonic()
    conn = ldap3.Connection(server, ACCOUNT[0], "wrong", receive_timeout=30)
    assert not conn.bind()
    assert time.monotonic() - started >= 0.5


# --- sessions, CSRF, the admin pages ---------------------------------------------------


def test_session_cookie_flags_and_sign_out(web_server: MetadirServer) -> None:
    assert web_server.http_url is not None
    client = Browser(web_server.http_url)
    signed = client.sign_in(*ADMIN, next="/admin")
    assert (signed.status, signed.headers["Location"]) == (303, "/admin")
    cookie = next(c for c in signed.headers["_set_cookie"].split("\n") if "metadir_session" in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    page = client.get("/admin")
    assert page.status == 200 and 'Run<span class="visually-hidden"> crm</span> now' in page.text
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/signout", {"csrf": "forged"}).status == 403
    assert client.post("/signout", {"csrf": token}).status == 303
    assert client.get("/admin").status == 303  # signed out


def test_admin_pages_are_never_reachable_anonymously(client: Browser) -> None:
    page = client.get("/admin")
    assert (page.status, page.headers["Location"]) == (303, "/signin?next=/admin")
    assert client.get("/admin/status").status == 401
    assert client.get("/admin/runs/1").status == 303
    assert client.post("/admin/run", {"replicator": "crm", "csrf": "x"}).status == 403


def test_an_ldap_account_is_no_admin(web_server: MetadirServer) -> None:
    assert web_server.http_url is not None
    client = Browser(web_server.http_url)
    client.sign_in("pbx", ACCOUNT[1])
    assert client.get("/admin").status == 303
    assert client.post("/admin/run", {"replicator": "crm", "csrf": "x"}).status == 403


def test_forms_without_their_token_or_from_another_site_are_refused(
    web_server: MetadirServer,
) -> None:
    assert web_server.http_url is not None
    client = Browser(web_server.http_url)
    no_token = client.post("/signin", {"name": ADMIN[0], "password": ADMIN[1]})
    assert no_token.status == 403 and "expired" in no_token.text
    client.sign_in(*ADMIN)
    page = client.get("/admin").text
    token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    forged = client.post("/admin/run", {"replicator": "crm", "csrf": token + "x"})
    assert forged.status == 403
    elsewhere = client.post(
        "/admin/run", {"replicator": "crm", "csrf": token}, {"Origin": "https://evil.example"}
    )
    assert elsewhere.status == 403 and "another site" in elsewhere.text


def test_run_now_starts_a_run_whose_counts_the_status_shows(web_server: MetadirServer) -> None:
    assert web_server.http_url is not None
    client = Browser(web_server.http_url)
    client.sign_in(*ADMIN)
    token = client.get("/admin").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        "/admin/run", {"replicator": "hr", "csrf": token}, {"Accept": "application/json"}
    )
    assert answer.status == 200, answer.text
    assert answer.json()["started"] is True
    assert "hr started on node" in answer.json()["message"]

    def finished() -> bool:
        status = client.get("/admin/status").text
        row = status.split('data-replicator="hr"', 1)[1].split("</tr>", 1)[0]
        return "(web" in row and "1 unchanged" in row

    wait_for("the web run of hr in the status page", finished, timeout=60, step=0.5)
    unknown = client.post(
        "/admin/run", {"replicator": "nope", "csrf": token}, {"Accept": "application/json"}
    )
    assert unknown.status == 409 and "no replicator 'nope'" in unknown.json()["message"]


# --- metrics and probes ----------------------------------------------------------------


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_ldap_requests_and_show_the_directory(
    web_server: MetadirServer, client: Browser
) -> None:
    with ldap3.Connection(ldap3.Server(web_server.url), auto_bind=True) as conn:
        for _ in range(3):
            conn.search("dc=meta", "(telephoneNumber=089 9687931)")
        conn.search("ou=nowhere,dc=meta", "(cn=*)")
    answer = client.get("/metrics")
    assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
    samples = _samples(answer.text)
    searches = ("metadir_ldap_requests_total", (("operation", "search"), ("result", "success")))
    assert samples[searches] >= 3
    missing = ("metadir_ldap_requests_total", (("operation", "search"), ("result", "noSuchObject")))
    assert samples[missing] >= 1
    latency = ("metadir_ldap_request_duration_seconds_count", (("operation", "search"),))
    assert samples[latency] >= 4
    assert samples[("metadir_directory_entries", (("directory", "contacts"),))] == 4
    assert samples[("metadir_directory_entries", (("directory", "staff"),))] == 1
    assert samples[("metadir_store_reachable", ())] == 1
    last = ("metadir_sync_last_success_timestamp_seconds", (("replicator", "crm"),))
    assert abs(samples[last] - time.time()) < 3600
    assert samples[("metadir_sync_problems", (("replicator", "crm"),))] == 2


def test_probes_and_openapi(client: Browser) -> None:
    assert (client.get("/healthz").status, client.get("/healthz").text) == (200, "ok\n")
    ready = client.get("/readyz")
    assert ready.status == 200 and "5 contacts" in ready.text
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    parameters = {p["name"] for p in document["paths"]["/search.json"]["get"]["parameters"]}
    assert parameters == {"searchNumber", "searchContact", "directory", "limit"}
    schema = document["components"]["schemas"]["Contact"]
    assert set(schema["required"]) == set(ESTOS_KEYS)


def test_unknown_paths_and_methods(client: Browser) -> None:
    assert client.get("/nothing").status == 404
    wrong = client.post("/search.json", {"searchNumber": "1"})
    assert wrong.status == 405 and wrong.headers["Allow"] == "GET"
    assert client.get("/static/../../etc/passwd").status == 404
    assert client.get("/contact/00000000-0000-0000-0000-000000000000").status == 404


# --- HTTPS -----------------------------------------------------------------------------


def test_https_with_the_servers_certificate_and_secure_cookies(tmp_path_factory) -> None:
    workdir = tmp_path_factory.mktemp("web-tls")
    authority = make_authority(workdir, "metadir web test CA")
    write_pair(issue(authority, "metadir-web", 7), workdir / "server.pem", workdir / "server.key")
    config = web_config(workdir)
    config["server"]["tls"] = {"certificate": "server.pem", "private_key": "server.key"}
    server = MetadirServer(workdir, config, https=True)
    server.sync("crm")
    server.start()
    try:
        assert server.http_url is not None and server.http_url.startswith("https://")
        client = Browser(server.http_url)
        found = client.get("/search.json?searchNumber=089%209687931")
        assert names(found.json()) == ["Jürgen Groß"]
        signed = client.sign_in(*ADMIN)
        cookie = next(c for c in signed.headers["_set_cookie"].split("\n") if "session" in c)
        assert "; Secure" in cookie and "HttpOnly" in cookie
    finally:
        server.stop()


def test_json_escapes_survive_a_strict_parser(client: Browser) -> None:
    raw = client.get("/search.json?searchContact=%3Cscript").body
    assert json.loads(raw) == json.loads(raw.decode("utf-8"))
