"""The web front end's settings (``http:``): listeners, TLS, admin accounts, limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from metadir.core.schedule import Duration
from metadir.core.settings import Name, SecretFiles, Strict, check_name, split_listener
from metadir.ldap.passwords import is_hash
from metadir.ldap.settings import TlsConfig


class HttpListener(BaseModel):
    """One address the web server listens on, e.g. ``http://0.0.0.0:8712``."""

    model_config = ConfigDict(frozen=True)
    url: str
    host: str
    port: int
    https: bool = False


def parse_http_listener(value: str) -> HttpListener:
    scheme, host, port = split_listener(
        value, {"http": 80, "https": 443}, "expected http://HOST:PORT or https://HOST:PORT"
    )
    return HttpListener(url=value, host=host, port=port, https=scheme == "https")


class WebAdmin(SecretFiles):
    """An account that may sign in to the status page (``/admin``)."""

    name: Name
    # a password hash from `metadir hash-password`, never the password
    password: SecretStr

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("password")
    @classmethod
    def _hash(cls, value: SecretStr) -> SecretStr:
        if not is_hash(value.get_secret_value()):
            raise ValueError("expected a password hash from `metadir hash-password`")
        return value


class HttpConfig(Strict):
    listen: list[HttpListener]
    # certificate and key for https:// listeners; server.tls when not given
    tls: TlsConfig | None = None
    # who may sign in to /admin
    admins: list[WebAdmin] = Field(default_factory=list)
    # a signed-in visitor is signed out after this long without a request
    session_timeout: Duration = timedelta(hours=8)
    # contacts a search shows unless it asks for fewer (limit=); and the most it may ask for
    search_limit: int = Field(default=50, ge=1, le=1000)
    max_search_limit: int = Field(default=500, ge=1, le=10_000)
    # the phone book's heading and page title
    title: str = Field(default="Phone book", min_length=1, max_length=80)

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError("expected a list of http://HOST:PORT or https://HOST:PORT URLs")
        return [v if isinstance(v, HttpListener) else parse_http_listener(str(v)) for v in value]


def http_problems(http: HttpConfig, server_tls: TlsConfig | None) -> list[str]:
    """What is wrong with the web settings beyond each key's own checks."""
    problems = []
    if http.tls is None and server_tls is None:
        problems += [
            f"http.listen: {listener.url!r}: https:// needs http.tls or server.tls "
            "(certificate and private_key)"
            for listener in http.listen
            if listener.https
        ]
    if http.search_limit > http.max_search_limit:
        problems.append(
            f"http.search_limit: {http.search_limit} is more than "
            f"http.max_search_limit ({http.max_search_limit})"
        )
    seen: set[str] = set()
    for n, admin in enumerate(http.admins):
        if admin.name in seen:
            problems.append(f"http.admins[{n}].name: {admin.name!r} is given twice")
        seen.add(admin.name)
    if http.tls is not None:
        from metadir.ldap.tls import TlsFileError, load_options  # as tls_problems does

        try:
            load_options(http.tls.certificate, http.tls.private_key)
        except TlsFileError as exc:
            problems.append(f"http.tls.{exc.key}: {exc}")
    return problems
