"""Settings of Microsoft 365 sources (``type: graph``): the app registration (tenant,
client id, a client secret or a certificate and its private key), what to read (users,
organisational contacts, contact folders of mailboxes), an optional group whose members
alone are read, and the service's addresses (national clouds, tests).

Kept apart from ``config.py`` (the entry point): the reading modules need the settings.
httpx and msal are imported when a replicator is built, not with this module."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from metadir.core import fields
from metadir.core.schedule import DurationOrZero
from metadir.core.settings import read_secret_files
from replicators.base import ReplicatorConfig, mapped_fields, one_or_more
from replicators.graph.objects import Kind
from replicators.http_client import WebSettings

GRAPH_URL = "https://graph.microsoft.com"
LOGIN_URL = "https://login.microsoftonline.com"
# a tenant: its id (a GUID) or one of its domain names
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# the Outlook name of a mailbox's own contact folder
DEFAULT_FOLDER = "Contacts"
# the renditions Graph keeps of a user's photo, and the photo as uploaded
PHOTO_SIZES = ("48x48", "64x64", "96x96", "120x120", "240x240", "360x360", "432x432",
               "504x504", "648x648")  # fmt: skip
ORIGINAL = "original"
USERS: list[Kind] = ["users"]


class Mailbox(BaseModel):
    """A mailbox whose contact folders are read; a plain string is its address."""

    model_config = ConfigDict(extra="forbid")
    # the user's principal name, mail address or id
    mailbox: str = Field(min_length=1, max_length=256)
    # contact folders by name (as Outlook shows them); "Contacts" is the mailbox's own
    folders: list[str] = [DEFAULT_FOLDER]

    _folders = field_validator("folders", mode="before")(one_or_more)

    @field_validator("folders")
    @classmethod
    def _named(cls, value: list[str]) -> list[str]:
        if not value or not all(name.strip() for name in value):
            raise ValueError("name at least one contact folder")
        return [name.strip() for name in value]


class GraphSettings(ReplicatorConfig, WebSettings):
    """A Microsoft 365 tenant read through Microsoft Graph; ``config.GraphConfig`` builds
    the replicator."""

    type: Literal["graph"]
    # the directory (tenant) id or a domain of it, and the app registration's client id
    tenant_id: str
    client_id: str
    # the app's client secret, or a certificate (PEM) registered with the app and its
    # private key (PEM); each also as *_file (relative to the config file); never shown
    client_secret: SecretStr = SecretStr("")
    certificate: SecretStr = SecretStr("")
    private_key: SecretStr = SecretStr("")
    private_key_passphrase: SecretStr = SecretStr("")
    # what to read: users (Entra ID accounts), contacts (organisational contacts of the
    # address list) and mailbox_contacts (contact folders of the mailboxes below)
    objects: list[Kind] = USERS
    mailboxes: list[Mailbox] = Field(default_factory=list)
    # users: only the members of this group (its id or display name), nested ones too
    group: str | None = Field(default=None, max_length=256)
    # users: leave out disabled accounts (accountEnabled false)
    skip_disabled: bool = True
    # the service's addresses: other clouds (US Government, China) or a test server
    graph_url: str = GRAPH_URL
    login_url: str = LOGIN_URL
    # objects per page (Prefer: odata.maxpagesize); the service's own size when not given
    page_size: int | None = Field(default=None, ge=1, le=999)
    # a run reads everything again when the last whole read is this old; 0: every run
    full_every: DurationOrZero = timedelta(days=7)
    # with the field photo mapped (jpegPhoto: photo): the rendition of users' photos read,
    # 48x48 to 648x648, or "original" (as uploaded; mailbox contacts have only that one)
    photo_size: str = "96x96"
    # false: only the replicator's own mapping, not schema/graph_presets.yaml's
    preset_mapping: bool = True

    _objects = field_validator("objects", mode="before")(one_or_more)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("mailboxes"), list):
            data = {**data, "mailboxes": [_mailbox(m) for m in data["mailboxes"]]}
        return read_secret_files(cls, data, info)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not _TENANT.fullmatch(value.strip()):
            raise ValueError("the tenant's id (a GUID) or one of its domains")
        return value.strip()

    @field_validator("client_id")
    @classmethod
    def _client(cls, value: str) -> str:
        if not GUID.fullmatch(value.strip()):
            raise ValueError("the application (client) id of the app registration: a GUID")
        return value.strip()

    @field_validator("graph_url", "login_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{value!r}: expected https://HOST[:PORT]")
        return value.strip().rstrip("/")

    @field_validator("photo_size")
    @classmethod
    def _photo_size(cls, value: str) -> str:
        if value not in (*PHOTO_SIZES, ORIGINAL):
            raise ValueError(f"one of {', '.join(PHOTO_SIZES)} or {ORIGINAL}")
        return value

    @model_validator(mode="after")
    def _check(self) -> GraphSettings:
        given = (self.client_secret, self.certificate, self.private_key)
        secret, cert, key = (bool(s.get_secret_value()) for s in given)
        if secret == (cert or key):
            raise ValueError(
                "give either client_secret or certificate and private_key (or their *_file)"
            )
        if cert != key:
            raise ValueError("certificate and private_key: give both")
        if not self.objects:
            raise ValueError("objects: name users, contacts or mailbox_contacts")
        if len(set(self.objects)) != len(self.objects):
            raise ValueError("objects: each at most once")
        if ("mailbox_contacts" in self.objects) != bool(self.mailboxes):
            raise ValueError("mailboxes: give them with objects mailbox_contacts, and only then")
        if self.group is not None and "users" not in self.objects:
            raise ValueError("group: chooses users: only with objects users")
        if self.preset_mapping:
            own = {f.name for f in map(fields.lookup, self.mapping) if f is not None}
            merged = {k: v for k, v in preset_mapping().items() if k not in own}
            self.mapping = {**merged, **self.mapping}
        elif not self.mapping:
            raise ValueError("mapping: required when preset_mapping is false")
        return self

    @property
    def wanted_fields(self) -> list[str]:
        """The source fields the mapping reads."""
        return list(dict.fromkeys(mapped_fields(self.mapping)))


def _mailbox(value: object) -> object:
    return {"mailbox": value} if isinstance(value, str) else value


@cache
def preset_mapping() -> dict[str, str]:
    return dict(fields.load_schema_file("graph_presets.yaml")["mapping"])


@cache
def permissions() -> dict[str, str]:
    """What each kind of object (and ``group``) needs granted."""
    return dict(fields.load_schema_file("graph_presets.yaml")["permissions"])
