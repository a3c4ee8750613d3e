"""SQL sources (``type: sql``): a table or query of a database, read through SQLAlchemy
(``url:``) or an ODBC driver (``odbc:``), whole or only the rows changed since the last run.

``config.py`` is the entry point, ``settings.py`` the settings, ``presets.py`` the layouts of
``schema/sql_presets.yaml``, ``database.py`` the connection and statements, ``odbc.py``
connection strings, ``source.py`` the replicator, ``state.py`` what incremental reads keep,
``values.py`` column values as text.
"""
