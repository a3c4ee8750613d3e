"""Who may sign in on the web: the admins of ``http.admins`` (the status page, and every
directory the address may read), and the LDAP server's accounts (``server.accounts``:
the phone book shows them what a bind as that account would), by DN or by the value of
the DN's first part (``pbx`` for ``cn=pbx,dc=meta``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from metadir.core.dn import parse_dn
from metadir.ldap.authenticator import Authenticator, Identity
from metadir.ldap.passwords import verify
from metadir.web.settings import WebAdmin


@dataclass(frozen=True, slots=True)
class SignedIn:
    name: str
    identity: Identity
    admin: bool


class WebAccounts:
    """Checks a name and password; ``ldap`` is the LDAP server's authenticator, so that its
    accounts sign in here as they bind there, and failures from an address are slowed by
    the same brake whichever way they come."""

    def __init__(self, admins: Iterable[WebAdmin], ldap: Authenticator) -> None:
        self.admins = {a.name: a.password.get_secret_value() for a in admins}
        self.ldap = ldap
        self._short: dict[str, str] = {}  # the first RDN's value -> the account's DN
        for account in ldap.accounts.values():
            short = str(parse_dn(account.dn)[0][0][1]).lower()
            # a value two accounts share names neither: they sign in with their DN
            self._short[short] = account.dn if short not in self._short else ""

    def authenticate(self, name: str, password: str) -> SignedIn | None:
        """Slow on purpose (argon2): call it in a thread."""
        held = self.admins.get(name)
        if held is not None:
            if verify(held, password):
                return SignedIn(name, Identity(f"admin:{name}", None), admin=True)
            return None
        dn = self._short.get(name.lower()) or name  # "" (ambiguous) falls back to the name
        identity = self.ldap.authenticate(dn, password)  # unknown names cost a decoy check
        return SignedIn(identity.dn, identity, admin=False) if identity else None

    def failed(self, address: str) -> float:
        return self.ldap.failed(address)

    def succeeded(self, address: str) -> None:
        self.ldap.succeeded(address)
