"""Access tokens for Microsoft Graph: the OAuth 2 client-credentials grant of Entra ID
through msal, with the app's client secret or a client assertion signed by its
certificate's key. msal sends its requests through the source's own httpx client (TLS
settings, timeout, user agent) and talks to ``login_url`` as given: no instance discovery,
so national clouds and test servers need no other setting.

Failures become one line naming what to check; no secret, key or token is ever part of a
message or a log line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metadir.core.errors import SourceError
from replicators.graph.settings import GraphSettings

if TYPE_CHECKING:
    import httpx

# AADSTS codes (Entra ID's error_description) -> what to check
_HINTS = {
    "AADSTS7000215": "the client secret is wrong: check client_secret",
    "AADSTS7000222": "the client secret has expired: make a new one",
    "AADSTS700016": "no such application in the tenant: check client_id and tenant_id",
    "AADSTS90002": "no such tenant: check tenant_id",
    "AADSTS700027": "the certificate is not registered with the app or the key does not fit it",
    "AADSTS7000274": "the client assertion is not valid: check certificate and private_key",
}


class Credentials:
    """Tokens for one read; called with ``refresh`` after the service refused the last one."""

    def __init__(self, config: GraphSettings, client: httpx.Client) -> None:
        import httpx
        import msal

        self.login_url = config.login_url
        self.scopes = [f"{config.graph_url}/.default"]
        credential: Any
        if config.client_secret.get_secret_value():
            credential = config.client_secret.get_secret_value()
        else:
            credential = {
                "private_key": config.private_key.get_secret_value(),
                "public_certificate": config.certificate.get_secret_value(),
            }
            if passphrase := config.private_key_passphrase.get_secret_value():
                credential["passphrase"] = passphrase
        self.cache = msal.TokenCache()
        try:
            self.app = msal.ConfidentialClientApplication(
                config.client_id,
                client_credential=credential,
                authority=f"{config.login_url}/{config.tenant_id}",
                http_client=_FormText(client),
                instance_discovery=False,
                token_cache=self.cache,
            )
        except ValueError as exc:
            # msal's own words: a tenant the service does not know, a key it cannot read
            raise SourceError(f"Entra ID: {_first_line(exc)}") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"Entra ID: {config.login_url}: {exc}") from None

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
