"""The connection keys an LDAP source (``type: ldap`` replicator) and an LDAP export target
share: where the servers are, how to bind, TLS, timeouts and retries. One model, mixed into
both settings models, so the two read and check these keys alike."""

from __future__ import annotations

from typing import Any
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

from metadir.core.settings import read_secret_files
from replicators.base import one_or_more


class LdapTls(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # PEM file with the CA certificate(s) to trust, relative to the config file;
    # without it the system's trusted CAs are used
    ca_file: str | None = None
    # check the server's certificate and name (only ever turn off for a test setup)
    verify: bool = True
    # ldap:// only: switch to TLS with StartTLS before binding
    start_tls: bool = False


class LdapServer(BaseModel):
    """How to reach and bind to an LDAP server; ``password`` may be ``password_file``."""

    # one or more ldap://HOST[:PORT] or ldaps://HOST[:PORT], tried in this order
    url: list[str]
    # a DN or, for Active Directory, a user principal name (user@example.com); none: anonymous
    bind_dn: str | None = None
    password: SecretStr = SecretStr("")
    tls: LdapTls = LdapTls()
    # seconds to wait for a connection, and for each answer of the server
    connect_timeout: float = Field(default=10, gt=0)
    timeout: int = Field(default=120, ge=1)
    # after a lost connection: reconnect this many times, waiting retry_delay, then twice as
    # long, and so on
    retries: int = Field(default=3, ge=0, le=20)
    retry_delay: float = Field(default=1.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _password_file(cls, data: Any, info: ValidationInfo) -> Any:
        return read_secret_files(cls, data, info)

    @field_validator("url", mode="before")
    @classmethod
    def _urls(cls, value: object) -> object:
        urls = one_or_more(value)
        if urls == []:
            raise ValueError("give at least one ldap:// or ldaps:// URL")
        for url in urls if isinstance(urls, list) else ():
            if isinstance(url, str):
                parse_url(url)  # anything else: pydantic says it is no string
        return urls

    @model_validator(mode="after")
    def _tls_and_bind(self) -> LdapServer:
        if self.tls.start_tls and any(parse_url(u).ssl for u in self.url):
            raise ValueError("tls.start_tls: ldaps:// URLs speak TLS already; use ldap:// URLs")
        if self.bind_dn is not None and not self.bind_dn.strip():
            raise ValueError("bind_dn: empty; leave it out for an anonymous bind")
        secret = self.password.get_secret_value()
        if self.bind_dn and not secret:
            # a simple bind with a DN and no password is an anonymous bind that "succeeds"
            raise ValueError("password: required with bind_dn (or give password_file)")
        if secret and not self.bind_dn:
            raise ValueError("bind_dn: required with a password")
        return self


class Endpoint(BaseModel):
    """One server of ``url``."""

    model_config = ConfigDict(frozen=True)
    url: str
    host: str
    port: int
    ssl: bool


def parse_url(url: str) -> Endpoint:
    """``ldap://HOST[:PORT]`` or ``ldaps://HOST[:PORT]``. Raises ``ValueError``."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        raise ValueError(f"{url!r}: expected ldap://HOST[:PORT] or ldaps://HOST[:PORT]")
    ssl = parts.scheme.lower() == "ldaps"
    try:
        port = parts.port or (636 if ssl else 389)
    except ValueError:
        raise ValueError(f"{url!r}: bad port") from None
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host name")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"{url!r}: give the base DN as base_dn, not in the URL")
    return Endpoint(url=url.strip(), host=parts.hostname, port=port, ssl=ssl)
