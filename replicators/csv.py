"""CSV / text file replicator (``type: csv``).

Reads files as spreadsheets and CRMs export them: ``;`` or ``,`` (or tab, ``|``), UTF-8 with
or without BOM, UTF-16 with BOM, or cp1252 from Windows. A broken row becomes a ``Problem``
with its line number, and reading goes on with the next line: one stray quote never costs
the rows after it.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, TextIO

from pydantic import PrivateAttr, field_validator, model_validator

from metadir.core import fields
from metadir.core.errors import SourceError
from replicators.base import Context, Problem, Record, Replicator, ReplicatorConfig, SourceChanged
from replicators.csv_table import (
    CsvLayout,
    check_encoding,
    open_table,
    table_items,
)
from replicators.files import LastLine, count_lines, ends_line, identity

log = logging.getLogger(__name__)

# checked in this order: the UTF-32 LE mark begins with the UTF-16 LE one
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHUNK = 1 << 20
# bytes the decoder could not read, as surrogateescape hands them on; and any non-ASCII
_ESCAPED = re.compile("[\udc80-\udcff]")
_NON_ASCII = re.compile("[^\x00-\x7f]")


@dataclass(frozen=True, slots=True)
class Preset:
    """A well-known export's layout (``schema/csv_presets.yaml``)."""

    label: str
    delimiter: str
    encoding: str
    key: tuple[str, ...]
    mapping: dict[str, str]
    preamble: str | None = None


@cache
def presets() -> dict[str, Preset]:
    rows = fields.load_schema_file("csv_presets.yaml")["presets"]
    return {
        name: Preset(
            row["label"],
            row["delimiter"],
            row["encoding"],
            tuple(row["key"]),
            row["mapping"],
            row.get("preamble"),
        )
        for name, row in rows.items()
    }


class CsvConfig(ReplicatorConfig, CsvLayout):
    type: Literal["csv"]
    path: str
    # auto: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252
    encoding: str = "auto"
    # a known export's layout: its delimiter, encoding, key and mapping, unless given here
    preset: str | None = None

    # the columns only the preset's mapping names: a file without them reads them as empty
    _preset_columns: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="before")
    @classmethod
    def _preset_layout(cls, data: Any) -> Any:
        if isinstance(data, dict) and (preset := presets().get(str(data.get("preset")))):
            layout = {"delimiter": preset.delimiter, "encoding": preset.encoding,
                      "preamble": preset.preamble}  # fmt: skip
            return {**layout, "key": list(preset.key), **data}
        return data

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        return value if value == "auto" else check_encoding(value)

    @field_validator("preset")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in presets():
            raise ValueError(f"unknown CSV preset {value!r}; known: {', '.join(presets())}")
        return value

    @model_validator(mode="after")
    def _preset_mapping(self) -> CsvConfig:
        if self.preset is None:
            return self
        # a target the replicator maps itself (in any spelling) is not taken from the preset
        own = {f.name for f in map(fields.lookup, self.mapping) if f is not None}
        merged = {k: v for k, v in presets()[self.preset].mapping.items() if k not in own}
        self._preset_columns = frozenset(merged.values()) - set(self.mapping.values())
        self.mapping = {**merged, **self.mapping}
        return self

    @property
    def preset_columns(self) -> frozenset[str]:
        """The columns only the preset's mapping names."""
        return self._preset_columns

    def build(self, context: Context) -> Replicator:
        return CsvReplicator(self, context)

    def reading(self, source: Replicator) -> str:
        assert isinstance(source, CsvReplicator)
        if source.encoding is None:
            return ""
        how = " (guessed: encoding: auto)" if self.encoding == "auto" else ""
        return (
            f"the file was read as {source.encoding}{how}; if the entries' text now looks "
            "garbled, set encoding: to the file's own (utf-8 or cp1252)"
        )


class CsvReplicator:
    """Reads one CSV file; ``path`` in the settings is relative to the context's
    ``base_dir``."""

    def __init__(self, config: CsvConfig, context: Context) -> None:
        self.config = config
        self.context = context
        self.path = context.base_dir / config.path
        # the encoding the last read decoded the file with
        self.encoding: str | None = None

    def check(self) -> list[str]:
        encoding, errors = self._encoding()
        # read() meets a bad byte only when it gets there; check() looks at the whole file
        if errors == "strict" and not self._decodes(encoding):
            raise self._decode_error(encoding)
        with self._open(encoding, errors) as stream:
            columns, _ = open_table(iter(stream), self.config, str(self.path))
        lacking = sorted(self.config.preset_columns - set(columns))
        if lacking:
            log.info("%s: no column %s; read as empty", self.path, ", ".join(map(repr, lacking)))
        return columns + lacking

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Record | Problem]:
        """Every row of the file: a file says nothing of what changed, so ``state`` is unused
        and every read is full (no ``Checkpoint``). A broken row's ``Problem`` carries its
        key when the fields before the break hold it. Raises ``SourceChanged`` after the
        last row if the file was written to or replaced while it was read, ``Cancelled``
        between rows if the context asks the read to stop."""
        encoding, errors = self._encoding()
        self.encoding = encoding
        with self._open(encoding, errors) as stream:
            try:
                start = identity(os.fstat(stream.fileno()))
                ended = ends_line(stream.fileno(), start[0], encoding)
                # about one row a line (quoted line breaks and blank lines make it fewer)
                total = count_lines(stream.fileno(), start[0]) - (1 if self.config.header else 0)
                self.context.expect(max(0, total))
                lines = LastLine(stream)
                columns, rows = open_table(lines, self.config, str(self.path))
                yield from table_items(columns, rows, self.config.key, self.context.tick)
                self._unchanged(stream, start, ended and not lines.ended)
            except UnicodeDecodeError:
                raise self._decode_error(encoding) from None
            except OSError as exc:
                raise self._unreadable(exc) from None

    def _unchanged(self, stream: TextIO, start: tuple[int, int, int, int], cut: bool) -> None:
        """Raise ``SourceChanged`` unless the file read to its end is the one, with the same
        size and modification time, that was opened, and the path still names it: a program
        that rewrites it in place truncates it (rows lost), one that replaces it makes this
        read stale. ``cut``: the file ended with a line end when the read began, its last
        line read has none (a rewrite caught mid-line, even one the size and time missed)."""
        read = stream.buffer.tell()
        now = identity(os.fstat(stream.fileno()))
        try:
            named = identity(self.path.stat())
        except OSError:
            named = None
        size, mtime, _, _ = start
        seen = [
            f"{read} of its {size} bytes read" if read < size else "",
            f"size {size} -> {now[0]} bytes" if now[0] != size else "",
            "modified" if now[1] != mtime else "",
            "its last line lost its line end" if cut else "",
        ]
        if any(seen):
            what = ", ".join(filter(None, seen))
            raise SourceChanged(f"{self.path}: the file changed while it was read ({what})")
        if named != start:
            raise SourceChanged(f"{self.path}: the file was replaced or removed while it was read")

    def _encoding(self) -> tuple[str, str]:
        """The configured encoding, or for ``auto`` the one the file's BOM or bytes show; and
        how to take bytes it cannot decode: ``strict`` (the read fails naming their line) or,
        for a UTF-8 file with a few stray bytes, ``surrogateescape`` (their rows are
        problems, see ``_Feed``)."""
        if self.config.encoding != "auto":
            return self.config.encoding, "strict"
        try:
            with self.path.open("rb") as file:
                start = file.read(4)
        except OSError as exc:
            raise self._unreadable(exc) from None
        for bom, encoding in _BOMS:
            if start.startswith(bom):
                return encoding, "strict"
        text, stray = self._utf8_evidence()
        if not stray:
            return "utf-8", "strict"
        # cp1252 text hardly ever holds a valid UTF-8 sequence (ü is b"\xfc", in UTF-8 a lead
        # byte that the next letter does not follow): more UTF-8 characters than stray bytes
        # is a UTF-8 file with a few bad bytes, not a Windows file
        if text > stray:
            log.warning("%s: UTF-8 but for %d byte(s); their rows are skipped", self.path, stray)
            return "utf-8", "surrogateescape"
        log.info(
            "%s: not UTF-8, reading it as cp1252 (Windows); set encoding: to override", self.path
        )
        return "cp1252", "strict"

    def _utf8_evidence(self) -> tuple[int, int]:
        """How many characters beyond ASCII the file holds as valid UTF-8, and how many of its
        bytes are no UTF-8."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        text = stray = 0
        try:
            with self.path.open("rb") as file:
                while chunk := file.read(_CHUNK):
                    decoded = decoder.decode(chunk)
                    if not decoded.isascii():
                        bad = len(_ESCAPED.findall(decoded))
                        stray += bad
                        text += len(_NON_ASCII.findall(decoded)) - bad
                stray += len(decoder.decode(b"", final=True))
        except OSError as exc:
            raise self._unreadable(exc) from None
        return text, stray

    def _decodes(self, encoding: str) -> bool:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with self.path.open("rb") as file:
                while chunk := file.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
        except OSError as exc:
            raise self._unreadable(exc) from None
        return True

    def _decode_error(self, encoding: str) -> SourceError:
        """Where the file stops being ``encoding``; reads it whole, on this error path only."""
        try:
            data = self.path.read_bytes()
            data.decode(encoding)
        except OSError as exc:
            return self._unreadable(exc)
        except UnicodeDecodeError as exc:
            # utf-8-sig counts positions after the BOM it strips
            offset = exc.start
            if codecs.lookup(encoding).name == "utf-8-sig" and data.startswith(codecs.BOM_UTF8):
                offset += len(codecs.BOM_UTF8)
            line = data[:offset].decode(encoding, errors="replace").count("\n") + 1
            tried = "UTF-8 or cp1252" if self.config.encoding == "auto" else encoding
            byte = data[offset : offset + 1]
            return SourceError(
                f"{self.path}: line {line}, byte {offset}: cannot decode {byte!r} as {tried}; "
                "set encoding: to the file's encoding (e.g. cp1252, latin-1, utf-16)"
            )
        return SourceChanged(f"{self.path}: the file changed while it was read as {encoding}")

    def _open(self, encoding: str, errors: str) -> TextIO:
        try:
            return self.path.open(encoding=encoding, errors=errors, newline="")
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> SourceError:
        return SourceError(f"{self.path}: cannot read: {exc.strerror or exc}")
