"""Settings of Salesforce sources (``type: salesforce``): the connected app (its consumer
key), how metadir logs in (the JWT bearer flow with the key of the certificate uploaded to
the app, or the username-password flow with the consumer secret, the password and the
security token), what to read (contacts, leads, accounts), and the service's addresses
(production, sandboxes, tests).

Kept apart from ``config.py`` (the entry point): the reading modules need the settings.
httpx and PyJWT are imported when a replicator is built, not with this module."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from metadir.core import fields
from metadir.core.schedule import DurationOrZero
from metadir.core.settings import read_secret_files
from replicators.base import ReplicatorConfig, one_or_more, with_preset
from replicators.http_client import WebSettings
from replicators.salesforce.objects import Kind

LOGIN_URL = "https://login.salesforce.com"
API_VERSION = "62.0"
CONTACTS: list[Kind] = ["contacts"]
_VERSION = re.compile(r"[1-9][0-9]\.0")
# a Salesforce username has the form of a mail address
_USERNAME = re.compile(r"[^@\s]+@[^@\s]+")


class SalesforceSettings(ReplicatorConfig, WebSettings):
    """A Salesforce org read through its REST API; ``config.SalesforceConfig`` builds the
    replicator."""

    type: Literal["salesforce"]
    # the connected app's consumer key, and the user metadir reads as
    client_id: str = Field(min_length=1, max_length=256)
    username: str = Field(max_length=256)
    # JWT bearer flow: the private key (PEM) of the certificate uploaded to the app
    private_key: SecretStr = SecretStr("")
    private_key_passphrase: SecretStr = SecretStr("")
    # username-password flow: the consumer secret, the user's password and security token
    client_secret: SecretStr = SecretStr("")
    password: SecretStr = SecretStr("")
    security_token: SecretStr = SecretStr("")
    # what to read: contacts, leads (not the converted ones) and accounts
    objects: list[Kind] = CONTACTS
    # https://test.salesforce.com for sandboxes, or the org's My Domain login address; the
    # instance's address comes with the token
    login_url: str = LOGIN_URL
    # the JWT bearer flow's audience (aud): login_url unless given; with a My Domain
    # login_url, https://login.salesforce.com (or https://test.salesforce.com for sandboxes)
    audience: str | None = None
    api_version: str = API_VERSION
    # records per page (Sforce-Query-Options: batchSize); the service's 2000 when not given
    page_size: int | None = Field(default=None, ge=200, le=2000)
    # an incremental run reads again what changed this long before the last run began: a
    # record saved while the last run read carries a SystemModstamp from before it
    overlap: DurationOrZero = timedelta(minutes=5)
    # a run reads everything again when the last whole read is this old; 0: every run
    full_every: DurationOrZero = timedelta(days=7)
    # false: only the replicator's own mapping, not schema/salesforce_presets.yaml's
    preset_mapping: bool = True

    _objects = field_validator("objects", mode="before")(one_or_more)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not _USERNAME.fullmatch(value.strip()):
            raise ValueError("the Salesforce username, in the form of a mail address")
        return value.strip()

    @field_validator("login_url", "audience")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"{value!r}: expected https://HOST[:PORT]")
        return value.strip().rstrip("/")

    @field_validator("api_version", mode="before")
    @classmethod
    def _version(cls, value: object) -> object:
        text = f"{value:.1f}" if isinstance(value, float) else str(value).strip().lstrip("vV")
        if not _VERSION.fullmatch(text):
            raise ValueError(f"{value!r}: a REST API version such as {API_VERSION!r}")
        return text

    @model_validator(mode="after")
    def _check(self) -> SalesforceSettings:
        key = bool(self.private_key.get_secret_value())
        given = [n for n in ("client_secret", "password", "security_token")
                 if getattr(self, n).get_secret_value()]  # fmt: skip
        if key == bool(given):
            raise ValueError(
                "give either private_key (JWT bearer flow) or client_secret and password "
                "(username-password flow), or their *_file"
            )
        if given and not {"client_secret", "password"} <= set(given):
            raise ValueError("the username-password flow needs client_secret and password")
        if not self.objects:
            raise ValueError("objects: name contacts, leads or accounts")
        if len(set(self.objects)) != len(self.objects):
            raise ValueError("objects: each at most once")
        self.mapping = with_preset(self.mapping, preset_mapping(), self.preset_mapping)
        return self

    @property
    def jwt(self) -> bool:
        """Whether metadir logs in with the JWT bearer flow (else username-password)."""
        return bool(self.private_key.get_secret_value())


@cache
def preset_mapping() -> dict[str, str]:
    return dict(fields.load_schema_file("salesforce_presets.yaml")["mapping"])


@cache
def permissions() -> dict[str, str]:
    """What the user needs granted to read each kind of object."""
    return dict(fields.load_schema_file("salesforce_presets.yaml")["permissions"])
