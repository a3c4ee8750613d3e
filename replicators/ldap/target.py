"""The ``type: ldap`` export: metadir's contacts written into one OU of an LDAP server or
Active Directory (``base_dn``), as contacts (AD) or inetOrgPerson entries.

The export touches only entries it wrote. Each carries a mark (``export_map``: AD's
``adminDescription``, OpenLDAP's ``employeeType``) with the export's name, the contact's
uuid and a digest of what was written. A run starts by finding its marked entries below
``base_dn`` (one paged search), so the target itself says which entries are the
export's and where they are: an entry an admin deleted is added again, one renamed or
moved is found, and an entry without the mark — an admin's own, even one whose name a
contact wants — is never changed, renamed or deleted. The digest tells an unchanged
contact from a changed one without reading it; a changed one is read and only the
attributes that differ are replaced. Its own state is only the OU it wrote to.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ldap3
from ldap3.core.exceptions import LDAPCommunicationError
from ldap3.utils.dn import to_dn
from pydantic import Field, PrivateAttr, field_validator, model_validator

from metadir.core.ber import BerError
from metadir.core.dn import normalize_dn, parse_dn
from metadir.core.records import Problem, StoredEntry
from metadir.core.settings import MAX_DN
from replicators.base import Context, ExportConfig, Target, TargetError, TargetNeedsFull
from replicators.ldap import wire
from replicators.ldap.connection import Connector, close, describe
from replicators.ldap.export_map import (
    RDN,
    ExportFlavor,
    ExportMap,
    Written,
    export_preset,
    rdn,
    sources_of,
)
from replicators.ldap.server import LdapServer
from replicators.ldap.settings import check_dn
from replicators.ldap.writes import (
    ALREADY_EXISTS,
    NO_SUCH_OBJECT,
    SUCCESS,
    Writer,
    problem_text,
)

log = logging.getLogger(__name__)
# the export's state: the OU it wrote to (another one needs every contact again)
BASE_DN = "base_dn"


class LdapExportConfig(ExportConfig, LdapServer):
    """An LDAP export's settings: the LDAP source's connection keys, the OU to write to."""

    type: Literal["ldap"]
    flavor: ExportFlavor = "generic"
    # the OU (or any container) the contacts are written to; it must exist. Not what the
    # export takes, as for other exports: that is ``directory`` and ``filter`` here
    base_dn: str = Field(max_length=MAX_DN)
    # target attribute -> metadir attribute, or a list (the first the contact has); null
    # leaves out an attribute of the preset
    mapping: dict[str, str | list[str] | None] = Field(default_factory=dict)
    # false: only the export's own mapping, not the flavor's
    preset_mapping: bool = True
    # entries per page of the search for the export's marked entries
    page_size: int = Field(default=500, ge=1, le=100_000)

    _map: ExportMap | None = PrivateAttr(default=None)

    @field_validator("base_dn")
    @classmethod
    def _target_ou(cls, value: str) -> str:
        check_dn(value)
        if not parse_dn(value):
            raise ValueError("must not be empty")
        return value

    def selection_dn(self) -> str | None:
        return None

    @model_validator(mode="after")
    def _compile(self) -> LdapExportConfig:
        preset = export_preset(self.flavor)
        merged = dict(preset.mapping) if self.preset_mapping else {}
        folded = {name.lower(): name for name in merged}
        for target, source in self.mapping.items():
            merged.pop(folded.get(target.lower(), target), None)
            if target.lower() in ("objectclass", preset.mark.lower()):
                raise ValueError(f"mapping.{target}: written by the export itself")
            if source is None:
                continue
            try:
                merged[target] = sources_of(source)
            except ValueError as exc:
                raise ValueError(f"mapping.{target}: {exc}") from None
        if not merged:
            raise ValueError("mapping: required when preset_mapping is false")
        self._map = ExportMap(self.name, preset, merged)
        return self

    @property
    def export_map(self) -> ExportMap:
        assert self._map is not None  # set by the validator
        return self._map

    def check(self, context: Context) -> None:
        """Bind as the export does, and read the target OU."""
        connector = Connector(self, context, self.name, error=TargetError, read_only=False)
        conn, endpoint = connector.open()
        try:
            if Writer(conn, endpoint).read(self.base_dn, ["objectClass"]) is None:
                raise TargetError(f"{endpoint.url}: base_dn {self.base_dn!r} does not exist")
        finally:
            close(conn)

    def build(self, context: Context) -> Target:
        return LdapTarget(self, context)


@dataclass(slots=True)
class Owned:
    """An entry the export wrote, as the target holds it now."""

    dn: str
    digest: str


class LdapTarget:
    """Writes one export's contacts into its OU; each ``write`` answers the contacts the
    server refused (the run goes on without them: they are sent again when they change)."""

    def __init__(self, config: LdapExportConfig, context: Context) -> None:
        self.config = config
        self.map = config.export_map
        self.connector = Connector(config, context, config.name, error=TargetError, read_only=False)
        self.writer: Writer | None = None
        # uuid -> the entry of the export that holds it
        self.owned: dict[str, Owned] = {}
        self.problems: list[Problem] = []

    def start(self, state: dict[str, Any] | None) -> None:
        base_dn = normalize_dn(self.config.base_dn)
        if state is not None and state.get(BASE_DN) != base_dn:
            raise TargetNeedsFull(f"base_dn is now {self.config.base_dn!r}")
        conn, endpoint = self.connector.open()
        self.writer = Writer(conn, endpoint)
        self.owned = self._marked()

    def write(self, changes: Sequence[StoredEntry]) -> list[Problem]:
        self.problems = []
        for entry in changes:
            owned = self.owned.get(entry.uuid)
            if entry.deleted:
                if owned is not None:
                    self._delete(entry, owned)
            elif owned is None:
                self._add(entry, self.map.written(entry))
            else:
                self._update(entry, owned, self.map.written(entry))
        return self.problems

    def finish(self) -> dict[str, Any]:
        return {BASE_DN: normalize_dn(self.config.base_dn)}

    def close(self) -> None:
        if self.writer is not None:
            close(self.writer.conn)
            self.writer = None

    # --- the marked entries -------------------------------------------------------------

    def _marked(self) -> dict[str, Owned]:
        """Every entry below base_dn that holds this export's mark, by uuid."""
        writer = self._writer()
        url, base = writer.endpoint.url, self.config.base_dn
        owned: dict[str, Owned] = {}
        mark = self.map.mark_attribute
        cookie: bytes | None = None
        while True:
            try:
                answer = wire.search(
                    writer.conn, base, self.map.mark_filter(), ldap3.SUBTREE, [mark],
                    page_size=self.config.page_size, cookie=cookie,
                )  # fmt: skip
            except (LDAPCommunicationError, wire.Closed, BerError) as exc:
                raise TargetError(f"{url}: searching {base!r}: {exc}") from None
            code = answer.result.get("result")
            if code == NO_SUCH_OBJECT:
                raise TargetError(f"{url}: base_dn {base!r} does not exist")
            if code != SUCCESS:
                raise TargetError(f"{url}: searching {base!r}: {describe(answer.result)}")
            for dn, attributes in answer.entries:
                for name, values in attributes.items():
                    if name.lower() != mark.lower():
                        continue
                    for value in values:
                        if found := self.map.read_mark(value.decode("utf-8", "replace")):
                            # two entries of one contact (an admin's copy): the first counts
                            owned.setdefault(found[0], Owned(dn, found[1]))
            if not answer.cookie:
                return owned
            cookie = answer.cookie

    # --- one contact ----------------------------------------------------------------------

    def _add(self, entry: StoredEntry, written: Written) -> None:
        """Add the contact under the first of its names that no entry holds."""
        writer = self._writer()
        for name in self.map.names(entry.uuid, written.name):
            dn = f"{rdn(name)},{self.config.base_dn}"
            attributes = {
                "objectClass": list(self.map.preset.classes),
                RDN: [name],
                **written.attributes,
                self.map.mark_attribute: [self.map.mark(entry.uuid, written.digest)],
            }
            result = writer.add(dn, attributes)
            if result["result"] == SUCCESS:
                self.owned[entry.uuid] = Owned(dn, written.digest)
                return
            if result["result"] != ALREADY_EXISTS:
                self._problem(entry, dn, "adding", result)
                return
        self._problem(entry, self.config.base_dn, "adding below", {"result": ALREADY_EXISTS})

    def _update(self, entry: StoredEntry, owned: Owned, written: Written) -> None:
        """Bring the export's entry up to date: its name, then the attributes that differ."""
        if owned.digest == written.digest:
            return
        writer = self._writer()
        current = writer.read(owned.dn, [*self.map.managed, self.map.mark_attribute])
        if current is None:  # deleted by someone: the contact is added again
            del self.owned[entry.uuid]
            self._add(entry, written)
            return
        if not self._still_marked(entry, owned.dn, current):
            return
        dn = self._renamed(entry, owned.dn, written)
        if dn is None:
            return
        changes = {}
        for name in self.map.managed:
            values = written.attributes.get(name, [])
            if sorted(values) != sorted(current.get(name.lower(), [])):
                changes[name] = values
        changes[self.map.mark_attribute] = [self.map.mark(entry.uuid, written.digest)]
        result = writer.modify(dn, changes)
        if result["result"] == SUCCESS:
            self.owned[entry.uuid] = Owned(dn, written.digest)
        else:
            self._problem(entry, dn, "changing", result)

    def _renamed(self, entry: StoredEntry, dn: str, written: Written) -> str | None:
        """The entry's DN after giving it the contact's name (unless it holds one of the
        names the contact may take already); None if that failed."""
        names = self.map.names(entry.uuid, written.name)
        ((kind, value), *_) = parse_dn(dn)[0]
        if kind.lower() == RDN and value in names:
            return dn
        parent = ",".join(to_dn(dn)[1:])
        for name in names:
            result = self._writer().rename(dn, rdn(name))
            if result["result"] == SUCCESS:
                return f"{rdn(name)},{parent}"
            if result["result"] != ALREADY_EXISTS:
                self._problem(entry, dn, "renaming", result)
                return None
        self._problem(entry, dn, "renaming", {"result": ALREADY_EXISTS})
        return None

    def _delete(self, entry: StoredEntry, owned: Owned) -> None:
        writer = self._writer()
        del self.owned[entry.uuid]
        current = writer.read(owned.dn, [self.map.mark_attribute])
        if current is None or not self._still_marked(entry, owned.dn, current):
            return
        result = writer.delete(owned.dn)
        if result["result"] not in (SUCCESS, NO_SUCH_OBJECT):
            self._problem(entry, owned.dn, "deleting", result)

    def _still_marked(self, entry: StoredEntry, dn: str, current: dict[str, list[str]]) -> bool:
        """Whether the entry at ``dn`` still holds this contact's mark; if not (someone
        changed it since the run began), it is left alone and reported."""
        marks = current.get(self.map.mark_attribute.lower(), [])
        if any(self.map.uuid_of(mark) == entry.uuid for mark in marks):
            return True
        self.owned.pop(entry.uuid, None)
        self._refused(entry, f"{dn}: no longer marked as written by this export: left alone")
        return False

    def _problem(self, entry: StoredEntry, dn: str, what: str, result: dict) -> None:
        self._refused(entry, problem_text(entry, dn, what, result))

    def _refused(self, entry: StoredEntry, message: str) -> None:
        log.warning("export %s: %s", self.config.name, message)
        self.problems.append(Problem(message, key=(entry.uuid,)))

    def _writer(self) -> Writer:
        if self.writer is None:
            raise TargetError("written before start")
        return self.writer
