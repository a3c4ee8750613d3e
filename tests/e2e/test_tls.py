"""TLS end to end: StartTLS and LDAPS on the real server with a certificate from a
throw-away CA, checked with libldap's ``ldapsearch`` (``-ZZ``, ``ldaps://``), ldap3 and
Python's ``ssl``; ``require_tls``; reloading the certificate on SIGHUP; bad TLS config."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from ldaptor.protocols import pureldap

from tests.e2e.test_ldap_e2e import EXTENDED_RESPONSE, parse_pdu, read_pdu
from tests.pki import Authority, issue, make_authority
from tests.servers import (
    MetadirServer,
    hash_password,
    parse_ldif,
    start_metadir,
    stop_metadir,
)

START_TLS = "1.3.6.1.4.1.1466.20037"
WHO_AM_I = "1.3.6.1.4.1.4203.1.11.3"
SUCCESS, OPERATIONS_ERROR, CONFIDENTIALITY_REQUIRED, UNAVAILABLE = 0, 1, 13, 52
PBX_DN, PBX_PASSWORD = "cn=pbx,dc=meta", "pbx-secret"
CONTACTS = "ou=contacts,dc=meta"
CSV = "Id,First,Last,Phone\n1,Jürgen,Müller,+49 89 1234567\n2,Anna,Schmidt,+49 30 5550100\n"
# the server's certificate and key, relative to the config file
CERT, KEY = "tls/server.pem", "tls/server.key"


def install(workdir: Path, pair: tuple[bytes, bytes]) -> None:
    """Put a certificate and key where the config points (replacing the files, as an admin
    renewing them would)."""
    (workdir / "tls").mkdir(exist_ok=True)
    for name, data in zip((CERT, KEY), pair, strict=True):
        staged = workdir / f"{name}.new"
        staged.write_bytes(data)
        staged.replace(workdir / name)


# --- servers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("ca"), "metadir test CA")


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    """A CA that signed nothing the server has."""
    return make_authority(tmp_path_factory.mktemp("stranger"), "some other CA")


@pytest.fixture(scope="module")
def pbx_hash() -> str:
    return hash_password(PBX_PASSWORD)


def config(pbx_hash: str, tls: bool = True, **server: object) -> dict:
    replicator = {
        "name": "crm", "type": "csv", "path": "contacts.csv", "key": "Id",
        "mapping": {"custom0": "Id", "givenName": "First", "sn": "Last",
                    "telephoneNumber": "Phone"},
    }  # fmt: skip
    settings: dict = {"accounts": [{"dn": PBX_DN, "password": pbx_hash}], **server}
    if tls:
        settings["tls"] = {"certificate": CERT, "private_key": KEY}
    return {
        "server": settings,
        "location": {"country": "DE"},
        "directories": [{"name": "contacts", "replicators": [replicator]}],
    }


def serve(
    workdir: Path, ca: Authority | None, pbx_hash: str, ldaps: bool = False, **server: object
) -> MetadirServer:
    if ca is not None:
        install(workdir, issue(ca, "metadir-1", 1))
    cfg = config(pbx_hash, tls=ca is not None, **server)
    return start_metadir(workdir, cfg, {"contacts.csv": CSV}, ldaps=ldaps)


@pytest.fixture(scope="module")
def secure(
    tmp_path_factory: pytest.TempPathFactory, ca: Authority, pbx_hash: str
) -> Iterator[MetadirServer]:
    """TLS configured: StartTLS on ldap://, and an ldaps:// listener."""
    running = serve(tmp_path_factory.mktemp("secure"), ca, pbx_hash, ldaps=True)
    yield running
    stop_metadir(running)


@pytest.fixture(scope="module")
def strict(
    tmp_path_factory: pytest.TempPathFactory, ca: Authority, pbx_hash: str
) -> Iterator[MetadirServer]:
    """``require_tls: true``."""
    running = serve(tmp_path_factory.mktemp("strict"), ca, pbx_hash, require_tls=True)
    yield running
    stop_metadir(running)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, pbx_hash: str) -> Iterator[MetadirServer]:
    """No TLS configured."""
    running = serve(tmp_path_factory.mktemp("plain"), None, pbx_hash)
    yield running
    stop_metadir(running)


# --- clients -------------------------------------------------------------------------


def ldapsearch(
    url: str, ca_file: Path, *args: str, start_tls: bool = False
) -> tuple[int, list[tuple[str, dict]], str]:
    """(exit code, entries, stderr) of the real ``ldapsearch``, trusting ``ca_file`` only."""
    # libldap reads LDAPTLS_* only when it initialises from the environment; variables
    # override /etc/ldap/ldap.conf, and none of the host's other LDAP* settings get in
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env |= {"LDAPTLS_CACERT": str(ca_file), "LDAPTLS_REQCERT": "demand", "HOME": "/nonexistent"}
    argv = ["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no", "-H", url]
    done = subprocess.run(
        [*argv, *(["-ZZ"] if start_tls else []), *args],
        capture_output=True, text=True, timeout=30, env=env, check=False,
    )  # fmt: skip
    return done.returncode, parse_ldif(done.stdout), done.stderr


def ldap3_connection(url: str, ca_file: Path | None = None) -> ldap3.Connection:
    """An open, unbound ldap3 connection (TLS from the first byte for ldaps:// URLs)."""
    tls = ldap3.Tls(ca_certs_file=str(ca_file), validate=ssl.CERT_REQUIRED) if ca_file else None
    server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5, tls=tls)
    conn = ldap3.Connection(server, receive_timeout=10, raise_exceptions=False)
    conn.open()
    return conn


def peer_certificate(url: str, ca_file: Path) -> dict:
    """The certificate an ldaps:// listener shows to a new connection, verified by Python."""
    host, port = url.removeprefix("ldaps://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as sock,
    ):
        return sock.getpeercert()


def common_name(cert: dict) -> str:
    return next(value for rdn in cert["subject"] for key, value in rdn if key == "commonName")


def search_ids(conn: ldap3.Connection, base: str = CONTACTS) -> tuple[int, set[str]]:
    conn.search(base, "(objectClass=inetOrgPerson)", attributes=["custom0"])
    found = {str(e["attributes"]["custom0"][0]) for e in conn.response or () if "attributes" in e}
    return conn.result["result"], found


def root_dse_extensions(conn: ldap3.Connection) -> list[str]:
    conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedExtension"])
    assert conn.result["result"] == SUCCESS, conn.result
    return [str(v) for v in conn.response[0]["attributes"]["supportedExtension"]]


def wait_for_log(server: MetadirServer, text: str, count: int = 1) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.stderr.count(text) >= count:
            return server.stderr
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged {count} time(s):\n{server.stderr}")


# --- StartTLS and LDAPS with real clients ------------------------------------------------


def test_ldapsearch_start_tls(secure: MetadirServer, ca: Authority) -> None:
    code, found, err = ldapsearch(
        secure.url, ca.path, "-D", PBX_DN, "-w", PBX_PASSWORD, "-b", CONTACTS, "(sn=müller)",
        "custom0", start_tls=True,
    )  # fmt: skip
    assert code == 0, err
    assert [attrs["custom0"] for _, attrs in found] == [["1"]]


def test_ldapsearch_ldaps(secure: MetadirServer, ca: Authority) -> None:
    assert secure.ldaps_url is not None
    code, found, err = ldapsearch(
        secure.ldaps_url, ca.path, "-D", PBX_DN, "-w", PBX_PASSWORD, "-b", CONTACTS,
        "(telephoneNumber=030 5550100)", "custom0",
    )  # fmt: skip
    assert code == 0, err
    assert [attrs["custom0"] for _, attrs in found] == [["2"]]
    assert f"listening on {secure.ldaps_url}" in secure.stderr


def test_ldapsearch_refuses_a_certificate_from_another_ca(
    secure: MetadirServer, ca: Authority, stranger: Authority
) -> None:
    # the chain is verified: trusting another CA fails where trusting the test CA works
    assert secure.ldaps_url is not None
    for url, start_tls in ((secure.url, True), (secure.ldaps_url, False)):
        code, found, err = ldapsearch(url, stranger.path, "-b", CONTACTS, start_tls=start_tls)
        assert code != 0 and not found, (url, err)
        code, found, err = ldapsearch(url, ca.path, "-b", CONTACTS, start_tls=start_tls)
        assert code == 0 and found, (url, err)


def test_ldap3_start_tls_and_ldaps(secure: MetadirServer, ca: Authority) -> None:
    conn = ldap3_connection(secure.url, ca.path)
    assert conn.start_tls(), conn.result
    assert isinstance(conn.socket, ssl.SSLSocket) and conn.socket.version() in (
        "TLSv1.2",
        "TLSv1.3",
    )
    assert conn.rebind(PBX_DN, PBX_PASSWORD), conn.result
    assert search_ids(conn) == (SUCCESS, {"1", "2"})
    conn.unbind()

    assert secure.ldaps_url is not None
    conn = ldap3_connection(secure.ldaps_url, ca.path)
    assert isinstance(conn.socket, ssl.SSLSocket)
    assert conn.rebind(PBX_DN, PBX_PASSWORD), conn.result
    assert search_ids(conn) == (SUCCESS, {"1", "2"})
    conn.unbind()


def test_start_tls_twice_is_an_operations_error(secure: MetadirServer, ca: Authority) -> None:
    conn = ldap3_connection(secure.url, ca.path)
    assert conn.start_tls(), conn.result
    conn.extended(START_TLS)  # sent over the TLS connection, so the server refuses
    assert conn.result["result"] == OPERATIONS_ERROR, conn.result
    assert "already" in conn.result["message"]
    assert search_ids(conn) == (SUCCESS, {"1", "2"})  # the connection serves on
    conn.unbind()

    assert secure.ldaps_url is not None
    conn = ldap3_connection(secure.ldaps_url, ca.path)
    conn.extended(START_TLS)
    assert conn.result["result"] == OPERATIONS_ERROR, conn.result
    conn.unbind()


def extended_request(mid: int, oid: str) -> bytes:
    return pureldap.LDAPMessage(pureldap.LDAPExtendedRequest(requestName=oid), id=mid).toWire()


def test_start_tls_drops_requests_sent_in_the_clear_behind_it(
    secure: MetadirServer, ca: Authority
) -> None:
    # a man in the middle appends a request to the client's StartTLS; it must not be
    # answered inside the TLS session as if the client had sent it there
    context = ssl.create_default_context(cafile=str(ca.path))
    with socket.create_connection(("127.0.0.1", secure.port), timeout=5) as raw:
        raw.sendall(extended_request(1, START_TLS) + extended_request(2, WHO_AM_I))
        assert parse_pdu(read_pdu(raw) or b"") == (1, EXTENDED_RESPONSE, SUCCESS)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(extended_request(3, WHO_AM_I))
            assert parse_pdu(read_pdu(sock) or b"") == (3, EXTENDED_RESPONSE, SUCCESS)


def test_root_dse_lists_start_tls_only_when_configured(
    secure: MetadirServer, plain: MetadirServer
) -> None:
    conn = ldap3_connection(secure.url)
    assert START_TLS in root_dse_extensions(conn)
    conn.unbind()
    conn = ldap3_connection(plain.url)
    assert START_TLS not in root_dse_extensions(conn)
    conn.unbind()


def test_start_tls_without_tls_configured(plain: MetadirServer, ca: Authority) -> None:
    conn = ldap3_connection(plain.url)
    conn.extended(START_TLS)
    assert conn.result["result"] == UNAVAILABLE, conn.result
    assert "server.tls" in conn.result["message"]
    assert search_ids(conn) == (SUCCESS, {"1", "2"})  # still a working plain connection
    conn.unbind()

    code, _, err = ldapsearch(plain.url, ca.path, "-b", CONTACTS, start_tls=True)
    assert code != 0 and "(52)" in err, err


# --- require_tls -------------------------------------------------------------------------


def test_require_tls_refuses_plain_binds_and_searches(strict: MetadirServer, ca: Authority) -> None:
    conn = ldap3_connection(strict.url)
    assert START_TLS in root_dse_extensions(conn)  # how a client learns it can upgrade
    conn.bind()  # anonymous: no secret crosses the wire
    assert conn.result["result"] == SUCCESS, conn.result
    assert search_ids(conn)[0] == CONFIDENTIALITY_REQUIRED
    assert search_ids(conn, "dc=meta")[0] == CONFIDENTIALITY_REQUIRED
    conn.compare("ou=contacts,dc=meta", "ou", "contacts")
    assert conn.result["result"] == CONFIDENTIALITY_REQUIRED, conn.result
    assert not conn.rebind(PBX_DN, PBX_PASSWORD)
    assert conn.result["result"] == CONFIDENTIALITY_REQUIRED, conn.result
    assert "StartTLS" in conn.result["message"]

    # the same connection, after StartTLS
    assert conn.start_tls(), conn.result
    assert conn.rebind(PBX_DN, PBX_PASSWORD), conn.result
    assert search_ids(conn) == (SUCCESS, {"1", "2"})
    conn.unbind()


def test_require_tls_with_ldapsearch(strict: MetadirServer, ca: Authority) -> None:
    args = ("-D", PBX_DN, "-w", PBX_PASSWORD, "-b", CONTACTS, "custom0")
    code, found, err = ldapsearch(strict.url, ca.path, *args)
    assert code == CONFIDENTIALITY_REQUIRED and not found, err
    assert "Confidentiality required" in err
    code, found, err = ldapsearch(strict.url, ca.path, *args, start_tls=True)
    assert code == 0, err
    assert {v for _, attrs in found for v in attrs.get("custom0", ())} == {"1", "2"}


# --- SIGHUP ------------------------------------------------------------------------------


def test_sighup_reloads_certificate_and_key(tmp_path: Path, ca: Authority, pbx_hash: str) -> None:
    server = serve(tmp_path, ca, pbx_hash, ldaps=True)
    try:
        assert server.process is not None and server.ldaps_url is not None
        first = peer_certificate(server.ldaps_url, ca.path)
        assert (common_name(first), first["serialNumber"]) == ("metadir-1", "01")
        before = ldap3_connection(server.url, ca.path)
        assert before.start_tls(), before.result

        install(tmp_path, issue(ca, "metadir-2", 2))
        server.process.send_signal(signal.SIGHUP)
        wait_for_log(server, "TLS certificate reloaded")
        second = peer_certificate(server.ldaps_url, ca.path)
        assert (common_name(second), second["serialNumber"]) == ("metadir-2", "02")
        conn = ldap3_connection(server.url, ca.path)
        assert conn.start_tls(), conn.result
        assert common_name(conn.socket.getpeercert()) == "metadir-2"  # StartTLS too
        conn.unbind()
        # a connection made before the reload goes on with its session
        assert common_name(before.socket.getpeercert()) == "metadir-1"
        assert search_ids(before) == (SUCCESS, {"1", "2"})
        before.unbind()

        # a key that does not belong to the certificate: the previous pair stays
        cert_pem, _ = issue(ca, "metadir-3", 3)
        _, other_key = issue(ca, "metadir-4", 4)
        install(tmp_path, (cert_pem, other_key))
        server.process.send_signal(signal.SIGHUP)
        log = wait_for_log(server, "TLS certificate not reloaded")
        errors = [line for line in log.splitlines() if "ERROR" in line]
        assert len(errors) == 1, log
        assert str(tmp_path / KEY) in errors[0] and "does not belong" in errors[0]
        assert common_name(peer_certificate(server.ldaps_url, ca.path)) == "metadir-2"

        # unreadable files: still the previous pair
        (tmp_path / CERT).unlink()
        server.process.send_signal(signal.SIGHUP)
        log = wait_for_log(server, "TLS certificate not reloaded", count=2)
        assert f"{tmp_path / CERT}: cannot read" in log
        assert common_name(peer_certificate(server.ldaps_url, ca.path)) == "metadir-2"
    finally:
        stop_metadir(server)


def test_sighup_without_tls_keeps_serving(plain: MetadirServer) -> None:
    assert plain.process is not None
    plain.process.send_signal(signal.SIGHUP)
    wait_for_log(plain, "SIGHUP: nothing to reload")
    conn = ldap3_connection(plain.url)
    assert search_ids(conn) == (SUCCESS, {"1", "2"})
    conn.unbind()


# --- bad TLS settings ---------------------------------------------------------------------


def run_metadir(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metadir", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
    )  # fmt: skip


def write_config(directory: Path, server: dict) -> Path:
    (directory / "contacts.csv").write_text(CSV, encoding="utf-8")
    cfg = config("", tls=False)
    cfg["server"] = server
    path = directory / "metadir.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def test_check_accepts_tls_paths_relative_to_the_config(tmp_path: Path, ca: Authority) -> None:
    install(tmp_path, issue(ca, "metadir-1", 1))
    tls = {"certificate": CERT, "private_key": KEY}
    path = write_config(tmp_path, {"tls": tls, "listen": ["ldaps://127.0.0.1"]})
    done = run_metadir("check", "-c", str(path), cwd=Path("/"))  # not the config's directory
    assert done.returncode == 0, done.stderr
    assert "1 listeners" in done.stdout


@pytest.mark.parametrize(
    ("case", "key", "problem"),
    [
        ("missing certificate", "tls.certificate", "{dir}/tls/nope.pem: cannot read: No such file"),
        ("missing key", "tls.private_key", "{dir}/tls/nope.key: cannot read: No such file"),
        ("certificate not PEM", "tls.certificate", "{dir}/tls/server.pem: not a PEM certificate"),
        ("key not PEM", "tls.private_key", "{dir}/tls/server.key: not a PEM private key"),
        ("key is a certificate", "tls.private_key", "{dir}/tls/server.pem: not a PEM private key"),
        ("pair mismatch", "tls.private_key",
         "{dir}/tls/server.key: does not belong to the certificate in {dir}/tls/server.pem"),
        ("encrypted key", "tls.private_key", "{dir}/tls/server.key: the key is encrypted"),
        ("ldaps without tls", "listen", "'ldaps://127.0.0.1:7714': ldaps:// needs server.tls"),
        ("require_tls without tls", "require_tls", "needs server.tls"),
        ("tls without key", "tls.private_key", "required key is missing"),
    ],
)  # fmt: skip
def test_check_names_bad_tls_settings(
    tmp_path: Path, ca: Authority, case: str, key: str, problem: str
) -> None:
    cert_pem, key_pem = issue(ca, "metadir-1", 1)
    install(tmp_path, (cert_pem, key_pem))
    tls: dict = {"certificate": CERT, "private_key": KEY}
    server: dict = {"tls": tls}
    if case == "missing certificate":
        tls["certificate"] = "tls/nope.pem"
    elif case == "missing key":
        tls["private_key"] = "tls/nope.key"
    elif case == "certificate not PEM":
        (tmp_path / CERT).write_bytes(cert_pem.replace(b"CERTIFICATE", b"CERTIFICAT"))
    elif case == "key not PEM":
        (tmp_path / KEY).write_text("not a key\n")
    elif case == "key is a certificate":
        tls["private_key"] = CERT
    elif case == "pair mismatch":
        install(tmp_path, (cert_pem, issue(ca, "metadir-2", 2)[1]))
    elif case == "encrypted key":
        private = serialization.load_pem_private_key(key_pem, None)
        pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        encrypted = serialization.BestAvailableEncryption(b"secret")
        (tmp_path / KEY).write_bytes(private.private_bytes(pem, pkcs8, encrypted))
    elif case == "ldaps without tls":
        server = {"listen": ["ldaps://127.0.0.1:7714"]}
    elif case == "require_tls without tls":
        server = {"require_tls": True}
    elif case == "tls without key":
        del tls["private_key"]
    path = write_config(tmp_path, server)
    done = run_metadir("check", "-c", str(path), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{path}: server.{key}: {problem.format(dir=tmp_path)}" in done.stderr, done.stderr


def test_serve_refuses_an_ldaps_listener_without_tls(tmp_path: Path) -> None:
    path = write_config(tmp_path, {})
    done = run_metadir("serve", "-c", str(path), "--listen", "ldaps://127.0.0.1:7714", cwd=tmp_path)
    assert done.returncode == 2
    assert "--listen: 'ldaps://127.0.0.1:7714': ldaps:// needs server.tls" in done.stderr
