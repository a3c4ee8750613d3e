"""A text file read from start to end, and whether it changed meanwhile: its identity
(size, modification time, inode, device) and whether its last line ends a line, before
and after the read. A source rewritten while it is read must not look like a whole one."""

from __future__ import annotations

import codecs
import os
from typing import TextIO


def identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one state of a file from another: size, modification time, inode, device."""
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev)


def ends_line(fd: int, size: int, encoding: str) -> bool:
    """Whether the file's last character, in ``encoding``, is a line end (\\n or \\r)."""
    tail = os.pread(fd, 4, max(0, size - 4))
    return tail.endswith(_line_ends(encoding))


def _line_ends(encoding: str) -> tuple[bytes, ...]:
    """The bytes of \\n and \\r in ``encoding``, without a byte order mark; UTF-16 and
    UTF-32 in either byte order (their mark decides, and the read follows it)."""
    name = codecs.lookup(encoding).name
    encodings = [f"{name}-le", f"{name}-be"] if name in ("utf-16", "utf-32") else [encoding]
    ends = []
    for each in encodings:
        # what "x" adds in front: a byte order mark (utf-8-sig) and the letter
        head = len("x".encode(each))
        ends += [f"x{end}".encode(each)[head:] for end in "\n\r"]
    return tuple(ends)


class LastLine:
    """A text stream's lines, noting whether the last one handed out ends a line."""

    __slots__ = ("ended", "lines")

    def __init__(self, stream: TextIO) -> None:
        self.lines = iter(stream)
        self.ended = True

    def __iter__(self) -> LastLine:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.ended = line.endswith(("\n", "\r"))
        return line


def count_lines(fd: int, size: int, chunk: int = 1 << 20) -> int:
    """How many lines the first ``size`` bytes of ``fd`` hold: line feeds, or for a file
    without any, carriage returns (old Mac files); a last line without a line end counts.
    Read with ``pread``, so a stream open on ``fd`` keeps its position. Counting bytes
    costs a fraction of decoding and parsing them, so it suits an estimate before a read;
    for UTF-16 and UTF-32 a character whose code holds the byte 0x0a counts too."""
    feeds = returns = 0
    offset = 0
    last = b""
    while offset < size and (data := os.pread(fd, min(chunk, size - offset), offset)):
        feeds += data.count(b"\n")
        if not feeds:
            returns += data.count(b"\r")
        offset += len(data)
        # the file's last bytes, even when the last chunk is shorter than a line end
        last = data[-8:] if len(data) >= 8 else (last + data)[-8:]
    if not offset:
        return 0
    lines = feeds or returns
    # the last line without an end (in UTF-16/32 the end's zero bytes may follow it)
    return lines + (not last.rstrip(b"\x00").endswith((b"\n", b"\r")))
