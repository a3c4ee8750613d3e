"""Data, not code: the canonical field table and the LDAP tree served (YAML files)."""
