"""The SOAP side of the Exchange (EWS) fake in ``tests.cloud.ews_fake``: reading the
requests exchangelib sends (the operation, the ExchangeImpersonation header, the contact
properties an ItemShape asks for), and writing answers as Exchange 2016 writes them: the
envelope with its ``ServerVersionInfo`` header, response messages named after their
operation, error messages (SyncFolderItems' with their empty SyncState), SOAP faults, and
the XML of folders and contact items.

``Contact`` is a contact item as EWS describes it (properties by their EWS names), kept here
with its XML; the fake's state (mailboxes, folders, change log) lives in ``ews_fake``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
SERVER_VERSION_INFO = ('<h:ServerVersionInfo xmlns:h="' + T + '" MajorVersion="15" '
                       'MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" '
                       'Version="V2017_07_11"/>')  # fmt: skip
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
# contact properties (EWS names) in the order of the EWS schema: these before the indexed
# ones (e-mail addresses, postal addresses, phone numbers), the others after them
PROPERTIES_BEFORE_INDEXED = ("DisplayName", "GivenName", "Initials", "MiddleName", "Nickname",
                             "CompanyName")  # fmt: skip
PROPERTIES_AFTER_INDEXED = ("AssistantName", "BusinessHomePage", "Department", "JobTitle",
                            "Manager", "OfficeLocation", "Profession", "Surname")  # fmt: skip
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")


@dataclass
class Contact:
    """A contact as the fake keeps it: plain properties by EWS name, ``phones`` and
    ``emails`` by key, ``addresses`` by key then part; ``kind`` DistributionList for a
    list."""

    ident: str
    plain: dict[str, str] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    kind: str = "Contact"
    change_key: int = 1


class SoapFault(Exception):
    """An answer of Exchange as a SOAP fault (``fault_envelope``) rather than a response
    message; ``xml`` is the MessageXml detail (BackOffMilliseconds of ErrorServerBusy)."""

    def __init__(self, code: str, text: str, status: int = 500, xml: str = "") -> None:
        super().__init__(text)
        self.code, self.text, self.status, self.xml = code, text, status, xml


class MalformedRequest(Exception):
    """A request that is not a SOAP envelope with an operation in its body (IIS answers 400)."""


# -- requests ------------------------------------------------------------------------------


@dataclass
class SoapRequest:
    """What a request asks: the ``operation`` and its element in the body, and the mailbox
    it impersonates (``None`` without an ExchangeImpersonation header)."""

    operation: str
    element: ET.Element
    impersonated: str | None


def read_request(data: bytes) -> SoapRequest:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise MalformedRequest("bad request") from exc
    body = root.find(f"{{{SOAP}}}Body")
    if body is None or not len(body):
        raise MalformedRequest("no SOAP body")
    return SoapRequest(
        operation=body[0].tag.rpartition("}")[2],
        element=body[0],
        impersonated=_impersonated(root.find(f"{{{SOAP}}}Header")),
    )


def _impersonated(header: ET.Element | None) -> str | None:
    if header is None:
        return None
    found = header.find(f"{{{T}}}ExchangeImpersonation//{{{T}}}PrimarySmtpAddress")
    return None if found is None else (found.text or "").strip()


def requested_properties(shape: ET.Element | None) -> set[str]:
    """The contact properties an ItemShape asks for (EWS names; indexed ones by group)."""
    wanted: set[str] = set()
    if shape is None:
        return wanted
    for element in shape.iter():
        if element.tag not in (f"{{{T}}}FieldURI", f"{{{T}}}IndexedFieldURI"):
            continue
        uri = element.get("FieldURI", "")
        if uri.startswith("contacts:"):
            wanted.add(uri.split(":")[1])
    return wanted


# -- answers -------------------------------------------------------------------------------


def envelope(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}">'
        f"<s:Header>{SERVER_VERSION_INFO}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def response(operation: str, messages: str) -> str:
    """The ``<operation>Response`` holding ``messages`` (made by ``success_message`` or
    ``error_message``)."""
    # every message of an answer is named after the operation
    messages = messages.replace("<m:Message ", f"<m:{operation}ResponseMessage ")
    messages = messages.replace("</m:Message>", f"</m:{operation}ResponseMessage>")
    return (
        f'<m:{operation}Response xmlns:m="{M}" xmlns:t="{T}"><m:ResponseMessages>'
        f"{messages}</m:ResponseMessages></m:{operation}Response>"
    )


def success_message(content: str) -> str:
    return (
        f'<m:Message ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"{content}</m:Message>"
    )


def error_message(code: str, text: str) -> str:
    return (
        f'<m:Message ResponseClass="Error"><m:MessageText>{escape(text)}</m:MessageText>'
        f"<m:ResponseCode>{code}</m:ResponseCode><m:DescriptiveLinkKey>0"
        "</m:DescriptiveLinkKey></m:Message>"
    )


def sync_error_message(code: str, text: str) -> str:
    return with_empty_sync_state(error_message(code, text))


def with_empty_sync_state(error: str) -> str:
    # Exchange's SyncFolderItems error messages keep an empty SyncState and the range flag
    tail = "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>"
    return error.replace("</m:Message>", tail + "</m:Message>")


def fault_envelope(fault: SoapFault) -> bytes:
    xml = f'<t:MessageXml xmlns:t="{T}">{fault.xml}</t:MessageXml>' if fault.xml else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}"><s:Body>'
        f'<s:Fault><faultcode xmlns:a="{T}">a:{fault.code}</faultcode>'
        f'<faultstring xml:lang="en-US">{escape(fault.text)}</faultstring><detail>'
        f'<e:ResponseCode xmlns:e="{E}">{fault.code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{E}">{escape(fault.text)}</e:Message>{xml}</detail>'
        "</s:Fault></s:Body></s:Envelope>"
    ).encode()


def folder_xml(ident: str, parent: str | None, folder_class: str, name: str, total: int,
               children: int) -> str:  # fmt: skip
    """A folder as GetFolder and FindFolder list it (ContactsFolder for a contact folder)."""
    tag = "ContactsFolder" if folder_class.startswith("IPF.Contact") else "Folder"
    above = f'<t:ParentFolderId Id="{parent}" ChangeKey="AQ"/>' if parent else ""
    return (f'<t:{tag}><t:FolderId Id="{ident}" ChangeKey="AQAAAA"/>{above}'
            f"<t:FolderClass>{escape(folder_class)}</t:FolderClass>"
            f"<t:DisplayName>{escape(name)}</t:DisplayName>"
            f"<t:TotalCount>{total}</t:TotalCount>"
            f"<t:ChildFolderCount>{children}</t:ChildFolderCount></t:{tag}>")  # fmt: skip


def contact_xml(contact: Contact, wanted: set[str]) -> str:
    """``contact`` with the properties in ``wanted`` (``requested_properties``), in schema
    order; a distribution list with its name only."""

    def plain(names: tuple[str, ...]) -> str:
        return "".join(f"<t:{n}>{escape(contact.plain[n])}</t:{n}>" for n in names
                       if n in contact.plain and n in wanted)  # fmt: skip

    parts = [f'<t:ItemId Id="{contact.ident}" ChangeKey="CK{contact.change_key}"/>']
    if contact.kind == "DistributionList":
        name = escape(contact.plain.get("DisplayName", ""))
        return f"<t:DistributionList>{parts[0]}<t:DisplayName>{name}</t:DisplayName>" \
            "</t:DistributionList>"  # fmt: skip
    parts.append(plain(PROPERTIES_BEFORE_INDEXED))
    if "EmailAddress" in wanted and contact.emails:
        parts.append("<t:EmailAddresses>" + "".join(
            f"<t:Entry Key={quoteattr(k)}>{escape(v)}</t:Entry>"
            for k, v in contact.emails.items()) + "</t:EmailAddresses>")  # fmt: skip
    if "PhysicalAddress" in wanted and contact.addresses:
        parts.append(
            "<t:PhysicalAddresses>"
            + "".join(
                f"<t:Entry Key={quoteattr(k)}>"
                + "".join(f"<t:{p}>{escape(a[p])}</t:{p}>" for p in ADDRESS_PARTS if p in a)
                + "</t:Entry>"
                for k, a in contact.addresses.items()
            )
            + "</t:PhysicalAddresses>"
        )
    if "PhoneNumber" in wanted and contact.phones:
        parts.append("<t:PhoneNumbers>" + "".join(
            f"<t:Entry Key={quoteattr(k)}>{escape(v)}</t:Entry>"
            for k, v in contact.phones.items()) + "</t:PhoneNumbers>")  # fmt: skip
    parts.append(plain(PROPERTIES_AFTER_INDEXED))
    return f"<t:Contact>{''.join(parts)}</t:Contact>"
