"""From a directory entry — a DN and attribute values as bytes — to a ``Record``.

Shared by the LDAP and the LDIF replicator: attribute names matched in any case, attribute
options (``;binary``, AD's ``;range=``) understood, binary values rendered as text (GUIDs,
SIDs, base64), the stable key found, disabled and expired AD accounts recognised.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from metadir.core import fields
from metadir.core.dn import escape_value, fold, parse_dn
from replicators.base import Problem, Record, Removed
from replicators.ldap.presets import DN, BinaryKind, binary_attributes

_RANGE = re.compile(r"^range=(\d+)-(\d+|\*)$", re.IGNORECASE)
# userAccountControl: ACCOUNTDISABLE
_DISABLED = 0x2
# accountExpires: 0 and the largest Integer8 both mean "never"
_NEVER = (0, 0x7FFF_FFFF_FFFF_FFFF)
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


def guid_text(raw: bytes) -> str:
    """An AD GUID (objectGUID) as Windows writes it: the first three fields little-endian."""
    if len(raw) != 16:
        raise ValueError(f"a GUID has 16 bytes, not {len(raw)}")
    return str(uuid.UUID(bytes_le=raw))


def sid_text(raw: bytes) -> str:
    """A security identifier (objectSid) as ``S-1-5-21-…``."""
    if len(raw) < 8 or len(raw) != 8 + 4 * raw[1]:
        raise ValueError(f"not a security identifier ({len(raw)} bytes)")
    authority = int.from_bytes(raw[2:8], "big")
    parts = struct.unpack(f"<{raw[1]}I", raw[8:])
    return "-".join(["S", str(raw[0]), str(authority), *map(str, parts)])


def render(kind: BinaryKind, raw: bytes) -> str:
    if kind == "guid":
        return guid_text(raw)
    if kind == "sid":
        return sid_text(raw)
    return base64.b64encode(raw).decode("ascii")


def split_description(description: str) -> tuple[str, int | None] | None:
    """An attribute description's name and, for AD's ``;range=LOW-HIGH``, where the next
    range starts (None when there is no further range: no range option, or ``HIGH`` is
    ``*``). None for descriptions with other options (``cn;lang-de``)."""
    name, *options = description.split(";")
    following: int | None = None
    for option in options:
        if option.lower() == "binary":
            continue
        match = _RANGE.match(option)
        if not match:
            return None
        following = None if match.group(2) == "*" else int(match.group(2)) + 1
    return name, following


def dn_parts(dn: str) -> list[str]:
    """A DN's RDNs, each in a form in which equal RDNs compare equal (escaped, so that a
    comma inside a value stays one). Raises ``ValueError``."""
    return [
        "+".join(sorted(f"{kind.lower()}={escape_value(fold(value))}" for kind, value in rdn))
        for rdn in parse_dn(dn)
    ]


def filetime(value: int) -> datetime:
    """An AD Integer8 time (100 ns units since 1601) as a datetime."""
    return _FILETIME_EPOCH + timedelta(microseconds=value // 10)


@dataclass
class EntryReader:
    """Turns entries into ``Record``s: picks the wanted attributes in any case, under any of
    their names, and gives them the spelling the mapping uses; renders values; finds the key.

    ``aliases`` are groups of names of one attribute type (a server's schema): slapd returns
    ``street`` when asked for ``streetAddress``. The aliases of metadir's fields are known.
    """

    wanted: Iterable[str]
    key: tuple[str, ...]
    skip_disabled: bool = False
    aliases: Iterable[Sequence[str]] = ()
    # incremental reads: an account skip_disabled leaves out is said to be gone (it may
    # have been read before it was disabled)
    removals: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # lower-cased name -> the spelling asked for
    names: dict[str, str] = field(init=False)
    # how many entries skip_disabled left out, by reason
    left_out: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.names = {name.lower(): name for name in reversed(list(self.wanted))}
        groups = [(f.name, *f.aliases) for f in fields.all_fields()] + list(self.aliases)
        for group in groups:
            spelling = next((self.names[n.lower()] for n in group if n.lower() in self.names), None)
            if spelling is not None:
                for name in group:
                    self.names.setdefault(name.lower(), spelling)
        self._binary = binary_attributes()
        # per name an entry has an attribute under: the mapping's spelling (None: not
        # wanted) and how its bytes become text; names repeat from entry to entry
        self._plans: dict[str, tuple[str | None, BinaryKind | None]] = {}

    def _plan(self, name: str) -> tuple[str | None, BinaryKind | None]:
        return self.names.get(name.lower()), self._binary.get(name.lower())

    def record(
        self, dn: str, attributes: Mapping[str, list[bytes]], line: int | None = None
    ) -> Record | Problem | Removed | None:
        """The entry as a Record; a Problem if it cannot be one (with its key if the values
        that could hold it were read); None (with ``removals``: its key as Removed) if
        skip_disabled leaves it out. ``attributes`` are keyed by the names the entry has
        them under."""
        values, failed = self._values(dn, attributes)
        if failed:
            return Problem(next(iter(failed.values())), line, self._problem_key(dn, values, failed))
        if self.skip_disabled:
            try:
                reason = self._inactive(values)
            except ValueError as exc:
                return Problem(f"{dn}: {exc}", line, self._problem_key(dn, values))
            if reason:
                self.left_out[reason] = self.left_out.get(reason, 0) + 1
                key = self._key(dn, values) if self.removals else None
                return None if key is None else Removed((key,))
        key = self._key(dn, values)
        if key is None:
            wanted = " or ".join(self.key)
            return Problem(f"{dn}: has no {wanted} to know it by across runs", line)
        return Record((key,), {n: v[0] if len(v) == 1 else v for n, v in values.items()}, line)

    def problem(
        self,
        message: str,
        dn: str,
        attributes: Mapping[str, list[bytes]],
        line: int | None,
        unread: Collection[str | None],
    ) -> Problem:
        """A Problem for an entry that was read only in part (an LDIF record with a broken
        line): ``attributes`` are the values read, ``unread`` the names of those that could
        not be (None: a line whose name could not be read either). It carries the entry's
        key if no value that could hold it is among the unread."""
        values, failed = self._values(dn, attributes)
        lost: set[str | None] = set(failed)
        for name in unread:
            spelling = None if name is None else self.names.get(name.lower())
            if name is None or spelling is not None:
                lost.add(spelling)
        return Problem(message, line, self._problem_key(dn, values, lost))

    def _values(
        self, dn: str, attributes: Mapping[str, list[bytes]]
    ) -> tuple[dict[str, list[str]], dict[str, str]]:
        """The wanted values as text, by the mapping's spelling; and for each spelling whose
        values could not be rendered, why."""
        values: dict[str, list[str]] = {}
        failed: dict[str, str] = {}
        plans = self._plans
        for name, raws in attributes.items():
            plan = plans.get(name)
            if plan is None:
                plan = plans[name] = self._plan(name)
            wanted, kind = plan
            if wanted is None or not raws:
                continue
            try:
                if kind is None:
                    rendered = [raw.decode("utf-8") for raw in raws]
                else:
                    rendered = [render(kind, raw) for raw in raws]
            except UnicodeDecodeError:
                failed.setdefault(wanted, f"{dn}: {name}: a value is not UTF-8 text")
                continue
            except ValueError as exc:
                failed.setdefault(wanted, f"{dn}: {name}: {exc}")
                continue
            if wanted in values:
                values[wanted] += rendered
            else:
                values[wanted] = rendered
        return values, failed

    def _problem_key(
        self, dn: str, values: dict[str, list[str]], lost: Collection[str | None] = ()
    ) -> tuple[str] | None:
        """A broken entry's key, as a Record would have it, if it can be trusted."""
        key = self._key(dn, values, lost)
        return None if key is None else (key,)

    def _key(
        self, dn: str, values: dict[str, list[str]], lost: Collection[str | None] = ()
    ) -> str | None:
        """The first key attribute the entry has; None if it has none, or if a value of
        ``lost`` (spellings whose values could not be read; None: any attribute) could be
        one that comes before it: a key read from a later one would be another key."""
        for name in self.key:
            if name.lower() == DN:
                try:
                    return ",".join(dn_parts(dn)) or None
                except ValueError:
                    return dn.strip().lower() or None
            spelling = self.names.get(name.lower(), name)
            if None in lost or spelling in lost:
                return None
            found = values.get(spelling)
            if found and found[0].strip():
                return found[0].strip()
        return None

    def _inactive(self, values: dict[str, list[str]]) -> str | None:
        """Why an AD account is left out (disabled, expired), if it is."""
        control = values.get(self.names["useraccountcontrol"])
        if control and _integer(control[0], "userAccountControl") & _DISABLED:
            return "disabled"
        expires = values.get(self.names["accountexpires"])
        if expires:
            value = _integer(expires[0], "accountExpires")
            if value not in _NEVER and filetime(value) <= self.now:
                return "expired"
        return None


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
