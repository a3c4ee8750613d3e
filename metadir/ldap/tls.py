"""TLS for the LDAP server: the certificate and private key from PEM files as a Twisted
context factory for ldaps:// listeners and StartTLS, swapped for a fresh pair on reload.

Connections already open keep the pair they started with; only new ones see a reloaded one.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from OpenSSL import SSL
from twisted.internet import interfaces, ssl
from zope.interface import implementer  # type: ignore[import-untyped]

log = logging.getLogger("metadir.tls")


class TlsFileError(ValueError):
    """A certificate or key file that cannot be served; ``key`` names the setting
    (``certificate`` or ``private_key``), the message the file and what is wrong."""

    def __init__(self, key: str, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.key = key


def load_options(certificate: Path, private_key: Path) -> ssl.CertificateOptions:
    """Server TLS options for the PEM certificate (its chain may follow it in the same
    file) and the unencrypted PEM private key. Raises ``TlsFileError``."""
    chain = _read_certificates(certificate)
    key = _read_private_key(private_key)
    if _public_der(key.public_key()) != _public_der(chain[0].public_key()):
        raise TlsFileError(
            "private_key", private_key, f"does not belong to the certificate in {certificate}"
        )
    # pyOpenSSL takes cryptography's objects; Twisted's hints name pyOpenSSL's older ones
    options = ssl.CertificateOptions(
        privateKey=key,  # type: ignore[arg-type]
        certificate=chain[0],  # type: ignore[arg-type]
        extraCertChain=chain[1:],  # type: ignore[arg-type]
    )
    try:
        options.getContext()  # OpenSSL's own checks (key size, signature) now, not per client
    except SSL.Error as exc:
        raise TlsFileError("certificate", certificate, f"OpenSSL refuses it: {exc}") from None
    return options


def describe(options: ssl.CertificateOptions) -> str:
    """Subject, serial and expiry of the served certificate, for the log."""
    cert: x509.Certificate = options.certificate  # type: ignore[assignment]
    return (
        f"{cert.subject.rfc4514_string()}, serial {cert.serial_number:x}, "
        f"valid until {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )


def _read(key: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TlsFileError(key, path, f"cannot read: {exc.strerror}") from None


def _read_certificates(path: Path) -> list[x509.Certificate]:
    data = _read("certificate", path)
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TlsFileError("certificate", path, "not a PEM certificate") from None


def _read_private_key(path: Path) -> PrivateKeyTypes:
    data = _read("private_key", path)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise TlsFileError(
            "private_key", path, "the key is encrypted; give it unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise TlsFileError("private_key", path, "not a PEM private key") from None


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def is_active(transport: interfaces.ITransport) -> bool:
    """Whether the connection behind ``transport`` runs TLS (LDAPS, or after StartTLS)."""
    get_handle = getattr(transport, "getHandle", None)
    return get_handle is not None and isinstance(get_handle(), SSL.Connection)


def connection_summary(transport: interfaces.ITransport) -> str:
    """Protocol version and cipher of a TLS connection, for the log."""
    handle = transport.getHandle()
    return f"{handle.get_protocol_version_name()} {handle.get_cipher_name()}"


@implementer(interfaces.IOpenSSLContextFactory)
class ServerTls:
    """The server's certificate and key. ``getContext()`` hands each new TLS connection
    the pair loaded last; ``reload()`` reads the files again and keeps the old pair when
    the new one is unusable."""

    def __init__(self, certificate: Path, private_key: Path) -> None:
        self.certificate = certificate
        self.private_key = private_key
        self._options = load_options(certificate, private_key)
        log.info("TLS certificate %s: %s", certificate, describe(self._options))

    def getContext(self) -> SSL.Context:  # Twisted's context factory interface
        return self._options.getContext()

    def reload(self) -> None:
        try:
            options = load_options(self.certificate, self.private_key)
        except TlsFileError as exc:
            log.error("TLS certificate not reloaded, keeping the previous one: %s", exc)
            return
        self._options = options
        log.info("TLS certificate reloaded from %s: %s", self.certificate, describe(options))
