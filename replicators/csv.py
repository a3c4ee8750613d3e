"""CSV / text file replicator (``type: csv``).

Reads files as spreadsheets and CRMs export them: ``;`` or ``,`` (or tab, ``|``), UTF-8 with
or without BOM, UTF-16 with BOM, or cp1252 from Windows. A broken row becomes a ``Problem``
with its line number, and reading goes on with the next line: one stray quote never costs
the rows after it.
"""

from __future__ import annotations

import codecs
import csv
import logging
import os
import re
from collections.abc import Iterator
from itertools import chain
from typing import Any, Literal, NamedTuple, TextIO

from pydantic import field_validator, model_validator

from metadir.core.errors import SourceError
from replicators.base import (
    Context,
    Problem,
    Record,
    Replicator,
    ReplicatorConfig,
    SourceChanged,
    one_or_more,
)
from replicators.files import LastLine, count_lines, ends_line, identity

log = logging.getLogger(__name__)

DELIMITERS = (",", ";", "\t", "|")
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
# what makes a row's text unusable: a NUL byte, or a byte that was no text
_FLAWED = re.compile("[\x00\udc80-\udcff]")


class CsvConfig(ReplicatorConfig):
    type: Literal["csv"]
    path: str
    # the column(s) that identify a row across runs
    key: list[str]
    # auto: UTF-8 (with or without BOM), UTF-16 with BOM, else cp1252
    encoding: str = "auto"
    # auto: sniffed from the header line among , ; tab |
    delimiter: Literal[",", ";", "\t", "|", "auto"] = "auto"
    header: bool = True
    # column names when the file has no header row
    columns: list[str] | None = None

    _key = field_validator("key", mode="before")(one_or_more)

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: object) -> object:
        return "\t" if isinstance(value, str) and value.lower() in ("tab", "\\t") else value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        if value != "auto":
            try:
                # str.encode, unlike codecs.lookup, also rejects codecs such as base64 or rot13
                "".encode(value)
            except LookupError:
                raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _columns(self) -> CsvConfig:
        if not self.key or not all(k.strip() for k in self.key):
            raise ValueError("key: name at least one key column")
        if self.header and self.columns is not None:
            raise ValueError("columns: only used with header: false (the header names them)")
        if not self.header:
            if not self.columns:
                raise ValueError("columns: required when header is false")
            if problem := _layout_problem(self.columns, self.key, "columns"):
                raise ValueError(f"columns: {problem}")
        return self

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
            columns, _ = self._start(iter(stream))
        return columns

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
                columns, rows = self._start(lines)
                key_at = [columns.index(k) for k in self.config.key]
                tick = self.context.tick
                for row in rows:
                    tick()
                    if row.problem is not None:
                        yield Problem(row.problem, row.line, _key(row.fields, key_at))
                        continue
                    yield Record(
                        tuple(row.fields[i] for i in key_at),
                        dict(zip(columns, row.fields, strict=True)),
                        row.line,
                    )
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

    def _start(self, lines: Iterator[str]) -> tuple[list[str], Iterator[Row]]:
        """Sniff the delimiter and read the header of the file's ``lines``; return the column
        names and the rows."""
        head: list[str] = []  # the physical lines up to and including the first non-blank one
        for line in lines:
            head.append(line.removeprefix("\ufeff") if not head else line)
            if head[-1].strip():
                break
        else:
            raise SourceError(f"{self.path}: the file is empty")
        if "\x00" in head[-1]:
            raise SourceError(
                f"{self.path}: line {len(head)}: the header contains NUL bytes; "
                "if the file is UTF-16 without a byte order mark, set encoding: utf-16"
            )
        delimiter: str = self.config.delimiter
        if delimiter == "auto":
            delimiter = sniff_delimiter(head[-1])
            log.debug("%s: delimiter %r", self.path, delimiter)
        if not self.config.header:
            assert self.config.columns is not None
            columns = self.config.columns
            return columns, parse_rows(chain(head, lines), delimiter, len(columns), "columns")
        rows = parse_rows(chain(head, lines), delimiter, None, "header")
        first = next(rows, None)
        if first is None:
            raise SourceError(f"{self.path}: the file is empty")
        if first.problem is not None:
            raise SourceError(
                f"{self.path}: cannot read the header: line {first.line}: {first.problem}"
            )
        columns = first.fields
        if problem := _layout_problem(columns, self.config.key, "header"):
            raise SourceError(f"{self.path}: {problem}")
        return columns, rows


def sniff_delimiter(line: str) -> str:
    """The most frequent of , ; tab | outside quotes in ``line``; ``,`` on a tie or none."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts.values())
    winners = [d for d, n in counts.items() if n == best]
    return winners[0] if best and len(winners) == 1 else ","


def _key(fields: list[str], key_at: list[int]) -> tuple[str, ...] | None:
    """The key of a broken row, if the fields it could read hold it intact."""
    if any(i >= len(fields) for i in key_at):
        return None
    key = tuple(fields[i] for i in key_at)
    return key if any(key) and not any(_FLAWED.search(part) for part in key) else None


class Row(NamedTuple):
    """A non-blank row: its first line and fields, or for a broken one why, and the fields
    before the break (those a stray quote or a wrong field count leaves in place)."""

    line: int
    fields: list[str]
    problem: str | None = None


def _before_quote(line: str, delimiter: str) -> list[str]:
    """The fields of ``line`` that end before its first quote: the quote's own field may
    run on, but the ones before it were read whole."""
    head, quote, _ = line.partition('"')
    fields = head.rstrip("\r\n").split(delimiter)
    return [field.strip() for field in (fields[:-1] if quote else fields)]


class _Feed:
    """Physical lines for ``csv.reader``, keeping those of the row being read so that a broken
    row can be read again from its second line. Also notes what csv lets through: NUL bytes,
    and bytes that were no text (escaped by ``surrogateescape``)."""

    __slots__ = ("exhausted", "flaw", "lines", "replay", "taken")

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.replay: list[str] = []  # lines to hand out again, last first
        self.taken: list[str] = []  # lines of the row being read
        self.flaw: str | None = None  # why the row being read cannot be used
        self.exhausted = False  # the reader asked for a line past the end

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if self.replay:
            line = self.replay.pop()
        else:
            try:
                line = next(self.lines)
            except StopIteration:
                self.exhausted = True
                raise
        if self.flaw is None and (found := _FLAWED.search(line)):
            char = found.group()
            self.flaw = (
                "contains a NUL byte"
                if char == "\x00"
                else f"holds byte 0x{ord(char) - 0xDC00:02x}, which is no UTF-8"
            )
        self.taken.append(line)
        return line

    def restart(self) -> None:
        """Hand out the current row's lines again, from its second one."""
        self.replay.extend(reversed(self.taken[1:]))
        self.taken.clear()
        self.flaw = None
        self.exhausted = False


def parse_rows(
    lines: Iterator[str], delimiter: str, width: int | None, layout: str
) -> Iterator[Row]:
    """A ``Row`` of stripped fields per non-blank row of ``lines``, with its problem if it is
    broken. Every row must have ``width`` fields; ``None`` takes the first row's count
    (the header, named ``layout`` in messages).

    A row that spans several lines is a legitimate quoted newline when its field count is
    right; otherwise (or when csv sees bad quoting) an opening quote was never closed, and
    reading starts again at the line after the row's first line.
    """
    feed = _Feed(lines)
    line = 0  # physical lines consumed before the current row
    while True:
        try:
            for fields in csv.reader(feed, delimiter=delimiter, strict=True):
                start, taken = line + 1, len(feed.taken)
                if taken > 1 and width is not None and len(fields) != width:
                    end = start + taken - 1
                    problem = (
                        f"unclosed quote (read on, the row would end at line {end} "
                        f"with {len(fields)} fields, {layout} has {width})"
                    )
                    break
                line += taken
                feed.taken.clear()
                values = [field.strip() for field in fields]
                if feed.flaw is not None:
                    yield Row(start, values, feed.flaw)
                    feed.flaw = None
                    continue
                if not any(values):
                    continue
                if width is None:
                    width = len(values)
                elif len(values) != width:
                    count = "1 field" if len(values) == 1 else f"{len(values)} fields"
                    # a stray or missing delimiter may have shifted every field but the first
                    yield Row(start, values[:1], f"{count}, {layout} has {width}")
                    continue
                yield Row(start, values)
            else:
                return
        except csv.Error as exc:
            start = line + 1
            if len(feed.taken) > 1 or feed.exhausted:
                problem = "unclosed quote"
            else:
                problem = f"cannot parse: {exc}"
        yield Row(start, _before_quote(feed.taken[0] if feed.taken else "", delimiter), problem)
        line += 1
        feed.restart()


def _layout_problem(columns: list[str], key: list[str], source: str) -> str | None:
    """What is wrong with these column names and key columns, if anything."""
    seen: dict[str, int] = {}
    for number, name in enumerate(columns, 1):
        if not name.strip():
            return f"column {number} of the {source} has no name"
        if "\n" in name or "\r" in name:
            return f"column {number} of the {source} runs over several lines (an unclosed quote?)"
        if name in seen:
            where = f"columns {seen[name]} and {number}"
            return f"column {name!r} appears twice in the {source} ({where})"
        seen[name] = number
    missing = [k for k in key if k not in seen]
    if missing:
        return (
            f"key column {', '.join(map(repr, missing))} is not in the {source}; "
            f"its columns: {', '.join(columns)}"
        )
    return None
