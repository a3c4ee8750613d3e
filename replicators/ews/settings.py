"""Settings of Exchange on-premises sources (``type: ews``): the EWS endpoint, a service
account (NTLM or Basic over TLS) that impersonates the chosen mailboxes (or has delegate
access to them), and the contact folders of each mailbox to read.

Kept apart from ``config.py`` (the entry point): the reading modules need the settings.
exchangelib is imported when a replicator is built, not with this module."""

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
from replicators.base import ReplicatorConfig, one_or_more, with_preset
from replicators.http_client import WebSettings

# the mailbox's own contact folder: its distinguished name, whatever its display name
DEFAULT_FOLDER = "Contacts"
# SyncFolderItems' MaxChangesReturned: 1 to 512
MAX_PAGE = 512
# an Exchange release (the EWS schema it speaks) or a build number such as 15.1.2507.6
_VERSION = re.compile(
    r"2010|2010_SP1|2010_SP2|2013|2013_SP1|2016|2019|\d{1,2}\.\d{1,2}(\.\d{1,5}){0,2}"
)
_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class Mailbox(BaseModel):
    """A mailbox whose contact folders are read; a plain string is its address."""

    model_config = ConfigDict(extra="forbid")
    # the mailbox's primary SMTP address
    mailbox: str = Field(min_length=3, max_length=256)
    # contact folders by display name; "Contacts" is the mailbox's own (by its
    # distinguished name, so a localised "Kontakte" is found too)
    folders: list[str] = [DEFAULT_FOLDER]

    _folders = field_validator("folders", mode="before")(one_or_more)

    @field_validator("mailbox")
    @classmethod
    def _address(cls, value: str) -> str:
        if not _ADDRESS.fullmatch(value.strip()):
            raise ValueError(f"{value!r}: the mailbox's primary SMTP address (user@example.com)")
        return value.strip()

    @field_validator("folders")
    @classmethod
    def _named(cls, value: list[str]) -> list[str]:
        if not value or not all(name.strip() for name in value):
            raise ValueError("name at least one contact folder")
        return list(dict.fromkeys(name.strip() for name in value))


class EwsSettings(ReplicatorConfig, WebSettings):
    """Contact folders of on-premises Exchange mailboxes, read through Exchange Web Services;
    ``config.EwsConfig`` builds the replicator. (Exchange Online: use ``type: graph``.)"""

    type: Literal["ews"]
    # the EWS endpoint, e.g. https://mail.example.com/EWS/Exchange.asmx
    url: str
    # how the service account signs in: NTLM (Exchange's default) or Basic (over TLS only)
    auth: Literal["ntlm", "basic"] = "ntlm"
    # DOMAIN\user or user@example.com (UPN); the password also as password_file; never shown
    username: str = Field(min_length=1, max_length=256)
    password: SecretStr
    # impersonation (the ApplicationImpersonation role) or delegate (mailbox permissions)
    access: Literal["impersonation", "delegate"] = "impersonation"
    mailboxes: list[Mailbox] = Field(min_length=1)
    # the Exchange release (2013, 2016, 2019, ...) or build; not given: asked once per read
    exchange_version: str | None = None
    # changes per SyncFolderItems request (MaxChangesReturned)
    page_size: int = Field(default=MAX_PAGE, ge=1, le=MAX_PAGE)
    # a run reads everything again when the last whole read is this old; 0: every run
    full_every: DurationOrZero = timedelta(days=7)
    # false: only the replicator's own mapping, not schema/ews_presets.yaml's
    preset_mapping: bool = True

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and isinstance(data.get("mailboxes"), list):
            data = {**data, "mailboxes": [_mailbox(m) for m in data["mailboxes"]]}
        return read_secret_files(cls, data, info)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(
                f"{value!r}: expected the EWS endpoint, https://HOST[:PORT]/EWS/Exchange.asmx"
            )
        return value.strip()

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        value = value.strip()
        if value.count("\\") > 1 or (value.count("\\") == 0 and value.count("@") != 1):
            raise ValueError(f"{value!r}: expected DOMAIN\\user or user@example.com")
        return value

    @field_validator("exchange_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not _VERSION.fullmatch(str(value).strip()):
            raise ValueError(
                f"{value!r}: an Exchange release (2010_SP2, 2013, 2016, 2019) or a build "
                "number such as 15.1.2507.6"
            )
        return None if value is None else str(value).strip()

    @model_validator(mode="after")
    def _check(self) -> EwsSettings:
        if not self.password.get_secret_value():
            raise ValueError("password: required (or password_file)")
        addresses = [m.mailbox.casefold() for m in self.mailboxes]
        if len(set(addresses)) != len(addresses):
            raise ValueError("mailboxes: each mailbox at most once")
        self.mapping = with_preset(self.mapping, preset_mapping(), self.preset_mapping)
        return self


def _mailbox(value: object) -> object:
    return {"mailbox": value} if isinstance(value, str) else value


@cache
def preset_mapping() -> dict[str, str]:
    return dict(fields.load_schema_file("ews_presets.yaml")["mapping"])
