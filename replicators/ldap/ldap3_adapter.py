"""Everything metadir takes from ldap3 beyond its documented API, in one place.

ldap3 connects, binds and encodes requests; metadir reads search answers off the wire
itself (``wire.py``), which needs ldap3's strategy internals: ``send`` of a prepared
request, ``receiving`` of raw messages, the ``_outstanding`` table it keeps per message.
Filters are checked with ldap3's own parser, so that a filter the configuration accepts is
one ldap3 can send. ``tests/unit/test_adapters_ldap3.py`` checks each of these against the
installed ldap3 and names its version when an upgrade changes one.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidFilterError
from ldap3.operation.search import parse_filter, search_operation
from ldap3.protocol.microsoft import show_deleted_control
from ldap3.protocol.rfc2696 import paged_search_control
from ldap3.strategy.sync import SyncStrategy

VERSION: str = ldap3.__version__
# the minor version this module was written against (pyproject pins it)
TESTED = "2.9"

# the parameters metadir passes by position, in ldap3's order
_SEARCH_OPERATION = (
    "search_base", "search_filter", "search_scope", "dereference_aliases", "attributes",
    "size_limit", "time_limit", "types_only", "auto_escape", "auto_encode",
)  # fmt: skip
_PARSE_FILTER = (
    "search_filter",
    "schema",
    "auto_escape",
    "auto_encode",
    "validator",
    "check_names",
)


def filter_is_valid(text: str) -> bool:
    """Whether ldap3 can encode ``text`` (with its parentheses) as a search filter."""
    try:
        parse_filter(text, None, True, True, None, False)
    except LDAPInvalidFilterError:
        return False
    return True


def send_search(
    conn: ldap3.Connection,
    base: str,
    search_filter: str,
    scope: str,
    attributes: list[str],
    size_limit: int,
    controls: list[Any],
) -> int:
    """Send a search request on ``conn`` and return its message id; the answer is left on
    the socket for ``receive``. Raises ldap3's communication errors."""
    request = search_operation(
        base, search_filter, scope, ldap3.DEREF_NEVER, attributes, size_limit, 0, False,
        conn.auto_escape, conn.auto_encode,
    )  # fmt: skip
    message_id: int = conn.strategy.send("searchRequest", request, controls or None)
    # ldap3 keeps the request until it reads the answer itself, which it does not here
    conn.strategy._outstanding.pop(message_id, None)
    return message_id


def receive(conn: ldap3.Connection) -> list[bytes]:
    """The next raw LDAPMessages the server sent on ``conn`` (empty: it closed the
    connection). Raises ldap3's communication errors."""
    messages: list[bytes] = conn.strategy.receiving()
    return messages


def paged_control(page_size: int, cookie: bytes | None) -> Any:
    """The paged-results request control (RFC 2696), not critical."""
    return paged_search_control(False, page_size, cookie)


def show_deleted() -> Any:
    """Active Directory's Show Deleted control: tombstones are found too."""
    return show_deleted_control(True)


def drop(conn: ldap3.Connection) -> None:
    """Close the socket of a connection that cannot unbind any more."""
    with contextlib.suppress(LDAPException, OSError):
        conn.strategy.close()


def contract_problems() -> list[str]:
    """What this module relies on that the installed ldap3 no longer has, each naming the
    ldap3 version; empty when all holds."""
    problems = []

    def parameters(function: Any, expected: tuple[str, ...]) -> None:
        names = tuple(inspect.signature(function).parameters)[: len(expected)]
        if names != expected:
            problems.append(f"{function.__module__}.{function.__name__}{names}, not {expected}")

    parameters(search_operation, _SEARCH_OPERATION)
    parameters(parse_filter, _PARSE_FILTER)
    for name in ("send", "receiving", "close"):
        if not callable(getattr(SyncStrategy, name, None)):
            problems.append(f"ldap3.strategy.sync.SyncStrategy has no method {name}()")
    strategy = ldap3.Connection(ldap3.Server("localhost")).strategy
    if not hasattr(strategy, "_outstanding"):
        problems.append(f"{type(strategy).__name__} keeps no _outstanding requests")
    return [f"ldap3 {VERSION} (metadir is tested with {TESTED}): {p}" for p in problems]
