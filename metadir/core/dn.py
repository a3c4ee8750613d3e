"""Distinguished names (RFC 4514): parse, normalise for comparison, escape.

Written here rather than taken from ldaptor (its unescape mishandles upper-case hex pairs)
or ldap3 (its parser rejects common sloppy spellings and returns values still escaped).
"""

from __future__ import annotations

import re
import unicodedata

RDN = tuple[tuple[str, str], ...]
# RFC 4512 oid: a name (descr) or a numeric OID, as attribute types and object classes go
OID = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*")
_SPECIAL = ',+"\\<>;=#'
_HEX = "0123456789abcdefABCDEF"


def parse_dn(text: str) -> tuple[RDN, ...]:
    """The RDNs of ``text``, most specific first; values unescaped. Raises ``ValueError``."""
    rdns: list[RDN] = []
    avas: list[tuple[str, str]] = []
    i, n = 0, len(text)
    if not text.strip():
        return ()
    while True:
        while i < n and text[i] == " ":
            i += 1
        m = OID.match(text, i)
        if not m:
            raise ValueError(f"expected an attribute type at position {i + 1} of {text!r}")
        attr_type = m.group(0)
        i = m.end()
        while i < n and text[i] == " ":
            i += 1
        if i >= n or text[i] != "=":
            raise ValueError(f"expected '=' after {attr_type!r} in {text!r}")
        i += 1
        value, i = _parse_value(text, i)
        avas.append((attr_type, value))
        if i >= n:
            rdns.append(tuple(avas))
            return tuple(rdns)
        sep = text[i]
        i += 1
        if sep in ",;":
            rdns.append(tuple(avas))
            avas = []
        if i >= n:
            raise ValueError(f"{text!r} ends with a separator")


def _parse_value(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    while i < n and text[i] == " ":
        i += 1
    if i < n and text[i] == "#":  # hex-encoded BER value: kept as written
        j = i + 1
        while j < n and text[j] in _HEX:
            j += 1
        return text[i:j], j
    out = bytearray()
    trailing_spaces = 0  # unescaped spaces at the end are not part of the value
    while i < n:
        ch = text[i]
        if ch in ",;+":
            break
        if ch == "\\":
            if i + 1 >= n:
                raise ValueError(f"{text!r} ends with a lone backslash")
            nxt = text[i + 1]
            if nxt in _HEX and i + 2 < n and text[i + 2] in _HEX:
                out.append(int(text[i + 1 : i + 3], 16))
                i += 3
            elif nxt in _SPECIAL or nxt == " ":
                out += nxt.encode()
                i += 2
            else:
                raise ValueError(f"bad escape '\\{nxt}' in {text!r}")
            trailing_spaces = 0
            continue
        if ch == '"':
            raise ValueError(f"unescaped '\"' in {text!r}")
        out += ch.encode()
        trailing_spaces = trailing_spaces + 1 if ch == " " else 0
        i += 1
    if trailing_spaces:
        del out[-trailing_spaces:]
    try:
        value = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"escaped bytes in {text!r} are not UTF-8") from exc
    return value, i


def fold(value: str) -> str:
    """Case-insensitive, Unicode-aware form of a string, as slapd's caseIgnoreMatch folds
    (NFKC, lower case, insignificant spaces) except where full case folding finds more: ß is
    ss and ς is σ (the divergences listed in tests/differential_corpus.py)."""
    if value.isascii():  # most values: NFKC changes nothing and casefold is lower
        folded = " ".join(value.lower().split())
    else:
        # İ is i, as in slapd: casefold would make it i + U+0307, which no one types
        nfkc = unicodedata.normalize("NFKC", value)
        folded = " ".join(nfkc.replace("\u0130", "i").casefold().split())
    # the index keeps what this returns: share the string when nothing changed
    return value if folded == value else folded


def normalize_rdns(rdns: tuple[RDN, ...]) -> str:
    """The normalised DN made of parsed ``rdns``."""
    return ",".join("+".join(sorted(f"{t.lower()}={fold(v)}" for t, v in rdn)) for rdn in rdns)


def normalize_dn(text: str) -> str:
    """A form of ``text`` in which equal DNs compare equal. Raises ``ValueError``."""
    return normalize_rdns(parse_dn(text))


_NEEDS_ESCAPE = re.compile(r'[,+"\\<>;=\x00-\x1f]|^[ #]| $')


def escape_value(value: str) -> str:
    """``value`` escaped for use in a DN string."""
    if not _NEEDS_ESCAPE.search(value):
        return value
    out = []
    for pos, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (pos == 0 and ch in " #") or (pos == len(value) - 1 and ch == " "):
            out.append("\\" + ch)
        elif ord(ch) < 32:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)
