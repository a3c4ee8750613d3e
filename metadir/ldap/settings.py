"""The LDAP server's settings: listeners, TLS, accounts, limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from metadir.core.settings import (
    MAX_DN,
    Name,
    SecretFiles,
    Strict,
    check_dn,
    relative_to_config,
    split_listener,
)
from metadir.ldap.passwords import is_hash


class Account(SecretFiles):
    dn: str = Field(max_length=MAX_DN)
    # a password hash from `metadir hash-password` (argon2 or {SSHA}), never the password
    password: SecretStr
    # the directories this account may read; all when omitted
    directories: list[Name] | None = None

    @field_validator("dn")
    @classmethod
    def _dn(cls, value: str) -> str:
        check_dn(value)
        return value

    @field_validator("password")
    @classmethod
    def _hash(cls, value: SecretStr) -> SecretStr:

        if not is_hash(value.get_secret_value()):
            raise ValueError("expected a password hash from `metadir hash-password`")
        return value


class Listener(BaseModel):
    """One address the LDAP server listens on, e.g. ``ldap://0.0.0.0:712``."""

    model_config = ConfigDict(frozen=True)
    url: str
    host: str
    port: int
    # ldaps://: TLS from the first byte (ldap:// may still switch to TLS with StartTLS)
    ldaps: bool = False


def parse_listener(value: str) -> Listener:
    scheme, host, port = split_listener(
        value,
        {"ldap": 712, "ldaps": 714},
        "only ldap://HOST:PORT listeners are supported, and ldaps://HOST:PORT with server.tls",
    )
    return Listener(url=value, host=host, port=port, ldaps=scheme == "ldaps")


def listener_problems(listeners: list[Listener], tls: TlsConfig | None) -> list[str]:
    """What is wrong with listeners given the TLS settings: ldaps:// needs a certificate."""
    return [
        f"{listener.url!r}: ldaps:// needs server.tls (certificate and private_key)"
        for listener in listeners
        if listener.ldaps and tls is None
    ]


class TlsConfig(Strict):
    # PEM files, relative to the config file; the certificate file may go on with its chain
    certificate: Path
    private_key: Path

    _relative_to_config = field_validator("certificate", "private_key")(relative_to_config)


class Limits(Strict):
    """Per-connection and server limits; the defaults suit a PBX or a few thousand phones."""

    # a larger request gets a notice of disconnection, without being read
    max_request_bytes: int = Field(default=1 << 20, ge=1024)
    # seconds a connection may stay silent before it is closed; 0 = forever
    idle_timeout: float = Field(default=300, ge=0)
    # connections open at once; more are closed as they come
    max_connections: int = Field(default=1000, ge=1)
    # requests one connection may have in progress (binds wait for their hash check)
    max_outstanding: int = Field(default=10, ge=1)
    # after repeated failed binds from one address, answers wait up to this many seconds
    bind_failure_delay: float = Field(default=8, ge=0)
    # elements (and, or, not, each assertion) one search filter may have: a phone sends a
    # dozen; an OR of 30,000 numbers would hold every other client up for seconds
    max_filter_elements: int = Field(default=1000, ge=1)
    # seconds a request may take to arrive once its first byte came; 0 = no limit (a
    # client dribbling a byte now and then is never idle, yet holds its buffer open)
    request_timeout: float = Field(default=30, ge=0)


class ServerConfig(Strict):
    listen: list[Listener] = Field(default_factory=lambda: [parse_listener("ldap://0.0.0.0:712")])
    allow_anonymous: bool = True
    accounts: list[Account] = Field(default_factory=list)
    # most entries one search returns, whatever the client asks; 0 = no server limit
    size_limit: int = Field(default=1000, ge=0)
    # seconds between looks at the store for committed syncs
    refresh_interval: float = Field(default=1.0, gt=0, le=60)
    # certificate and key for ldaps:// listeners and StartTLS
    tls: TlsConfig | None = None
    # refuse simple binds and searches (but of the root DSE) until the connection is TLS
    require_tls: bool = False
    limits: Limits = Limits()
    # one log line per operation (logger metadir.access)
    access_log: bool = True

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("expected a list of ldap://HOST:PORT or ldaps://HOST:PORT URLs")
        return [v if isinstance(v, Listener) else parse_listener(str(v)) for v in value]


def tls_problems(server: ServerConfig) -> list[str]:
    problems = [f"server.listen: {p}" for p in listener_problems(server.listen, server.tls)]
    if server.tls is None:
        if server.require_tls:
            problems.append("server.require_tls: needs server.tls (certificate and private_key)")
        return problems
    # here, not at the top: Twisted and OpenSSL load only for a config that has server.tls,
    # not for every command that reads a config
    from metadir.ldap.tls import TlsFileError, load_options

    try:
        load_options(server.tls.certificate, server.tls.private_key)
    except TlsFileError as exc:
        problems.append(f"server.tls.{exc.key}: {exc}")
    return problems
