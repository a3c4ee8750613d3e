"""The LDAP front end: connections, requests, access, controls; serves a directory backend."""
