"""SQL column values as text (``replicators/sql/values.py``), ODBC connection strings
(``odbc.py``) and the saved state of incremental reads (``state.py``): no server needed."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from replicators.sql import odbc
from replicators.sql.config import SqlConfig
from replicators.sql.source import earlier
from replicators.sql.state import checkpoint, decode, encode, full_reason
from replicators.sql.values import text


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        (" Anna\x00 ", "Anna"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (Decimal("12.50"), "12.5"),
        (Decimal("100.00"), "100"),
        (Decimal("1E+2"), "100"),
        (Decimal("0.000"), "0"),
        (2.0, "2"),
        (2.5, "2.5"),
        (1e20, "1e+20"),
        (0.1, "0.1"),
        (date(2024, 5, 1), "2024-05-01"),
        (datetime(2024, 5, 1, 10), "2024-05-01T10:00:00"),
        (datetime(2024, 5, 1, 10, tzinfo=UTC), "2024-05-01T10:00:00+00:00"),
        (time(8, 30), "08:30:00"),
        (timedelta(hours=30, seconds=5), "30:00:05"),
        (timedelta(seconds=-1.5), "-00:00:01.5"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (b"caf\xc3\xa9", "café"),
        (b"\xff\xfe", None),
        (b"", None),
        (["a", None, " ", 3], ["a", "3"]),
        ([], None),
    ],
)
def test_values_as_a_person_writes_them(value: object, shown: object) -> None:
    assert text(value) == shown


def test_bytes_of_a_photo_column_are_base64() -> None:
    assert text(b"\xff\xd8\xff", binary=True) == "/9j/"
    assert text(memoryview(b"ab"), binary=True) == "YWI="


def test_odbc_strings_take_a_password_and_hide_it() -> None:
    given = "DRIVER={MariaDB Unicode};SERVER=db;UID=reader"
    secret = "a;b}c={d"
    merged = odbc.with_password(given, secret)
    assert odbc.parse(merged)[-1] == ("PWD", secret)
    assert odbc.hidden(merged) == "DRIVER={MariaDB Unicode};SERVER=db;UID=reader;PWD=***"
    assert odbc.hidden("DSN=crm;Password=x") == "DSN=crm;Password=***"
    assert odbc.hidden("DSN={broken") == "(a malformed ODBC connection string)"
    with pytest.raises(ValueError, match="not closed"):
        odbc.parse("DSN={x")
    with pytest.raises(ValueError, match="no KEYWORD=value"):
        odbc.parse("DSN=x;garbage")


@pytest.mark.parametrize(
    "mark",
    [
        datetime(2024, 5, 1, 10, 0, 0, 5, tzinfo=UTC),
        datetime(2024, 5, 1),
        date(2024, 5, 1),
        12,
        Decimal("1.5"),
        b"\x00\x00\x07\xd1",
        "2024-05-01 10:00:00",
    ],
)
def test_a_high_water_mark_keeps_its_type(mark: object) -> None:
    assert decode(encode(mark)) == mark


def test_the_overlap_goes_back_in_time_only() -> None:
    five = timedelta(minutes=5)
    assert earlier(datetime(2024, 5, 1, 10), five) == datetime(2024, 5, 1, 9, 55)
    assert earlier("2024-05-01 10:00:00", five) == "2024-05-01 09:55:00"
    assert earlier(b"\x07\xd1", five) == b"\x07\xd1"
    assert earlier(42, five) == 42


def test_when_a_read_is_whole() -> None:
    config = SqlConfig.model_validate(
        {
            "name": "crm",
            "type": "sql",
            "url": "sqlite:///x.db",
            "table": "t",
            "key": "id",
            "changed_column": "ts",
        }
    )
    now = datetime(2024, 5, 2, tzinfo=UTC)
    saved = checkpoint(config, None, "", now, datetime(2024, 5, 1)).state
    assert full_reason(config, None, now) == ""
    assert full_reason(config, saved, now + timedelta(hours=1)) is None
    assert full_reason(config, saved, now + timedelta(days=1)).startswith("periodic full read")
    assert full_reason(config, {**saved, "fingerprint": "x"}, now).startswith("settings changed")
    assert full_reason(config, {**saved, "high_water": None}, now) == "no row had a ts value yet"
    assert full_reason(config, {"full_at": 3}, now) == (
        "saved state unusable: no time of the last whole read"
    )
    assert full_reason(config, {**saved, "full_at": "2024-05-01T00:00:00"}, now).endswith(
        "has no time zone"
    )
    again = checkpoint(config, saved, None, now + timedelta(hours=1), datetime(2024, 5, 3))
    assert again.full is False and again.state["full_at"] == saved["full_at"]
