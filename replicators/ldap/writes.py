"""The LDAP operations of the export target, on one bound ldap3 connection: each answers
the server's result code, sorted into what the target acts on.

A result that concerns one entry (a value the target's schema refuses, a name taken) is
returned for the target to handle; one that stops every write (no access, a lost
connection, a busy server) raises ``TargetError`` naming the server and the entry: the run
fails, its position stays, and the next run sends the same changes again.
"""

from __future__ import annotations

from collections.abc import Callable

import ldap3
from ldap3.core.exceptions import LDAPException

from metadir.core.records import StoredEntry
from replicators.base import TargetError
from replicators.ldap.connection import describe
from replicators.ldap.server import Endpoint

SUCCESS, NO_SUCH_OBJECT, ALREADY_EXISTS = 0, 32, 68
# the server refuses this entry, not the export: a value its schema does not take
# (undefinedAttributeType, constraintViolation, invalidAttributeSyntax, invalidDNSyntax,
# namingViolation, objectClassViolation, notAllowedOnRDN, notAllowedOnNonLeaf, ...)
ENTRY_PROBLEMS = frozenset({17, 18, 19, 20, 21, 34, 64, 65, 66, 67, 69})


class Writer:
    """One bound connection to the target's server."""

    def __init__(self, conn: ldap3.Connection, endpoint: Endpoint) -> None:
        self.conn = conn
        self.endpoint = endpoint

    def add(self, dn: str, attributes: dict[str, list[str]]) -> dict:
        return self._do(f"adding {dn}", lambda: self.conn.add(dn, None, attributes))

    def modify(self, dn: str, changes: dict[str, list[str]]) -> dict:
        """Replace the values of each attribute of ``changes`` (none: remove it)."""
        replace = {name: [(ldap3.MODIFY_REPLACE, values)] for name, values in changes.items()}
        return self._do(f"changing {dn}", lambda: self.conn.modify(dn, replace))

    def rename(self, dn: str, rdn: str) -> dict:
        return self._do(f"renaming {dn}", lambda: self.conn.modify_dn(dn, rdn))

    def delete(self, dn: str) -> dict:
        return self._do(f"deleting {dn}", lambda: self.conn.delete(dn))

    def read(self, dn: str, attributes: list[str]) -> dict[str, list[str]] | None:
        """The named attributes of one entry (lower-cased names); None if it is gone."""
        result = self._do(
            f"reading {dn}",
            lambda: self.conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes),
        )
        if result["result"] == NO_SUCH_OBJECT or not self.conn.response:
            return None
        raw = self.conn.response[0].get("raw_attributes", {})
        return {
            name.lower(): [value.decode("utf-8", "replace") for value in values]
            for name, values in raw.items()
        }

    def _do(self, what: str, operation: Callable[[], object]) -> dict:
        try:
            operation()
        except LDAPException as exc:
            raise TargetError(f"{self.endpoint.url}: {what}: connection lost ({exc})") from None
        result: dict = self.conn.result
        code = result.get("result")
        if code in (SUCCESS, NO_SUCH_OBJECT, ALREADY_EXISTS) or code in ENTRY_PROBLEMS:
            return result
        raise TargetError(f"{self.endpoint.url}: {what}: {describe(result)}")


def problem_text(entry: StoredEntry, dn: str, what: str, result: dict) -> str:
    """One line for the run's problems: which contact, where, and the server's reason."""
    name = (entry.attributes.get("displayName") or entry.attributes.get("cn") or [entry.uuid])[0]
    return f"{name!r} ({entry.uuid}): {what} {dn}: {describe(result)}"
