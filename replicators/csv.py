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
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import field_validator, model_validator

from metadir.errors import SourceError
from replicators.base import Problem, Record, Replicator, ReplicatorConfig, one_or_more

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

    def build(self, base_dir: Path) -> Replicator:
        return CsvReplicator(self, base_dir)


class CsvReplicator:
    """Reads one CSV file; ``path`` in the settings is relative to ``base_dir``."""

    def __init__(self, config: CsvConfig, base_dir: Path) -> None:
        self.config = config
        self.path = base_dir / config.path

    def check(self) -> list[str]:
        encoding = self._encoding()
        # read() meets a bad byte only when it gets there; check() looks at the whole file
        if not self._decodes(encoding):
            raise self._decode_error(encoding)
        with self._open(encoding) as stream:
            columns, _ = self._start(stream)
        return columns

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Record | Problem]:
        """Every row of the file: a file says nothing of what changed, so ``state`` is unused
        and every read is full (no ``Checkpoint``)."""
        encoding = self._encoding()
        with self._open(encoding) as stream:
            try:
                columns, rows = self._start(stream)
                key_at = [columns.index(k) for k in self.config.key]
                for row in rows:
                    if isinstance(row, Problem):
                        yield row
                        continue
                    line, values = row
                    yield Record(
                        tuple(values[i] for i in key_at),
                        dict(zip(columns, values, strict=True)),
                        line,
                    )
            except UnicodeDecodeError:
                raise self._decode_error(encoding) from None
            except OSError as exc:
                raise self._unreadable(exc) from None

    def _encoding(self) -> str:
        """The configured encoding, or for ``auto`` the one the file's BOM or bytes show."""
        if self.config.encoding != "auto":
            return self.config.encoding
        try:
            with self.path.open("rb") as file:
                start = file.read(4)
        except OSError as exc:
            raise self._unreadable(exc) from None
        for bom, encoding in _BOMS:
            if start.startswith(bom):
                return encoding
        if self._decodes("utf-8"):
            return "utf-8"
        log.info(
            "%s: not UTF-8, reading it as cp1252 (Windows); set encoding: to override", self.path
        )
        return "cp1252"

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
        return SourceError(f"{self.path}: the file changed while it was read as {encoding}")

    def _open(self, encoding: str) -> TextIO:
        try:
            return self.path.open(encoding=encoding, newline="")
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> SourceError:
        return SourceError(f"{self.path}: cannot read: {exc.strerror or exc}")

    def _start(self, stream: TextIO) -> tuple[list[str], Iterator[tuple[int, list[str]] | Problem]]:
        """Sniff the delimiter and read the header; return the column names and the rows."""
        lines = iter(stream)
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
        delimiter = self.config.delimiter
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
        if isinstance(first, Problem):
            raise SourceError(
                f"{self.path}: cannot read the header: line {first.line}: {first.message}"
            )
        columns = first[1]
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


class _Feed:
    """Physical lines for ``csv.reader``, keeping those of the row being read so that a broken
    row can be read again from its second line. Also notes NUL bytes, which csv lets through."""

    __slots__ = ("exhausted", "lines", "nul", "replay", "taken")

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.replay: list[str] = []  # lines to hand out again, last first
        self.taken: list[str] = []  # lines of the row being read
        self.nul = False
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
        if "\x00" in line:
            self.nul = True
        self.taken.append(line)
        return line

    def restart(self) -> None:
        """Hand out the current row's lines again, from its second one."""
        self.replay.extend(reversed(self.taken[1:]))
        self.taken.clear()
        self.nul = self.exhausted = False


def parse_rows(
    lines: Iterator[str], delimiter: str, width: int | None, layout: str
) -> Iterator[tuple[int, list[str]] | Problem]:
    """``(first line, stripped fields)`` per non-blank row of ``lines``; a ``Problem`` per
    broken one. Every row must have ``width`` fields; ``None`` takes the first row's count
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
                if feed.nul:
                    feed.nul = False
                    yield Problem("contains a NUL byte", start)
                    continue
                values = [field.strip() for field in fields]
                if not any(values):
                    continue
                if width is None:
                    width = len(values)
                elif len(values) != width:
                    count = "1 field" if len(values) == 1 else f"{len(values)} fields"
                    message = f"{count}, {layout} has {width}"
                    yield Problem(message, start)
                    continue
                yield start, values
            else:
                return
        except csv.Error as exc:
            start = line + 1
            if len(feed.taken) > 1 or feed.exhausted:
                problem = "unclosed quote"
            else:
                problem = f"cannot parse: {exc}"
        yield Problem(problem, start)
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
