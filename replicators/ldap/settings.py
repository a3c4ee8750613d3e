"""Settings of directory sources: what LDAP servers (``type: ldap``) and LDIF exports
(``type: ldif``) share — flavor preset, key, mapping — and an LDAP server's settings (its
connection keys are ``server.LdapServer``, which the LDAP export target shares).

Kept apart from ``config.py`` (the entry point, which builds the replicator): the reading
modules need the settings, and ``config.py`` needs them, so neither imports the other."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from metadir.core.dn import parse_dn
from metadir.core.schedule import DurationOrZero
from replicators.base import ReplicatorConfig, mapped_fields, one_or_more, with_preset
from replicators.ldap.presets import DN, Flavor, Incremental, Preset, preset
from replicators.ldap.server import LdapServer


class DirectorySettings(ReplicatorConfig):
    """Settings every directory source has: the preset and what the replicator may change."""

    flavor: Flavor = "generic"
    # which entries: users, contacts or all (AD); the preset's first choice by default
    objects: str | None = None
    # the stable key: the first of these attributes an entry has ("dn": its DN)
    key: list[str] | None = None
    # false: only the replicator's own mapping, not the preset's
    preset_mapping: bool = True
    # AD: leave out disabled (userAccountControl) and expired (accountExpires) accounts
    skip_disabled: bool = False

    # the source fields of the replicator's own mapping, before the preset's was merged in
    _own_fields: frozenset[str] = PrivateAttr(default=frozenset())

    _key = field_validator("key", mode="before")(one_or_more)

    @model_validator(mode="after")
    def _preset(self) -> DirectorySettings:
        choices = self.preset.filters
        if self.objects is not None and self.objects not in choices:
            raise ValueError(
                f"objects: flavor {self.flavor} has {', '.join(choices)}, not {self.objects!r}"
            )
        if self.key is not None and not [k for k in self.key if k.strip()]:
            raise ValueError("key: name at least one attribute (or dn)")
        if self.skip_disabled and self.flavor != "ad":
            raise ValueError(
                "skip_disabled: only for flavor ad (it reads userAccountControl and accountExpires)"
            )
        self._own_fields = frozenset(mapped_fields(self.mapping))
        self.mapping = with_preset(self.mapping, self.preset.mapping, self.preset_mapping)
        return self

    @property
    def preset(self) -> Preset:
        return preset(self.flavor)

    @property
    def chosen_objects(self) -> str:
        return self.objects or self.preset.default_objects

    @property
    def key_attributes(self) -> tuple[str, ...]:
        if self.key is None:
            return self.preset.key
        return tuple(k.strip() for k in self.key if k.strip())

    @property
    def own_fields(self) -> frozenset[str]:
        """The source attributes the replicator's own mapping names (not the preset's)."""
        return self._own_fields

    def wanted_attributes(self) -> list[str]:
        """Every source attribute a read needs: the mapping's, the key's, the account state's."""
        wanted = mapped_fields(self.mapping)
        wanted += [k for k in self.key_attributes if k.lower() != DN]
        if self.skip_disabled:
            wanted += ["userAccountControl", "accountExpires"]
        unique: dict[str, str] = {}
        for name in wanted:
            unique.setdefault(name.lower(), name)
        return list(unique.values())


class LdapSettings(DirectorySettings, LdapServer):
    """An LDAP server's settings; ``config.LdapConfig`` adds building the replicator."""

    type: Literal["ldap"]
    base_dn: str
    # the LDAP filter; the preset's (per flavor and objects) when not given
    filter: str | None = None
    page_size: int = Field(default=500, ge=1, le=100_000)
    # how runs after the first read only what changed: the flavor's way (auto), AD's
    # uSNChanged (usn), modifyTimestamp, or never (none: every run reads everything)
    incremental: Literal["auto", "usn", "modify_timestamp", "none"] = "auto"
    # after this long ("12h", "7d", seconds) a run reads everything again, to see deletions
    # an incremental read cannot (and what left the filter); 0: every run
    full_every: DurationOrZero = timedelta(days=1)

    @field_validator("base_dn")
    @classmethod
    def _base_dn(cls, value: str) -> str:
        return check_dn(value)

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        return None if value is None else check_filter(value)

    @model_validator(mode="after")
    def _incremental(self) -> LdapSettings:
        if self.incremental == "usn" and self.flavor != "ad":
            raise ValueError(
                "incremental: usn reads Active Directory's uSNChanged: only for flavor ad "
                "(modify_timestamp for other servers)"
            )
        return self

    @property
    def incremental_method(self) -> Incremental:
        """How runs after the first read: ``auto`` resolved by the flavor."""
        return self.preset.incremental if self.incremental == "auto" else self.incremental

    @property
    def search_filter(self) -> str:
        return self.filter or self.preset.filters[self.chosen_objects]


def check_dn(value: str) -> str:
    """``value`` if it is a DN. Raises ``ValueError``."""
    try:
        parse_dn(value)
    except ValueError as exc:
        raise ValueError(f"not a valid DN: {exc}") from None
    return value


def check_filter(text: str) -> str:
    """``text`` as an LDAP filter (``cn=x`` gets its parentheses). Raises ``ValueError``."""
    value = text.strip()
    if not value:
        raise ValueError("empty filter")
    if not value.startswith("("):
        value = f"({value})"
    depth = 0
    for position, char in enumerate(value, 1):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and position < len(value):
            if value[position] == ")":
                where = f"')' at position {position + 1} closes nothing"
            else:
                where = f"text after the filter at position {position + 1}"
            raise ValueError(f"bad filter {text!r}: {where}")
    if depth:
        raise ValueError(f"bad filter {text!r}: {depth} '(' not closed")
    # ldap3 is imported when an LDAP source is configured, not by every config load
    from replicators.ldap.ldap3_adapter import filter_is_valid

    if not filter_is_valid(value):
        raise ValueError(
            f"bad filter {text!r}: each part must read (attribute=value), (&...), (|...) or (!...)"
        )
    return value
