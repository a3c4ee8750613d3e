"""The LDAP replicator (``type: ldap``): reads a directory with paged results, whole or
(``usn.py``, ``timestamps.py``) only what changed since the last run.

Pages are read one at a time, so memory stays flat however large the directory is; between
pages the context may cancel the read (``Cancelled``) and hears how far it got. A lost
connection is reopened (with backoff, on any configured server) and the search starts
again; entries already handed on are skipped. A source that stays away fails the run,
which then changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPCommunicationError

from metadir.core.ber import BerError
from metadir.core.errors import SourceError
from replicators.base import Checkpoint, Context, Problem, Record, Removed
from replicators.ldap import timestamps, usn, wire
from replicators.ldap.connection import TRANSIENT, Connector, close, describe
from replicators.ldap.reading import Item, Items
from replicators.ldap.server import Endpoint
from replicators.ldap.settings import LdapSettings
from replicators.ldap.values import EntryReader, split_description

log = logging.getLogger(__name__)

_NAME = re.compile(r"NAME\s+(?:'([^']+)'|\(([^)]*)\))")
SIZE_LIMIT_EXCEEDED, NO_SUCH_OBJECT = 4, 32


class Lost(Exception):
    """The connection went away (or the server became unavailable) during the read."""


class LdapReplicator:
    """Reads one LDAP directory (``reading.Reader`` is what ``usn`` and ``timestamps`` use
    of it); ``tls.ca_file`` is relative to the context's ``base_dir``."""

    def __init__(self, config: LdapSettings, context: Context) -> None:
        self.config = config
        self.context = context
        self.connector = Connector(config, context, config.name)
        self.attributes = config.wanted_attributes()

    def check(self) -> list[str]:
        """Connect, bind, look at the base DN and the filter; the attributes a read asks for
        (without those of the replicator's own mapping the server's schema does not know)."""
        conn, endpoint = self.connector.open()
        try:
            self._check_base(conn, endpoint)
            groups = self._schema_names(conn, endpoint) if self.config.own_fields else None
        except Lost as exc:
            raise SourceError(f"{endpoint.url}: connection lost: {exc}") from None
        finally:
            close(conn)
        if groups is None:
            return list(self.attributes)
        known = {name.lower() for group in groups for name in group}
        own = {name.lower() for name in self.config.own_fields}
        return [a for a in self.attributes if a.lower() not in own or a.lower() in known]

    def read(
        self, state: dict[str, Any] | None = None
    ) -> Iterator[Record | Problem | Removed | Checkpoint]:
        """Every entry the filter selects below base_dn or, from ``state`` on, those that
        changed (and the keys of those gone), the way ``incremental`` says; then the
        Checkpoint the next run resumes from."""
        method = self.config.incremental_method
        if method == "usn":
            yield from usn.read(self, state)
        elif method == "modify_timestamp":
            yield from timestamps.read(self, state)
        else:
            yield from self.collect(self.entry_items)
            yield Checkpoint({}, full=True)

    def collect(self, items: Items, first: str | None = None) -> Iterator[Item]:
        """What ``items(conn, endpoint)`` yields on a bound connection (to the server with URL
        ``first`` if it answers). After a lost connection it runs again on a new one, and
        what the earlier attempts handed on is not repeated."""
        handed_on: set[tuple[str, Any]] = set()
        conn, endpoint = self.connector.open(first)
        reconnects = 0
        try:
            while True:
                earlier = frozenset(handed_on)
                try:
                    for item in items(conn, endpoint):
                        seen = (type(item).__name__, getattr(item, "key", None) or item)
                        if seen in earlier:
                            continue
                        handed_on.add(seen)
                        yield item
                    return
                except Lost as exc:
                    reconnects += 1
                    close(conn)
                    lost = f"{endpoint.url}: connection lost during the read ({exc})"
                    if reconnects > self.config.retries:
                        raise SourceError(
                            f"{lost}; gave up after {self.config.retries} reconnects"
                        ) from None
                    log.warning("%s: %s; reconnecting", self.config.name, lost)
                    try:
                        conn, endpoint = self.connector.open(first)
                    except SourceError as failed:
                        raise SourceError(f"{lost}; {failed}") from None
        finally:
            close(conn)

    def entry_items(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        search_filter: str | None = None,
        *,
        removals: bool = False,
        extra: tuple[str, ...] = (),
        seen: Callable[[dict[str, list[bytes]]], None] | None = None,
    ) -> Iterator[Record | Problem | Removed]:
        """The entries ``search_filter`` (the configured one by default) selects below
        base_dn, as Records and Problems; with ``removals`` accounts skip_disabled leaves
        out as Removed. ``extra`` attributes are read too, for ``seen`` to look at."""
        reader = self._reader(conn, endpoint, removals)
        wanted = [*self.attributes, *extra]
        for dn, attributes in self.entries(conn, endpoint, search_filter, wanted):
            if seen is not None:
                seen(attributes)
            item = reader.record(dn, attributes)
            if item is not None:
                yield item
        for reason, count in reader.left_out.items():
            log.info("%s: %d %s accounts left out (skip_disabled)", self.config.name, count, reason)

    def _reader(self, conn: ldap3.Connection, endpoint: Endpoint, removals: bool) -> EntryReader:
        try:
            aliases = self._schema_names(conn, endpoint) or []
        except Lost:
            aliases = []  # the read meets the lost connection too, and reconnects
        config = self.config
        return EntryReader(
            self.attributes, config.key_attributes, config.skip_disabled, aliases, removals
        )

    def entries(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        search_filter: str | None,
        attributes: list[str],
        base: str | None = None,
        controls: tuple[Any, ...] = (),
    ) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """(DN, attribute values) of every entry, page by page, AD's ranges completed."""
        cookie: bytes | None = None
        pages = 0
        while True:
            answer = self.search(
                conn,
                endpoint,
                base or self.config.base_dn,
                search_filter or self.config.search_filter,
                ldap3.SUBTREE,
                attributes,
                page_size=self.config.page_size,
                cookie=cookie,
                controls=controls,
            )
            pages += 1
            for dn, raw in answer.entries:
                yield dn, self._complete(conn, endpoint, dn, raw)
            self.context.tick(len(answer.entries))
            cookie = answer.cookie
            if not cookie:
                log.debug("%s: %d pages read", self.config.name, pages)
                return

    def _complete(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        dn: str,
        raw: dict[str, list[bytes]],
    ) -> dict[str, list[bytes]]:
        """The entry's values by attribute name; a value list AD cut short (more values than
        its MaxValRange: ``member;range=0-1499``) is fetched in full, range by range."""
        if not any(";" in description for description in raw):
            return raw  # no options: nearly every entry
        values: dict[str, list[bytes]] = {}
        for description, items in raw.items():
            parsed = split_description(description)
            if parsed is None:
                continue  # cn;lang-de and other tagged values
            name, following = parsed
            collected = values.setdefault(name, [])
            collected.extend(items)
            while following is not None:
                wanted = f"{name};range={following}-*"
                answer = self.search(conn, endpoint, dn, "(objectClass=*)", ldap3.BASE, [wanted])
                following = None
                for _, more in answer.entries:
                    for more_description, more_items in more.items():
                        more_parsed = split_description(more_description)
                        if more_parsed and more_parsed[0].lower() == name.lower():
                            collected.extend(more_items)
                            following = more_parsed[1]
        return values

    def search(
        self,
        conn: ldap3.Connection,
        endpoint: Endpoint,
        base: str,
        search_filter: str,
        scope: str,
        attributes: list[str],
        accept: tuple[int, ...] | None = (0,),
        **options: Any,
    ) -> wire.Answer:
        """One search (one page); raises ``Lost`` or ``SourceError`` unless its result is
        one of ``accept`` (None: any result)."""
        try:
            answer = wire.search(conn, base, search_filter, scope, attributes, **options)
        except (LDAPCommunicationError, wire.Closed) as exc:
            raise Lost(str(exc) or type(exc).__name__) from None
        except BerError as exc:
            raise SourceError(f"{endpoint.url}: an answer that is no LDAP: {exc}") from None
        code = answer.result.get("result")
        if accept is None or code in accept:
            return answer
        if code in TRANSIENT:
            raise Lost(describe(answer.result))
        if code == NO_SUCH_OBJECT:
            raise SourceError(self._no_base(answer.result, endpoint))
        if code == SIZE_LIMIT_EXCEEDED:
            raise SourceError(
                f"{endpoint.url}: the server stopped at its size limit "
                f"({describe(answer.result)}); it may not support paged results: "
                "raise its size limit for this account"
            )
        where = f"searching {base!r} for {search_filter}"
        raise SourceError(f"{endpoint.url}: {where}: {describe(answer.result)}")

    def _no_base(self, result: dict, endpoint: Endpoint) -> str:
        matched = str(result.get("dn") or "").strip()
        text = f"{endpoint.url}: base_dn {self.config.base_dn!r} does not exist"
        return text + (f" (the server has {matched!r})" if matched else "")

    def _check_base(self, conn: ldap3.Connection, endpoint: Endpoint) -> None:
        """The base DN exists and the server takes the filter."""
        base = self.config.base_dn
        answer = self.search(conn, endpoint, base, "(objectClass=*)", ldap3.BASE, ["1.1"])
        if not answer.entries:
            raise SourceError(f"{endpoint.url}: base_dn {base!r}: not readable with this bind")
        # sizeLimitExceeded only says that more than one entry matches
        self.search(
            conn, endpoint, base, self.config.search_filter, ldap3.SUBTREE, ["1.1"],
            accept=(0, SIZE_LIMIT_EXCEEDED), size_limit=1,
        )  # fmt: skip

    def _schema_names(self, conn: ldap3.Connection, endpoint: Endpoint) -> list[list[str]] | None:
        """The names of each attribute type of the server's schema; None when the server
        does not let this bind read its schema."""
        # a schema that cannot be read is no error: accept any result
        root = self.search(conn, endpoint, "", "(objectClass=*)", ldap3.BASE,
                            ["subschemaSubentry"], accept=None)  # fmt: skip
        found = root.values("subschemaSubentry")
        if not found:
            return None
        subschema = found[0].decode("utf-8", "replace")
        answer = self.search(conn, endpoint, subschema, "(objectClass=*)", ldap3.BASE,
                              ["attributeTypes"], accept=None)  # fmt: skip
        groups: list[list[str]] = []
        for definition in answer.values("attributeTypes"):
            match = _NAME.search(definition.decode("utf-8", "replace"))
            if match:
                single, several = match.groups()
                groups.append((single or several).replace("'", " ").split())
        return groups or None
