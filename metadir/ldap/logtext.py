"""Values from the wire made safe for a log line: a client must not be able to write its
own lines into the access log (a newline in a bind DN), colour a terminal (ESC), or fill
the disk (a 100 kB filter value)."""

from __future__ import annotations

import re

MAX_CHARS = 256  # of the value itself; the rest is replaced by its length


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}

# C0 and C1 controls and DEL; the Unicode line and paragraph separators a log viewer may
# break on; the format characters that reorder or hide text (bidi overrides, zero-width,
# BOM); and the quote and backslash that would end or fake a quoted value
_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f"\\\\\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]')


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _NAMED.get(char) or (
        f"\\x{ord(char):02x}" if ord(char) <= 0xFF else f"\\u{ord(char):04x}"
    )


def loggable(value: str | bytes, limit: int = MAX_CHARS) -> str:
    """``value`` escaped for one log line and cut to ``limit`` characters, with an ellipsis
    and the original length when cut."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if len(value) > limit:
        return _UNSAFE.sub(_escape, value[:limit]) + f"…({len(value)} chars)"
    return _UNSAFE.sub(_escape, value)


def quoted(value: str | bytes) -> str:
    """``value`` as a quoted, escaped log field: ``"..."``."""
    return f'"{loggable(value)}"'
