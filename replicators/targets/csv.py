"""CSV export (``exports: - type: csv``): one line per entry, sorted by display name.

Columns are attributes with a header label: ``columns:`` lists them (a name, whose label
comes from ``schema/fields.yaml``, or ``{attribute: label}``), or ``preset:`` names a list
of ``schema/export_columns.yaml`` (estos' German columns, Outlook's import columns).
Quoting follows RFC 4180 (Python's ``csv`` with minimal quoting and CRLF line ends).

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (CSV
injection). With ``protect_formulas`` (the default) such a value is written with a leading
``'``, which Excel and LibreOffice read as "text" — except a value that is a phone number
(digits, spaces, ``+ ( ) - / .``): a formula needs letters or operators it cannot hold, and
a number must stay dialable for the programs that import the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal, Self

from pydantic import PrivateAttr, field_validator, model_validator

from metadir.core import fields
from metadir.core.fields import load_schema_file
from metadir.core.records import StoredEntry
from replicators.base import TargetError
from replicators.targets.output import FileExportConfig, Renderer

# not an attribute of schema/fields.yaml, but served by the LDAP server: a stable id for
# programs that import the file again and again
UUID_COLUMN = "entryUUID"
# what a spreadsheet may read as the start of a formula (OWASP's list)
_FORMULA = frozenset("=+-@\t\r")
_PHONE_LIKE = re.compile(r"\+?[0-9 ()./-]*[0-9][0-9 ()./-]*")
# encodings written with a byte order mark: the codec of the rows, and the mark
_WITH_BOM = {
    "utf-8-sig": ("utf-8", codecs.BOM_UTF8),
    "utf-16": ("utf-16-le", codecs.BOM_UTF16_LE),
    "utf-32": ("utf-32-le", codecs.BOM_UTF32_LE),
}


@dataclass(frozen=True, slots=True)
class Column:
    attribute: str
    label: str


class CsvExportConfig(FileExportConfig):
    type: Literal["csv"]
    # attributes as columns: a name or {name: header label}; or a preset's columns
    columns: list[str | dict[str, str]] | None = None
    preset: str | None = None
    delimiter: Literal[",", ";", "\t", "|"] = ","
    # utf-8-sig (a byte order mark) makes Excel read UTF-8; cp1252 for old Windows tools
    encoding: str = "utf-8"
    header: bool = True
    # between the values of a multi-valued attribute
    join: str = ", "
    protect_formulas: bool = True
    # a character the encoding lacks: "error" fails the run naming the entry and column,
    # "replace" writes "?" instead
    unencodable: Literal["error", "replace"] = "error"

    HEAD_ONLY: ClassVar[frozenset[str]] = frozenset({"header"})
    _columns: tuple[Column, ...] = PrivateAttr(default=())

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: object) -> object:
        return "\t" if isinstance(value, str) and value.lower() in ("tab", "\\t") else value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            "".encode(value)  # unlike codecs.lookup, refuses base64, rot13 and the like
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return codecs.lookup(value).name

    @model_validator(mode="after")
    def _resolve(self) -> Self:
        if self.columns is not None and self.preset is not None:
            raise ValueError("give either columns or preset, not both")
        if self.columns is not None:
            self._columns = resolve_columns(self.columns, "columns")
        else:
            self._columns = preset_columns(self.preset or "default")
        if not self._columns:
            raise ValueError("columns: name at least one attribute")
        if self.unencodable == "error" and self.header:
            for column in self._columns:
                if problem := _unencodable(column.label, self.encoding):
                    raise ValueError(f"columns: the header {column.label!r}: {problem}")
        return self

    def renderer(self) -> Renderer:
        return CsvRows(self)


def resolve_columns(items: list[Any], where: str) -> tuple[Column, ...]:
    """``columns:`` as columns; raises ``ValueError`` naming the item (``where``[i])."""
    columns = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            if len(item) != 1:
                raise ValueError(f"{where}[{i}]: give one {{attribute: label}} per column")
            ((name, label),) = item.items()
        else:
            name, label = item, None
        if not isinstance(name, str) or not (label is None or isinstance(label, str)):
            raise ValueError(f"{where}[{i}]: an attribute name, or {{attribute: label}}")
        if name.lower() == UUID_COLUMN.lower():
            columns.append(Column(UUID_COLUMN, label or UUID_COLUMN))
            continue
        field = fields.lookup(name)
        if field is None:
            raise ValueError(f"{where}[{i}]: unknown attribute {name!r}")
        columns.append(Column(field.name, field.label if label is None else label))
    return tuple(columns)


@cache
def presets() -> dict[str, tuple[Column, ...]]:
    """The presets of ``schema/export_columns.yaml`` by name."""
    data = load_schema_file("export_columns.yaml")["presets"]
    return {
        name: resolve_columns(items, f"schema/export_columns.yaml: {name}")
        for name, items in data.items()
    }


def preset_columns(name: str) -> tuple[Column, ...]:
    try:
        return presets()[name]
    except KeyError:
        raise ValueError(
            f"preset: unknown preset {name!r} (known: {', '.join(sorted(presets()))})"
        ) from None


def protect(values: Sequence[str], join: str) -> str:
    """A cell of ``values`` as a spreadsheet shows it rather than runs it. A cell of phone
    numbers only is left as it is, however many (a later value could make a formula of a
    cell that a number begins)."""
    cell = join.join(values)
    if cell[:1] in _FORMULA and not all(_PHONE_LIKE.fullmatch(v) for v in values):
        return "'" + cell
    return cell


class CsvRows:
    """Entries as CSV lines in the file's encoding."""

    def __init__(self, config: CsvExportConfig) -> None:
        self.columns = config._columns
        self.names = [column.attribute for column in self.columns]
        self.join = config.join
        self.protect = config.protect_formulas
        self.header = config.header
        self.errors = "strict" if config.unencodable == "error" else "replace"
        self.codec, self.bom = _WITH_BOM.get(config.encoding, (config.encoding, b""))
        self._buffer = io.StringIO()
        self._writer = csv.writer(
            self._buffer,
            delimiter=config.delimiter,
            quoting=csv.QUOTE_MINIMAL,
            lineterminator="\r\n",
        )

    def head(self) -> bytes:
        if not self.header:
            return self.bom
        return self.bom + self._line([c.label for c in self.columns]).encode(
            self.codec, self.errors
        )

    def tail(self) -> bytes:
        return b""

    def row(self, entry: StoredEntry) -> bytes:
        attributes = entry.attributes
        cells = [
            entry.uuid if name == UUID_COLUMN else self._cell(attributes.get(name))
            for name in self.names
        ]
        try:
            return self._line(cells).encode(self.codec, self.errors)
        except UnicodeEncodeError as exc:
            raise self._unencodable(entry, cells, exc) from None

    def _unencodable(
        self, entry: StoredEntry, cells: list[str], exc: UnicodeEncodeError
    ) -> TargetError:
        """The error for a line the encoding cannot write: the entry, the column, the
        character."""
        name = (entry.attributes.get("displayName") or [""])[0]
        where = str(exc)
        for column, cell in zip(self.columns, cells, strict=True):
            if problem := _unencodable(cell, self.codec):
                where = f"column {column.label!r}: {problem}"
                break
        return TargetError(f"entry {entry.uuid} ({name}), {where}")

    def _cell(self, values: list[str] | None) -> str:
        if not values:
            return ""
        if self.protect:
            return protect(values, self.join)
        return values[0] if len(values) == 1 else self.join.join(values)

    def _line(self, cells: list[str]) -> str:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(cells)
        return self._buffer.getvalue()


def _unencodable(text: str, codec: str) -> str:
    """Why ``codec`` cannot write ``text`` (its first such character), or ""."""
    try:
        text.encode(codec)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        return (
            f"{char!r} (U+{ord(char):04X}) cannot be written in {codec} "
            "(unencodable: replace writes '?' instead)"
        )
    return ""
