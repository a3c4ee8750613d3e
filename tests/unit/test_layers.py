"""What importing one layer pulls in: the LDAP server and the tree load no SQL and no
source library, the configuration loads no LDAP client. import-linter (run by
scripts/test.sh) checks the import graph; these check what a fresh interpreter loads."""

from __future__ import annotations

import subprocess
import sys

import pytest


def loaded(module: str, candidates: tuple[str, ...]) -> list[str]:
    """The ``candidates`` a fresh interpreter has loaded after ``import module``."""
    code = f"import sys, {module}; print(' '.join(m for m in {candidates!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return out.split()


SQL_AND_SOURCES = ("sqlalchemy", "alembic", "psycopg", "ldap3", "replicators", "metadir.store")


@pytest.mark.parametrize(
    "module",
    ["metadir.ldap.protocol", "metadir.directory.tree", "metadir.directory.evaluate"],
)
def test_the_server_and_the_tree_load_no_sql_and_no_source(module: str) -> None:
    assert loaded(module, (*SQL_AND_SOURCES, "metadir.config", "metadir.sync")) == []


def test_the_core_loads_no_layer_above_it() -> None:
    modules = "metadir.core.records, metadir.core.phone, metadir.core.ber, metadir.core.settings"
    above = ("twisted", "ldaptor", "metadir.ldap", "metadir.directory", *SQL_AND_SOURCES)
    assert loaded(modules, above) == []


def test_reading_the_config_loads_no_server_no_sql_and_no_ldap_client() -> None:
    # every command reads the config: what a command needs beyond it loads when it runs
    # (the store for sync, Twisted for serve, ldap3 when an LDAP source is read)
    heavy = ("ldap3", "twisted", "OpenSSL", "sqlalchemy", "alembic", "metadir.store.store")
    assert loaded("metadir.cli", heavy) == []
    assert loaded("metadir.config", heavy) == []
