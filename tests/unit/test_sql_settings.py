"""Settings of SQL sources (``type: sql``): what is refused, in words, and presets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from replicators.sql.config import SqlConfig
from replicators.sql.settings import BASE_APP

BASE = {
    "name": "crm",
    "type": "sql",
    "url": "postgresql+psycopg://reader@db/crm",
    "table": "contacts",
    "key": "id",
}


def settings(**changes: Any) -> SqlConfig:
    values = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    return SqlConfig.model_validate(values, context={"base_dir": "."})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"url": None}, "give either url (a SQLAlchemy URL) or odbc"),
        ({"odbc": "DSN=crm"}, "give either url (a SQLAlchemy URL) or odbc"),
        ({"url": "nonsense"}, "not a SQLAlchemy URL"),
        ({"url": "foo://h/db"}, "no database kind 'foo'"),
        ({"url": None, "odbc": "SERVER=x"}, "name a DSN=... or a DRIVER={...}"),
        ({"url": None, "odbc": "DRIVER={x"}, "not an ODBC connection string"),
        ({"query": "SELECT 1"}, "give either query (a SELECT) or table"),
        ({"table": None}, "give either query (a SELECT) or table"),
        ({"table": None, "query": "SELECT 1", "where": "x"}, "where: only with table"),
        ({"query": " ; "}, "empty"),
        ({"key": []}, "key: name the column(s)"),
        ({"key": None}, "key: name the column(s)"),
        ({"preset": "sap"}, "preset: 'sap' is none of crm-contacts, nav-contact"),
        ({"table": None, "preset": "nav-contact"}, "company: preset nav-contact reads"),
        ({"url": "mysql+pymysql://u:pw@h/db", "password": "x"}, "url: holds a password"),
        ({"url": None, "odbc": "DSN=a;PWD=x", "password": "y"}, "odbc: holds a password"),
        ({"deleted_column": "gone", "deleted_values": []}, "deleted_values: name what"),
        ({"overlap": "0s"}, "must be longer than 0s"),
        ({"full_every": -3600}, "must not be negative"),
        ({"batch_size": 0}, "greater than or equal to 1"),
        ({"limit": 3}, "Extra inputs are not permitted"),
    ],
)
def test_what_is_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(
        ValidationError,
        match=message.replace("(", r"\(")
        .replace(")", r"\)")
        .replace("{", r"\{")
        .replace("}", r"\}")
        .replace(".", r"\."),
    ):
        settings(**changes)


def test_full_every_zero_reads_everything_every_run() -> None:
    assert settings(full_every=0).full_every.total_seconds() == 0
    assert settings(full_every="12h").full_every.total_seconds() == 43200


def test_a_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n", encoding="utf-8")
    config = SqlConfig.model_validate(
        {**BASE, "password_file": "pw"}, context={"base_dir": tmp_path}
    )
    assert config.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config) and config.where_shown == (
        "postgresql+psycopg://reader@db/crm"
    )
    inline = settings(url="postgresql+psycopg://reader:pw@db/crm")
    assert inline.where_shown == "postgresql+psycopg://reader:***@db/crm"
    odbc = settings(url=None, odbc="DSN=crm;UID=r;PWD={p;w}")
    assert odbc.where_shown == "ODBC DSN=crm;UID=r;PWD=***"


def test_a_query_loses_its_semicolon() -> None:
    assert settings(table=None, query=" SELECT 1;; ").query == "SELECT 1"


def test_a_preset_gives_table_key_and_mapping_and_yields_to_the_replicator() -> None:
    config = settings(
        table=None,
        key=None,
        preset="nav-contact",
        company='Müller "AG". Co/x',
        mapping={"TelephoneNumber": "Phone", "custom5": "Pager"},
    )
    assert config.table == "Müller _AG__ Co_x$Contact"
    assert config.key_columns == ("No_",)
    assert config.mapping["TelephoneNumber"] == "Phone"
    assert "telephoneNumber" not in config.mapping  # mapped by the replicator in its spelling
    assert config.mapping["mobile"] == "Mobile Phone No_"
    assert config.mapping["custom5"] == "Pager"
    bc = settings(table=None, key=None, preset="nav-customer", company="CRONUS", app_id="base")
    assert bc.table == f"CRONUS$Customer${BASE_APP}"
    own = settings(preset="crm-contacts", table="people", key="uid")
    assert (own.table, own.key_columns, own.mapping["sn"]) == ("people", ("uid",), "last_name")
