"""The compare operation over a backend (RFC 4511 §4.10)."""

from __future__ import annotations

from metadir.directory.tree import NoSuchObject
from metadir.ldap.backend import Backend, Comparison
from metadir.ldap.decode import CompareRequest
from metadir.ldap.results import (
    COMPARE_FALSE,
    COMPARE_TRUE,
    CONFIDENTIALITY_REQUIRED,
    INSUFFICIENT_ACCESS_RIGHTS,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    TLS_FIRST,
    UNDEFINED_ATTRIBUTE_TYPE,
)


def compare(
    backend: Backend, request: CompareRequest, visible: set[str] | None, tls_missing: bool
) -> tuple[int, str, str]:
    """The CompareResponse's result code, matched DN and diagnostic message for a client
    that may read ``visible`` (``AccessPolicy.visible``)."""
    if tls_missing:
        return CONFIDENTIALITY_REQUIRED, "", TLS_FIRST
    if visible is not None and not visible:
        return INSUFFICIENT_ACCESS_RIGHTS, "", "bind first: anonymous reads are disabled"
    target = backend.resolve(request.entry, visible)
    if isinstance(target, NoSuchObject):
        return NO_SUCH_OBJECT, target.matched_dn, ""
    attribute = request.attribute
    outcome = backend.compare(target, attribute, request.value)
    if outcome is Comparison.TRUE:
        return COMPARE_TRUE, "", ""
    if outcome is Comparison.FALSE:
        return COMPARE_FALSE, "", ""
    if outcome is Comparison.UNDEFINED:
        return UNDEFINED_ATTRIBUTE_TYPE, "", f"cannot compare {attribute!r}"
    return NO_SUCH_ATTRIBUTE, "", f"the entry has no {attribute!r}"
