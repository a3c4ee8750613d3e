"""The web front end of ``metadir serve``: the phone book, the estos-compatible JSON search,
the status page for admins, and the metrics and health endpoints, on twisted.web over the
same in-memory directory tree as the LDAP server."""
