"""Config errors that point the right way: suggestions from the section the unknown key is
in, pydantic's messages in words, replicator types looked up by name, broken plug-ins named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metadir.config import load_config
from replicators import kinds
from tests.unit.test_config import problems

LDAP = "      - {name: dc, type: ldap, url: 'ldap://dc1', base_dn: 'dc=corp,dc=example', "
CSV = "      - {name: crm, type: csv, path: crm.csv, key: Id, "


def replicator(line: str) -> str:
    return f"directories:\n  - name: contacts\n    replicators:\n{line}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the server's TLS section has certificate and private_key, nothing else
        (
            "server:\n  tls: {key: k.pem}\n",
            "server.tls.key: unknown key (did you mean 'private_key'?)",
        ),
        (
            "server:\n  tls: {cert: c.pem}\n",
            "server.tls.cert: unknown key (did you mean 'certificate'?)",
        ),
        (
            "server:\n  tls: {certificate_file: c.pem}\n",
            "server.tls.certificate_file: unknown key (did you mean 'certificate'?)",
        ),
        (
            "server:\n  tls: {ca_file: ca.pem}\n",
            "server.tls.ca_file: unknown key; server.tls has certificate, private_key",
        ),
        # an LDAP source's tls settings are a section of their own
        (
            replicator(LDAP + "tls: {cafile: ca.pem}}"),
            "directories[0].replicators[0].tls.cafile: unknown key (did you mean 'ca_file'?)",
        ),
        (
            replicator(LDAP + "tls: {starttls: true}}"),
            "directories[0].replicators[0].tls.starttls: unknown key (did you mean 'start_tls'?)",
        ),
        (
            replicator(LDAP + "tls: {ca: ca.pem}}"),
            "directories[0].replicators[0].tls.ca: unknown key (did you mean 'ca_file'?)",
        ),
        # a replicator's keys are its kind's
        (
            replicator(LDAP + "base: 'dc=x'}"),
            "directories[0].replicators[0].base: unknown key (did you mean 'base_dn'?)",
        ),
        (
            replicator(LDAP + "pasword_file: pw.txt}"),
            "directories[0].replicators[0].pasword_file: unknown key "
            "(did you mean 'password_file'?)",
        ),
        (
            replicator(CSV + "separator: ';'}"),
            "directories[0].replicators[0].separator: unknown key (did you mean 'delimiter'?)",
        ),
        (
            replicator(CSV + "Header: false}"),
            "directories[0].replicators[0].Header: unknown key (did you mean 'header'?)",
        ),
        (
            replicator(CSV + "location: {country: DE, area: 89}}"),
            "directories[0].replicators[0].location.area: unknown key (did you mean 'area_code'?)",
        ),
        ("directory:\n  - name: a\n", "directory: unknown key (did you mean 'directories'?)"),
        (
            "server:\n  accounts: [{dn: 'cn=a,dc=meta', pasword_file: x}]\n",
            "server.accounts[0].pasword_file: unknown key (did you mean 'password_file'?)",
        ),
        (
            "server:\n  limits: {max_conections: 5}\n",
            "server.limits.max_conections: unknown key (did you mean 'max_connections'?)",
        ),
    ],
)
def test_suggestions_come_from_the_section(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    # besides, at most the keys the section still lacks
    assert expected in found, found
    assert all(p == expected or p.endswith(": required key is missing") for p in found), found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "location: {country: Germany}\n",
            "location.country: expected a two-letter ISO 3166 country code such as DE, "
            "not 'Germany'",
        ),
        (
            "location: {country: DE, area_code: '(089)'}\n",
            "location.area_code: expected up to 6 digits such as 89, not '(089)'",
        ),
        (
            "location: {country: DE, extensions: 100 to 999}\n",
            "location.extensions: expected a range of numbers such as 100-999, not '100 to 999'",
        ),
        (
            "location: {country: DE, fallback_digits: 2}\n",
            "location.fallback_digits: must be at least 3, not 2",
        ),
        ("server: {size_limit: -1}\n", "server.size_limit: must be at least 0, not -1"),
        ("server: {refresh_interval: 0}\n", "server.refresh_interval: must be more than 0, not 0"),
        ("server: {refresh_interval: 61}\n", "server.refresh_interval: must be at most 60, not 61"),
        (
            "directories:\n  - {name: a, phone_format: fancy}\n",
            "directories[0].phone_format: Input should be 'e164', 'readable', 'national' or "
            "'source', not 'fancy'",
        ),
        (
            replicator(CSV + "delimiter: ':'}"),
            "directories[0].replicators[0].delimiter: Input should be ',', ';', '\\t', '|' or "
            "'auto', not ':'",
        ),
        (
            "directories:\n  - {name: 'my contacts'}\n",
            "directories[0].name: use letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
        ),
        (
            "server:\n  tls: cert.pem\n",
            "server.tls: expected a mapping of keys and values (got str)",
        ),
        (
            "directories:\n  - name: a\n    replicators: [crm]\n",
            "directories[0].replicators[0]: expected a mapping of keys and values (got str)",
        ),
    ],
)
def test_messages_are_words(tmp_path: Path, text: str, expected: str) -> None:
    assert problems(tmp_path, text) == [expected]


def test_a_long_value_is_cut_short(tmp_path: Path) -> None:
    [found] = problems(tmp_path, f"directories:\n  - {{name: a, phone_format: {'x' * 5000}}}\n")
    assert found.startswith("directories[0].phone_format: Input should be 'e164'")
    assert len(found) < 200


def test_a_lower_case_country_code_is_read(tmp_path: Path) -> None:
    path = tmp_path / "metadir.yaml"
    path.write_text("location: {country: de, area_code: 89}\n", encoding="utf-8")
    location = load_config(path).location
    assert location is not None and location.country == "DE"


@pytest.mark.parametrize(
    ("base_dn", "expected"),
    [
        ("ou=a,,dc=meta", "not a valid DN: expected an attribute type at position 6"),
        ("ou=a,dc=meta,", "not a valid DN: 'ou=a,dc=meta,' ends with a separator"),
        ("ou=phones dc=meta", "not a valid DN: 'ou=phones dc=meta': a ',' is missing before"),
        ("phones", "not a valid DN: expected '=' after 'phones'"),
        # well-formed, but elsewhere
        ("ou=a,dc=example", "'ou=a,dc=example' must lie directly below dc=meta"),
    ],
)
def test_a_malformed_dn_says_so(tmp_path: Path, base_dn: str, expected: str) -> None:
    [found] = problems(tmp_path, f"directories:\n  - {{name: a, base_dn: '{base_dn}'}}\n")
    assert found.startswith(f"directories[0].base_dn: {expected}"), found


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "      - {name: x, type: foo}",
            "directories[0].replicators[0].type: unknown replicator type 'foo'; known types: "
            "command, csv, dynamics, ews, google, graph, ldap, ldif, salesforce, sql",
        ),
        (
            "      - {name: x, path: crm.csv}",
            "directories[0].replicators[0].type: required key is missing; known types: "
            "command, csv, dynamics, ews, google, graph, ldap, ldif, salesforce, sql",
        ),
        (
            "      - {name: x, type: [csv]}",
            "directories[0].replicators[0].type: unknown replicator type ['csv']; known types: "
            "command, csv, dynamics, ews, google, graph, ldap, ldif, salesforce, sql",
        ),
    ],
)
def test_replicator_types_are_looked_up(tmp_path: Path, entry: str, expected: str) -> None:
    assert problems(tmp_path, replicator(entry)) == [expected]


def test_each_replicator_is_checked_by_its_own_kind(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        replicator(CSV + "paht: x}\n" + LDAP + "page_size: 0}\n      - {name: y, type: foo}"),
    )
    assert found == [
        "directories[0].replicators[0].paht: unknown key (did you mean 'path'?)",
        "directories[0].replicators[1].page_size: must be at least 1, not 0",
        "directories[0].replicators[2].type: unknown replicator type 'foo'; known types: "
        "command, csv, dynamics, ews, google, graph, ldap, ldif, salesforce, sql",
    ]


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution whose ``metadir.replicators`` entry point cannot load."""
    dist = tmp_path / "site" / "broken_kind-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-kind\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[metadir.replicators]\nbroken = no_such_module_here:Settings\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    kinds.cache_clear()
    yield
    kinds.cache_clear()


@pytest.mark.usefixtures("broken_plugin")
def test_a_broken_plugin_is_named_once(tmp_path: Path) -> None:
    found = problems(tmp_path, replicator(CSV + "}\n" + LDAP + "}"))
    assert found == [
        "replicator type 'broken' (no_such_module_here:Settings, broken-kind): No module named "
        "'no_such_module_here'; reinstall or remove that package"
    ]


@pytest.mark.usefixtures("broken_plugin")
def test_a_broken_plugin_leaves_configs_without_replicators_alone(tmp_path: Path) -> None:
    path = tmp_path / "metadir.yaml"
    path.write_text("directories:\n  - name: contacts\n", encoding="utf-8")
    assert load_config(path).directories[0].name == "contacts"
