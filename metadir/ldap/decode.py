"""Turn what ldaptor decoded off the wire into metadir's own request data."""

from __future__ import annotations

import contextlib
import io

from ldaptor.protocols import pureber, pureldap

from metadir.directory import filters as f

# ldaptor's decoder for a whole LDAPMessage
DECODER = pureldap.LDAPBERDecoderContext_TopLevel(
    inherit=pureldap.LDAPBERDecoderContext_LDAPMessage(
        fallback=pureldap.LDAPBERDecoderContext(fallback=pureber.BERDecoderContext()),
        inherit=pureldap.LDAPBERDecoderContext(fallback=pureber.BERDecoderContext()),
    )
)


class MalformedRequest(ValueError):
    """The request decoded, but breaks the protocol's rules (answered with protocolError)."""


def text(value: bytes | str) -> str:
    # LDAP strings are UTF-8; a client sending something else gets its bytes kept visible
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def decode_message(pdu: bytes) -> pureldap.LDAPMessage:
    """One complete LDAPMessage. Raises ``MalformedRequest`` when it cannot be decoded."""
    try:
        # ldaptor print()s unknown tags to stdout and skips them; the checks below catch them
        with contextlib.redirect_stdout(io.StringIO()):
            message, used = pureber.berDecodeObject(DECODER, pdu)
    except Exception as exc:  # ldaptor signals bad BER with asserts, IndexError, KeyError...
        raise MalformedRequest(f"undecodable message: {type(exc).__name__}") from None
    if not isinstance(message, pureldap.LDAPMessage) or used != len(pdu):
        raise MalformedRequest("not an LDAPMessage")
    return message


def filter_from_ldaptor(node: object) -> f.Filter:
    if isinstance(node, pureldap.LDAPFilter_and):
        return f.And(tuple(filter_from_ldaptor(part) for part in node))
    if isinstance(node, pureldap.LDAPFilter_or):
        return f.Or(tuple(filter_from_ldaptor(part) for part in node))
    if isinstance(node, pureldap.LDAPFilter_not):
        return f.Not(filter_from_ldaptor(node.value))
    if isinstance(node, pureldap.LDAPFilter_present):
        return f.Present(text(node.value))
    if isinstance(node, pureldap.LDAPFilter_substrings):
        return _substrings(node)
    if isinstance(node, pureldap.LDAPFilter_extensibleMatch):
        return f.Extensible(
            attribute=text(node.type.value) if node.type is not None else None,
            rule=text(node.matchingRule.value) if node.matchingRule is not None else None,
            value=text(node.matchValue.value),
            dn_attributes=bool(node.dnAttributes and node.dnAttributes.value),
        )
    kinds = {
        pureldap.LDAPFilter_equalityMatch: f.Equality,
        pureldap.LDAPFilter_greaterOrEqual: f.GreaterOrEqual,
        pureldap.LDAPFilter_lessOrEqual: f.LessOrEqual,
        pureldap.LDAPFilter_approxMatch: f.Approx,
    }
    kind = kinds.get(type(node))
    if kind is None:
        raise MalformedRequest(f"unknown filter element {type(node).__name__}")
    return kind(text(node.attributeDesc.value), text(node.assertionValue.value))


def _substrings(node: pureldap.LDAPFilter_substrings) -> f.Substrings:
    initial = final = None
    any_: list[str] = []
    parts = list(node.substrings)
    if not parts:
        raise MalformedRequest("substring filter without parts")
    for pos, part in enumerate(parts):
        value = text(part.value)
        if isinstance(part, pureldap.LDAPFilter_substrings_initial):
            if pos != 0:
                raise MalformedRequest("substring 'initial' must come first")
            initial = value
        elif isinstance(part, pureldap.LDAPFilter_substrings_final):
            if pos != len(parts) - 1:
                raise MalformedRequest("substring 'final' must come last")
            final = value
        else:
            any_.append(value)
    return f.Substrings(text(node.type), initial, tuple(any_), final)
