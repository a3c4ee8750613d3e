"""Replacing a file whole: a reader (a phone fetching its phone book, a spreadsheet) opens
either the old file or the new one, never a half-written one, and a run that fails leaves
the old file as it was.

The new content goes into a temporary file in the same folder (``os.replace`` is atomic
only within one file system), is flushed to the disk, and then renamed over the old file;
the folder is synced too, so that after a power cut the name points at the old file or the
complete new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

# a new file's permissions: the phone book is served to phones, so readable by all
NEW_FILE_MODE = 0o644


def replace_file(path: Path, chunks: Iterable[bytes]) -> None:
    """Make ``path`` hold the concatenated ``chunks``, atomically. Keeps an existing file's
    permissions. On any error the temporary file is removed and ``path`` is untouched."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fchmod(file.fileno(), _mode(path))
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(path.parent)


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return NEW_FILE_MODE


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
