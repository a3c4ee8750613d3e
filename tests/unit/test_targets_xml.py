"""The XML export: metadir's format validated against its XSD (lxml), and the desk phones'
phone-book formats. Driven through ``run_export`` over a store the sync engine fills."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError

from metadir.core.fields import all_fields
from metadir.store.entries import EntryData
from metadir.store.runs import RunRecord
from metadir.store.store import Store
from replicators.targets.xml import XmlExportConfig
from tests.unit import test_targets_rows as shared
from tests.unit.test_targets_rows import Crm, export

# the shared fixtures: a store with the directory "contacts", the export's folder
store, out = shared.store, shared.out
XSD = "{http://www.w3.org/2001/XMLSchema}"


def xml_export(**settings: Any) -> XmlExportConfig:
    return XmlExportConfig.model_validate(
        {"name": "book", "type": "xml", "path": "out/book.xml", **settings}
    )


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    text = files("schema").joinpath("metadir-contacts.xsd").read_bytes()
    return etree.XMLSchema(etree.fromstring(text))


@pytest.fixture
def crm(tmp_path: Path, store: Store) -> Crm:
    crm = Crm(tmp_path, store)
    crm.set("1", "Jürgen", "Müller", Company="Groß & <Söhne>", Phone="(089) 1234-567",
            Mobile="0171 2345678", Home="089 7654321", Mail="j@example.de")  # fmt: skip
    crm.set("2", "", "", Company="Zentrale GmbH", Phone="ask reception")
    crm.set("3", "Zoë", "Ärger", Phone="567", Street='Line "1"\r\nLine 2')
    crm.set("4", "No", "Number", Mail="no@example.de")
    crm.sync()
    return crm


def parsed(out: Path) -> etree._Element:
    return etree.fromstring((out / "book.xml").read_bytes())


def run(store: Store, out: Path, **settings: Any) -> etree._Element:
    result = export(store, out.parent, xml_export(**settings))
    assert result.outcome == "ok", result.message
    return parsed(out)


def test_the_metadir_format_validates(
    crm: Crm, store: Store, out: Path, schema: etree.XMLSchema
) -> None:
    root = run(store, out)
    schema.assertValid(root)
    contacts = root.findall("contact")
    assert [c.findtext("displayName") for c in contacts] == [
        "Jürgen Müller",
        "No Number",
        "Zentrale GmbH",
        "Zoë Ärger",
    ]
    jurgen = contacts[0]
    assert jurgen.get("directory") == "contacts"
    assert jurgen.findtext("company") == "Groß & <Söhne>"
    phone = jurgen.find("telephoneNumber")
    assert (phone.text, phone.get("canonical")) == ("+49891234567", "+49891234567")
    # the elements follow schema/fields.yaml's order
    order = [f.name for f in all_fields()]
    tags = [child.tag for child in jurgen]
    assert tags == sorted(tags, key=order.index)
    # a carriage return survives the parser, written as &#13;
    assert contacts[3].findtext("street") == 'Line "1"\r\nLine 2'
    assert b"&#13;" in (out / "book.xml").read_bytes()
    zentrale = contacts[2]
    # text that is no number is served as written, without a canonical number to dial
    assert zentrale.find("telephoneNumber").text == "ask reception"


def test_control_characters_and_many_values(
    store: Store, out: Path, schema: etree.XMLSchema
) -> None:
    now = datetime.now(UTC)
    attributes = {
        "cn": ["Bell\x07 Tab\tSep"],
        "displayName": ["Bell\x07 Tab\tSep"],
        "info": ["form\x0cfeed \ufffe and \x00NUL"],
        "title": ["\x0b"],  # nothing but a character XML cannot hold
        "otherTelephone": ["+4930111", "+4930222"],
    }
    numbers = {"otherTelephone": ["+4930111", "+4930222"]}
    store.apply(
        RunRecord("crm", "ok", now, now),
        added=[EntryData(("a",), attributes, {}, numbers, "d")],
    )
    root = run(store, out)
    schema.assertValid(root)
    contact = root.find("contact")
    assert contact.findtext("displayName") == "Bell Tab\tSep"
    assert contact.findtext("info") == "formfeed  and NUL"
    assert contact.find("title") is None
    assert [e.get("canonical") for e in contact.findall("otherTelephone")] == [
        "+4930111",
        "+4930222",
    ]


def test_changes_and_deletions_reach_the_file(
    crm: Crm, store: Store, out: Path, schema: etree.XMLSchema
) -> None:
    run(store, out)
    del crm.rows["1"]
    crm.set("3", "Zoë", "Berger", Phone="568")
    crm.sync()
    # one of four is more than the delete guard allows
    assert export(store, out.parent, xml_export(), force=True).outcome == "ok"
    root = parsed(out)
    schema.assertValid(root)
    names = [c.findtext("displayName") for c in root.findall("contact")]
    assert names == ["No Number", "Zentrale GmbH", "Zoë Berger"]


def test_the_schema_names_every_field_in_order() -> None:
    text = files("schema").joinpath("metadir-contacts.xsd").read_bytes()
    contact = etree.fromstring(text).find(f"{XSD}complexType[@name='contact']")
    elements = contact.findall(f"{XSD}sequence/{XSD}element")
    assert [e.get("name") for e in elements] == [f.name for f in all_fields()]
    for element, field in zip(elements, all_fields(), strict=True):
        assert (element.get("maxOccurs") == "unbounded") == field.multi, field.name
        expected = "phone" if field.is_phone else "xs:base64Binary" if field.is_binary else "text"
        assert element.get("type") == expected, field.name


def test_yealink(crm: Crm, store: Store, out: Path) -> None:
    root = run(store, out, format="yealink")
    assert root.tag == "YealinkIPPhoneDirectory"
    entries = root.findall("DirectoryEntry")
    # "No Number" has none, "Zentrale GmbH" only text: a phone book cannot dial them
    assert [e.findtext("Name") for e in entries] == ["Jürgen Müller", "Zoë Ärger"]
    phones = [(t.get("label"), t.text) for t in entries[0].findall("Telephone")]
    assert phones == [("Office", "+49891234567"), ("Mobile", "+491712345678"),
                      ("Home", "+49897654321")]  # fmt: skip
    assert [t.text for t in entries[1].findall("Telephone")] == ["567"]


def test_grandstream(crm: Crm, store: Store, out: Path) -> None:
    root = run(store, out, format="grandstream", account=2)
    assert root.tag == "AddressBook"
    contacts = root.findall("Contact")
    assert [(c.findtext("FirstName"), c.findtext("LastName")) for c in contacts] == [
        ("Jürgen", "Müller"),
        ("Zoë", "Ärger"),
    ]
    phones = [
        (p.get("type"), p.findtext("phonenumber"), p.findtext("accountindex"))
        for p in contacts[0].findall("Phone")
    ]
    assert phones == [("Work", "+49891234567", "1"), ("Mobile", "+491712345678", "1"),
                      ("Home", "+49897654321", "1")]  # fmt: skip


def test_grandstream_names_a_company_by_its_display_name(store: Store, out: Path) -> None:
    now = datetime.now(UTC)
    attributes = {"cn": ["ACME"], "displayName": ["ACME"], "telephoneNumber": ["+4930111"]}
    store.apply(
        RunRecord("crm", "ok", now, now), added=[EntryData(("a",), attributes, {}, {}, "d")]
    )
    contact = run(store, out, format="grandstream").find("Contact")
    assert (contact.findtext("FirstName"), contact.find("LastName")) == ("ACME", None)
    assert contact.findtext("Phone/accountindex") == "0"


def test_cisco(crm: Crm, store: Store, out: Path) -> None:
    crm.set("5", "Maximiliane-Theodora", "Schwarzenberg-Hohenlohe", Mobile="0171 999")
    crm.sync()
    root = run(store, out, format="cisco", title="Firma", prompt="Kontakt wählen")
    assert root.tag == "CiscoIPPhoneDirectory"
    assert (root.findtext("Title"), root.findtext("Prompt")) == ("Firma", "Kontakt wählen")
    entries = [(e.findtext("Name"), e.findtext("Telephone")) for e in root.iter("DirectoryEntry")]
    assert entries[:3] == [
        ("Jürgen Müller", "+49891234567"),
        ("Jürgen Müller (M)", "+491712345678"),
        ("Jürgen Müller (H)", "+49897654321"),
    ]
    long_name = next(name for name, _ in entries if name.startswith("Maxi"))
    assert long_name == "Maximiliane-Theodora Schwarz (M)" and len(long_name) == 32


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"format": "vcard"}, "format"),
        ({"title": "Firma"}, "title: only format cisco takes it"),
        ({"format": "yealink", "account": 2}, "account: only format grandstream takes it"),
        ({"format": "grandstream", "account": 7}, "account"),
        ({"format": "cisco", "title": "x" * 33}, "title"),
    ],
)
def test_bad_settings_are_named(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as caught:
        xml_export(**settings)
    assert problem in str(caught.value)


def test_a_new_title_rewrites_the_file_but_keeps_the_rows(
    crm: Crm, store: Store, out: Path
) -> None:
    run(store, out, format="cisco", title="A")
    result = export(store, out.parent, xml_export(format="cisco", title="B"))
    assert "full export" not in result.note
    assert parsed(out).findtext("Title") == "B"
