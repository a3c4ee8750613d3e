"""LDAP standards slapd keeps, in process: attribute types by OID, attribute options, the
children scope, the root's and the containers' operational attributes, assertions slapd
reads as Undefined, RFC 4529 ``@objectClass``, and the paged results and list view edges.

Every expected answer here is what slapd 2.5 answers on the same entries;
test_ldap_standards_slapd.py asks both servers the same questions over TCP.
"""

from __future__ import annotations

from uuid import NAMESPACE_X500, uuid5

import pytest
from ldap3.operation.search import compile_filter, parse_filter
from ldaptor.protocols import pureldap
from pyasn1.codec.ber import encoder

from metadir.config import DirectoryConfig
from metadir.core import ber
from metadir.directory import filters as f
from metadir.directory.tree import DirectoryTree, Scope
from metadir.ldap import controls
from metadir.ldap.decode import MalformedRequest, decode_filter
from tests.unit.test_ldap_protocol import Client, make_factory, search, search_pdu

CONTACTS = "ou=contacts,dc=meta"
ALL = {"dc=meta", CONTACTS, *(f"entryUUID=u{i},{CONTACTS}" for i in range(1, 6))}


def dns(client: Client, flt: str | bytes, base: str = "dc=meta", scope: int = 2) -> set[str]:
    """The DNs a search finds (``flt`` in RFC 4515 form, or a BER filter element); the
    search must succeed and leave the connection open."""
    element = flt if isinstance(flt, bytes) else ber_filter(flt)
    client.transport.clear()
    client.protocol.dataReceived(search_pdu(element, base, scope))
    *entries, done = client.responses()
    assert done.value.resultCode == 0, done
    assert not client.transport.disconnecting
    return {e.value.objectName.decode() for e in entries}


def ber_filter(text: str) -> bytes:
    """``text`` as ldap3 sends it (ldaptor's parser knows no OIDs or options)."""
    parsed = parse_filter(text, None, auto_escape=True, auto_encode=True, validator=None,
                          check_names=False)  # fmt: skip
    return encoder.encode(compile_filter(parsed.elements[0]))


def attributes(client: Client, *requested: str) -> dict[str, list[bytes]]:
    entry, _ = client.send(search(f"entryUUID=u1,{CONTACTS}", scope=0, attributes=requested))
    return {name.decode(): values for name, values in entry.value.attributes}


def substrings(*parts: tuple[int, bytes], attribute: bytes = b"cn") -> bytes:
    pieces = b"".join(ber.tlv(tag, value) for tag, value in parts)
    return ber.tlv(0xA4, ber.octets(attribute) + ber.tlv(ber.SEQUENCE, pieces))


def negated(element: bytes) -> bytes:
    return ber.tlv(0xA2, element)


@pytest.fixture
def client() -> Client:
    return Client(make_factory())


# --- attribute types and object classes by OID ----------------------------------------------


def test_attribute_types_and_object_classes_by_oid(client: Client) -> None:
    assert dns(client, "(2.5.4.4=name2)") == {f"entryUUID=u2,{CONTACTS}"}
    assert dns(client, "(2.5.4.3=contact*)") == ALL - {"dc=meta", CONTACTS}
    person = {f"entryUUID=u{i},{CONTACTS}" for i in range(1, 6)}
    assert dns(client, "(objectClass=2.5.6.6)") == person  # person
    assert dns(client, "(2.5.4.0=2.16.840.1.113730.3.2.2)") == person  # inetOrgPerson
    assert dns(client, "(objectClass=2.5.6.5)") == {CONTACTS}  # organizationalUnit
    assert dns(client, "(objectClass=2.5.6.66)") == set()
    assert dns(client, "(objectClass=2.5.20.1)", "cn=Subschema", scope=0) == {"cn=Subschema"}
    assert list(attributes(client, "2.5.4.4")) == ["sn"]  # named as slapd names it
    assert list(attributes(client, "2.5.4.3", "2.5.4.4")) == ["cn", "sn"]


# --- attribute options -----------------------------------------------------------------------


def test_a_language_tag_names_a_subtype_no_entry_holds(client: Client) -> None:
    # FALSE, not Undefined: slapd knows cn;lang-de, and these entries hold none of it
    assert dns(client, "(cn;lang-de=Contact 1)") == set()
    assert dns(client, "(cn;lang-de=*)") == set()
    assert dns(client, "(!(cn;lang-de=Contact 1))") == ALL
    assert dns(client, "(!(CN;LANG-DE;lang-en=x))") == ALL
    assert dns(client, "(!(2.5.4.3;lang-de=x))") == ALL
    assert dns(client, "(!(objectClass;lang-de=person))") == ALL
    assert attributes(client, "cn;lang-de") == {}


def test_other_options_make_the_description_unknown(client: Client) -> None:
    # slapd takes ;binary only on attributes that need it, and no undeclared option: the
    # description is unknown, so the filter is Undefined and the attribute is not sent
    for description in ("cn;binary", "cn;x-foo", "cn;lang-de;x-foo"):
        assert dns(client, f"({description}=Contact 1)") == set()
        assert dns(client, f"(!({description}=Contact 1))") == set()
        assert attributes(client, description) == {}, description


# --- the children scope ----------------------------------------------------------------------


def test_children_scope_is_the_subtree_without_its_base(client: Client) -> None:
    children = Scope.CHILDREN
    assert dns(client, "(objectClass=*)", scope=children) == ALL - {"dc=meta"}
    assert dns(client, "(objectClass=*)", CONTACTS, scope=children) == ALL - {"dc=meta", CONTACTS}
    assert dns(client, "(objectClass=*)", f"entryUUID=u1,{CONTACTS}", scope=children) == set()
    assert dns(client, "(sn=name3)", scope=children) == {f"entryUUID=u3,{CONTACTS}"}
    for base in ("", "cn=Subschema", f"entryUUID=nobody,{CONTACTS}"):  # no such object
        [done] = client.send(search(base, "(objectClass=*)", scope=children))
        assert done.value.resultCode == 32, base
    [done] = client.send(search("dc=meta", "(objectClass=*)", scope=4))
    assert done.value.resultCode == 2


# --- the root's and the containers' operational attributes ----------------------------------


def test_root_and_containers_carry_entry_uuids_and_timestamps(client: Client) -> None:
    assert dns(client, "(entryUUID=*)") == ALL
    assert dns(client, "(createTimestamp=*)") == ALL
    assert dns(client, "(modifyTimestamp<=19700101000000Z)") == {"dc=meta", CONTACTS}
    assert dns(client, "(createTimestamp>=20260101000000Z)") == ALL - {"dc=meta", CONTACTS}
    root, _ = client.send(search("dc=meta", scope=0, attributes=["+"]))
    attrs = {name.decode(): values for name, values in root.value.attributes}
    assert attrs["entryUUID"] == [str(uuid5(NAMESPACE_X500, "dc=meta")).encode()]
    assert attrs["createTimestamp"] == attrs["modifyTimestamp"] == [b"19700101000000Z"]
    # derived from the DN, so the same after a restart, and spelt as other entryUUIDs
    again = Client(make_factory())
    assert dns(again, f"(entryUUID={attrs['entryUUID'][0].decode().upper()})") == {"dc=meta"}


def test_container_uuids_follow_the_dn_as_normalised() -> None:
    reps = [{"name": "crm", "type": "csv", "path": "x.csv", "key": "k"}]
    config = {"name": "contacts", "base_dn": "OU=Contacts, DC=Meta", "replicators": reps}
    tree = DirectoryTree([DirectoryConfig.model_validate(config)])
    container = tree.containers["contacts"].entry
    assert container.attributes["entryUUID"] == (str(uuid5(NAMESPACE_X500, "ou=contacts,dc=meta")),)


# --- assertions slapd reads as Undefined ----------------------------------------------------

UNDEFINED = {
    "a value that is not UTF-8": ber.tlv(0xA3, ber.octets("cn") + ber.octets(b"Contact \xff")),
    "an attribute that is not UTF-8": ber.tlv(0x87, b"c\xffn"),
    "a substring that is not UTF-8": substrings((0x81, b"\xfe")),
    "an ordering value that is not UTF-8": ber.tlv(0xA5, ber.octets("sn") + ber.octets(b"\xc3")),
    "two initial parts": substrings((0x80, b"C"), (0x80, b"o")),
    "final before any": substrings((0x82, b"1"), (0x81, b"o")),
    "final before initial": substrings((0x82, b"1"), (0x80, b"C")),
    "two final parts": substrings((0x82, b"t"), (0x82, b"1")),
    "any before initial": substrings((0x81, b"o"), (0x80, b"C")),
    "an empty any part": substrings((0x81, b"")),
    "an empty initial part": substrings((0x80, b"")),
    "an empty final part": substrings((0x80, b"C"), (0x82, b"")),
    "no parts": substrings(),
    "an unknown part": substrings((0x83, b"x")),
    "an unknown filter choice": ber.tlv(0xAA, b""),
}


@pytest.mark.parametrize("element", UNDEFINED.values(), ids=UNDEFINED.keys())
def test_undefined_assertions_stay_undefined_under_not(client: Client, element: bytes) -> None:
    assert dns(client, element) == set()
    assert dns(client, negated(element)) == set()
    # Undefined, not FALSE: an | finds what its other parts find
    either = ber.tlv(0xA1, element + ber.tlv(0xA3, ber.octets("sn") + ber.octets("Name4")))
    assert dns(client, either) == {f"entryUUID=u4,{CONTACTS}"}
    assert dns(client, "(sn=name5)") == {f"entryUUID=u5,{CONTACTS}"}  # the connection works


def test_undefined_filters_are_decoded_as_such() -> None:
    assert decode_filter(0xA2, UNDEFINED["two initial parts"]) == f.Not(f.Undefined())
    assert f.to_text(f.Not(f.Undefined())) == "(!(?=undefined))"
    # structures that are no filter at all still break the request
    with pytest.raises(MalformedRequest):
        decode_filter(0xA3, ber.octets("cn"))


# --- RFC 4529: the attributes of an object class --------------------------------------------


def test_attributes_of_an_object_class(client: Client) -> None:
    # person: objectClass (from top), sn, cn, telephoneNumber, description
    assert set(attributes(client, "@person")) == {"objectClass", "cn", "sn"}
    assert set(attributes(client, "@PERSON")) == set(attributes(client, "@2.5.6.6"))
    assert set(attributes(client, "@top")) == {"objectClass"}
    assert attributes(client, "@noSuchClass") == {}
    # extensibleObject allows any attribute: slapd sends them all, operational ones too
    every = attributes(client, "@extensibleObject")
    assert {"cn", "sn", "entryUUID", "createTimestamp"} <= set(every)
    [entry, _] = client.send(search("", scope=0))
    features = dict(entry.value.attributes)[b"supportedFeatures"]
    assert b"1.3.6.1.4.1.4203.1.5.2" in features


# --- paged results ---------------------------------------------------------------------------


def paged(size: int, cookie: bytes = b"") -> tuple:
    value = ber.tlv(ber.SEQUENCE, ber.integer(size) + ber.octets(cookie))
    return (controls.PAGED, False, value)


def page_control(done: object) -> controls.PageRequest:
    [(oid, _critical, value)] = done.controls  # type: ignore[attr-defined]
    assert oid == controls.PAGED.encode()
    return controls.parse_paged(value)


def test_paged_results_estimate_the_whole_result(client: Client) -> None:
    *entries, done = client.send(search(CONTACTS, scope=1), mid=2, controls=[paged(2)])
    first = page_control(done)
    assert len(entries) == 2 and first.size == 5 and first.cookie
    *entries, done = client.send(
        search(CONTACTS, scope=1), mid=3, controls=[paged(2, first.cookie)]
    )
    assert len(entries) == 2 and page_control(done).size == 5  # not the 1 left


def test_abandoning_a_paged_search_frees_its_cookie(client: Client) -> None:
    *_, done = client.send(search(CONTACTS, scope=1), mid=2, controls=[paged(2)])
    cookie = page_control(done).cookie
    assert client.send(pureldap.LDAPAbandonRequest(id=99), mid=3) == []  # another request
    *_, done = client.send(search(CONTACTS, scope=1), mid=4, controls=[paged(2, cookie)])
    cookie = page_control(done).cookie
    assert client.send(pureldap.LDAPAbandonRequest(id=4), mid=5) == []  # the latest page's
    [done] = client.send(search(CONTACTS, scope=1), mid=6, controls=[paged(2, cookie)])
    assert done.value.resultCode == 53
    assert not client.protocol.pages.open


# --- virtual list view -----------------------------------------------------------------------


def list_view(client: Client, target: bytes, before: int = 0, after: int = 0) -> tuple:
    """(sn of the window, result code, (position, count, result) of the list view control)."""
    sort = (controls.SORT, False, ber.tlv(ber.SEQUENCE, ber.tlv(ber.SEQUENCE, ber.octets("sn"))))
    value = ber.tlv(ber.SEQUENCE, ber.integer(before) + ber.integer(after) + target)
    *entries, done = client.send(
        search(CONTACTS, scope=1, attributes=["sn"]), controls=[sort, (controls.VLV, True, value)]
    )
    names = [dict(e.value.attributes)[b"sn"][0].decode() for e in entries]
    response = dict((oid, v) for oid, _, v in done.controls)[controls.VLV_RESPONSE.encode()]
    fields = ber.elements(ber.read(response)[1])
    return names, done.value.resultCode, tuple(ber.to_int(v) for _, v in fields[:3])


def by_offset(offset: int, count: int) -> bytes:
    return ber.tlv(0xA0, ber.integer(offset) + ber.integer(count))


def test_list_view_offsets_as_slapd_places_them(client: Client) -> None:
    assert list_view(client, by_offset(1, 0)) == (["Name1"], 0, (1, 5, 0))
    assert list_view(client, by_offset(5, 0)) == (["Name5"], 0, (5, 5, 0))
    assert list_view(client, by_offset(0, 0)) == (["Name5"], 0, (5, 5, 0))  # offset = count
    assert list_view(client, by_offset(6, 6)) == (["Name5"], 0, (5, 5, 0))
    assert list_view(client, by_offset(3, 10), after=1) == (["Name1", "Name2"], 0, (1, 5, 0))
    # past the end: virtualListViewError, and offsetRangeError in the control
    assert list_view(client, by_offset(6, 0)) == ([], 76, (0, 5, 61))
    assert list_view(client, by_offset(100, 0), before=2) == ([], 76, (0, 5, 61))
    assert list_view(client, by_offset(6, 5)) == ([], 76, (0, 5, 61))


def test_list_view_values_the_sort_rule_cannot_read(client: Client) -> None:
    assert list_view(client, ber.octets("name3", 0x81), after=1) == (
        ["Name3", "Name4"], 0, (3, 5, 0)
    )  # fmt: skip
    for value in (b"\xff", b"Name\xc3"):
        assert list_view(client, ber.octets(value, 0x81)) == ([], 76, (0, 5, 18))
