"""The remote phone-book XML files desk phones load over HTTP (``type: xml`` with ``format:
yealink | grandstream | cisco``), as the vendors document them.

Numbers are written dialable: the canonical form metadir keeps for each number (E.164 such
as ``+49891234567``, or an extension's digits), not the served text (``+49 (89) 1234-567``
or a source's ``(0)``), which a phone would dial as typed. A value that is no number (text
kept as the source wrote it) is left out; so is an entry without any number, which a phone
book cannot dial. The phone's or the PBX's dial plan turns ``+`` into the outside line.

Which numbers go where:

- Yealink (``<YealinkIPPhoneDirectory>``): ``<DirectoryEntry>`` with ``<Name>`` (the
  display name) and up to three ``<Telephone label=…>``, the most Yealink phones show:
  telephoneNumber "Office", mobile "Mobile", homePhone "Home".
- Grandstream (``<AddressBook>``, GXP16xx/17xx/21xx phone-book guide): ``<Contact>`` with
  ``<FirstName>``/``<LastName>`` (the display name as first name for an entry without
  either, such as a company) and a ``<Phone type=…>`` per number: telephoneNumber "Work",
  mobile "Mobile", homePhone "Home", each with ``<accountindex>`` (0 to 5 for the phone's
  accounts 1 to 6: ``account:`` in the settings counts from 1 as the phone shows them).
- Cisco (``<CiscoIPPhoneDirectory>``, the IP phone services' directory object): a
  ``<Title>``, a ``<Prompt>``, and one ``<DirectoryEntry>`` per number (the object has one
  ``<Telephone>`` per entry), named by the display name, with " (M)" for the mobile and
  " (H)" for the home number; Cisco allows 32 characters, so longer names are cut. Cisco's
  service object holds at most 32 entries a page: a static file with more is shown only up
  to that limit by many phones, so export a small directory this way (or serve the larger
  ones over LDAP).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from metadir.core.records import StoredEntry
from replicators.targets import xmltext

# what a number is written with between its digits
_SEPARATORS = re.compile(r"[\s()./-]")
_DIALABLE = re.compile(r"\+?[0-9]+")
# Cisco's limit for a name (and the title and prompt); numbers are shorter (E.164: 16)
CISCO_TEXT = 32


def dialable(entry: StoredEntry, attribute: str) -> list[str]:
    """The numbers of ``attribute`` as a phone dials them (see the module's text)."""
    canonical = entry.numbers.get(attribute) or entry.attributes.get(attribute, [])
    numbers = (_SEPARATORS.sub("", value) for value in canonical)
    return [number for number in numbers if _DIALABLE.fullmatch(number)]


def _numbers(entry: StoredEntry, labels: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(label, number) for the attributes of ``labels``, in its order."""
    for attribute, label in labels.items():
        for number in dialable(entry, attribute):
            yield label, number


def display_name(entry: StoredEntry) -> str:
    names = entry.attributes.get("displayName") or entry.attributes.get("cn") or [""]
    return names[0]


# per format: the attributes whose numbers it writes, in this order, and their labels
YEALINK = {"telephoneNumber": "Office", "mobile": "Mobile", "homePhone": "Home"}
GRANDSTREAM = {"telephoneNumber": "Work", "mobile": "Mobile", "homePhone": "Home"}
CISCO = {"telephoneNumber": "", "mobile": " (M)", "homePhone": " (H)"}
# the numbers Yealink phones show of one entry
YEALINK_MOST = 3


class YealinkRows:
    def head(self) -> bytes:
        return f"{xmltext.HEAD}<YealinkIPPhoneDirectory>\n".encode()

    def tail(self) -> bytes:
        return b"</YealinkIPPhoneDirectory>\n"

    def row(self, entry: StoredEntry) -> bytes:
        numbers = list(_numbers(entry, YEALINK))[:YEALINK_MOST]
        if not numbers:
            return b""
        lines = [" <DirectoryEntry>\n", xmltext.element("  ", "Name", display_name(entry))]
        for label, number in numbers:
            lines.append(
                xmltext.element("  ", "Telephone", number, f' label="{xmltext.attribute(label)}"')
            )
        lines.append(" </DirectoryEntry>\n")
        return "".join(lines).encode()


class GrandstreamRows:
    def __init__(self, account: int) -> None:
        # the guide counts accounts from 0
        self.account_index = account - 1

    def head(self) -> bytes:
        return f"{xmltext.HEAD}<AddressBook>\n".encode()

    def tail(self) -> bytes:
        return b"</AddressBook>\n"

    def row(self, entry: StoredEntry) -> bytes:
        numbers = list(_numbers(entry, GRANDSTREAM))
        if not numbers:
            return b""
        first = (entry.attributes.get("givenName") or [""])[0]
        last = (entry.attributes.get("sn") or [""])[0]
        if not first and not last:
            first = display_name(entry)
        lines = [" <Contact>\n"]
        if first:
            lines.append(xmltext.element("  ", "FirstName", first))
        if last:
            lines.append(xmltext.element("  ", "LastName", last))
        for kind, number in numbers:
            lines += [
                f'  <Phone type="{kind}">\n',
                xmltext.element("   ", "phonenumber", number),
                xmltext.element("   ", "accountindex", str(self.account_index)),
                "  </Phone>\n",
            ]
        lines.append(" </Contact>\n")
        return "".join(lines).encode()


class CiscoRows:
    def __init__(self, title: str, prompt: str) -> None:
        self.title = title
        self.prompt = prompt

    def head(self) -> bytes:
        lines = [xmltext.HEAD, "<CiscoIPPhoneDirectory>\n"]
        lines.append(xmltext.element(" ", "Title", self.title))
        lines.append(xmltext.element(" ", "Prompt", self.prompt))
        return "".join(lines).encode()

    def tail(self) -> bytes:
        return b"</CiscoIPPhoneDirectory>\n"

    def row(self, entry: StoredEntry) -> bytes:
        name = display_name(entry)
        lines = []
        for suffix, number in _numbers(entry, CISCO):
            shown = name[: CISCO_TEXT - len(suffix)].rstrip() + suffix
            lines += [
                " <DirectoryEntry>\n",
                xmltext.element("  ", "Name", shown),
                xmltext.element("  ", "Telephone", number),
                " </DirectoryEntry>\n",
            ]
        return "".join(lines).encode()
