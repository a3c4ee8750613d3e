"""Connecting to an LDAP server: failover over the configured URLs, TLS (LDAPS or StartTLS)
with certificate checks, simple bind, timeouts, and reconnecting with backoff.

Every failure becomes one error (``SourceError`` for a source, the target's error for an
export) that says which server, what went wrong and, where it is clear, what to change.
"""

from __future__ import annotations

import logging
import re
import ssl
import time

import ldap3
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPExceptionError,
    LDAPStartTLSError,
)

from metadir.core.errors import MetadirError, SourceError
from replicators.base import Context
from replicators.ldap import ldap3_adapter
from replicators.ldap.server import Endpoint, LdapServer, parse_url

log = logging.getLogger(__name__)

# result codes (RFC 4511) an admin meets, in words
RESULTS = {
    1: "operations error",
    2: "protocol error",
    3: "time limit exceeded",
    4: "size limit exceeded",
    7: "authentication method not supported",
    8: "stronger authentication required",
    10: "referral",
    11: "administrative limit exceeded",
    12: "unavailable critical extension",
    13: "confidentiality required",
    32: "no such object",
    34: "invalid DN syntax",
    48: "inappropriate authentication",
    49: "invalid credentials",
    50: "insufficient access rights",
    51: "busy",
    52: "unavailable",
    53: "unwilling to perform",
    80: "other",
}
# the server is there but cannot serve now: worth another server or a retry
TRANSIENT = {51, 52}
# Active Directory's reason for a failed bind, the "data NNN" of its diagnostic message
_AD_BIND = {
    "525": "no such user",
    "52e": "wrong password",
    "530": "not permitted to log on at this time",
    "531": "not permitted to log on from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "the user must change the password",
    "775": "account locked out",
}
_AD_DATA = re.compile(r"\bdata ([0-9a-f]{3}),", re.IGNORECASE)


class Unreachable(Exception):
    """This server cannot be used now (connection, TLS, busy); another one may do."""


def describe(result: dict) -> str:
    """An LDAP result as ``invalid credentials (49): <the server's message>``."""
    code = result.get("result")
    words = (RESULTS.get(code) if isinstance(code, int) else None) or str(
        result.get("description") or "error"
    )
    message = str(result.get("message") or "").strip().rstrip("\x00")
    ad = _AD_DATA.search(message)
    if ad and ad.group(1).lower() in _AD_BIND:
        message = f"{_AD_BIND[ad.group(1).lower()]} ({message})"
    return f"{words} ({code})" + (f": {message}" if message else "")


def communication_error(exc: Exception) -> str:
    """What a socket or TLS failure of ldap3 means, without its noise."""
    text = str(exc)
    if "doesn't match any name" in text or isinstance(exc, LDAPCertificateError):
        names = text.rsplit(" in ", 1)[-1].strip()
        return f"TLS: the server's certificate is not issued for {names}"
    text = re.sub(r"^(socket (ssl wrapping|connection) error[^:]*|wrap socket error): ", "", text)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"TLS: {text.split('] ', 1)[-1]} (tls.ca_file names the CA to trust)"
    return text or type(exc).__name__


def close(conn: ldap3.Connection) -> None:
    """Unbind; a connection that is broken already is just dropped."""
    try:
        conn.unbind()
    except LDAPException:
        ldap3_adapter.drop(conn)


class Connector:
    """Opens bound connections to the first server of ``url`` that answers: read-only ones
    for a source, writable ones for an export target, whose failures are ``error``s."""

    def __init__(
        self,
        config: LdapServer,
        context: Context,
        name: str,
        *,
        error: type[MetadirError] = SourceError,
        read_only: bool = True,
    ) -> None:
        self.config = config
        self.context = context
        self.name = name
        self.error = error
        self.read_only = read_only
        self.endpoints = [parse_url(url) for url in config.url]
        ca = config.tls.ca_file
        self.ca_file = context.base_dir / ca if ca else None

    def open(self, first: str | None = None) -> tuple[ldap3.Connection, Endpoint]:
        """A bound connection, trying each server in turn (the one with URL ``first`` before
        the others: an incremental read goes back to the server it read from); after a round
        where all failed, wait (retry_delay, doubling) and try again, ``retries`` times."""
        if self.ca_file is not None and not self.ca_file.is_file():
            raise self.error(f"tls.ca_file: cannot read {self.ca_file}")
        if not self.config.tls.verify:
            log.warning("%s: tls.verify is off: the server's certificate is not checked", self.name)
        delay = self.config.retry_delay
        for attempt in range(self.config.retries + 1):
            failures: list[str] = []
            for endpoint in sorted(self.endpoints, key=lambda e: e.url != first):
                try:
                    return self._open(endpoint), endpoint
                except Unreachable as exc:
                    log.info("%s: %s: %s", self.name, endpoint.url, exc)
                    failures.append(f"{endpoint.url}: {exc}")
            if attempt < self.config.retries:
                time.sleep(delay)
                delay *= 2
        tries = self.config.retries + 1
        raise self.error(
            f"cannot connect ({tries} attempt{'s' if tries > 1 else ''}): " + "; ".join(failures)
        )

    def _open(self, endpoint: Endpoint) -> ldap3.Connection:
        config = self.config
        server = ldap3.Server(
            endpoint.host,
            port=endpoint.port,
            use_ssl=endpoint.ssl,
            tls=self._tls(endpoint),
            get_info=ldap3.NONE,
            connect_timeout=config.connect_timeout,
        )
        conn = ldap3.Connection(
            server,
            user=config.bind_dn,
            password=config.password.get_secret_value() or None,
            authentication=ldap3.SIMPLE if config.bind_dn else ldap3.ANONYMOUS,
            receive_timeout=config.timeout,
            auto_referrals=False,
            raise_exceptions=False,
            read_only=self.read_only,
            check_names=False,
            return_empty_attributes=False,
        )
        try:
            conn.open(read_server_info=False)
            if config.tls.start_tls:
                conn.start_tls(read_server_info=False)
            bound = conn.bind(read_server_info=False)
        except LDAPStartTLSError as exc:
            close(conn)
            raise Unreachable(f"StartTLS failed: {communication_error(exc)}") from None
        except (LDAPCommunicationError, LDAPCertificateError) as exc:
            close(conn)
            raise Unreachable(communication_error(exc)) from None
        except LDAPExceptionError as exc:
            close(conn)
            raise self.error(f"{endpoint.url}: {exc}") from None
        if not bound:
            result = conn.result
            close(conn)
            if result.get("result") in TRANSIENT:
                raise Unreachable(describe(result))
            raise self.error(f"{endpoint.url}: {self._bind_failure(result)}")
        log.debug("%s: connected to %s", self.name, endpoint.url)
        return conn

    def _tls(self, endpoint: Endpoint) -> ldap3.Tls | None:
        config = self.config
        if not (endpoint.ssl or config.tls.start_tls):
            return None
        return ldap3.Tls(
            validate=ssl.CERT_REQUIRED if config.tls.verify else ssl.CERT_NONE,
            ca_certs_file=str(self.ca_file) if self.ca_file else None,
            sni=endpoint.host,
        )

    def _bind_failure(self, result: dict) -> str:
        who = f"as {self.config.bind_dn}" if self.config.bind_dn else "anonymously"
        text = f"cannot bind {who}: {describe(result)}"
        if result.get("result") in (8, 13):
            text += "; use an ldaps:// URL or tls: {start_tls: true}"
        return text
