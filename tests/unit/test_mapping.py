"""Mapping source rows onto attributes: plain fields, templates, names every entry has."""

from __future__ import annotations

import pytest

from metadir.sync.mapping import (
    Mapping,
    MappingError,
    RowError,
    Template,
    complete_names,
    default_mapping,
)


def render(template: str, **values: str) -> str:
    parsed = Template.parse(template)
    assert parsed is not None
    return parsed.render(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"A": "Anna", "B": "Sales"}, "Anna (Sales)"),
        ({"A": "Anna"}, "Anna"),
        ({"A": "Anna", "B": "  "}, "Anna"),
        ({"B": "Sales"}, "(Sales)"),
        ({}, ""),
    ],
)
def test_brackets_stay_with_their_field(values: dict, expected: str) -> None:
    assert render("{A} ({B})", **values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"First": "Anna", "Last": "Meier"}, "Anna Meier"),
        ({"First": "Anna"}, "Anna"),
        ({"Last": "Meier"}, "Meier"),
        ({"First": "  Anna  ", "Last": " Meier "}, "Anna Meier"),
    ],
)
def test_separator_only_between_two_values(values: dict, expected: str) -> None:
    assert render("{First} {Last}", **values) == expected


def test_missing_middle_field_keeps_the_separator_that_says_something() -> None:
    template = "{Street}, {Zip} {City}"
    assert render(template, Street="Hauptstr. 1", Zip="80331", City="München") == (
        "Hauptstr. 1, 80331 München"
    )
    assert render(template, Street="Hauptstr. 1", City="München") == "Hauptstr. 1, München"
    assert render(template, Zip="80331", City="München") == "80331 München"
    assert render(template, Street="Hauptstr. 1") == "Hauptstr. 1"


def test_bracketed_middle_field_collapses_to_the_outer_separator() -> None:
    template = "{Name} ({Dept}) - {Company}"
    assert render(template, Name="Anna", Dept="Sales", Company="ACME") == "Anna (Sales) - ACME"
    assert render(template, Name="Anna", Company="ACME") == "Anna - ACME"
    assert render(template, Dept="Sales", Company="ACME") == "(Sales) - ACME"
    assert render(template, Name="Anna", Dept="Sales") == "Anna (Sales)"


def test_text_around_the_fields_needs_some_value() -> None:
    assert render("Tel. {Phone}!", Phone="123") == "Tel. 123!"
    assert render("Tel. {Phone}!") == ""
    assert render("<{Mail}>", Mail="a@b.de") == "<a@b.de>"
    assert render("[ {A} ]") == ""
    assert render("[ {A} ]", A="x") == "[ x ]"


def test_literal_braces() -> None:
    assert render("{{{A}}}", A="x") == "{x}"
    assert render("{{{A}}}") == ""
    assert render("{A} {{id}}", A="x") == "x {id}"


def test_whitespace_collapses_and_never_none() -> None:
    parsed = Template.parse("{A}   {B}\t{C}")
    assert parsed is not None
    assert parsed.render({"A": "x  y", "B": None, "C": "z"}) == "x y z"
    assert "None" not in parsed.render({"A": None, "B": None, "C": "z"})


def test_field_names_with_spaces_and_colons_are_source_columns() -> None:
    parsed = Template.parse("{First Name} {Tel:work}")
    assert parsed is not None
    assert parsed.fields == ("First Name", "Tel:work")
    assert parsed.render({"First Name": "Anna", "Tel:work": "1"}) == "Anna 1"


def test_plain_field_name_is_not_a_template() -> None:
    assert Template.parse("LastName") is None


@pytest.mark.parametrize("bad", ["{A", "A}", "{} {A}", "{A}{"])
def test_bad_templates(bad: str) -> None:
    with pytest.raises(MappingError, match="bad template"):
        Mapping.compile({"displayName": bad})


def test_compile_rejects_unknown_attribute_and_canonicalises() -> None:
    with pytest.raises(MappingError, match=r"mapping\.nosuch: unknown attribute"):
        Mapping.compile({"nosuch": "X"})
    assert Mapping.compile({"Mobile": "Handy"}).rules[0].attribute == "mobile"


def test_missing_names_mapping_key_and_field() -> None:
    mapping = Mapping.compile({"sn": "LastName", "displayName": "{FirstName} {Nick}"})
    assert mapping.missing(["LastName", "FirstName"]) == [
        "mapping.displayName: the source has no field 'Nick'"
    ]
    assert mapping.missing(["LastName", "FirstName", "Nick"]) == []


def test_apply_strips_plain_fields_and_keeps_raw_numbers() -> None:
    mapping = Mapping.compile(
        {"sn": "Last", "givenName": "First", "telephoneNumber": "Phone", "mail": "Mail"}
    )
    attributes, raw = mapping.apply(
        {"Last": " Meier ", "First": "Anna", "Phone": " +49 89 1234-567 ", "Mail": ""}
    )
    assert attributes == {
        "sn": ["Meier"],
        "givenName": ["Anna"],
        "telephoneNumber": ["+49 89 1234-567"],
        "displayName": ["Anna Meier"],
        "cn": ["Anna Meier"],
    }
    assert raw == {"telephoneNumber": [" +49 89 1234-567 "]}


def test_apply_row_with_nothing_mapped_is_an_error() -> None:
    mapping = Mapping.compile({"sn": "Last", "displayName": "{First} {Last}"})
    with pytest.raises(RowError, match="row maps to no attribute"):
        mapping.apply({"Last": "  ", "First": ""})


def test_apply_row_with_nothing_to_name_it_by_is_an_error() -> None:
    mapping = Mapping.compile({"department": "Dept"})
    with pytest.raises(RowError, match="no name, company, e-mail address or phone number"):
        mapping.apply({"Dept": "Sales"})


@pytest.mark.parametrize(
    ("attributes", "display", "cn"),
    [
        ({"displayName": ["Shown"], "cn": ["Common"]}, "Shown", "Common"),
        ({"displayName": ["Shown"]}, "Shown", "Shown"),
        ({"cn": ["Common"]}, "Common", "Common"),
        ({"givenName": ["Anna"], "sn": ["Meier"]}, "Anna Meier", "Anna Meier"),
        ({"sn": ["Meier"]}, "Meier", "Meier"),
        ({"givenName": ["Anna"]}, "Anna", "Anna"),
        ({"company": ["ACME"], "o": ["Org"], "mail": ["a@b.de"]}, "ACME", "ACME"),
        ({"o": ["Org"], "mail": ["a@b.de"]}, "Org", "Org"),
        ({"mail": ["a@b.de"], "mobile": ["0171"]}, "a@b.de", "a@b.de"),
        ({"mobile": ["0171"], "telephoneNumber": ["089"]}, "089", "089"),
        ({"facsimileTelephoneNumber": ["0891"]}, "0891", "0891"),
    ],
)
def test_cn_and_display_name_are_always_present(attributes: dict, display: str, cn: str) -> None:
    complete_names(attributes)
    assert attributes["displayName"] == [display]
    assert attributes["cn"] == [cn]


def test_default_mapping_takes_fields_named_like_attributes() -> None:
    fields = ["CustomerNo", "givenName", "SN", "Mobile", "mobileTelephoneNumber", "fax"]
    assert default_mapping(fields) == {
        "givenName": "givenName",
        "sn": "SN",
        "mobile": "Mobile",
        "facsimileTelephoneNumber": "fax",
    }
