"""Config loading and validation: every problem names the file, the key path and the fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from metadir.config import load_config
from metadir.core.errors import ConfigError
from metadir.ldap.passwords import hash_password, verify

CSV_REPLICATOR = """
      - name: crm
        type: csv
        path: contacts.csv
        key: CustomerNo
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "metadir.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    for problem in info.value.problems:
        assert problem.startswith(f"{path}: "), problem
    return [p.removeprefix(f"{path}: ") for p in info.value.problems]


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "directories:\n  - name: contacts\n"))
    assert config.store_url() == f"sqlite:///{(tmp_path / 'var/metadir.db').resolve()}"
    assert [(x.host, x.port) for x in config.server.listen] == [("0.0.0.0", 712)]
    assert config.server.allow_anonymous is True
    assert config.directories[0].dn == "ou=contacts,dc=meta"


def test_brief_example_loads(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            f"""
store: {{url: "sqlite:///var/metadir.db"}}
server:
  listen: [ldap://127.0.0.1:7712, "ldap://[::1]:7713"]
  accounts:
    - {{dn: "cn=pbx,dc=meta", password: "{hash_password("pw")}", directories: [contacts]}}
location: {{country: DE, area_code: 89, outside_line: "0"}}
directories:
  - name: contacts
    replicators:{CSV_REPLICATOR}        mapping:
          givenName: FirstName
          Mobile: Handy
          surname: LastName
          displayName: "{{FirstName}} {{LastName}}"
""",
        )
    )
    rep = config.directories[0].replicators[0]
    # mapping keys are rewritten to the canonical attribute names
    assert rep.mapping == {
        "givenName": "FirstName",
        "mobile": "Handy",
        "sn": "LastName",
        "displayName": "{FirstName} {LastName}",
    }
    assert rep.key == ["CustomerNo"]
    assert str(rep.max_delete) == "20 %"
    assert config.location.area_code == "89"
    assert [(x.host, x.port) for x in config.server.listen] == [("127.0.0.1", 7712), ("::1", 7713)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "server:\n  allow_anonymus: true\n",
            "server.allow_anonymus: unknown key (did you mean 'allow_anonymous'?)",
        ),
        ("server:\n  size_limit: lots\n", "server.size_limit: Input should be a valid integer"),
        ("server:\n  listen: [ldaps://0.0.0.0:714]\n", "server.listen: "),
        ("server:\n  listen: [http://x]\n", "only ldap://HOST:PORT listeners are supported"),
        (
            "location: {country: Germany}\n",
            "location.country: expected a two-letter ISO 3166 country code such as DE, "
            "not 'Germany'",
        ),
        (
            "directories:\n  - name: contacts\n    replicators:\n      - {name: x, type: cvs}\n",
            "directories[0].replicators[0].type: unknown replicator type 'cvs'; known types: "
            "command, csv, dynamics, ews, google, graph, ldap, ldif, salesforce, sql",
        ),
        (
            "directories:\n  - name: contacts\n    replicators:\n"
            "      - {name: x, type: csv, key: k}\n",
            "directories[0].replicators[0].path: required key is missing",
        ),
        (
            "directories:\n  - {name: a, base_dn: 'ou=a,dc=example,dc=com'}\n",
            "directories[0].base_dn: 'ou=a,dc=example,dc=com' must lie directly below dc=meta",
        ),
        (
            "directories:\n  - {name: a, base_dn: 'ou=a,,dc=meta'}\n",
            "directories[0].base_dn: not a valid DN",
        ),
        ("store: {url: 'mysql://x'}\n", "store.url: expected sqlite:///PATH or postgresql"),
        (
            f"directories:\n  - name: a\n    replicators:{CSV_REPLICATOR}"
            "        max_delete: 120%\n",
            "directories[0].replicators[0].max_delete: a share cannot exceed 100%",
        ),
        (
            f"directories:\n  - name: a\n    replicators:{CSV_REPLICATOR}"
            "        mapping: {displayName: '{First'}\n",
            "directories[0].replicators[0].mapping.displayName: bad template '{First': ",
        ),
        (
            f"directories:\n  - name: a\n    replicators:{CSV_REPLICATOR}"
            "        mapping: {cn: '{} {Last}'}\n",
            "directories[0].replicators[0].mapping.cn: bad template '{} {Last}': '{}' names no "
            "field",
        ),
        ("- just\n- a list\n", "expected a mapping of settings at the top level"),
        ("server: [unclosed\n", "line 2, column 1: not valid YAML"),
    ],
)
def test_each_problem_is_named(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in p for p in found), found


def test_cross_checks(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        f"""
server:
  accounts:
    - {{dn: "cn=pbx,dc=meta", password: "{hash_password("x")}", directories: [nope]}}
directories:
  - name: contacts
    replicators:{CSV_REPLICATOR}        mapping: {{telefon: Phone, sn: LastName, SN: Name2}}
  - name: contacts
    base_dn: ou=Contacts,dc=meta
    replicators:{CSV_REPLICATOR}""",
    )
    assert "directories[1].name: directory 'contacts' is already defined at directories[0]" in found
    assert (
        "directories[1].base_dn: 'ou=Contacts,dc=meta' is already the base DN of directories[0]"
    ) in found
    assert (
        "directories[1].replicators[0].name: replicator 'crm' is already defined at "
        "directories[0].replicators[0]"
    ) in found
    assert any(
        p.startswith("directories[0].replicators[0].mapping.telefon: unknown attribute")
        for p in found
    )
    assert "directories[0].replicators[0].mapping.SN: 'sn' is mapped twice" in found
    assert "server.accounts[0].directories: no directory named 'nope'" in found


def test_environment_and_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = hash_password("s3cret")
    (tmp_path / "pbx.hash").write_text(secret + "\n")
    monkeypatch.setenv("METADIR_TEST_PORT", "7799")
    config = load_config(
        write(
            tmp_path,
            """
server:
  listen: ["ldap://127.0.0.1:${METADIR_TEST_PORT}"]
  accounts:
    - {dn: "cn=pbx,dc=meta", password_file: pbx.hash}
directories: [{name: contacts, base_dn: "ou=price $$5,dc=meta"}]
""",
        )
    )
    assert config.server.listen[0].port == 7799
    assert verify(config.server.accounts[0].password.get_secret_value(), "s3cret")
    assert secret not in repr(config) and secret not in str(config.model_dump())
    assert config.directories[0].base_dn == "ou=price $5,dc=meta"


def test_missing_environment_and_secret_file(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
server:
  listen: ["ldap://127.0.0.1:${METADIR_SURELY_UNSET}"]
  accounts:
    - {dn: "cn=pbx,dc=meta", password_file: missing.hash}
    - {dn: "cn=x,dc=meta", password: "plain-text", password_file: other}
""",
    )
    assert "server.listen[0]: environment variable METADIR_SURELY_UNSET is not set" in found
    assert any(p.startswith("server.accounts[0]: password_file: cannot read") for p in found)
    assert any("give either 'password' or 'password_file', not both" in p for p in found)


def test_plain_password_is_refused_and_never_echoed(tmp_path: Path) -> None:
    found = problems(tmp_path, 'server:\n  accounts: [{dn: "cn=a,dc=meta", password: hunter2}]\n')
    assert found == [
        "server.accounts[0].password: expected a password hash from `metadir hash-password`"
    ]
    assert not any("hunter2" in p for p in found)


def test_ssha_hashes_verify() -> None:
    # {SSHA} of "secret" with salt "salt", as slappasswd makes them
    import base64
    import hashlib

    ssha = "{SSHA}" + base64.b64encode(hashlib.sha1(b"secretsalt").digest() + b"salt").decode()
    assert verify(ssha, "secret") and not verify(ssha, "Secret")
    assert not verify("{SSHA}not-base64!", "secret")
