"""Directory sources: LDAP servers (``type: ldap``) — Active Directory, OpenLDAP, Domino or
any LDAPv3 server, each with a preset from ``schema/ldap_presets.yaml`` — and the parts the
LDIF replicator shares with them."""

from replicators.ldap.config import LdapConfig

__all__ = ["LdapConfig"]
