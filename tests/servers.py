"""Real server processes for tests: OpenLDAP slapd and metadir itself, on free loopback ports.

Each server lives in its own temporary directory, is started as a child process, waited for
until it answers an LDAP search, and stopped with SIGTERM. python-ldap's
``slapdtest.SlapdObject`` is the model for ``SlapdServer``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ldap3
import yaml
from ldap3.core.exceptions import LDAPException

from metadir.core import fields
from tests import slapd_schema

ROOT_DN = "dc=meta"
# the tests' own certificates are not in any trust store: only whether the server answers
_UNVERIFIED = ssl._create_unverified_context()
SLAPD = shutil.which("slapd") or shutil.which("slapd", path="/usr/sbin:/usr/local/sbin")
SLAPADD = shutil.which("slapadd") or shutil.which("slapadd", path="/usr/sbin:/usr/local/sbin")
SLAPD_MODULES = "/usr/lib/ldap"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the range the kernel
    hands out to clients: a client polling a port of that range before the server binds it
    can be given that very port as its own and connect to itself (TCP simultaneous open),
    reading back its own request as the answer."""
    for _ in range(200):
        port = random.randrange(_PORTS_FROM, _client_ports_from())
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServerError("no free TCP port on 127.0.0.1 below the client port range")


_PORTS_FROM = 10_000


def _client_ports_from() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
    except OSError:
        return 32_768  # Linux's default
    return max(int(text.split()[0]), _PORTS_FROM + 1_000)


def run_ldap_tool(tool: str, args: Sequence[str], timeout: float = 30) -> tuple[int, str, str]:
    """Run an ldap-utils binary; return (exit code, stdout, stderr)."""
    path = shutil.which(tool)
    if path is None:
        raise FileNotFoundError(f"{tool} is not installed (Debian package ldap-utils)")
    # LDAPTLS_* / ldaprc of the host must not change what the test sends
    env = {**os.environ, "LDAPNOINIT": "1"}
    # no standard input: ldapsearch's virtual list view mode would prompt for the next window
    done = subprocess.run(
        [path, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def run_ldapsearch(args: Sequence[str], timeout: float = 30) -> tuple[int, str, str]:
    """Run the real ``ldapsearch`` (libldap); return (exit code, stdout, stderr)."""
    return run_ldap_tool("ldapsearch", args, timeout)


def for_slapd(ldif: str) -> str:
    """metadir's LDIF as slapd can load it: contacts named ``uid=<entryUUID>`` (slapd cannot
    name entries by an operational attribute)."""
    return re.sub(
        r"^dn: entryUUID=([^,\n]+),(.*)$",
        r"dn: uid=\1,\2\nuid: \1",
        ldif,
        flags=re.MULTILINE | re.IGNORECASE,
    )


def dump_tree(url: str) -> str:
    """Every entry a server holds below dc=meta as ``ldapsearch -LLL`` LDIF, with the
    operational attributes another server needs to hold the very same entries."""
    code, dump, err = run_ldapsearch(
        ["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url, "-b", "dc=meta", "(objectClass=*)",
         "*", "entryUUID", "createTimestamp", "modifyTimestamp"]
    )  # fmt: skip
    if code != 0:
        raise ServerError(f"dumping {url} failed: {err}")
    return dump


def slapd_holding(workdir: Path, dump: str) -> SlapdServer:
    """A started slapd holding the entries of ``dump`` (from ``dump_tree``), slapadd's schema
    checks off: the oracle of search semantics for the same data."""
    slapd = SlapdServer(workdir)
    slapd.load(for_slapd(dump), check_schema=False)
    slapd.start()
    return slapd


def parse_ldif(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """The entries of ``ldapsearch -LLL`` output: (dn, {attribute as sent: values})."""
    entries: list[tuple[str, dict[str, list[str]]]] = []
    for block in re.split(r"\n\s*\n", text.replace("\n ", "")):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines:
            continue
        dn = None
        attrs: dict[str, list[str]] = {}
        for line in lines:
            name, _, value = line.partition(":")
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode("utf-8")
            else:
                value = value.removeprefix(" ")
            if dn is None and name.lower() == "dn":
                dn = value
            else:
                attrs.setdefault(name, []).append(value)
        assert dn is not None, f"an ldapsearch entry without a dn:\n{block}"
        entries.append((dn, attrs))
    return entries


def connect(url: str, user: str | None = None, password: str | None = None) -> ldap3.Connection:
    """An ldap3 connection, bound (anonymously unless ``user`` is given)."""
    server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=5)
    conn = ldap3.Connection(
        server, user=user, password=password, receive_timeout=10, raise_exceptions=False
    )
    conn.bind()
    return conn


def _answers(url: str) -> bool:
    """Whether a root DSE search, sent without any bind, succeeds."""
    conn = ldap3.Connection(ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=1))
    try:
        conn.open()
        conn.search("", "(objectClass=*)", ldap3.BASE)
        return conn.result["result"] == 0
    except LDAPException:
        return False
    finally:
        conn.unbind()


class ServerError(RuntimeError):
    """A server would not start, or a command run for a test failed."""


class SlapdServer:
    """A throw-away slapd (back-mdb, suffix dc=meta) with metadir's attributes in its schema.

    ``load()`` entries with slapadd while stopped, then ``start()``; ``stop()`` at the end.
    """

    suffix = ROOT_DN
    root_dn = "cn=admin,dc=meta"
    root_pw = "secret"
    indexed = ("cn", "sn", "givenName", "displayName", "mail", "company", "o")
    indexed_numbers: tuple[str, ...] | None = None  # None: every number attribute
    db_max_size = 4 << 30  # LMDB's map: address space only, the file grows as it fills

    def __init__(self, workdir: Path) -> None:
        if SLAPD is None or SLAPADD is None:
            raise FileNotFoundError("slapd is not installed (Debian package slapd)")
        self.workdir = workdir
        self.config_dir = workdir / "slapd.d"
        self.db_dir = workdir / "db"
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self._log = workdir / "slapd.log"
        self._configure()

    def _schema_files(self) -> list[Path]:
        """The schema slapd loads: OpenLDAP's standard one and what metadir's adds to it."""
        schema_file = self.workdir / "metadir-schema.ldif"
        schema_file.write_text(slapd_schema.schema_ldif(), encoding="utf-8")
        return [*(slapd_schema.SCHEMA_DIR / f for f in slapd_schema.STANDARD_SCHEMAS), schema_file]

    def _config_ldif(self) -> str:
        return "\n".join(
            [
                "dn: cn=config",
                "objectClass: olcGlobal",
                "cn: config",
                f"olcPidFile: {self.workdir / 'slapd.pid'}",
                *self._global_ldif(),
                "",
                "dn: cn=module{0},cn=config",
                "objectClass: olcModuleList",
                "cn: module{0}",
                f"olcModulePath: {SLAPD_MODULES}",
                "olcModuleLoad: back_mdb",
                "olcModuleLoad: sssvlv",
                "",
                "dn: cn=schema,cn=config",
                "objectClass: olcSchemaConfig",
                "cn: schema",
                "",
                *[f"include: file://{path}" for path in self._schema_files()],
                "",
                "dn: olcDatabase={-1}frontend,cn=config",
                "objectClass: olcDatabaseConfig",
                "objectClass: olcFrontendConfig",
                "olcDatabase: {-1}frontend",
                "olcSizeLimit: unlimited",
                "olcAccess: {0}to * by * read",
                "",
                "dn: olcDatabase={0}config,cn=config",
                "objectClass: olcDatabaseConfig",
                "olcDatabase: {0}config",
                "olcAccess: {0}to * by * none",
                "",
                *self._database_ldif(),
            ]
        )

    def _global_ldif(self) -> list[str]:
        """More attributes of the cn=config entry (TLS settings, say)."""
        return []

    def listen_urls(self) -> list[str]:
        """What slapd listens on (``-h``)."""
        return [f"{self.url}/"]

    def _database_ldif(self) -> list[str]:
        """The back-mdb database holding dc=meta, with sort and list view."""
        # the standard fax attribute has no matching rule, so it cannot be indexed
        numbers = self.indexed_numbers or [
            f.name for f in fields.phone_fields() if f.name != "facsimileTelephoneNumber"
        ]
        indexes = [
            "objectClass eq",
            "entryUUID eq",
            f"{','.join(self.indexed)} eq,sub",
            f"{','.join(numbers)} eq,sub",
        ]
        return [
            "dn: olcDatabase={1}mdb,cn=config",
            "objectClass: olcDatabaseConfig",
            "objectClass: olcMdbConfig",
            "olcDatabase: {1}mdb",
            f"olcSuffix: {self.suffix}",
            f"olcRootDN: {self.root_dn}",
            f"olcRootPW: {self.root_pw}",
            f"olcDbDirectory: {self.db_dir}",
            f"olcDbMaxSize: {self.db_max_size}",
            "olcSizeLimit: unlimited",
            *[f"olcDbIndex: {index}" for index in indexes],
            "",
            # server-side sort and virtual list view, to compare metadir's with
            "dn: olcOverlay={0}sssvlv,olcDatabase={1}mdb,cn=config",
            "objectClass: olcOverlayConfig",
            "objectClass: olcSssVlvConfig",
            "olcOverlay: {0}sssvlv",
            "",
        ]

    def _configure(self) -> None:
        self.config_dir.mkdir(parents=True)
        self.db_dir.mkdir()
        config = self.workdir / "config.ldif"
        config.write_text(self._config_ldif(), encoding="utf-8")
        self._slapadd(["-n0", "-l", str(config)], "configure")

    def _slapadd(self, args: list[str], what: str) -> None:
        done = subprocess.run(
            [SLAPADD, "-F", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            raise ServerError(f"slapadd ({what}) failed with {done.returncode}:\n{done.stderr}")

    def load(self, ldif: str, check_schema: bool = True) -> None:
        """Add entries (operational attributes such as entryUUID kept) while slapd is stopped.

        Without ``check_schema`` slapadd takes entries that lack a required attribute."""
        data = self.workdir / "data.ldif"
        data.write_text(ldif, encoding="utf-8")
        self.load_file(data, check_schema)

    def load_file(self, path: Path, check_schema: bool = True) -> None:
        """``load()`` from an LDIF file, for data too big to hold as one string."""
        if self.process is not None:
            raise ServerError("slapadd needs slapd stopped")
        unchecked = [] if check_schema else ["-s"]
        self._slapadd(["-q", *unchecked, "-b", self.suffix, "-l", str(path)], "load data")

    def start(self) -> None:
        log = self._log.open("ab")
        # -d 0: stay in the foreground (a child we can wait for) without debug output
        self.process = subprocess.Popen(
            [SLAPD, "-F", str(self.config_dir), "-h", " ".join(self.listen_urls()), "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_until_answers("slapd", self.url, self.process, lambda: self.log_text)

    @property
    def log_text(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        _terminate(process)


SOURCE_SCHEMA = Path(__file__).with_name("source_schema.ldif")


class SourceSlapd(SlapdServer):
    """A slapd holding a directory to import from, suffix ``dc=corp,dc=example``: OpenLDAP's
    standard schema and ``source_schema.ldif`` (Active Directory's and Domino's attribute
    names) rather than metadir's. With ``tls`` (certificate and key PEM files) it also speaks
    StartTLS and listens on ``ldaps_url``.
    """

    suffix = "dc=corp,dc=example"
    root_dn = "cn=admin,dc=corp,dc=example"
    indexed = ("cn", "sn", "mail")
    indexed_numbers = ("telephoneNumber",)

    def __init__(self, workdir: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.tls = tls
        self.ldaps_url = f"ldaps://127.0.0.1:{free_port()}" if tls else None
        super().__init__(workdir)

    def _schema_files(self) -> list[Path]:
        standard = [slapd_schema.SCHEMA_DIR / f for f in slapd_schema.STANDARD_SCHEMAS]
        return [*standard, SOURCE_SCHEMA]

    def _global_ldif(self) -> list[str]:
        if self.tls is None:
            return []
        certificate, key = self.tls
        return [f"olcTLSCertificateFile: {certificate}", f"olcTLSCertificateKeyFile: {key}"]

    def listen_urls(self) -> list[str]:
        return [*super().listen_urls(), *([f"{self.ldaps_url}/"] if self.ldaps_url else [])]


class MetadirServer:
    """``metadir serve`` as a child process, on a config written into its own directory.

    ``sync()`` runs ``metadir sync`` in another process, as an admin or a cron job would.
    """

    def __init__(
        self, workdir: Path, config: dict, ldaps: bool = False, https: bool = False
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        # with an ``http:`` section the web server listens on a free port of its own
        self.http_url: str | None = None
        if "http" in config:
            self.http_url = f"{'https' if https else 'http'}://127.0.0.1:{free_port()}"
            config = {**config, "http": {**config["http"], "listen": [self.http_url]}}
        # with ``ldaps`` a second listener speaks TLS from the first byte (needs server.tls)
        self.ldaps_url = f"ldaps://127.0.0.1:{free_port()}" if ldaps else None
        self.listen = [self.url, *([self.ldaps_url] if self.ldaps_url else [])]
        config = {**config, "store": config.get("store", {"url": "sqlite:///metadir.db"})}
        config["server"] = {**config.get("server", {}), "listen": self.listen}
        self.config_path = workdir / "metadir.yaml"
        self.config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._stderr = workdir / "serve.stderr"

    def argv(self, *args: str) -> list[str]:
        """``python -m metadir ARGS -c CONFIG``."""
        return [sys.executable, "-m", "metadir", *args, "-c", str(self.config_path)]

    def sync(self, *names: str) -> subprocess.CompletedProcess:
        """Run ``metadir sync`` in its own process, as an admin or a cron job does."""
        done = subprocess.run(
            self.argv("sync", *names),
            capture_output=True, text=True, timeout=300, check=False, cwd=self.workdir,
        )  # fmt: skip
        if done.returncode != 0:
            raise ServerError(
                f"metadir sync failed with {done.returncode}:\n{done.stdout}\n{done.stderr}"
            )
        return done

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start serving; wait up to ``timeout`` seconds (loading a big store takes a while)."""
        stderr = self._stderr.open("ab")
        self.process = subprocess.Popen(
            self.argv("serve", *(arg for url in self.listen for arg in ("--listen", url))),
            stdout=stderr,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            # a process group of its own with its sync workers: a test can stop or kill the
            # node whole, as a machine going down would
            start_new_session=True,
        )
        stderr.close()
        _wait_until_answers("metadir serve", self.url, self.process, lambda: self.stderr, timeout)
        if self.http_url is not None:
            wait_for(f"the web server on {self.http_url}", self._web_answers, timeout)

    def _web_answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.stderr
        try:
            with urllib.request.urlopen(
                f"{self.http_url}/healthz", timeout=2, context=_UNVERIFIED
            ) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    @property
    def stderr(self) -> str:
        """Everything the server logged so far."""
        return self._stderr.read_text(errors="replace") if self._stderr.exists() else ""

    def stop(self) -> int:
        """SIGTERM the server; return its exit code."""
        if self.process is None:
            assert self.returncode is not None, "the server was never started"
            return self.returncode
        process, self.process = self.process, None
        self.returncode = _terminate(process)
        return self.returncode


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90, step: float = 0.2) -> Any:
    """Ask ``check`` every ``step`` seconds until it answers something true; that answer.
    Fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(step)
    return found


def hash_password(password: str) -> str:
    """A password hash made by ``metadir hash-password --stdin``, as an admin makes one."""
    done = subprocess.run(
        [sys.executable, "-m", "metadir", "hash-password", "--stdin"],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise ServerError(f"metadir hash-password failed with {done.returncode}:\n{done.stderr}")
    return done.stdout.strip()


def start_metadir(
    workdir: Path, config: dict, files: dict[str, str] | None = None, ldaps: bool = False
) -> MetadirServer:
    """Write ``files`` and ``config`` into ``workdir``, run ``metadir sync`` once, then start
    ``metadir serve`` (also on an ldaps:// listener with ``ldaps``)."""
    for name, text in (files or {}).items():
        (workdir / name).write_text(text, encoding="utf-8")
    server = MetadirServer(workdir, config, ldaps)
    server.sync()
    server.start()
    return server


def stop_metadir(server: MetadirServer) -> None:
    """SIGTERM the server and require a clean exit, showing its log if it was not."""
    code = server.stop()
    assert code == 0, f"metadir serve exited with {code} on SIGTERM; its log:\n{server.stderr}"


def _wait_until_answers(
    name: str,
    url: str,
    process: subprocess.Popen,
    output: Callable[[], str],
    timeout: float = START_TIMEOUT,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(
                f"{name} exited with {process.returncode} before answering on {url}:\n{output()}"
            )
        if _answers(url):
            return
        time.sleep(0.1)
    _terminate(process)
    raise ServerError(f"{name} on {url} did not answer within {timeout:g} s:\n{output()}")


def _terminate(process: subprocess.Popen) -> int:
    """SIGTERM, wait a few seconds, then SIGKILL. Returns the exit code (negative: signal)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # what the process left behind in its group (a worker it could not stop)
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode
