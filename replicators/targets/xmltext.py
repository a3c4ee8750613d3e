"""Text into XML 1.0, written by hand: the exports render one element per entry and keep
it as bytes, so an XML library's tree would be built and thrown away for each row.

XML 1.0 has no way to write most control characters (not even as ``&#1;``), nor lone
surrogates or U+FFFE/U+FFFF: they are dropped — they carry no text (a stray vertical tab
from a spreadsheet cell), and a file holding one would be refused whole by its reader.
A carriage return is written as ``&#13;``, else a parser reads it as a line feed.
"""

from __future__ import annotations

import re

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_ATTRIBUTE = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\r": "&#13;",
        "\n": "&#10;",
        "\t": "&#9;",
    }
)

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def text(value: str) -> str:
    """``value`` as the content of an element."""
    return _NOT_XML.sub("", value).translate(_TEXT)


def attribute(value: str) -> str:
    """``value`` inside a double-quoted attribute (its white space kept as it is)."""
    return _NOT_XML.sub("", value).translate(_ATTRIBUTE)


def element(indent: str, name: str, value: str, attributes: str = "") -> str:
    """One element with text content, on a line of its own."""
    return f"{indent}<{name}{attributes}>{text(value)}</{name}>\n"
