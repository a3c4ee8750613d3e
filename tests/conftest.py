"""Shared fixtures: real slapd, Samba AD DC and metadir server processes on free loopback
addresses and ports; and the markers each test folder gives its tests.

``tests/unit`` runs in-process (SQLite, the protocol over an in-memory transport),
``tests/integration`` against slapd, Samba AD, PostgreSQL, ``tests/e2e`` against metadir
serving over TCP to real clients. A unit test that takes a PostgreSQL store (the second
case of ``store_url``) counts as integration: ``pytest -m unit`` needs no server at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

# PostgreSQL store fixtures, see tests/postgres.py
from tests.postgres import postgres_database, postgres_url, store_url  # noqa: F401
from tests.samba import SAMBA, SAMBA_TOOL, SambaDC, running_dc
from tests.servers import SLAPADD, SLAPD, MetadirServer, SlapdServer, start_metadir, stop_metadir

# the browser and page fixtures of the tests in a real browser
pytest_plugins = ["tests.browser"]

KINDS = ("unit", "integration", "e2e")
# markers that name a server a test needs: such a test is no unit test
_SERVERS = ("postgres", "slapd", "mariadb")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        kind = next((k for k in KINDS if f"/tests/{k}/" in f"/{item.path.as_posix()}"), None)
        if kind == "unit" and any(item.get_closest_marker(m) for m in _SERVERS):
            kind = "integration"
        if kind is not None:
            item.add_marker(kind)


def need_slapd() -> None:
    if SLAPD is None or SLAPADD is None:
        pytest.skip("slapd is not installed (Debian package slapd; scripts/test.sh installs it)")


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    """One Samba AD DC for the session, from the cached provisioned domain (see tests/samba.py).
    Tests share it: each writes below an OU of its own and asserts only on what it wrote."""
    if SAMBA is None or SAMBA_TOOL is None:
        pytest.skip(
            "samba is not installed (Debian samba-ad-dc samba-ad-provision; scripts/test.sh)"
        )
    with running_dc(tmp_path_factory.mktemp("samba") / "dc") as dc:
        yield dc


@pytest.fixture
def make_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], SlapdServer]]:
    """Build slapd instances (configured, not started); all are stopped at teardown."""
    need_slapd()
    made: list[SlapdServer] = []

    def make() -> SlapdServer:
        server = SlapdServer(tmp_path_factory.mktemp("slapd"))
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def make_metadir(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., MetadirServer]]:
    """Start metadir servers: ``make(config, files={name: text})`` syncs once and serves;
    each one still running at teardown must exit 0 on SIGTERM."""
    started: list[MetadirServer] = []

    def make(config: dict, files: dict[str, str] | None = None) -> MetadirServer:
        server = start_metadir(tmp_path_factory.mktemp("metadir"), config, files)
        started.append(server)
        return server

    yield make
    for server in started:
        if server.process is not None:
            stop_metadir(server)
