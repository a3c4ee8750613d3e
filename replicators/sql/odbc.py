"""ODBC connection strings (``DSN=crm;UID=reader`` or ``DRIVER={MariaDB Unicode};...``):
read into their parts, given a password, and shown without it.

A value in braces may hold ``;`` and ``=``; a ``}`` inside braces is written twice
(``{pa}}ss}`` is ``pa}ss``), the way the ODBC specification and unixODBC read it.
"""

from __future__ import annotations

# the keywords that hold a password (ODBC's PWD, and what drivers also accept)
PASSWORD_KEYS = frozenset({"pwd", "password"})
HIDDEN = "***"


def parse(text: str) -> list[tuple[str, str]]:
    """The (keyword, value) pairs of ``text``, in order. Raises ``ValueError`` in words."""
    pairs: list[tuple[str, str]] = []
    position, end = 0, len(text)
    while position < end:
        if text[position] in "; \t":
            position += 1
            continue
        equals = text.find("=", position)
        if equals < 0:
            raise ValueError(f"{text[position:]!r} is no KEYWORD=value")
        keyword = text[position:equals].strip()
        if not keyword:
            raise ValueError(f"a value without a keyword at position {position + 1}")
        value, position = _value(text, equals + 1)
        pairs.append((keyword, value))
    return pairs


def _value(text: str, start: int) -> tuple[str, int]:
    """The value that begins at ``start``, and where the next pair begins."""
    rest = text[start:].lstrip(" ")
    start = len(text) - len(rest)
    if not rest.startswith("{"):
        stop = text.find(";", start)
        stop = len(text) if stop < 0 else stop
        return text[start:stop].strip(), stop + 1
    chars: list[str] = []
    position = start + 1
    while position < len(text):
        char = text[position]
        if char == "}":
            if text[position + 1 : position + 2] == "}":
                chars.append("}")
                position += 2
                continue
            return "".join(chars), position + 1
        chars.append(char)
        position += 1
    raise ValueError(f"a '{{' at position {start + 1} is not closed")


def _braced(value: str) -> str:
    return "{" + value.replace("}", "}}") + "}"


def _shown(value: str) -> str:
    return _braced(value) if not value or any(c in value for c in ";{}= ") else value


def has_password(text: str) -> bool:
    return any(keyword.lower() in PASSWORD_KEYS for keyword, _ in parse(text))


def with_password(text: str, password: str) -> str:
    """``text`` with ``PWD=password`` added, in braces (which any character may be in)."""
    return f"{text.rstrip().rstrip(';')};PWD={_braced(password)}"


def hidden(text: str) -> str:
    """``text`` as messages show it: any password replaced by ``***``."""
    try:
        pairs = parse(text)
    except ValueError:
        return "(a malformed ODBC connection string)"
    shown = (f"{k}={HIDDEN if k.lower() in PASSWORD_KEYS else _shown(v)}" for k, v in pairs)
    return ";".join(shown)
