"""Settings of Dynamics 365 / Dataverse sources (``type: dynamics``): the environment, the
app registration in Entra ID that reads it (tenant, client id, a client secret or a
certificate and its private key: ``replicators.entra``), what to read (contacts,
accounts), whether inactive rows count, and the services' addresses (other clouds, tests).

Kept apart from ``config.py`` (the entry point): the reading modules need the settings.
httpx and msal are imported when a replicator is built, not with this module."""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from metadir.core import fields
from metadir.core.schedule import DurationOrZero
from metadir.core.settings import read_secret_files
from replicators.base import ReplicatorConfig, one_or_more, with_preset
from replicators.dynamics.objects import Kind
from replicators.entra import EntraApp, https_base
from replicators.http_client import WebSettings

BOTH: list[Kind] = ["contacts", "accounts"]
# how long Dataverse keeps a table's changes by default (ExpireChangeTrackingInDays)
TRACKING_KEPT = timedelta(days=30)
_API_VERSION = re.compile(r"9\.[0-9]")


class DynamicsSettings(ReplicatorConfig, WebSettings, EntraApp):
    """A Dataverse environment (Dynamics 365 Sales, Customer Service, Power Apps) read
    through its Web API; ``config.DynamicsConfig`` builds the replicator."""

    type: Literal["dynamics"]
    # the environment's address, e.g. https://contoso.crm4.dynamics.com; the Web API is
    # {environment_url}/api/data/v{api_version}, the token's scope {environment_url}/.default
    environment_url: str
    api_version: str = "9.2"
    # what to read: contacts and accounts (companies: their main numbers)
    objects: list[Kind] = Field(default_factory=lambda: list(BOTH))
    # rows per page (Prefer: odata.maxpagesize); the service's 5000 when not given
    page_size: int | None = Field(default=None, ge=1, le=5000)
    # leave out inactive rows (statecode 1): deactivating a contact removes its entry
    active_only: bool = True
    # a run reads everything again when the last whole read is this old; 0: every run
    full_every: DurationOrZero = timedelta(days=7)
    # false: only the replicator's own mapping, not schema/dynamics_presets.yaml's
    preset_mapping: bool = True

    _objects = field_validator("objects", mode="before")(one_or_more)

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)

    @field_validator("environment_url")
    @classmethod
    def _environment(cls, value: str) -> str:
        url = https_base(value)
        if urlsplit(url).path not in ("", "/"):
            raise ValueError(
                f"{value!r}: the environment's address alone, e.g. https://contoso.crm4.dynamics.com"
            )
        return url

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _API_VERSION.fullmatch(value.strip().removeprefix("v")):
            raise ValueError("a Web API version such as 9.2")
        return value.strip().removeprefix("v")

    @field_validator("full_every")
    @classmethod
    def _within_tracking(cls, value: timedelta) -> timedelta:
        # Dataverse keeps changes 30 days (ExpireChangeTrackingInDays); an older token may
        # be answered with every row and no deletions rather than refused
        if value > TRACKING_KEPT:
            raise ValueError("at most 30d: Dataverse keeps changes for 30 days")
        return value

    @model_validator(mode="after")
    def _check(self) -> DynamicsSettings:
        if not self.objects:
            raise ValueError("objects: name contacts or accounts")
        if len(set(self.objects)) != len(self.objects):
            raise ValueError("objects: each at most once")
        self.mapping = with_preset(self.mapping, preset_mapping(), self.preset_mapping)
        return self

    @property
    def api_url(self) -> str:
        return f"{self.environment_url}/api/data/v{self.api_version}"


@cache
def preset_mapping() -> dict[str, str]:
    return dict(fields.load_schema_file("dynamics_presets.yaml")["mapping"])


@cache
def privileges() -> dict[str, str]:
    """The privilege reading each kind of object needs (prvReadContact, prvReadAccount)."""
    return dict(fields.load_schema_file("dynamics_presets.yaml")["privileges"])
