"""What the web front end's handlers share: one ``Web`` per ``metadir serve``, built by the
service (``metadir.service.web``) from the config, the tree and the service's clock and
thread pool."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.web.server import Request

from metadir.core.schedule import Schedule
from metadir.directory.tree import DirectoryTree
from metadir.ldap.access import AccessPolicy, parse_address
from metadir.ldap.authenticator import ANONYMOUS, Identity
from metadir.store.store import Store
from metadir.web.accounts import WebAccounts
from metadir.web.http import client_host
from metadir.web.metrics import Metrics
from metadir.web.sessions import Session, Sessions
from metadir.web.settings import HttpConfig
from metadir.web.status import StatusPoller


@dataclass(frozen=True, slots=True)
class ReplicatorInfo:
    """A configured replicator as the status page lists it."""

    name: str
    type: str
    directory: str
    schedule: Schedule | None


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """A configured export as the status page lists it: ``key`` names its runs and lease
    (and Run now's request); without a schedule it runs after its directories' imports."""

    name: str
    key: str
    type: str
    directories: tuple[str, ...]
    schedule: Schedule | None


class Started(Protocol):
    """What Run now answers (the scheduler's ``RunNow``)."""

    started: bool
    message: str


@dataclass
class Web:
    settings: HttpConfig
    tree: DirectoryTree
    store: Store
    policy: AccessPolicy
    accounts: WebAccounts
    sessions: Sessions
    status: StatusPoller
    metrics: Metrics
    replicators: list[ReplicatorInfo]
    # Run now: (replicator, who pressed it) -> Deferred[Started]
    run_now: Callable[[str, str], Deferred[Any]]
    clock: Any  # IReactorTime: the failed sign-in brake's delays
    in_thread: Callable[..., Deferred[Any]]  # blocking work (password hashes, store reads)
    node: str
    access_log: bool = True  # one line per request to metadir.access
    exports: list[ExportInfo] = field(default_factory=list)

    def visitor(self, request: Request) -> tuple[Session | None, Identity]:
        session = self.sessions.of(request)
        return session, session.identity if session else ANONYMOUS

    def visible(self, request: Request, identity: Identity) -> set[str] | None:
        """The directories ``identity`` may read from the request's address, as over LDAP."""
        return self.policy.visible(identity, parse_address(client_host(request)))
