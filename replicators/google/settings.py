"""Settings of Google sources (``type: google``): how metadir signs in (a service account
with domain-wide delegation, or an OAuth client and a user's refresh token), what it reads
(the Workspace directory, users' contacts, their "other contacts") and the service's
addresses (tests, proxies).

Kept apart from ``config.py`` (the entry point): the reading modules need the settings.
httpx and google-auth are imported when a replicator is built, not with this module."""

from __future__ import annotations

import json
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
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
from replicators.google.people import Kind, unknown_fields
from replicators.http_client import WebSettings

PEOPLE_URL = "https://people.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
# what a refresh token's own account is called in keys and messages
ME = "me"
Source = Literal["profiles", "shared_contacts"]
# the fields of a service account key (JSON) metadir needs
_KEY_FIELDS = ("type", "client_email", "client_id", "private_key", "private_key_id")
DIRECTORY: list[Kind] = ["directory"]
BOTH: list[Source] = ["profiles", "shared_contacts"]


class GoogleSettings(ReplicatorConfig, WebSettings):
    """A Google Workspace domain or a Google account read through the People API;
    ``config.GoogleConfig`` builds the replicator."""

    type: Literal["google"]
    # a service account's key (the JSON file the Cloud console downloads), to act with
    # domain-wide delegation as the users below; also as *_file; never shown
    service_account_key: SecretStr = SecretStr("")
    # or an OAuth client (id and secret) and a refresh token one user granted it: that
    # user's contacts and directory; the secrets also as *_file
    client_id: str = Field(default="", max_length=256)
    client_secret: SecretStr = SecretStr("")
    refresh_token: SecretStr = SecretStr("")
    # what to read: directory (domain profiles and shared contacts of the Workspace
    # directory), contacts (each user's "My contacts"), other_contacts (each user's
    # automatically saved "Other contacts")
    objects: list[Kind] = DIRECTORY
    # directory: profiles (the domain's users) and/or shared_contacts (domain contacts)
    sources: list[Source] = BOTH
    # service account: the users whose contacts (and other contacts) are read, by address
    users: list[str] = Field(default_factory=list)
    # service account: the user it acts as to read the directory (any user of the domain);
    # the first of users when not given
    subject: str | None = Field(default=None, max_length=256)
    # the service's addresses: a test server or a proxy
    people_url: str = PEOPLE_URL
    token_url: str = TOKEN_URL
    # people per page (1 to 1000)
    page_size: int = Field(default=1000, ge=1, le=1000)
    # a run reads everything again when the last whole read is this old; 0: every run.
    # Google's sync tokens last 7 days: a longer gap means a full run anyway
    full_every: DurationOrZero = timedelta(days=7)
    # false: only the replicator's own mapping, not schema/google_presets.yaml's
    preset_mapping: bool = True

    _lists = field_validator("objects", "sources", "users", mode="before")(one_or_more)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)

    @field_validator("people_url", "token_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            path = "/PATH" if info.field_name == "token_url" else ""
            raise ValueError(f"{value!r}: expected https://HOST[:PORT]{path}")
        return value.strip().rstrip("/")

    @field_validator("users")
    @classmethod
    def _users(cls, value: list[str]) -> list[str]:
        users = [user.strip() for user in value]
        bad = [user for user in users if "@" not in user or len(user) > 256]
        if bad:
            raise ValueError(f"{bad[0]!r}: a user's address (name@domain)")
        if len(set(users)) != len(users):
            raise ValueError("each user at most once")
        return users

    @model_validator(mode="after")
    def _check(self) -> GoogleSettings:
        key = self.service_account_key.get_secret_value()
        oauth = (self.client_id, self.client_secret.get_secret_value(),
                 self.refresh_token.get_secret_value())  # fmt: skip
        if bool(key) == any(oauth):
            raise ValueError(
                "give either service_account_key or client_id, client_secret and "
                "refresh_token (or their *_file)"
            )
        if not key and not all(oauth):
            raise ValueError("client_id, client_secret and refresh_token: give all three")
        if key:
            service_account(key)  # raises ValueError naming what is missing
        if not self.objects or len(set(self.objects)) != len(self.objects):
            raise ValueError("objects: name directory, contacts or other_contacts, each once")
        if not self.sources or len(set(self.sources)) != len(self.sources):
            raise ValueError("sources: profiles and/or shared_contacts, each once")
        if key:
            wants_users = any(kind != "directory" for kind in self.objects)
            if wants_users and not self.users:
                raise ValueError("users: whose contacts to read (the service account acts "
                                 "as each of them)")  # fmt: skip
            if not wants_users and self.users:
                raise ValueError("users: only with objects contacts or other_contacts")
            if "directory" in self.objects and self.subject is None and not self.users:
                raise ValueError("subject: the user the service account acts as to read "
                                 "the directory")  # fmt: skip
        elif self.users or self.subject:
            raise ValueError("users and subject: only with service_account_key (a refresh "
                             "token reads its own account)")  # fmt: skip
        self.mapping = with_preset(self.mapping, preset_mapping(), self.preset_mapping)
        unknown = unknown_fields(self.wanted_fields)
        if unknown:
            raise ValueError(
                f"mapping: {unknown[0]!r} is no field of a Google person (see "
                "schema/google_presets.yaml for the names: names.givenName, "
                "phoneNumbers.mobile, organizations.title, ...)"
            )
        return self

    @property
    def acting_as(self) -> str | None:
        """The user a service account acts as to read the directory (None: the refresh
        token's own account)."""
        if not self.service_account_key.get_secret_value():
            return None
        return self.subject or self.users[0]

    def scopes(self) -> list[str]:
        """The OAuth scopes the chosen objects need (what domain-wide delegation or the
        user's consent must grant)."""
        return [scope_of(kind) for kind in self.objects]


def service_account(text: str) -> dict[str, Any]:
    """A service account key's JSON, checked for what metadir needs."""
    try:
        info = json.loads(text)
    except ValueError:
        raise ValueError(
            "service_account_key: not JSON (give the key file the Cloud console made)"
        ) from None
    if not isinstance(info, dict):
        raise ValueError("service_account_key: not a JSON object")
    missing = [name for name in _KEY_FIELDS if not isinstance(info.get(name), str)]
    if missing:
        raise ValueError(f"service_account_key: has no {missing[0]} (is it a service account key?)")
    if info["type"] != "service_account":
        raise ValueError(f"service_account_key: of type {info['type']!r}, not service_account")
    return info


@cache
def presets() -> dict[str, Any]:
    return dict(fields.load_schema_file("google_presets.yaml"))


def preset_mapping() -> dict[str, str]:
    return dict(presets()["mapping"])


def scope_of(kind: str) -> str:
    """The OAuth scope reading ``kind`` needs."""
    return str(presets()["scopes"][kind])
