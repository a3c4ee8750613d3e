"""The meta database (SQL, the source of truth) and its change sequence.

Rooms, lowest first: ``connection`` (engines, dialect quirks, transactions), ``models``
(tables), ``migrate`` (schema revisions, alembic), ``engine`` (opening a store, the look
``metadir check`` takes), ``entries`` (entries and the change feed), ``layout``
(directories, replicators and their saved state), ``runs`` (run records, status, history),
``leases`` (which node runs a replicator), ``nodes`` (the nodes running ``serve``);
``store`` is the facade the rest of metadir uses. ``schedlock`` stands beside them: one
scheduler per SQLite file. The package itself imports nothing, so that reading
``settings`` (the config does, for every command) loads no SQL.
"""
