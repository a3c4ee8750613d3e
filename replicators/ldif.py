"""LDIF file replicator (``type: ldif``): exports of other directories (``ldifde`` from
Active Directory, ``slapcat`` or ``ldapsearch -LLL`` from OpenLDAP, Domino's LDAP export).

An RFC 2849 reader: ``version: 1``, comments, folded lines, base64 (``::``) values,
``changetype: add`` records read as entries. Other change records (modify, delete, modrdn)
and broken records become a ``Problem`` with their line, and reading goes on with the next
record. The flavor's preset gives the key, the mapping and the object classes read.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from pydantic import field_validator

from metadir.core.errors import SourceError
from replicators.base import Context, Problem, Record, Removed, Replicator
from replicators.ldap.settings import DirectorySettings, check_dn
from replicators.ldap.values import EntryReader, dn_parts, split_description

log = logging.getLogger(__name__)


class LdifConfig(DirectorySettings):
    type: Literal["ldif"]
    path: str
    # only entries at or below this DN (an export of a whole tree, say)
    base_dn: str | None = None
    # entries with one of these object classes; the preset's when not given, [] for all
    object_classes: list[str] | None = None

    @field_validator("base_dn")
    @classmethod
    def _base_dn(cls, value: str | None) -> str | None:
        return None if value is None else check_dn(value)

    def build(self, context: Context) -> Replicator:
        return LdifReplicator(self, context)


@dataclass(frozen=True, slots=True)
class Entry:
    """A record read as an entry. One with a ``problem`` was read only in part: its DN and
    ``attributes`` were read, the values under the names in ``unread`` (None: a line whose
    name could not be read either) were not."""

    line: int
    dn: str
    attributes: dict[str, list[bytes]]
    problem: tuple[str, int] | None = None
    unread: frozenset[str | None] = frozenset()


class LdifReplicator:
    """Reads one LDIF file; ``path`` in the settings is relative to the context's
    ``base_dir``."""

    def __init__(self, config: LdifConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.path = context.base_dir / config.path
        self.attributes = config.wanted_attributes()
        classes = config.object_classes
        if classes is None:
            classes = list(config.preset.classes[config.chosen_objects])
        self.classes = {c.lower() for c in classes}
        self.exclude = {c.lower() for c in config.preset.exclude}
        self.base = dn_parts(config.base_dn) if config.base_dn else None

    def check(self) -> list[str]:
        """The attributes a read asks for, without those of the replicator's own mapping
        that no entry of the file has."""
        own = {name.lower() for name in self.config.own_fields}
        present: set[str] = set()
        found = False
        with self._open() as file:
            for item in parse_ldif(file):
                if isinstance(item, Entry):
                    found = True
                    present.update(name.lower() for name in item.attributes)
                    if own <= present:
                        break  # every run checks before it reads: parse no more than needed
        if not found:
            raise SourceError(f"{self.path}: no entries (is it an LDIF file?)")
        return [a for a in self.attributes if a.lower() not in own or a.lower() in present]

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Record | Problem | Removed]:
        """Every entry of the file the object classes and base DN select (a file says
        nothing of what changed: ``state`` is unused, every read is full). Raises
        ``Cancelled`` between entries if the context asks the read to stop."""
        reader = EntryReader(self.attributes, self.config.key_attributes, self.config.skip_disabled)
        left_out = 0
        with self._open() as file:
            try:
                for item in parse_ldif(file):
                    self.context.tick()
                    if isinstance(item, Problem):
                        yield item
                    elif not self._selected(item):
                        left_out += 1
                    elif item.problem is not None:
                        message, line = item.problem
                        yield reader.problem(message, item.dn, item.attributes, line, item.unread)
                    elif (record := reader.record(item.dn, item.attributes, item.line)) is not None:
                        yield record
            except OSError as exc:
                # a disk or network share that fails mid-read: the run fails, changing nothing
                raise SourceError(f"{self.path}: cannot read: {exc.strerror or exc}") from None
        if left_out:
            log.info("%s: %d entries of other classes or outside base_dn", self.path, left_out)
        for reason, count in reader.left_out.items():
            log.info("%s: %d %s accounts left out (skip_disabled)", self.path, count, reason)

    def _selected(self, entry: Entry) -> bool:
        if self.base is not None:
            try:
                parts = dn_parts(entry.dn)
            except ValueError:
                return False
            if parts[len(parts) - len(self.base) :] != self.base:
                return False
        classes = entry.attributes.get("objectclass")
        if classes is None:
            return True  # an export without objectClass: nothing to go by
        names = {c.decode("utf-8", "replace").strip().lower() for c in classes}
        if names & self.exclude:
            return False
        return not self.classes or bool(names & self.classes)

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot read: {exc.strerror or exc}") from None


def parse_ldif(file: BinaryIO) -> Iterator[Entry | Problem]:
    """The entries of an LDIF file, attribute names lower-cased; a Problem per unsupported
    record or one whose DN cannot be read, an Entry with its problem per record with a
    broken line after its DN."""
    for lines in _records(file):
        try:
            entry = _entry(lines)
        except _Broken as exc:
            yield Problem(str(exc), exc.line)
            continue
        if entry is not None:
            yield entry


class _Broken(Exception):
    def __init__(self, message: str, line: int, name: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        # the attribute name of the broken line, if it could be read
        self.name = name


def _records(file: BinaryIO) -> Iterator[list[tuple[int, bytes]]]:
    """Records as [(line number, unfolded line)], comments dropped."""
    lines: list[tuple[int, bytes]] = []
    in_comment = False
    for number, raw in enumerate(file, 1):
        line = raw.rstrip(b"\r\n")
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        if not line:
            if lines:
                yield lines
            lines, in_comment = [], False
            continue
        if line.startswith(b" "):
            if in_comment:
                continue
            if not lines:
                # a folded line with nothing to continue: kept for the record to report
                lines.append((number, line))
                continue
            previous_number, previous = lines[-1]
            lines[-1] = (previous_number, previous + line[1:])
            continue
        in_comment = line.startswith(b"#")
        if in_comment:
            continue
        lines.append((number, line))
    if lines:
        yield lines


def _entry(lines: list[tuple[int, bytes]]) -> Entry | None:
    """One record as an Entry (with its problem if a line after the DN is broken); None for
    a lone ``version:`` line. Raises ``_Broken`` if the record's start cannot be read."""
    if lines[0][1].lower().startswith(b"version:"):
        lines = lines[1:]
        if not lines:
            return None
    parsed = []
    broken: list[_Broken] = []
    for number, line in lines:
        try:
            parsed.append(_line(number, line))
        except _Broken as exc:
            broken.append(exc)
    if broken and broken[0].line == lines[0][0]:
        raise broken[0]
    start, name, value = parsed[0]
    if name != "dn":
        raise _Broken(f"the record starts with {name!r}, not with dn:", start)
    dn = _text(value, "dn", start)
    attributes: dict[str, list[bytes]] = {}
    for number, name, value in parsed[1:]:
        if name == "changetype":
            kind = _text(value, name, number).strip().lower()
            if kind != "add":
                raise _Broken(
                    f"{dn}: changetype: {kind} records are not read (an export lists entries, "
                    "not changes); skipped",
                    number,
                )
            continue
        if name == "control":
            continue
        description = split_description(name)
        if description is None:
            continue  # cn;lang-de and other tagged values
        attributes.setdefault(description[0], []).append(value)
    if not broken:
        return Entry(start, dn, attributes)
    unread = {_base_name(exc.name) for exc in broken}
    problem = (str(broken[0]), broken[0].line)
    return Entry(start, dn, attributes, problem, frozenset(unread))


def _base_name(name: str | None) -> str | None:
    """The attribute a broken line's name describes (``cn`` of ``cn;binary``); None if it
    could not be read."""
    if name is None:
        return None
    description = split_description(name)
    return name if description is None else description[0]


def _line(number: int, line: bytes) -> tuple[int, str, bytes]:
    """(line, lower-cased attribute description, value) of one unfolded line."""
    if line.startswith(b" "):
        raise _Broken("a folded line (starting with a space) with no line before it", number)
    name, colon, rest = line.partition(b":")
    try:
        text = name.decode("ascii").strip()
    except UnicodeDecodeError:
        text = ""
    if not colon or not text or " " in text:
        shown = line[:40].decode("utf-8", "replace")
        raise _Broken(f"not an 'attribute: value' line: {shown!r}", number)
    if rest.startswith(b":"):
        try:
            value = base64.b64decode(rest[1:].strip(), validate=True)
        except (binascii.Error, ValueError):
            raise _Broken(
                f"{text}: the value after '::' is not base64", number, text.lower()
            ) from None
    elif rest.startswith(b"<"):
        raise _Broken(f"{text}: values given by URL (:<) are not read", number, text.lower())
    else:
        value = rest.lstrip(b" ")
    return number, text.lower(), value


def _text(value: bytes, name: str, number: int) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise _Broken(f"{name}: the value is not UTF-8 text", number) from None
