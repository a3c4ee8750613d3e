"""The HTTP layer cloud sources share (Microsoft Graph now; Dataverse, Google, Salesforce
later): one httpx client per read with the source's TLS settings, a timeout and the user
agent ``metadir/<version>``; retries with backoff for what passes (a dropped connection,
502/503/504), ``Retry-After`` obeyed on 429 and 503, and a fresh access token once when the
service answers 401. What does not pass becomes an ``HttpStatusError`` (a ``SourceError``)
that names the status and the service's error code, never a header or a secret.

httpx is imported by the sources that read, not with the settings (``WebSettings``), so
reading a config file loads no HTTP library.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator

from metadir.core.errors import SourceError
from replicators.ldap.server import LdapTls

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

USER_AGENT = f"metadir/{version('metadir')}"
# answers that pass: the service is busy or a gateway lost its backend
TRANSIENT = frozenset({429, 502, 503, 504})
# the longest a backoff without Retry-After waits between two tries
MAX_BACKOFF = 60.0
GOOGLE_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


class WebSettings(BaseModel):
    """The connection settings every HTTP source has, mixed into its settings model."""

    # ca_file (PEM, relative to the config file; default: the system's CAs) and verify,
    # as for LDAP sources; start_tls has no meaning here
    tls: LdapTls = LdapTls()
    # seconds to wait for a connection and for each answer
    timeout: float = Field(default=30, gt=0)
    # a request that failed in passing (a dropped connection, 429, 503) is tried again this
    # many times, waiting what the service asks (Retry-After) or retry_delay, then twice as
    # long, and so on
    retries: int = Field(default=5, ge=0, le=20)
    retry_delay: float = Field(default=1.0, ge=0)
    # the longest Retry-After obeyed: a service asking for more fails the run instead
    max_wait: float = Field(default=300, gt=0)

    @field_validator("tls")
    @classmethod
    def _no_start_tls(cls, value: LdapTls) -> LdapTls:
        if value.start_tls:
            raise ValueError("start_tls: only for ldap:// servers; https:// speaks TLS already")
        return value


class HttpStatusError(SourceError):
    """The service answered with an error that retrying does not mend."""

    def __init__(self, what: str, response: httpx.Response) -> None:
        self.status = response.status_code
        self.code, self.detail = error_of(response)
        # the error answer as sent, for what a source reads beyond code and detail
        self.body = response.content
        self.location = response.headers.get("Location")
        said = f"{self.code}: {self.detail}" if self.code else self.detail
        super().__init__(f"{what}: HTTP {self.status}" + (f" ({said})" if said else ""))


class Token(Protocol):
    def __call__(self, refresh: bool) -> str:
        """An access token; with ``refresh`` a new one (the last was refused)."""
        ...


def error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, the line of the message that says what is wrong) of an OData, OAuth, Google
    or Salesforce error body, or ("", "")."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        # Salesforce: [{"errorCode": ..., "message": ...}]; a query error repeats the query
        # and points at the column before its last line says what is wrong
        lines = str(body[0].get("message") or "").strip().splitlines()
        return str(body[0].get("errorCode") or ""), lines[-1].strip() if lines else ""
    if not isinstance(body, dict):
        return "", ""
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        # Google (google.rpc.Status): the ErrorInfo's reason, or the status's name
        code, message = error.get("status"), error.get("message")
        for detail in error.get("details") or ():
            if isinstance(detail, dict) and detail.get("@type") == GOOGLE_ERROR_INFO:
                code = detail.get("reason") or code
    elif isinstance(error, dict):  # OData: {"error": {"code": ..., "message": ...}}
        code, message = error.get("code"), error.get("message")
    else:  # OAuth 2: {"error": "invalid_client", "error_description": ...}
        code, message = error, body.get("error_description")
    first = str(message or "").strip().splitlines()
    return str(code or ""), first[0] if first else ""


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks for (a number or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class HttpClient:
    """GETs JSON for one source, with its retries and tokens. ``what`` names the source in
    messages ("Microsoft Graph"); ``sleep`` waits between tries."""

    def __init__(
        self,
        settings: WebSettings,
        base_dir: Path,
        what: str,
        token: Token | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        import httpx

        self.settings, self.what, self.token, self.sleep = settings, what, token, sleep
        self.client = httpx.Client(
            verify=tls_verify(settings.tls, base_dir),
            timeout=settings.timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )
        # requests sent, tries included (the benchmark reports them)
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def get_json(self, url: str, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        """The JSON object ``url`` answers. Raises ``HttpStatusError`` for an error answer,
        ``SourceError`` when the service cannot be reached or answers no JSON object."""
        response = self.get(url, params, headers)
        try:
            body = json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(
                f"{self.what}: {_path(url)} answered malformed JSON ({exc})"
            ) from None
        if not isinstance(body, dict):
            raise SourceError(f"{self.what}: {_path(url)} answered no JSON object")
        return body

    def get(self, url: str, params: dict[str, str] | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
        """A 2xx answer to GET ``url``, the body read whole; what passes is tried again."""
        import httpx

        tries, refreshed = 0, False
        while True:
            sent = dict(headers or {})
            if self.token is not None:
                sent["Authorization"] = f"Bearer {self.token(refreshed)}"
            self.requests += 1
            try:
                response = self.client.get(url, params=params, headers=sent)
                response.read()
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                tries = self._wait(tries, None, f"{_path(url)}: {problem}")
                continue
            if response.is_success:
                return response
            if response.status_code == 401 and self.token is not None and not refreshed:
                # the token ran out or was revoked: one new token, then the answer stands
                refreshed = True
                continue
            if response.status_code not in TRANSIENT:
                raise HttpStatusError(f"{self.what}: {_path(url)}", response)
            asked = retry_after(response, datetime.now(UTC))
            if asked is not None and asked > self.settings.max_wait:
                raise SourceError(
                    f"{self.what}: {_path(url)}: HTTP {response.status_code} asks to wait "
                    f"{asked:g} s, more than max_wait ({self.settings.max_wait:g} s)"
                )
            tries = self._wait(tries, asked, f"{_path(url)}: HTTP {response.status_code}")

    def _wait(self, tries: int, asked: float | None, problem: str) -> int:
        """Wait before try ``tries + 1``: ``asked`` seconds, or the backoff; raise
        ``SourceError`` naming ``problem`` once the retries are spent."""
        settings = self.settings
        if tries >= settings.retries:
            spent = f" (tried {tries + 1} times)" if tries else ""
            raise SourceError(f"{self.what}: {problem}{spent}")
        delay = asked if asked is not None else min(settings.retry_delay * 2**tries, MAX_BACKOFF)
        log.info("%s: %s: trying again in %g s", self.what, problem, delay)
        self.sleep(delay)
        return tries + 1


def tls_verify(tls: LdapTls, base_dir: Path) -> Any:
    """What httpx's ``verify`` takes for ``tls``: an SSL context trusting ``ca_file``, the
    system's CAs, or False."""
    import ssl

    if not tls.verify:
        return False
    if tls.ca_file is None:
        return True
    path = base_dir / tls.ca_file
    try:
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"tls.ca_file: cannot read {path}: {exc}") from None


def _path(url: str) -> str:
    """``url`` as messages show it: the path, without the query (delta tokens are long)."""
    return urlsplit(url).path or url
