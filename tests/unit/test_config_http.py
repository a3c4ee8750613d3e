"""The ``http:`` section: listeners, TLS, admins, limits, and the errors that name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from metadir.config import load_config
from metadir.ldap.passwords import hash_password
from tests.unit.test_config import problems, write

HASH = hash_password("secret").replace("$", "$$")  # $$: a literal $ in the config


def test_http_is_off_unless_configured(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "directories: []\n")).http is None


def test_a_full_http_section(tmp_path: Path) -> None:
    (tmp_path / "web.txt").write_text(hash_password("pw") + "\n")
    config = load_config(
        write(
            tmp_path,
            "http:\n"
            "  listen: [http://0.0.0.0:8712, 'http://[::1]:8080']\n"
            "  admins:\n"
            f"    - {{name: admin, password: '{HASH}'}}\n"
            "    - {name: ops, password_file: web.txt}\n"
            "  session_timeout: 30m\n"
            "  search_limit: 20\n"
            "  title: Telefonbuch\n",
        )
    )
    http = config.http
    assert http is not None
    assert [(x.host, x.port, x.https) for x in http.listen] == [
        ("0.0.0.0", 8712, False),
        ("::1", 8080, False),
    ]
    assert [a.name for a in http.admins] == ["admin", "ops"]
    assert "pw" not in repr(http.admins[1])  # a secret: never shown
    assert http.session_timeout.total_seconds() == 1800
    assert (http.search_limit, http.max_search_limit, http.title) == (20, 500, "Telefonbuch")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http: {}\n", "http.listen: required key is missing"),
        ("http: {listen: 'ftp://x:1'}\n", "expected http://HOST:PORT or https://HOST:PORT"),
        ("http: {listen: ['http://x:99999']}\n", "bad port"),
        ("http: {listen: ['http://x:80/book']}\n", "a listener has no path"),
        (
            "http: {listen: ['https://0.0.0.0:8713']}\n",
            "http.listen: 'https://0.0.0.0:8713': https:// needs http.tls or server.tls",
        ),
        (
            "http: {listen: ['http://x:1'], admins: [{name: a, password: plain}]}\n",
            "http.admins[0].password: expected a password hash from `metadir hash-password`",
        ),
        (
            f"http: {{listen: ['http://x:1'], admins: [{{name: a, password: '{HASH}'}}, "
            f"{{name: a, password: '{HASH}'}}]}}\n",
            "http.admins[1].name: 'a' is given twice",
        ),
        (
            "http: {listen: ['http://x:1'], search_limit: 100, max_search_limit: 50}\n",
            "http.search_limit: 100 is more than http.max_search_limit (50)",
        ),
        ("http: {listen: ['http://x:1'], listen_on: x}\n", "http.listen_on: unknown key"),
        (
            "http: {listen: ['http://x:1'], admin: []}\n",
            "http.admin: unknown key (did you mean 'admins'?)",
        ),
        (
            "http: {listen: ['http://x:1'], tls: {certificate: no.pem, private_key: no.key}}\n",
            "http.tls.certificate:",
        ),
    ],
)
def test_http_errors_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in p for p in found), found
