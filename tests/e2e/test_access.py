"""Who may read which directory from where, connection limits, the failed-bind brake and
the access log — over TCP against the real server. The brake's timing is on a task.Clock in
tests/unit/test_ldap_timing.py."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

from metadir.ldap.authenticator import BindBrake
from tests.servers import MetadirServer, hash_password, run_ldapsearch

CSV = "Id;Name;Phone\n1;Anna Alpha;+49 89 1111111\n2;Bert Beta;+49 89 2222222\n"


def config(**server: object) -> dict:
    return {
        "server": {"size_limit": 0, **server},
        "directories": [
            {"name": "public", "replicators": [
                {"name": "pub", "type": "csv", "path": "c.csv", "key": "Id",
                 "mapping": {"cn": "Name", "telephoneNumber": "Phone"}}]},
            {"name": "staff", "anonymous": False, "replicators": [
                {"name": "stf", "type": "csv", "path": "c.csv", "key": "Id",
                 "mapping": {"cn": "Name", "telephoneNumber": "Phone"}}]},
            {"name": "branch", "allow_from": ["10.0.0.0/8"], "replicators": [
                {"name": "brn", "type": "csv", "path": "c.csv", "key": "Id",
                 "mapping": {"cn": "Name", "telephoneNumber": "Phone"}}]},
            {"name": "local", "allow_from": ["127.0.0.1", "::1"], "replicators": [
                {"name": "loc", "type": "csv", "path": "c.csv", "key": "Id",
                 "mapping": {"cn": "Name", "telephoneNumber": "Phone"}}]},
        ],
    }  # fmt: skip


def directories_seen(server: MetadirServer, *bind: str) -> set[str]:
    code, out, err = run_ldapsearch(
        ["-x", "-LLL", "-H", server.url, *bind, "-b", "dc=meta", "(cn=Anna Alpha)", "1.1"]
    )
    assert code == 0, err
    return set(re.findall(r"^dn: entryUUID=[^,]+,ou=([^,]+),dc=meta$", out, re.MULTILINE))


def test_directories_by_identity_and_address(make_metadir: Callable[..., MetadirServer]) -> None:
    password = "s3cret"
    accounts = [
        {"dn": "cn=pbx,dc=meta", "password": hash_password(password)},
        {"dn": "cn=lobby,dc=meta", "password": hash_password(password), "directories": ["public"]},
    ]
    server = make_metadir(config(accounts=accounts), {"c.csv": CSV})
    # anonymous: not staff (anonymous: false), not branch (10.0.0.0/8 only)
    assert directories_seen(server) == {"public", "local"}
    # an account reads what anonymous may not, but the address rules still hold
    assert directories_seen(server, "-D", "cn=pbx,dc=meta", "-w", password) == {
        "public",
        "staff",
        "local",
    }
    assert directories_seen(server, "-D", "cn=lobby,dc=meta", "-w", password) == {"public"}
    # a directory out of reach does not exist for the client
    code, _, err = run_ldapsearch(["-x", "-H", server.url, "-b", "ou=branch,dc=meta"])
    assert code == 32, err


def test_anonymous_reads_off_except_where_allowed(
    make_metadir: Callable[..., MetadirServer],
) -> None:
    cfg = config(allow_anonymous=False)
    cfg["directories"][0]["anonymous"] = True  # the one directory open to everyone
    server = make_metadir(cfg, {"c.csv": CSV})
    assert directories_seen(server) == {"public"}
    cfg = config(allow_anonymous=False)
    server = make_metadir(cfg, {"c.csv": CSV})
    code, _, err = run_ldapsearch(["-x", "-H", server.url, "-b", "dc=meta", "(cn=*)"])
    assert code == 50, err


# an anonymous LDAPv3 bind, message 1; and the start of its successful answer
ANONYMOUS_BIND = bytes.fromhex("300c020101600702010304008000")
BIND_OK = bytes.fromhex("300c02010161070a0100")


def bound_connection(port: int) -> socket.socket:
    """A connection the server has taken and answered: until it has seen an earlier client
    (the start-up probe) close, it may still refuse one as over its limit."""
    deadline = time.monotonic() + 10
    while True:
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(5)
        try:
            s.sendall(ANONYMOUS_BIND)
            if s.recv(100).startswith(BIND_OK):
                return s
        except ConnectionResetError:
            pass
        s.close()
        assert time.monotonic() < deadline, "the server refuses every connection"
        time.sleep(0.05)


def test_connection_limits(make_metadir: Callable[..., MetadirServer]) -> None:
    """The limits from the config over TCP; the timers (idle, request, bind brake) run on a
    task.Clock in tests/unit/test_ldap_timing.py and test_ldap_hostile.py."""
    limits = {"max_connections": 3, "max_request_bytes": 2048}
    server = make_metadir(config(limits=limits), {"c.csv": CSV})
    held = [bound_connection(server.port) for _ in range(3)]
    try:
        extra = socket.create_connection(("127.0.0.1", server.port))
        extra.settimeout(5)
        assert extra.recv(100) == b""  # closed at once: three are open
        extra.close()
    finally:
        for s in held:
            s.close()
    # the request size limit comes from the config; the server counts the three closed
    # connections as gone once it has seen them close, which may take a moment
    deadline = time.monotonic() + 10
    while True:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.settimeout(5)
            try:
                s.sendall(b"\x30\x82\x10\x00")  # announces 4096 bytes
                notice = s.recv(1000)
            except ConnectionResetError:  # still refused as the fourth connection
                notice = b""
        if notice or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert b"1.3.6.1.4.1.1466.20036" in notice and b"exceeds 2048" in notice
    assert server.stop() == 0


def test_failed_binds_from_one_address_are_slowed() -> None:
    brake = BindBrake(max_delay=2)
    delays = [brake.failed("10.1.1.1") for _ in range(6)]
    assert delays == [0, 0.25, 0.5, 1, 2, 2]
    assert brake.failed("10.2.2.2") == 0  # another address is not affected
    brake.succeeded("10.1.1.1")
    assert brake.failed("10.1.1.1") == 0
    # an address that never stops failing stays at the ceiling (2 ** 1100 is no float)
    assert {brake.failed("10.3.3.3") for _ in range(1100)} == {0, 0.25, 0.5, 1, 2}
    assert brake.failed("10.3.3.3") == 2


def test_access_log(make_metadir: Callable[..., MetadirServer]) -> None:
    server = make_metadir(config(), {"c.csv": CSV})
    code, _, err = run_ldapsearch(["-x", "-H", server.url, "-b", "ou=public,dc=meta",
                                   "(telephoneNumber=*1111111)", "cn"])  # fmt: skip
    assert code == 0, err
    assert server.stop() == 0
    lines = [line for line in server.stderr.splitlines() if "metadir.access" in line]
    search = [line for line in lines if 'op=SEARCH base="ou=public' in line]
    assert len(search) == 1, lines
    assert re.search(
        r'conn=\d+ peer=127\.0\.0\.1:\d+ who="" op=SEARCH base="ou=public,dc=meta" scope=sub '
        r'filter="\(telephoneNumber=\*1111111\)" attrs=cn result=0 entries=1 ms=\d+\.\d\d$',
        search[0],
    ), search[0]
    assert any('op=BIND dn="" result=0' in line for line in lines), lines


def test_access_log_can_be_turned_off(make_metadir: Callable[..., MetadirServer]) -> None:
    server = make_metadir(config(access_log=False), {"c.csv": CSV})
    run_ldapsearch(["-x", "-H", server.url, "-b", "dc=meta", "(cn=*)"])
    assert server.stop() == 0
    assert "metadir.access" not in server.stderr
