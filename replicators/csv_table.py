"""CSV text as rows: how it is laid out (``CsvLayout``), the delimiter sniffed from its
header, and a row parser that survives broken quoting. Shared by CSV files (``csv.py``)
and programs that print CSV (``command.py``): a broken row becomes a ``Row`` with its
problem and line, and reading goes on with the next line, so one stray quote never costs
the rows after it."""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Literal, NamedTuple

from pydantic import BaseModel, field_validator, model_validator

from metadir.core.errors import SourceError
from replicators.base import Problem, Record, one_or_more

log = logging.getLogger("replicators.csv")

DELIMITERS = (",", ";", "\t", "|")
# what makes a row's text unusable: a NUL byte, or a byte that was no text
_FLAWED = re.compile("[\x00\udc80-\udcff]")


def check_encoding(value: str) -> str:
    """``value`` if Python can encode text with it; raises ``ValueError`` in words."""
    try:
        # str.encode, unlike codecs.lookup, also rejects codecs such as base64 or rot13
        "".encode(value)
    except LookupError:
        raise ValueError(f"unknown text encoding {value!r}") from None
    return value


class CsvLayout(BaseModel):
    """Settings of a CSV text's layout, for a settings model that reads one."""

    # the column(s) that identify a row across runs
    key: list[str]
    # auto: sniffed from the header line among , ; tab |
    delimiter: Literal[",", ";", "\t", "|", "auto"] = "auto"
    header: bool = True
    # column names when the text has no header row
    columns: list[str] | None = None
    # a regular expression: a first line it matches is a title or format line before the
    # header (DATEV's "EXTF";700;… line), skipped
    preamble: str | None = None

    _key = field_validator("key", mode="before")(one_or_more)

    @field_validator("preamble")
    @classmethod
    def _preamble(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter(cls, value: object) -> object:
        return "\t" if isinstance(value, str) and value.lower() in ("tab", "\\t") else value

    @model_validator(mode="after")
    def _columns(self) -> CsvLayout:
        if not self.key or not all(k.strip() for k in self.key):
            raise ValueError("key: name at least one key column")
        if self.header and self.columns is not None:
            raise ValueError("columns: only used with header: false (the header names them)")
        if not self.header:
            if not self.columns:
                raise ValueError("columns: required when header is false")
            if problem := layout_problem(self.columns, self.key, "columns"):
                raise ValueError(f"columns: {problem}")
        return self


def open_table(
    lines: Iterator[str], layout: CsvLayout, where: str, text: str = "file"
) -> tuple[list[str], Iterator[Row]]:
    """Sniff the delimiter and read the header of the CSV ``text``'s ``lines``; return the
    column names and the rows. Raises ``SourceError`` naming ``where`` (a file, a program)
    if the text is empty or its header unusable."""
    head: list[str] = []  # the physical lines up to and including the first non-blank one
    preamble = layout.preamble
    for line in lines:
        head.append(line.removeprefix("\ufeff") if not head else line)
        if head[-1].strip():
            if preamble is None or not re.match(preamble, head[-1]):
                break
            log.debug("%s: line %d skipped (preamble): %.80s", where, len(head), head[-1])
            head[-1], preamble = "\n", None  # a blank line: rows keep their numbers
    else:
        raise SourceError(f"{where}: the {text} is empty")
    if "\x00" in head[-1]:
        raise SourceError(
            f"{where}: line {len(head)}: the header contains NUL bytes; "
            "if the file is UTF-16 without a byte order mark, set encoding: utf-16"
        )
    delimiter: str = layout.delimiter
    if delimiter == "auto":
        delimiter = sniff_delimiter(head[-1])
        log.debug("%s: delimiter %r", where, delimiter)
    if not layout.header:
        assert layout.columns is not None
        columns = layout.columns
        return columns, parse_rows(chain(head, lines), delimiter, len(columns), "columns")
    rows = parse_rows(chain(head, lines), delimiter, None, "header")
    first = next(rows, None)
    if first is None:
        raise SourceError(f"{where}: the {text} is empty")
    if first.problem is not None:
        raise SourceError(f"{where}: cannot read the header: line {first.line}: {first.problem}")
    columns = first.fields
    if problem := layout_problem(columns, layout.key, "header"):
        raise SourceError(f"{where}: {problem}")
    return columns, rows


def table_items(
    columns: list[str], rows: Iterator[Row], key: list[str], tick: Callable[[], None]
) -> Iterator[Record | Problem]:
    """A ``Record`` per good row of ``rows`` (laid out as ``columns``), a ``Problem`` per
    broken one, which carries its key when the fields before the break hold it; ``tick``
    is called before each."""
    key_at = [columns.index(k) for k in key]
    for row in rows:
        tick()
        if row.problem is not None:
            yield Problem(row.problem, row.line, _row_key(row.fields, key_at))
            continue
        yield Record(
            tuple(row.fields[i] for i in key_at),
            dict(zip(columns, row.fields, strict=True)),
            row.line,
        )


def _row_key(fields: list[str], key_at: list[int]) -> tuple[str, ...] | None:
    """The key of a broken row, if the fields it could read hold it intact."""
    if any(i >= len(fields) for i in key_at):
        return None
    key = tuple(fields[i] for i in key_at)
    return key if any(key) and not any(_FLAWED.search(part) for part in key) else None


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


def layout_problem(columns: list[str], key: list[str], source: str) -> str | None:
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
