"""The Exchange on-premises replicator (``type: ews``): contact folders of chosen mailboxes
through Exchange Web Services' ``SyncFolderItems``, with exchangelib.

Each chosen folder is one sync stream: the first run reads it whole (SyncFolderItems
without a SyncState, page by page up to ``IncludesLastItemInRange``) asking for exactly the
properties the mapping reads, and keeps the folder's SyncState; later runs go on from it and
get only the created, changed and deleted items (read flags are no change of a contact).
A SyncState the server refuses (``ErrorInvalidSyncStateData``, ``ErrorSyncFolderNotFound``),
a folder without one, other settings or ``full_every`` make the run a full one that says
why. Every folder is read to its end before the first row is handed on, so that an item
changed twice counts once and a refused SyncState met late drops nothing already passed on.
A dropped connection is tried again from the folder's start (``retries``, ``retry_delay``);
ErrorServerBusy's BackOffMilliseconds is obeyed by exchangelib itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.ews.exchangelib_adapter import (
    FIELDS,
    Change,
    Folder,
    Passing,
    Session,
    SyncStateExpired,
)
from replicators.ews.settings import EwsSettings
from replicators.ews.state import SYNC_STATES, checkpoint, full_reason
from replicators.http_client import MAX_BACKOFF

log = logging.getLogger(__name__)

Item = Record | Problem | Removed
# (mailbox, folder) -> its changes
Read = list[tuple[str, Folder, dict[str, Change]]]


class EwsReplicator:
    def __init__(self, config: EwsSettings, context: Context) -> None:
        self.config = config
        self.context = context
        # HTTP requests of the last check or read, tries and NTLM handshakes included
        # (scripts/bench_ews.py)
        self.requests = 0

    def check(self) -> list[str]:
        """Sign in, learn the server's version, and find every chosen folder: what the
        service account may not read is named with what to grant."""
        session = self._session()
        try:
            session.version()
            for mailbox in self.config.mailboxes:
                session.folders(mailbox.mailbox, mailbox.folders)
        finally:
            self._close(session)
        return list(dict.fromkeys([*FIELDS, *self.config.wanted_fields]))

    def read(self, state: dict[str, Any] | None = None) -> Iterator[Item | Checkpoint]:
        config = self.config
        started = self.context.clock()
        reason = full_reason(config, state, started)
        session = self._session()
        try:
            self.context.phase("connect")
            folders = [
                (mailbox.mailbox, folder)
                for mailbox in config.mailboxes
                for folder in session.folders(mailbox.mailbox, mailbox.folders)
            ]
            read: Read = []
            sync_states: dict[str, str] = {}
            if reason is None:
                assert state is not None
                saved = state[SYNC_STATES]
                missing = [(m, f) for m, f in folders if _name(m, f) not in saved]
                if missing:
                    mailbox, folder = missing[0]
                    reason = f"no SyncState yet for folder {folder.name!r} of {mailbox}"
                else:
                    try:
                        read, sync_states = self._read(session, folders, saved)
                    except SyncStateExpired as exc:
                        reason = f"{exc.code} for {exc.where}: read whole again"
                        log.info("%s: %s", config.name, reason)
            if reason is not None:
                read, sync_states = self._read(session, folders, None)
        finally:
            self._close(session)
        yield from self._items(read, incremental=reason is None)
        yield checkpoint(config, state, reason, started, sync_states)

    def _session(self) -> Session:
        return Session(self.config, self.context.base_dir)

    def _close(self, session: Session) -> None:
        self.requests = session.requests
        session.close()

    def _read(
        self, session: Session, folders: list[tuple[str, Folder]], saved: dict[str, str] | None
    ) -> tuple[Read, dict[str, str]]:
        """Every folder from its saved SyncState or (``saved`` None) whole: the changes of
        each and the new SyncStates."""
        read: Read = []
        states: dict[str, str] = {}
        for mailbox, folder in folders:
            name = _name(mailbox, folder)
            what = f"contact folder {folder.name!r} of {mailbox}"
            start = None if saved is None else saved[name]
            tries = 0
            while True:
                try:
                    changes, states[name] = session.sync(
                        folder, start, self.config.wanted_fields, self.context.tick, what, mailbox
                    )
                    break
                except SyncStateExpired as exc:
                    raise SyncStateExpired(exc.code, what) from None
                except Passing as exc:
                    tries = self._wait(tries, exc)
            read.append((mailbox, folder, changes))
        return read, states

    def _wait(self, tries: int, exc: SourceError) -> int:
        settings = self.config
        if tries >= settings.retries:
            spent = f" (tried {tries + 1} times)" if tries else ""
            raise SourceError(f"{exc}{spent}") from None
        delay = min(settings.retry_delay * 2**tries, MAX_BACKOFF)
        log.info("%s: %s: reading the folder again in %g s", settings.name, exc, delay)
        time.sleep(delay)
        return tries + 1

    def _items(self, read: Read, incremental: bool) -> Iterator[Item]:
        line = 0
        for _, _, changes in read:
            for ident, change in changes.items():
                line += 1
                if change.values is None:
                    if incremental:
                        yield Removed((ident,))
                    continue
                yield Record((ident,), change.values, line)


def _name(mailbox: str, folder: Folder) -> str:
    """A folder's key in the state."""
    return f"{mailbox.casefold()}/{folder.ident}"
