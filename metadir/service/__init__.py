"""``metadir serve``: the LDAP server and what runs beside it, as one Twisted service tree."""
