"""A served directory's settings, and the root every directory lies below."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, IPvAnyNetwork, field_validator

from metadir.core import fields
from metadir.core.dn import normalize_rdns
from metadir.core.phone import Location, PhoneFormat
from metadir.core.schedule import Schedule
from metadir.core.settings import MAX_DN, MAX_NAME, Strict, check_dn, check_name

ROOT_DN: str = fields.load_schema_file("ldap.yaml")["root"]["dn"]


class DirectorySettings(Strict):
    """A directory as it is served: its name and place, how numbers are read and shown,
    who may read it."""

    name: str = Field(max_length=MAX_NAME)
    # where the directory is served; ou=<name>,dc=meta unless given
    base_dn: str | None = Field(default=None, max_length=MAX_DN)
    # how search input is read, and the default for the directory's replicators
    location: Location | None = None
    # how numbers are served: e164, readable, national or as the source wrote them
    phone_format: PhoneFormat = "e164"
    # whether anonymous clients may read it; server.allow_anonymous when not given
    anonymous: bool | None = None
    # the client addresses (networks) that may read it; any when not given
    allow_from: list[IPvAnyNetwork] | None = None
    # when its replicators run, unless one has a schedule of its own
    schedule: Schedule | None = None

    _name = field_validator("name")(check_name)

    @field_validator("allow_from", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        # a bare address means that host; "10.0.0.0/8" a network
        return [value] if isinstance(value, str) else value

    @field_validator("base_dn")
    @classmethod
    def _base_dn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        rdns = check_dn(value)
        if len(rdns) != 2 or normalize_rdns(rdns[1:]) != ROOT_DN:
            if joined := _run_together(rdns):
                # "ou=phones dc=meta" parses as one RDN whose value holds "dc=meta"
                raise ValueError(f"not a valid DN: {value!r}: a ',' is missing before {joined!r}")
            raise ValueError(
                f"{value!r} must lie directly below {ROOT_DN}, e.g. ou=phones,{ROOT_DN}"
            )
        return value

    @property
    def dn(self) -> str:
        return self.base_dn or f"ou={self.name},{ROOT_DN}"


# "<type>=" inside a value, after a space: two RDNs written without a separator
_TYPE_IN_VALUE = re.compile(r"\s([A-Za-z][A-Za-z0-9-]*\s*=.*)")


def _run_together(rdns: tuple) -> str | None:
    """The part of a value of ``rdns`` that looks like an RDN of its own, if one does."""
    for rdn in rdns:
        for _, attr_value in rdn:
            if m := _TYPE_IN_VALUE.search(attr_value):
                return m.group(1)
    return None
