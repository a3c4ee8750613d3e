"""``type: command``: its settings as the config loads them, and JSON lines as a read
hands them on (the programs themselves run in tests/integration/test_command_replicator.py)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from metadir.config import load_config
from metadir.core.errors import ConfigError, SourceError
from replicators.base import Problem, Record, Removed
from replicators.command_values import checkpoint_of, json_item

CONFIG = """\
store: {{url: "sqlite:///metadir.db"}}
directories:
  - name: contacts
    replicators:
      - name: erp
        type: command
        key: id
{extra}
"""


def load(tmp_path: Path, extra: str) -> None:
    path = tmp_path / "metadir.yaml"
    path.write_text(CONFIG.format(extra=textwrap.indent(extra, " " * 8)), encoding="utf-8")
    load_config(path)


def problems(tmp_path: Path, extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, extra)
    return str(caught.value)


def test_a_command_loads(tmp_path: Path) -> None:
    load(tmp_path, f"command: {sys.executable} -m erp_export --all\ntimeout: 2m\n"
                   "environment: {ERP_TOKEN: abc}\nformat: csv\ndelimiter: ';'\n")  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("command: no-such-erp --all", "command: program 'no-such-erp' is not on PATH"),
        ("command: 'unclosed \"quote'", "command: cannot read 'unclosed \"quote' as a command"),
        (f"command: {sys.executable}\ndelimiter: ';'", "delimiter: only with format: csv"),
        (f"command: {sys.executable}\nenvironment: {{1X: a}}", "'1X' is no variable name"),
        (f"command: {sys.executable}\nenvironment: {{METADIR_STATE: a}}", "is metadir's own"),
        (f"command: {sys.executable}\ntimeout: soon", "expected a duration such as 30s"),
        (f"command: {sys.executable}\nencoding: klingon", "unknown text encoding 'klingon'"),
        (f"command: {sys.executable}\nformat: xml", "format: Input should be 'jsonl' or 'csv'"),
    ],
)  # fmt: skip
def test_bad_settings_are_named(tmp_path: Path, extra: str, message: str) -> None:
    text = problems(tmp_path, extra)
    assert "replicators[0]" in text and message in text, text


def test_a_secret_in_the_environment_is_not_echoed(tmp_path: Path) -> None:
    text = problems(
        tmp_path, f"command: {sys.executable}\nenvironment: {{ERP_TOKEN: [Geheim-4711]}}"
    )
    assert "environment.ERP_TOKEN" in text and "Geheim-4711" not in text, text


@pytest.mark.parametrize(
    ("line", "item"),
    [
        ('{"id": "7", "sn": "Berg"}', Record(("7",), {"id": "7", "sn": "Berg"}, 3)),
        # numbers as written, null as no value, lists as several values
        ('{"id": 7, "x": 0.10, "y": null, "m": ["1", 2]}',
         Record(("7",), {"id": "7", "x": "0.10", "m": ["1", "2"]}, 3)),
        ('{"id": "7", "sn": "a\\u0000b"}', Problem("field 'sn': holds a NUL character", 3, ("7",))),
        ('{"id": "7", "sn": "\udcfc"}',
         Problem("field 'sn': holds bytes that are no text in the output's encoding", 3, ("7",))),
        ('{"id": true}', Problem("key field 'id': not one text or number", 3)),
        ('{"id": ""}', Problem("key field 'id' is missing", 3)),
        ('{"id": "7", "n": NaN}',
         Problem("field 'n': NaN or Infinity is no text or number", 3, ("7",))),
        ('"text"', Problem("a text or number in JSON, not an object", 3)),
        ("[" * 100_000, Problem("not JSON this program can read: nested too deeply", 3)),
        ('{"_removed": {"id": "7"}}', Problem("key field 'id' is missing", 3)),
    ],
)  # fmt: skip
def test_json_lines(line: str, item: object) -> None:
    assert json_item(line, 3, ["id"], incremental=False) == item


def test_incremental_lines() -> None:
    assert json_item('{"_removed": {"id": 7}}', 3, ["id"], True) == Removed(("7",))
    assert json_item('{"_removed": "7"}', 3, ["id"], True) == Problem("_removed: not an object", 3)
    line = '{"_checkpoint": {"usn": 12, "at": 1.5}, "whole": false}'
    data = json_item(line, 9, ["id"], True)
    assert isinstance(data, dict)
    # the state keeps its numbers
    assert checkpoint_of(data, 9, "program x") == ({"usn": 12, "at": 1.5}, False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"_checkpoint": 5}, "_checkpoint must be an object"),
        ({"_checkpoint": {}, "whole": "yes"}, "whole must be true or false"),
        ({"_checkpoint": {}, "full": True}, "unknown key 'full'"),
    ],
)
def test_broken_checkpoints_fail_the_read(data: dict[str, object], message: str) -> None:
    with pytest.raises(SourceError, match=f"^program x: line 9: checkpoint: {message}$"):
        checkpoint_of(data, 9, "program x")
