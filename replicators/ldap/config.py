"""The ``type: ldap`` entry point: the LDAP server settings (``settings.py``) and how they
build the replicator. ldap3 is imported when a replicator is built, not when the
configuration is loaded (``import metadir.config`` stays fast)."""

from __future__ import annotations

from replicators.base import Context, Replicator
from replicators.ldap.settings import LdapSettings


class LdapConfig(LdapSettings):
    def build(self, context: Context) -> Replicator:
        from replicators.ldap.source import LdapReplicator

        return LdapReplicator(self, context)
