"""Access tokens for Salesforce: the OAuth 2 JWT bearer flow (an assertion signed RS256
with the key of the certificate uploaded to the connected app: iss the consumer key, sub
the username, aud the login address) or the username-password flow (consumer key and
secret, the password followed by the security token). The token's answer names the org's
instance (``instance_url``), where the REST API is.

Both are one POST to ``<login_url>/services/oauth2/token`` through the source's own httpx
client (TLS settings, timeout, user agent). Failures become one line naming what to check;
no secret, key, assertion or token is ever part of a message or a log line."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from metadir.core.errors import SourceError
from replicators.salesforce.settings import SalesforceSettings

if TYPE_CHECKING:
    import httpx

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# the longest an assertion is valid: Salesforce takes up to three minutes
ASSERTION_LIFETIME = 180
_PRE_AUTHORIZE = (
    "in the connected app's OAuth policies set Permitted Users to 'Admin approved users "
    "are pre-authorized' and give the user a profile or permission set the app lists"
)
# (error, error_description as Salesforce words it) -> what to check
_HINTS = {
    ("invalid_grant", "authentication failure"):
        "check username, password and security_token (the token Salesforce mails at each "
        "password reset; none from the org's trusted IP ranges)",
    ("invalid_grant", "user hasn't approved this consumer"): _PRE_AUTHORIZE,
    ("invalid_grant", "user is not admin approved to access this app"): _PRE_AUTHORIZE,
    ("invalid_grant", "invalid assertion"):
        "the private key does not fit the certificate uploaded to the connected app "
        "(Use digital signatures)",
    ("invalid_grant", "audience is invalid"):
        "check login_url (or audience): https://login.salesforce.com (production) or "
        "https://test.salesforce.com (sandboxes)",
    ("invalid_grant", "inactive user"): "the user is deactivated",
    ("invalid_grant", "user does not exist"): "check username",
    ("invalid_client_id", "client identifier invalid"):
        "check client_id (the connected app's consumer key)",
    ("invalid_client", "invalid client credentials"):
        "check client_secret (the connected app's consumer secret)",
    ("unsupported_grant_type", "grant type not supported"):
        "the org blocks the username-password flow: use the JWT bearer flow (private_key) "
        "or allow the flow under Setup → OAuth and OpenID Connect Settings",
}  # fmt: skip


class Credentials:
    """Tokens for one read; called with ``refresh`` after the service refused the last one
    (INVALID_SESSION_ID: the session timed out or was revoked)."""

    def __init__(self, config: SalesforceSettings, client: httpx.Client) -> None:
        self.config, self.client = config, client
        self.token_url = f"{config.login_url}/services/oauth2/token"
        self.key = _private_key(config) if config.jwt else None
        self.token = ""
        self.instance_url = ""
        # tokens asked for (the benchmark and the tests count them)
        self.issued = 0

    def __call__(self, refresh: bool) -> str:
        if refresh or not self.token:
            self.login()
        return self.token

    def login(self) -> None:
        """A new token and the instance it is for."""
        import httpx

        try:
            response = self.client.post(self.token_url, data=self._form())
        except httpx.HTTPError as exc:
            raise SourceError(f"Salesforce login: {self.token_url}: {exc}") from None
        self.issued += 1
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            raise SourceError(
                f"Salesforce login: {self.token_url} answered HTTP {response.status_code} "
                "and no JSON object: check login_url"
            )
        token, instance = body.get("access_token"), body.get("instance_url")
        if response.is_success and isinstance(token, str) and token:
            parts = urlsplit(str(instance or ""))
            if parts.scheme != "https" or not parts.hostname:
                raise SourceError(f"Salesforce login: the token came with no instance_url "
                                  f"(https://…), but {instance!r}")  # fmt: skip
            self.token, self.instance_url = token, str(instance).rstrip("/")
            return
        raise SourceError(refused(body, self.config))

    def _form(self) -> dict[str, str]:
        config = self.config
        if self.key is not None:
            return {"grant_type": JWT_BEARER, "assertion": self._assertion()}
        return {
            "grant_type": "password",
            "client_id": config.client_id,
            "client_secret": config.client_secret.get_secret_value(),
            "username": config.username,
            "password": config.password.get_secret_value()
            + config.security_token.get_secret_value(),
        }

    def _assertion(self) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.config.client_id, "sub": self.config.username,
                  "aud": self.config.audience or self.config.login_url,
                  "exp": now + ASSERTION_LIFETIME}  # fmt: skip
        assert self.key is not None
        return jwt.encode(claims, self.key, algorithm="RS256")


def _private_key(config: SalesforceSettings) -> Any:
    """The private key of the JWT bearer flow, read once; a key that cannot be read is
    named, not shown."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    passphrase = config.private_key_passphrase.get_secret_value().encode() or None
    try:
        key = serialization.load_pem_private_key(
            config.private_key.get_secret_value().encode(), password=passphrase
        )
    except (ValueError, TypeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"Salesforce: private_key: cannot read the key ({why})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SourceError("Salesforce: private_key: the JWT bearer flow signs with RSA keys")
    return key


def refused(body: dict[str, Any], config: SalesforceSettings) -> str:
    """One line for a token request Salesforce refused: its error and what to check."""
    error = str(body.get("error") or "no token")
    description = " ".join(str(body.get("error_description") or "").split())
    hint = _HINTS.get((error, description.lower()))
    if hint is None:
        hint = (
            "check client_id, username and the private key"
            if config.jwt
            else "check client_id, client_secret, username, password and security_token"
        )
    flow = "JWT bearer" if config.jwt else "username-password"
    said = f"{error}: {description}" if description else error
    return f"Salesforce refused the login ({flow} flow, {said}): {hint}"
