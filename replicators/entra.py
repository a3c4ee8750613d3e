"""Access tokens from Entra ID (Azure AD) for the Microsoft sources (Graph, Dataverse): the
OAuth 2 client-credentials grant through msal, with the app's client secret or a client
assertion signed by its certificate's key. msal sends its requests through the source's
own httpx client (TLS settings, timeout, user agent) and talks to ``login_url`` as given:
no instance discovery, so national clouds and test servers need no other setting.

``EntraApp`` is the settings of an app registration, mixed into a source's settings model.
Failures become one line naming what to check; no secret, key or token is ever part of a
message or a log line. httpx and msal are imported when tokens are asked for, not with
this module."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, field_validator, model_validator

from metadir.core.errors import SourceError

if TYPE_CHECKING:
    import httpx

LOGIN_URL = "https://login.microsoftonline.com"
# a tenant: its id (a GUID) or one of its domain names
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

# AADSTS codes (Entra ID's error_description) -> what to check
_HINTS = {
    "AADSTS7000215": "the client secret is wrong: check client_secret",
    "AADSTS7000222": "the client secret has expired: make a new one",
    "AADSTS700016": "no such application in the tenant: check client_id and tenant_id",
    "AADSTS90002": "no such tenant: check tenant_id",
    "AADSTS700027": "the certificate is not registered with the app or the key does not fit it",
    "AADSTS7000274": "the client assertion is not valid: check certificate and private_key",
    "AADSTS500011": "the resource is not known in the tenant: check the service's address",
}


class App(Protocol):
    """What a token request needs of a source's settings (``EntraApp`` or Graph's own)."""

    @property
    def login_url(self) -> str: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def client_secret(self) -> SecretStr: ...
    @property
    def certificate(self) -> SecretStr: ...
    @property
    def private_key(self) -> SecretStr: ...
    @property
    def private_key_passphrase(self) -> SecretStr: ...


class EntraApp(BaseModel):
    """An app registration in Entra ID, mixed into a source's settings: the tenant, the
    client id and a client secret or a certificate (PEM) registered with the app and its
    private key (PEM); the secrets also as ``*_file`` (the source's settings read those)."""

    # the directory (tenant) id or a domain of it, and the app registration's client id
    tenant_id: str
    client_id: str
    client_secret: SecretStr = SecretStr("")
    certificate: SecretStr = SecretStr("")
    private_key: SecretStr = SecretStr("")
    private_key_passphrase: SecretStr = SecretStr("")
    # Entra ID's address: other clouds (US Government, China) or a test server
    login_url: str = LOGIN_URL

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

    @field_validator("login_url")
    @classmethod
    def _login_url(cls, value: str) -> str:
        return https_base(value)

    @model_validator(mode="after")
    def _one_credential(self) -> EntraApp:
        given = (self.client_secret, self.certificate, self.private_key)
        secret, cert, key = (bool(s.get_secret_value()) for s in given)
        if secret == (cert or key):
            raise ValueError(
                "give either client_secret or certificate and private_key (or their *_file)"
            )
        if cert != key:
            raise ValueError("certificate and private_key: give both")
        return self


def https_base(value: str) -> str:
    """A service's address as a setting gives it: https://HOST[:PORT][/PATH], no query;
    without a trailing slash. Raises ``ValueError`` for anything else."""
    parts = urlsplit(value.strip())
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"{value!r}: expected https://HOST[:PORT]")
    return value.strip().rstrip("/")


class Credentials:
    """Tokens of ``scopes``; called with ``refresh`` after the service refused the last one.
    Kept by a replicator from its check to its read (``use`` the read's client), so that a
    run asks Entra ID once."""

    def __init__(self, app: App, scopes: list[str], client: httpx.Client) -> None:
        import httpx
        import msal

        self.login_url = app.login_url
        self.scopes = scopes
        credential: Any
        if app.client_secret.get_secret_value():
            credential = app.client_secret.get_secret_value()
        else:
            credential = {
                "private_key": app.private_key.get_secret_value(),
                "public_certificate": app.certificate.get_secret_value(),
            }
            if passphrase := app.private_key_passphrase.get_secret_value():
                credential["passphrase"] = passphrase
        self.cache = msal.TokenCache()
        self.http = _FormText(client)
        try:
            self.app = msal.ConfidentialClientApplication(
                app.client_id,
                client_credential=credential,
                authority=f"{app.login_url}/{app.tenant_id}",
                http_client=self.http,
                instance_discovery=False,
                token_cache=self.cache,
            )
        except ValueError as exc:
            # msal's own words: a tenant the service does not know, a key it cannot read
            raise SourceError(f"Entra ID: {_first_line(exc)}") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"Entra ID: {app.login_url}: {exc}") from None

    def use(self, client: httpx.Client) -> None:
        """Ask for tokens over ``client`` (a new read's) from now on, keeping those got."""
        self.http.client = client

    def __call__(self, refresh: bool) -> str:
        import httpx
        import msal

        if refresh:
            # the service refused a token msal still deems valid: forget it
            for token in list(self.cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                self.cache.remove_at(token)
        try:
            result = self.app.acquire_token_for_client(scopes=self.scopes)
        except httpx.HTTPError as exc:
            raise SourceError(f"Entra ID: {self.login_url}: {exc}") from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if isinstance(token, str) and token:
            return token
        raise SourceError(refused(result if isinstance(result, dict) else {}))


class _FormText:
    """httpx's client as msal's ``http_client``: msal hands the client assertion over as
    bytes, which requests sends as text and httpx as ``b'...'``."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, url: str, data: Any = None, **kwargs: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.client.post(url, data=data, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def close(self) -> None:
        """The client is the source's; it closes it."""


def refused(result: dict[str, Any]) -> str:
    """One line for a token request Entra ID refused: its error and what to check."""
    error = str(result.get("error") or "no token")
    description = _first_line(result.get("error_description") or "")
    code = description.split(":", 1)[0]
    hint = _HINTS.get(code) or (
        "check tenant_id, client_id and the client secret or certificate"
        if error in ("invalid_client", "unauthorized_client", "invalid_request")
        else "see the error"
    )
    said = f"{error}: {description}" if description else error
    return f"Entra ID refused the app's credentials ({said}): {hint}"


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""
