"""Settings of Microsoft 365 sources (``type: graph``): the app registration (tenant,
client id, a client secret or a certificate and its private key), what to read (users,
organisational contacts, contact folders of mailboxes), an optional group whose members
alone are read, and the service's addresses (national clouds, tests).

Kept apart from ``config.py`` (the entry point): the reading modules need the settings.
httpx and msal are imported when a replicator is built, not with this module."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from metadir.core import fields
from metadir.core.schedule import DurationOrZero
from metadir.core.settings import read_secret_files
from replicators.base import ReplicatorConfig, one_or_more, with_preset
from replicators.entra import EntraApp, https_base
from replicators.graph.objects import Kind
from replicators.http_client import WebSettings

GRAPH_URL = "https://graph.microsoft.com"
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


class GraphSettings(ReplicatorConfig, WebSettings, EntraApp):
    """A Microsoft 365 tenant read through Microsoft Graph by an app registration
    (``entra.EntraApp``: tenant, client id, secret or certificate and key, each secret also
    as ``*_file``, never shown); ``config.GraphConfig`` builds the replicator."""

    type: Literal["graph"]
    # what to read: users (Entra ID accounts), contacts (organisational contacts of the
    # address list) and mailbox_contacts (contact folders of the mailboxes below)
    objects: list[Kind] = USERS
    mailboxes: list[Mailbox] = Field(default_factory=list)
    # users: only the members of this group (its id or display name), nested ones too
    group: str | None = Field(default=None, max_length=256)
    # users: leave out disabled accounts (accountEnabled false)
    skip_disabled: bool = True
    # the service's address: other clouds (US Government, China) or a test server
    graph_url: str = GRAPH_URL
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

    @field_validator("graph_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return https_base(value)

    @field_validator("photo_size")
    @classmethod
    def _photo_size(cls, value: str) -> str:
        if value not in (*PHOTO_SIZES, ORIGINAL):
            raise ValueError(f"one of {', '.join(PHOTO_SIZES)} or {ORIGINAL}")
        return value

    @model_validator(mode="after")
    def _check(self) -> GraphSettings:
        if not self.objects:
            raise ValueError("objects: name users, contacts or mailbox_contacts")
        if len(set(self.objects)) != len(self.objects):
            raise ValueError("objects: each at most once")
        if ("mailbox_contacts" in self.objects) != bool(self.mailboxes):
            raise ValueError("mailboxes: give them with objects mailbox_contacts, and only then")
        if self.group is not None and "users" not in self.objects:
            raise ValueError("group: chooses users: only with objects users")
        self.mapping = with_preset(self.mapping, preset_mapping(), self.preset_mapping)
        return self


def _mailbox(value: object) -> object:
    return {"mailbox": value} if isinstance(value, str) else value


@cache
def preset_mapping() -> dict[str, str]:
    return dict(fields.load_schema_file("graph_presets.yaml")["mapping"])


@cache
def permissions() -> dict[str, str]:
    """What each kind of object (and ``group``) needs granted."""
    return dict(fields.load_schema_file("graph_presets.yaml")["permissions"])
