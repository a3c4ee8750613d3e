"""Config files that attack and stores that cannot be used, through the real CLI.

Each ends in one error line naming the file (and, where known, the line or key path), with
the exit code of its kind, quickly and in bounded memory, never a traceback. The children
that parse expanding or deeply nested YAML run under an address-space limit, so that a
regression fails here instead of eating the machine.
"""

from __future__ import annotations

import random
import re
import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from metadir.store.store import Store

TIME_LIMIT = 5.0
MEMORY_LIMIT = 512 << 20
REPLICATOR = "      - {name: crm, type: csv, path: crm.csv, key: Id}\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def metadir(config: Path, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``metadir COMMAND -c CONFIG`` under the memory limit; assert the time limit."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "metadir", command, "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=config.parent,
        preexec_fn=_limit_memory,
    )
    seconds = time.monotonic() - started
    assert seconds < TIME_LIMIT, f"{command} took {seconds:.1f} s"
    assert "Traceback" not in done.stderr, done.stderr
    return done


def laughs(levels: int = 12) -> str:
    """A "billion laughs": each level a list of nine aliases of the one before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Bad:
    id: str
    content: bytes
    # the one line printed after "FILE: "
    expected: str


BAD_CONFIGS = [
    Bad(
        "binary-garbage",
        b"\x9e" + random.Random(10).randbytes(4095),
        "line 1, column 1: not UTF-8 text (byte 0x9e); save it as UTF-8",
    ),
    Bad(
        "latin-1",
        b"directories:\n  - name: contacts\n    # caf\xe9\n",
        "line 3, column 10: not UTF-8 text (byte 0xe9); save it as UTF-8",
    ),
    Bad(
        "nul-byte",
        b"directories:\n  - name: con\x00tacts\n",
        "line 2, column 14: not valid YAML: control character #x0000 is not allowed",
    ),
    Bad(
        "nested-50000-deep",
        b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
        "line 1, column 35: not valid YAML: nested more than 32 levels deep",
    ),
    Bad(
        "billion-laughs",
        laughs().encode(),
        "line 6, column 10: not valid YAML: more than 100000 values, "
        "counting what each alias repeats",
    ),
    Bad(
        "alias-of-itself",
        b"a: &a [x, *a]\n",
        "line 1, column 11: not valid YAML: alias *a refers to itself",
    ),
    Bad(
        "10-MB-replicator-name",
        b"directories:\n  - name: c\n    replicators:\n      - {name: "
        + b"r" * 10_000_000
        + b", type: csv, path: crm.csv, key: Id}\n",
        "larger than 1 MiB; a config is a few KB",
    ),
    Bad(
        "long-replicator-name",
        b"directories:\n  - name: c\n    replicators:\n      - {name: "
        + b"r" * 100_000
        + b", type: csv, path: crm.csv, key: Id}\n",
        "directories[0].replicators[0].name: String should have at most 64 characters",
    ),
    Bad(
        "long-directory-name",
        b"directories:\n  - name: " + b"d" * 100_000 + b"\n",
        "directories[0].name: String should have at most 64 characters",
    ),
    Bad(
        "integer-of-5000-digits",
        b"server: {size_limit: " + b"1" * 5000 + b"}\n",
        "line 1, column 22: not valid YAML: cannot read the value: Exceeds the limit "
        "(4300 digits) for integer string conversion: value has 5000 digits",
    ),
    Bad(
        "impossible-date",
        b"location: 2024-13-45\n",
        "line 1, column 11: not valid YAML: cannot read the value: month must be in 1..12",
    ),
]


@pytest.mark.parametrize("command", ["check", "sync"])
@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[bad.id for bad in BAD_CONFIGS])
def test_a_bad_config_is_one_line(tmp_path: Path, bad: Bad, command: str) -> None:
    config = tmp_path / "metadir.yaml"
    config.write_bytes(bad.content)
    (tmp_path / "crm.csv").write_text("Id,cn\n1,Anna\n", encoding="utf-8")
    done = metadir(config, command)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"{config}: {bad.expected}"]
    assert not (tmp_path / "var").exists()


def test_serve_refuses_a_long_name_at_once(tmp_path: Path) -> None:
    config = tmp_path / "metadir.yaml"
    config.write_text(
        "directories:\n  - name: c\n    replicators:\n"
        f"      - {{name: {'r' * 100_000}, type: csv, path: crm.csv, key: Id}}\n",
        encoding="utf-8",
    )
    done = metadir(config, "serve", "--listen", "ldap://127.0.0.1:0")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"{config}: directories[0].replicators[0].name: String should have at most 64 characters"
    ]


def write_config(tmp_path: Path, store_url: str) -> Path:
    config = tmp_path / "metadir.yaml"
    config.write_text(
        f'store: {{url: "{store_url}"}}\ndirectories:\n  - name: c\n    replicators:\n'
        + REPLICATOR,
        encoding="utf-8",
    )
    (tmp_path / "crm.csv").write_text("Id,cn\n1,Anna\n", encoding="utf-8")
    return config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def newer_schema(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/metadir.db"
    with Store.open(url) as store, store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff_from_the_future'"))
    return url


@pytest.mark.parametrize(
    ("make_url", "check_line", "sync_line"),
    [
        pytest.param(
            lambda tmp: f"sqlite:///{tmp}/a-file/metadir.db",
            "{config}: store.url: store sqlite:///{tmp}/a-file/metadir.db: cannot create the "
            "directory {tmp}/a-file: {tmp}/a-file is not a directory",
            "metadir: store sqlite:///{tmp}/a-file/metadir.db: cannot create the directory "
            "{tmp}/a-file: {tmp}/a-file is not a directory",
            id="sqlite-parent-is-a-file",
        ),
        pytest.param(
            lambda tmp: f"postgresql+psycopg://metadir:s3cret@127.0.0.1:{free_port()}/metadir",
            "{config}: store.url: store postgresql+psycopg://metadir:***@127.0.0.1:{port}/metadir:"
            " cannot open: connection failed: .*Connection refused.*",
            "metadir: store postgresql+psycopg://metadir:***@127.0.0.1:{port}/metadir: cannot "
            "open: connection failed: .*Connection refused.*",
            id="postgres-refuses",
        ),
        pytest.param(
            newer_schema,
            "{config}: store.url: store sqlite:///{tmp}/metadir.db has schema revision "
            "ffff_from_the_future, which this metadir does not know .*: upgrade metadir",
            "metadir: store sqlite:///{tmp}/metadir.db has schema revision "
            "ffff_from_the_future, which this metadir does not know .*: upgrade metadir",
            id="newer-schema",
        ),
    ],
)
def test_a_store_that_cannot_be_used_is_one_line(
    tmp_path: Path, make_url: object, check_line: str, sync_line: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    url = make_url(tmp_path)  # type: ignore[operator]
    config = write_config(tmp_path, url)
    port = url.rsplit(":", 1)[-1].split("/")[0]
    for command, line in (("check", check_line), ("sync", sync_line)):
        done = metadir(config, command)
        assert done.returncode == 1, done.stderr
        [printed] = done.stderr.splitlines()
        pattern = re.escape(line.format(config=config, tmp=tmp_path, port=port))
        assert re.fullmatch(pattern.replace(r"\.\*", ".*"), printed), printed
        assert "s3cret" not in done.stderr


def test_check_creates_nothing_and_says_what_sync_will(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///var/metadir.db")
    done = metadir(config, "check")
    assert done.returncode == 0, done.stderr
    # the first line sums up; the installed kinds come last
    assert done.stdout.splitlines()[0].endswith(
        f"; store sqlite:///{tmp_path}/var/metadir.db: not created yet; "
        "the first sync or serve creates it"
    )
    assert not (tmp_path / "var").exists()
    assert metadir(config, "sync").returncode == 0
    assert (
        metadir(config, "check")
        .stdout.splitlines()[0]
        .endswith(f"store sqlite:///{tmp_path}/var/metadir.db: ok")
    )


def test_sync_says_when_it_creates_the_store_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "deeper"
    (tmp_path / "conf").mkdir()
    config = write_config(tmp_path / "conf", f"sqlite:///{elsewhere}/metadir.db")
    done = metadir(config, "sync")
    assert done.returncode == 0, done.stderr
    assert (
        f"INFO metadir.store.store: created the directory {elsewhere} for the store "
        f"sqlite:///{elsewhere}/metadir.db"
    ) in done.stderr
