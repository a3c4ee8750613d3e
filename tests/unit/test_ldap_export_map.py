"""The LDAP export's settings and what it writes for an entry: presets per flavor, the
export's own mapping, names within the server's limits, the mark and its digest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from metadir.core.records import StoredEntry
from replicators.ldap.export_map import rdn
from replicators.ldap.target import LdapExportConfig

UUID = "0f4e5a63-1b2c-4d5e-8f90-123456789abc"


def settings(**more: Any) -> dict[str, Any]:
    return {
        "name": "phones",
        "type": "ldap",
        "flavor": "ad",
        "url": "ldaps://dc1.example.com",
        "bind_dn": "svc-metadir@example.com",
        "password": "s3cret",
        "base_dn": "OU=Phonebook,DC=example,DC=com",
        **more,
    }


def config(**more: Any) -> LdapExportConfig:
    return LdapExportConfig.model_validate(settings(**more), context={"base_dir": Path(".")})


def entry(**attributes: list[str]) -> StoredEntry:
    now = datetime.now(UTC)
    return StoredEntry(1, UUID, "people", "crm", ("1",), attributes, now, now, False)


def test_ad_writes_contacts_under_ad_names() -> None:
    export = config().export_map
    written = export.written(
        entry(
            cn=["Anna Berg"], displayName=["Anna Berg"], sn=["Berg"], street=["Hauptstr. 1"],
            url=["https://example.com"], otherTelephone=["+49891", "+49892"], company=[" "],
            o=["Example"],
        )
    )  # fmt: skip
    assert export.preset.classes == ("top", "person", "organizationalPerson", "contact")
    assert written.name == "Anna Berg"
    assert written.attributes == {
        "displayName": ["Anna Berg"],
        "sn": ["Berg"],
        "streetAddress": ["Hauptstr. 1"],
        "wWWHomePage": ["https://example.com"],
        "otherTelephone": ["+49891", "+49892"],
        # a blank company: the organisation is the first with a value
        "company": ["Example"],
    }
    assert export.mark(UUID, written.digest) == f"metadir:phones:{UUID}:{written.digest}"
    assert export.mark_attribute == "adminDescription"


def test_openldap_gives_every_entry_a_surname() -> None:
    export = config(flavor="openldap").export_map
    written = export.written(entry(cn=["Acme Hotline"], displayName=["Acme Hotline"]))
    assert written.attributes["sn"] == ["Acme Hotline"]
    assert export.mark_attribute == "employeeType"
    assert "inetOrgPerson" in export.preset.classes


def test_the_digest_follows_what_is_written_only() -> None:
    export = config().export_map
    one = export.written(entry(cn=["A"], sn=["B"], info=["x"]))
    assert export.written(entry(cn=["A"], sn=["B"], info=["x"], custom5=["n"])) == one
    assert export.written(entry(cn=["A"], sn=["C"], info=["x"])).digest != one.digest
    assert export.written(entry(cn=["A2"], sn=["B"], info=["x"])).digest != one.digest


def test_names_fit_active_directory_and_set_entries_apart() -> None:
    export = config().export_map
    long = "Dr. " + "Wolfeschlegelsteinhausenbergerdorff " * 3
    names = export.names(UUID, long)
    assert [len(n) <= 64 for n in names] == [True, True, True]
    assert names[1].endswith(" (0f4e5a63)") and names[2] == UUID
    # control characters never reach a name; no name at all: the uuid
    assert export.written(entry(cn=["Anna\x00 \tBerg"])).name == "Anna Berg"
    assert export.written(entry(mail=["a@b"])).name == UUID
    assert rdn("Groß, Dr. #1") == "cn=Groß\\, Dr. #1"
    assert rdn("#hash") == "cn=\\#hash"


def test_marks_of_other_exports_are_not_ours() -> None:
    export = config().export_map
    assert export.read_mark(f"metadir:phones:{UUID}:abc") == (UUID, "abc")
    assert export.read_mark(f"metadir:phones2:{UUID}:abc") is None
    assert export.read_mark(f"x metadir:phones:{UUID}:abc") is None
    assert export.read_mark("metadir:phones:") is None
    assert export.mark_filter() == "(adminDescription=metadir:phones:*)"


def test_the_exports_own_mapping_overrides_and_drops() -> None:
    export = config(mapping={"Mail": None, "info": ["custom1", "info"], "ipPhone": "mobile"})
    mapping = export.export_map.mapping
    assert "mail" not in mapping and "Mail" not in mapping
    assert mapping["info"] == ("custom1", "info") and mapping["ipPhone"] == ("mobile",)
    own = config(preset_mapping=False, mapping={"cn": "displayName", "telephoneNumber": "ipPhone"})
    assert own.export_map.mapping == {"cn": ("displayName",), "telephoneNumber": ("ipPhone",)}
    assert own.export_map.managed == ["telephoneNumber"]


def test_the_password_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    values = {k: v for k, v in settings(password_file="pw").items() if k != "password"}
    loaded = LdapExportConfig.model_validate(values, context={"base_dir": tmp_path})
    assert loaded.password.get_secret_value() == "from-file"
    assert "from-file" not in repr(loaded)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"base_dn": "no dn"}, "base_dn\n  Value error, not a valid DN"),
        ({"base_dn": ""}, "base_dn\n  Value error, must not be empty"),
        ({"mapping": {"adminDescription": "x"}}, "mapping.adminDescription: written by the export"),
        ({"mapping": {"objectClass": "info"}}, "mapping.objectClass: written by the export itself"),
        ({"mapping": {"info": "nosuch"}}, "mapping.info: 'nosuch' is no metadir attribute"),
        ({"mapping": {"info": []}}, "mapping.info: name a metadir attribute, or a list of them"),
        ({"preset_mapping": False}, "mapping: required when preset_mapping is false"),
        ({"flavor": "domino"}, "flavor\n  Input should be 'ad', 'openldap' or 'generic'"),
        ({"password": ""}, "password: required with bind_dn (or give password_file)"),
        ({"url": "http://x"}, "expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]"),
        ({"url": "ldaps://x", "tls": {"start_tls": True}}, "tls.start_tls: ldaps:// URLs speak"),
        ({"base": "x"}, "base\n  Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_bad_settings_say_what_is_wrong(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as error:
        config(**change)
    assert expected in str(error.value)
    assert "s3cret" not in str(error.value)
