"""Access tokens for the People API, made by google-auth: a service account's signed JWT
(with ``sub``, the user it acts as: domain-wide delegation) or a user's refresh token,
each exchanged at ``token_url``. google-auth sends its requests through ``HttpxRequest``,
an adapter onto the source's own httpx client, so the source's TLS settings, timeout and
user agent apply and no ``requests`` is needed.

Failures become one line naming what to grant or fix; no key, secret or token is ever
part of a message or a log line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.auth import exceptions, transport

from metadir.core.errors import SourceError
from replicators.google.settings import GoogleSettings, service_account

if TYPE_CHECKING:
    import httpx
    from google.auth.credentials import Credentials

# where domain-wide delegation is granted
ADMIN_CONSOLE = (
    "Admin console: Security > Access and data control > API controls > Domain-wide delegation"
)


class HttpxResponse(transport.Response):
    """An httpx answer as google-auth reads one."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxRequest(transport.Request):
    """google-auth's transport (``google.auth.transport.Request``) on an httpx client."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        import httpx

        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        try:
            response = self.client.request(
                method, url, content=body, headers=dict(headers or {}), **extra
            )
            response.read()
        except httpx.HTTPError as exc:
            # google-auth expects its own error type; the cause stays for the message
            raise exceptions.TransportError(f"{type(exc).__name__}: {exc}") from exc
        return HttpxResponse(response)


class Tokens:
    """Access tokens of one account (a service account acting as ``subject``, or the
    refresh token's user): the ``token`` callback of ``HttpClient``, called with
    ``refresh`` after the service refused the last one."""

    def __init__(self, config: GoogleSettings, client: httpx.Client, subject: str | None) -> None:
        self.config, self.subject = config, subject
        self.request = HttpxRequest(client)
        self.credentials = credentials(config, subject)
        # tokens made (the benchmark reports them)
        self.made = 0

    def __call__(self, refresh: bool) -> str:
        if refresh or not self.credentials.valid:
            try:
                self.credentials.refresh(self.request)
            except exceptions.RefreshError as exc:
                raise SourceError(refused(self.config, self.subject, exc)) from None
            except exceptions.TransportError as exc:
                raise SourceError(
                    f"Google OAuth: {self.config.token_url}: {_first_line(exc)}"
                ) from None
            self.made += 1
        token = self.credentials.token
        if not isinstance(token, str) or not token:
            raise SourceError(f"Google OAuth: {self.config.token_url} gave no access token")
        return token


def credentials(config: GoogleSettings, subject: str | None) -> Credentials:
    """google-auth's credentials for ``config``: a service account's acting as
    ``subject``, or the refresh token's."""
    key = config.service_account_key.get_secret_value()
    if key:
        from google.oauth2 import service_account as accounts

        info = {**service_account(key), "token_uri": config.token_url}
        try:
            made = accounts.Credentials.from_service_account_info(
                info, scopes=config.scopes(), subject=subject
            )
        except ValueError as exc:
            # the private key does not parse: name the setting, not the key
            raise SourceError(
                f"Google: service_account_key: cannot read its private key ({_first_line(exc)})"
            ) from None
        return made
    from google.oauth2 import credentials as users

    return users.Credentials(
        token=None,
        refresh_token=config.refresh_token.get_secret_value(),
        client_id=config.client_id,
        client_secret=config.client_secret.get_secret_value(),
        token_uri=config.token_url,
        scopes=config.scopes(),
    )


def refused(config: GoogleSettings, subject: str | None, exc: exceptions.RefreshError) -> str:
    """One line for a token request Google refused: its error and what to grant or fix."""
    body = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    error = str(body.get("error") or "")
    description = _first_line(body.get("error_description") or "")
    said = f"{error}: {description}" if description else error or _first_line(exc)
    key = config.service_account_key.get_secret_value()
    if key:
        info = service_account(key)
        who = f"service account {info['client_email']} acting as {subject}"
        if error == "unauthorized_client":
            hint = (f"domain-wide delegation is not granted: in the {ADMIN_CONSOLE}, "
                    f"authorise client ID {info['client_id']} for the scopes "
                    f"{','.join(config.scopes())}")  # fmt: skip
        elif error == "invalid_grant" and "signature" in description.lower():
            hint = (f"the key {info['private_key_id']} is no (longer a) key of the service "
                    "account: make a new key and set service_account_key")  # fmt: skip
        elif error == "invalid_grant" and ("email" in description.lower()
                                           or "user" in description.lower()):  # fmt: skip
            hint = f"{subject} is no user of the Workspace domain: check users and subject"
        elif error == "invalid_grant":
            hint = "check the key, and that the machine's clock is right"
        else:
            hint = "check service_account_key"
        return f"Google refused the {who} ({said}): {hint}"
    if error == "invalid_scope":
        hint = (
            f"the refresh token was not granted the scopes {','.join(config.scopes())}: "
            "make a new one granting them and set refresh_token"
        )
    elif error == "invalid_grant":
        hint = ("the refresh token was revoked or has expired: make a new one and set "
                "refresh_token")  # fmt: skip
    elif error in ("invalid_client", "unauthorized_client", "deleted_client"):
        hint = "check client_id and client_secret (the OAuth client the refresh token is for)"
    else:
        hint = "check client_id, client_secret and refresh_token"
    return f"Google refused the refresh token for client {config.client_id} ({said}): {hint}"


def _first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0].strip() if lines else ""
