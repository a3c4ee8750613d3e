"""A fake Entra ID (Azure AD) for the client-credentials grant, as msal uses it: the
tenant's OpenID configuration and its v2.0 token endpoint, taking a client secret or a
client assertion (a JWT signed with the key of a certificate registered with the app,
checked against that certificate's public key and its SHA-256 thumbprint). Tokens carry an
expiry; ``revoke`` makes the service refuse the ones it issued, as when a token runs out
mid-run."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.cloud.https import Request, Response, json_response

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EVERY_PERMISSION = frozenset(
    {"User.Read.All", "OrgContact.Read.All", "Contacts.Read", "GroupMember.Read.All"}
)


@dataclass
class Entra:
    base_url: str
    tenant: str
    client_id: str
    secret: str
    certificates: list[x509.Certificate] = field(default_factory=list)
    # the application permissions the admin consented to
    granted: set[str] = field(default_factory=lambda: set(EVERY_PERMISSION))
    token_lifetime: int = 3600
    tokens: dict[str, float] = field(default_factory=dict)
    issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/{self.tenant}/oauth2/v2.0/token"

    def handle(self, request: Request) -> Response | None:
        """The answer to a request for the login service, or None if it is none."""
        tenant, _, rest = request.path.lstrip("/").partition("/")
        if rest == "v2.0/.well-known/openid-configuration":
            if tenant != self.tenant:
                return _unknown_tenant(tenant)
            issuer = f"{self.base_url}/{tenant}/v2.0"
            return json_response({
                "issuer": issuer,
                "token_endpoint": self.token_endpoint,
                "authorization_endpoint": f"{self.base_url}/{tenant}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{self.base_url}/{tenant}/oauth2/v2.0/devicecode",
                "jwks_uri": f"{self.base_url}/{tenant}/discovery/v2.0/keys",
            })  # fmt: skip
        if rest == "oauth2/v2.0/token" and request.method == "POST":
            return self._token(tenant, request)
        return None

    def _token(self, tenant: str, request: Request) -> Response:
        if tenant != self.tenant:
            return _unknown_tenant(tenant)
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return _error(400, "unsupported_grant_type", "AADSTS70003: grant type not supported")
        if form.get("client_id") != self.client_id:
            return _error(
                400, "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not "
                f"found in the directory '{tenant}'.",
            )  # fmt: skip
        if not form.get("scope", "").endswith("/.default"):
            return _error(400, "invalid_scope", "AADSTS1002012: The provided value for scope")
        if "client_secret" in form:
            if form["client_secret"] != self.secret:
                return _error(
                    401, "invalid_client", "AADSTS7000215: Invalid client secret provided."
                )
        elif form.get("client_assertion_type") == ASSERTION_TYPE:
            problem = self._assertion(form.get("client_assertion", ""))
            if problem:
                return _error(401, "invalid_client", problem)
        else:
            return _error(401, "invalid_client", "AADSTS7000218: no client_assertion or secret")
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
            self.issued += 1
        return json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": token,
            }
        )

    def _assertion(self, assertion: str) -> str:
        """Why the client assertion is refused, or ""."""
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as exc:
            return f"AADSTS7000274: malformed client assertion: {exc}"
        for cert in self.certificates:
            thumbprint = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).rstrip(b"=")
            # base64url, with or without its padding (msal keeps it)
            if str(header.get("x5t#S256", "")).rstrip("=") != thumbprint.decode():
                continue
            try:
                claims = jwt.decode(
                    assertion,
                    cert.public_key(),
                    algorithms=["PS256", "RS256"],
                    audience=self.token_endpoint,
                    issuer=self.client_id,
                )
            except jwt.PyJWTError as exc:
                return f"AADSTS7000274: client assertion not valid: {exc}"
            if claims.get("sub") != self.client_id:
                return "AADSTS7000274: client assertion sub is not the client"
            return ""
        return "AADSTS700027: the certificate with this thumbprint is not registered"

    def valid(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        with self.lock:
            expiry = self.tokens.get(token)
        return expiry is not None and time.monotonic() < expiry

    def revoke(self) -> None:
        """Every token issued so far runs out now."""
        with self.lock:
            self.tokens.clear()


def _error(status: int, error: str, description: str) -> Response:
    return json_response(
        {
            "error": error,
            "error_description": description,
            "error_codes": [int(description[6:].split(":")[0] or 0)],
        },
        status,
    )


def _unknown_tenant(tenant: str) -> Response:
    return _error(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
