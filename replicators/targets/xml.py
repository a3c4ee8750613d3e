"""XML export (``exports: - type: xml``): metadir's own documented format, or the remote
phone-book formats desk phones load over HTTP (``phonebooks.py``).

``format: metadir`` writes ``schema/metadir-contacts.xsd``: a root ``<contacts
version="1">``, one ``<contact uuid directory modified>`` per entry (sorted by display
name), and in it one element per attribute value, named as the LDAP server serves the
attribute, in the order of ``schema/fields.yaml`` (so the schema can name each element, its
place and whether it repeats). A phone attribute's element carries the number's canonical
form (E.164, or the extension's digits) in ``canonical``, beside the value as served.
UTF-8; every file written validates against the XSD.
"""

from __future__ import annotations

from datetime import UTC
from functools import cache
from typing import ClassVar, Literal, Self

from pydantic import Field as Setting
from pydantic import model_validator

from metadir.core.fields import Field, all_fields
from metadir.core.records import StoredEntry
from replicators.targets import xmltext
from replicators.targets.output import FileExportConfig, Renderer
from replicators.targets.phonebooks import CiscoRows, GrandstreamRows, YealinkRows

Format = Literal["metadir", "yealink", "grandstream", "cisco"]
# the settings only some formats read
_FOR = {"title": ("cisco",), "prompt": ("cisco",), "account": ("grandstream",)}


class XmlExportConfig(FileExportConfig):
    type: Literal["xml"]
    format: Format = "metadir"
    # cisco: the directory's title and prompt on the phone's screen (32 characters at most)
    title: str = Setting(default="Directory", max_length=32)
    prompt: str = Setting(default="", max_length=32)
    # grandstream: the phone's SIP account (1 to 6) that dials the numbers
    account: int = Setting(default=1, ge=1, le=6)

    HEAD_ONLY: ClassVar[frozenset[str]] = frozenset({"title", "prompt"})

    @model_validator(mode="after")
    def _settings_of_the_format(self) -> Self:
        for name, formats in _FOR.items():
            if name in self.model_fields_set and self.format not in formats:
                raise ValueError(f"{name}: only format {' or '.join(formats)} takes it")
        return self

    def renderer(self) -> Renderer:
        if self.format == "yealink":
            return YealinkRows()
        if self.format == "grandstream":
            return GrandstreamRows(self.account)
        if self.format == "cisco":
            return CiscoRows(self.title, self.prompt)
        return MetadirRows()


@cache
def _known() -> dict[str, tuple[int, Field]]:
    """Each attribute's place in ``schema/fields.yaml`` (which the XSD follows) and field."""
    return {field.name: (i, field) for i, field in enumerate(all_fields())}


class MetadirRows:
    """Entries as ``<contact>`` elements of ``schema/metadir-contacts.xsd``."""

    def head(self) -> bytes:
        return f'{xmltext.HEAD}<contacts version="1">\n'.encode()

    def tail(self) -> bytes:
        return b"</contacts>\n"

    def row(self, entry: StoredEntry) -> bytes:
        modified = entry.modified
        if modified.tzinfo is None:  # the store keeps UTC; a naive time is one
            modified = modified.replace(tzinfo=UTC)
        stamp = modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        parts = [
            f'  <contact uuid="{xmltext.attribute(entry.uuid)}" '
            f'directory="{xmltext.attribute(entry.directory)}" modified="{stamp}">\n'
        ]
        known = _known()
        for name in sorted((n for n in entry.attributes if n in known), key=known.__getitem__):
            field, values = known[name][1], entry.attributes[name]
            canonical = entry.numbers.get(field.name, []) if field.is_phone else []
            if len(canonical) != len(values):
                canonical = [""] * len(values)
            for value, number in zip(values, canonical, strict=True):
                if not xmltext.text(value):  # nothing but characters XML cannot hold
                    continue
                extra = f' canonical="{xmltext.attribute(number)}"' if number else ""
                parts.append(xmltext.element("    ", field.name, value, extra))
        parts.append("  </contact>\n")
        return "".join(parts).encode()
