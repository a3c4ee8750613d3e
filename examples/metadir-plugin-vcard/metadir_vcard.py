"""A metadir source kind from outside metadir: every vCard (RFC 6350, also 3.0) in the
``.vcf`` files of a folder, such as phone books exported from a phone system, a mobile
phone or a mail program.

The whole plug-in contract: a settings model extending ``ReplicatorConfig`` with
``type: Literal["vcard"]``, whose ``build`` returns an object with ``check()`` (the field
names a read hands on) and ``read(state)`` (a ``Record`` per contact, a ``Problem`` per
card it has to skip). The fields are named like metadir's attributes, so no mapping is
needed; a config's own mapping may still pick or rename them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from metadir.core.errors import SourceError
from replicators.base import Context, Problem, Record, Replicator, ReplicatorConfig

# TEL types -> the attribute the number goes to (the first type that matches wins)
PHONES = {
    "cell": "mobile",
    "fax": "facsimileTelephoneNumber",
    "pager": "pager",
    "home": "homePhone",
    "work": "telephoneNumber",
    "voice": "telephoneNumber",
}
# properties of one text -> the field they go to
TEXTS = {"UID": "uid", "FN": "displayName", "TITLE": "title", "EMAIL": "mail"}
FIELDS = [*TEXTS.values(), "sn", "givenName", "company", "department",
          *dict.fromkeys(PHONES.values())]  # fmt: skip
# an escaped character of a text value: \\, \, \; \n
_ESCAPED = re.compile(r"\\(.)")
_UNESCAPE = {"n": "\n", "N": "\n"}


class VcardConfig(ReplicatorConfig):
    type: Literal["vcard"]
    # the folder of .vcf files, relative to the config file's folder
    path: str

    def build(self, context: Context) -> Replicator:
        return VcardSource(self, context)


class VcardSource:
    def __init__(self, config: VcardConfig, context: Context) -> None:
        self.context = context
        self.folder = context.base_dir / config.path

    def check(self) -> list[str]:
        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: no such folder")
        return FIELDS

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Record | Problem]:
        """Every card of every file, whole each time (no state): a card without a UID is
        a problem, as the key must survive the next export."""
        self.check()
        for path in sorted(self.folder.glob("*.vcf")):
            try:
                text = path.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                raise SourceError(f"{path}: cannot read: {exc}") from None
            for line, card in cards(text):
                self.context.tick()
                yield _item(card, line, path.name)


def cards(text: str) -> Iterator[tuple[int, list[tuple[str, dict[str, str], str]]]]:
    """Each card of a file: its first line and its properties (name, parameters, value),
    long lines unfolded."""
    card: list[tuple[str, dict[str, str], str]] | None = None
    start = 0
    for number, line in _unfolded(text):
        name, params, value = _property(line)
        if name == "BEGIN" and value.upper() == "VCARD":
            card, start = [], number
        elif name == "END" and card is not None:
            yield start, card
            card = None
        elif card is not None:
            card.append((name, params, value))
    if card is not None:
        yield start, [("BROKEN", {}, "no END:VCARD")]


def _item(card: list[tuple[str, dict[str, str], str]], line: int, file: str) -> Record | Problem:
    values: dict[str, str | list[str]] = {}
    for name, params, value in card:
        if name == "BROKEN":
            return Problem(f"{file}: {value}", line)
        if name == "TEL":
            types = params.get("TYPE", "voice").lower().replace('"', "").split(",")
            attribute = next((PHONES[t] for t in PHONES if t in types), "telephoneNumber")
            _add(values, attribute, value.removeprefix("tel:"))
        elif name == "N":
            family, given, *_ = [*_parts(value), "", ""]
            values.update(sn=family, givenName=given)
        elif name == "ORG":
            company, department, *_ = [*_parts(value), "", ""]
            values.update(company=company, department=department)
        elif name in TEXTS:
            _add(values, TEXTS[name], _text(value))
    uid = values.get("uid")
    if not isinstance(uid, str) or not uid:
        return Problem(f"{file}: card without UID", line)
    return Record((uid,), values, line)


def _add(values: dict[str, str | list[str]], field: str, value: str) -> None:
    held = values.get(field)
    values[field] = value if held is None else [*([held] if isinstance(held, str) else held), value]


def _unfolded(text: str) -> Iterator[tuple[int, str]]:
    """Logical lines and the physical line each starts on: a line that starts with a space
    or tab continues the one before (RFC 6350 3.2)."""
    start, logical = 0, ""
    for number, line in enumerate(text.splitlines(), 1):
        if line[:1] in (" ", "\t") and logical:
            logical += line[1:]
            continue
        if logical:
            yield start, logical
        start, logical = number, line
    if logical:
        yield start, logical


def _property(line: str) -> tuple[str, dict[str, str], str]:
    """``item1.TEL;TYPE=work,voice:+49 89 1234`` -> (``TEL``, {``TYPE``: ``work,voice``},
    ``+49 89 1234``)."""
    head, _, value = line.partition(":")
    name, *params = head.split(";")
    parsed: dict[str, list[str]] = {}
    for param in params:
        key, _, val = param.partition("=")
        # vCard 2.1 writes bare types: TEL;CELL:...
        parsed.setdefault(key.upper() if val else "TYPE", []).append(val or key)
    return (
        name.rsplit(".", 1)[-1].upper(),
        {key: ",".join(vals) for key, vals in parsed.items()},
        value,
    )


def _parts(value: str) -> list[str]:
    """The components of a structured value (N, ORG), split at unescaped ``;``."""
    return [_text(part) for part in re.split(r"(?<!\\);", value)]


def _text(value: str) -> str:
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), value).strip()
