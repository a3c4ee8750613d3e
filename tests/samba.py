"""A real Samba Active Directory domain controller for tests, and helpers that fill it.

``running_dc()`` copies a provisioned domain into a work dir and runs ``samba -i -M single``
with only its LDAP service. Provisioning takes seconds, so it is done once per machine, Samba
version and provision settings, into a cache under the temp dir; each DC starts from a copy.

Samba's LDAP server always listens on AD's fixed ports (389, 636 and the global catalog's
3268, 3269), so DCs are told apart by address: each gets a loopback address of its own
(127.0.0.2 to 127.0.0.254) that nothing listens on yet. LDAPS uses a certificate made for
that address by a CA of its own (tests/pki.py); ``SambaDC.ca_file`` is what a client
verifies it with.

The helpers below write with ldap3 as an administrator or a provisioning tool would, and
raise ``SambaError`` naming the operation, the DN and Samba's message when it refuses one.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import escape_rdn, to_dn

from tests import pki

_SBIN = "/usr/sbin:/usr/local/sbin"
SAMBA = shutil.which("samba") or shutil.which("samba", path=_SBIN)
SAMBA_TOOL = shutil.which("samba-tool") or shutil.which("samba-tool", path=_SBIN)

REALM = "EXAMPLE.TEST"
DOMAIN = "EXAMPLE"
HOST_NAME = "dc1"
BASE_DN = "DC=example,DC=test"
ADMIN_PASSWORD = "Passw0rd!23"
LDAP_PORT, LDAPS_PORT = 389, 636
# what Samba's LDAP server binds, none of it configurable
AD_PORTS = (LDAP_PORT, LDAPS_PORT, 3268, 3269)
PROVISION_ARGS = (
    f"--realm={REALM}",
    f"--domain={DOMAIN}",
    f"--host-name={HOST_NAME}",
    "--server-role=dc",
    "--dns-backend=NONE",
    f"--adminpass={ADMIN_PASSWORD}",
)
CACHE_ROOT = Path(tempfile.gettempdir()) / "metadir-samba"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

USER_CLASSES = ("top", "person", "organizationalPerson", "user")
CONTACT_CLASSES = ("top", "person", "organizationalPerson", "contact")
# userAccountControl flags (MS-ADTS 2.2.16)
ACCOUNTDISABLE = 0x2
NORMAL_ACCOUNT = 0x200
# accountExpires and friends count 100 ns steps since 1601-01-01 UTC
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)


class SambaError(RuntimeError):
    """Samba would not install, provision or start, or refused an operation of a test."""


@dataclass(frozen=True)
class SambaDC:
    """A running domain controller, as a client sees it."""

    host: str  # the loopback address it alone listens on
    base_dn: str
    admin: str  # the administrator's user principal name, for a simple bind
    password: str
    ca_file: Path  # the CA that signed the LDAPS certificate, to verify TLS against
    workdir: Path
    port: int = LDAP_PORT
    ldaps_port: int = LDAPS_PORT

    def url(self, ldaps: bool = False) -> str:
        if ldaps:
            return f"ldaps://{self.host}:{self.ldaps_port}"
        return f"ldap://{self.host}:{self.port}"

    def tls(self) -> ldap3.Tls:
        """ldap3 TLS settings that verify the DC's certificate and address."""
        return ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file))

    def connect(self, ldaps: bool = False, **options: object) -> ldap3.Connection:
        """An ldap3 connection bound as the administrator; ``options`` go to ``Connection``."""
        server = ldap3.Server(
            self.url(ldaps), use_ssl=ldaps, tls=self.tls(), get_info=ldap3.NONE, connect_timeout=5
        )
        return ldap3.Connection(
            server,
            user=self.admin,
            password=self.password,
            auto_bind=True,
            raise_exceptions=False,
            receive_timeout=30,
            **options,
        )


# --- the server ---------------------------------------------------------------------------


def samba_version() -> str:
    if SAMBA is None:
        raise SambaError("samba is not installed (Debian packages samba-ad-dc samba-ad-provision)")
    done = subprocess.run([SAMBA, "-V"], capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise SambaError(f"samba -V failed with {done.returncode}: {done.stderr}")
    return done.stdout.strip().removeprefix("Version ")


def provisioned_template() -> Path:
    """A provisioned domain, made on first use and kept in the cache for later sessions.

    It is built beside the cache entry and renamed into place, so a session never sees half
    a template, and two sessions building at once both end up with a whole one."""
    if SAMBA_TOOL is None:
        raise SambaError("samba-tool is not installed (Debian package samba-common-bin)")
    version = samba_version()
    key = hashlib.sha256("\0".join((version, *PROVISION_ARGS)).encode()).hexdigest()[:12]
    template = CACHE_ROOT / f"{version}-{key}"
    if template.is_dir():
        return template
    CACHE_ROOT.mkdir(mode=0o700, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE_ROOT))
    try:
        # an empty config: nothing from the host's /etc/samba/smb.conf gets into the domain
        empty = build / "empty.conf"
        empty.touch()
        argv = [SAMBA_TOOL, "domain", "provision", f"--configfile={empty}"]
        done = subprocess.run(
            [*argv, f"--targetdir={build / 'dc'}", *PROVISION_ARGS],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if done.returncode != 0:
            raise SambaError(
                f"samba-tool domain provision failed with {done.returncode}:\n{done.stderr}"
            )
        try:
            (build / "dc").rename(template)
        except OSError:
            if not template.is_dir():
                raise
            # another session was quicker; its template is the same
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return template


def port_is_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Samba binds: a connection of an earlier run in TIME_WAIT does not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def free_loopback_address() -> str:
    """A loopback address on which all of AD's ports are free, picked at random so that
    parallel sessions rarely try the same one."""
    candidates = [f"127.0.0.{n}" for n in range(2, 255)]
    random.shuffle(candidates)
    for address in candidates:
        if all(port_is_free(address, port) for port in AD_PORTS):
            return address
    raise SambaError(
        f"no loopback address 127.0.0.2-254 has the ports {AD_PORTS} free: "
        "is something listening on 0.0.0.0:389 or 0.0.0.0:636?"
    )


def smb_conf(workdir: Path, host: str, cert: Path, key: Path, ca: Path) -> str:
    """The DC's whole configuration: every path inside ``workdir``, only the LDAP service,
    only ``host``, simple binds allowed over plain LDAP."""
    settings = {
        "netbios name": HOST_NAME.upper(),
        "realm": REALM,
        "workgroup": DOMAIN,
        "server role": "active directory domain controller",
        "server services": "ldap",
        # Samba takes an address/mask it has no interface for as given
        "interfaces": f"{host}/8",
        "bind interfaces only": "yes",
        "ldap server require strong auth": "no",
        "private dir": workdir / "private",
        "lock directory": workdir,
        "state directory": workdir / "state",
        "cache directory": workdir / "cache",
        "binddns dir": workdir / "bind-dns",
        # the defaults are under /run/samba, shared with any other samba on the machine
        "pid directory": workdir / "run",
        "ncalrpc dir": workdir / "run" / "ncalrpc",
        "tls enabled": "yes",
        "tls keyfile": key,
        "tls certfile": cert,
        "tls cafile": ca,
    }
    return "[global]\n" + "".join(f"\t{name} = {value}\n" for name, value in settings.items())


@contextmanager
def running_dc(workdir: Path) -> Iterator[SambaDC]:
    """A domain controller in ``workdir`` (made empty), stopped with its process group at the
    end. It also stops by itself when this process dies: it exits when its stdin closes."""
    if SAMBA is None:
        raise SambaError("samba is not installed (Debian packages samba-ad-dc samba-ad-provision)")
    if workdir.exists():
        shutil.rmtree(workdir)
    shutil.copytree(provisioned_template(), workdir, symlinks=True)
    (workdir / "run").mkdir()
    host = free_loopback_address()
    dns_name = f"{HOST_NAME}.{REALM.lower()}"
    tls = workdir / "private" / "tls"
    ca = pki.make_authority(tls, "samba test CA")
    cert, key = tls / "cert.pem", tls / "key.pem"
    pki.write_pair(pki.issue(ca, dns_name, 1, (dns_name, host)), cert, key)
    config = workdir / "etc" / "smb.conf"
    config.write_text(smb_conf(workdir, host, cert, key, ca.path), encoding="utf-8")
    dc = SambaDC(host, BASE_DN, f"Administrator@{REALM}", ADMIN_PASSWORD, ca.path, workdir)
    log_path = workdir / "samba.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SAMBA, "-i", "-M", "single", "-s", str(config)],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_bound(dc, process, log_path)
        yield dc
    finally:
        _stop(process)


def _wait_until_bound(dc: SambaDC, process: subprocess.Popen, log: Path) -> None:
    """Until the administrator can bind over LDAP, as the tests will."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace")
            raise SambaError(f"samba exited with {process.returncode} before answering:\n{text}")
        try:
            conn = dc.connect()
        except LDAPException:
            time.sleep(0.1)
            continue
        conn.unbind()
        return
    text = log.read_text(errors="replace")
    raise SambaError(f"samba on {dc.url()} did not answer within {START_TIMEOUT:g} s:\n{text}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT; no child is left."""
    if process.stdin is not None:
        process.stdin.close()
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# --- filling it ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AdEntry:
    """An entry a helper wrote: its DN and the attributes it was given."""

    dn: str
    attributes: dict[str, list[str | bytes]]


GIVEN_NAMES = ("Jürgen", "Øyvind", "Łukasz", "Anna", "Zoë", "José", "Björn", "Agnieszka",
               "François", "Ingrid", "Mehmet", "Siobhán")  # fmt: skip
SURNAMES = ("Müller", "Ødegård", "Wójcik", "Schmidt", "Ångström", "Núñez", "Weiß", "Dvořák",
            "Lefèvre", "O'Brien", "Yılmaz", "Nowak", "Kowalski")  # fmt: skip
PLACES = (
    ("Hauptstraße 1", "München", "80331", "Germany", "+49 89 {:07d}"),
    ("Karl Johans gate 22", "Oslo", "0159", "Norway", "+47 22 {:06d}"),
    ("ul. Floriańska 3", "Kraków", "31-019", "Poland", "+48 12 {:07d}"),
    ("Bahnhofstrasse 7", "Zürich", "8001", "Switzerland", "+41 44 {:07d}"),
)
COMPANIES = ("Beispiel GmbH", "Nordlys AS", "Przykład Sp. z o.o.")
DEPARTMENTS = ("Vertrieb", "Einkauf", "IT", "Kundendienst")
TITLES = ("Leiterin Vertrieb", "Sachbearbeiter", "Administrator", "Teamleiter")
# for mail addresses and account names: what NFKD does not spell in ASCII
_ASCII = str.maketrans({"Ø": "O", "ø": "o", "Ł": "L", "ł": "l", "ß": "ss", "ı": "i", "'": ""})


def ascii_name(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_ASCII))
    return text.encode("ascii", "ignore").decode("ascii")


def person(i: int) -> dict[str, list[str]]:
    """Name, phone, mail, company and address attributes for person number ``i``; numbers
    differ per person and come in the formats people type."""
    given = GIVEN_NAMES[i % len(GIVEN_NAMES)]
    sn = SURNAMES[i % len(SURNAMES)]  # another cycle length: many combinations
    street, city, postal_code, country, number = PLACES[i % len(PLACES)]
    main = number.format(1000 + i * 10)
    return {
        "givenName": [given],
        "sn": [sn],
        "displayName": [f"{given} {sn}"],
        "telephoneNumber": [main],
        "mobile": [f"+49 (151) {2000000 + i}"],
        "otherTelephone": [number.format(1001 + i * 10), f"0049 170 {3000000 + i}"],
        "ipPhone": [str(1000 + i)],
        "facsimileTelephoneNumber": [number.format(1009 + i * 10)],
        "mail": [f"{ascii_name(given)}.{ascii_name(sn)}.{i}@example.test".lower()],
        "company": [COMPANIES[i % len(COMPANIES)]],
        "department": [DEPARTMENTS[i % len(DEPARTMENTS)]],
        "title": [TITLES[i % len(TITLES)]],
        "streetAddress": [street],
        "l": [city],
        "postalCode": [postal_code],
        "co": [country],
    }


def _check(conn: ldap3.Connection, ok: bool, what: str, dn: str) -> None:
    if not ok:
        result = conn.result
        raise SambaError(f"{what} {dn}: {result['description']}: {result['message']}")


def add_entry(
    dc: SambaDC,
    dn: str,
    classes: Sequence[str],
    attributes: Mapping[str, Sequence[str | bytes]],
    conn: ldap3.Connection | None = None,
) -> AdEntry:
    """Add one entry (on ``conn`` if given, else on a connection of its own)."""
    own = conn is None
    conn = dc.connect() if conn is None else conn
    try:
        _check(conn, conn.add(dn, list(classes), dict(attributes)), "adding", dn)
    finally:
        if own:
            conn.unbind()
    return AdEntry(dn, {name: list(values) for name, values in attributes.items()})


def add_ou(dc: SambaDC, name: str, parent: str | None = None) -> str:
    """Create an organizational unit (below the domain unless ``parent``); return its DN."""
    dn = f"OU={escape_rdn(name)},{parent or dc.base_dn}"
    add_entry(dc, dn, ("top", "organizationalUnit"), {"ou": [name]})
    return dn


def user_attributes(i: int) -> dict[str, list[str | bytes]]:
    """``person(i)`` as an enabled user account with a password. Account names are unique
    in the whole domain, so they get a random part: tests share one DC."""
    attributes = person(i)
    account = f"{ascii_name(attributes['sn'][0])[:10]}.{secrets.token_hex(3)}".lower()
    password = f'"Pw-{i}-{ADMIN_PASSWORD}"'.encode("utf-16-le")
    return {
        **attributes,
        "sAMAccountName": [account],
        "userPrincipalName": [f"{account}@{REALM.lower()}"],
        # set on add, as AD tools do; Samba takes it over plain LDAP as configured here
        "unicodePwd": [password],
        "userAccountControl": [str(NORMAL_ACCOUNT)],
    }


def _add_people(
    dc: SambaDC,
    numbers: range,
    ou: str,
    classes: Sequence[str],
    attributes_of: Callable[[int], Mapping[str, Sequence[str | bytes]]],
) -> list[AdEntry]:
    """One entry per number, on one connection, named "CN=<displayName> <number>"."""
    conn = dc.connect()
    try:
        entries = []
        for i in numbers:
            attributes = attributes_of(i)
            cn = f"{attributes['displayName'][0]!s} {i}"
            dn = f"CN={escape_rdn(cn)},{ou}"
            entries.append(add_entry(dc, dn, classes, attributes, conn))
        return entries
    finally:
        conn.unbind()


def add_users(dc: SambaDC, n: int, ou: str, first: int = 0) -> list[AdEntry]:
    """Users number ``first`` .. ``first + n - 1`` in ``ou``: enabled accounts with names
    (non-ASCII among them), several phone numbers, mail, company and address. The number is
    part of CN and phone numbers: in one OU, other users need other numbers."""
    return _add_people(dc, range(first, first + n), ou, USER_CLASSES, user_attributes)


def add_contacts(dc: SambaDC, n: int, ou: str, first: int = 0) -> list[AdEntry]:
    """Contacts (objectClass contact: no account) number ``first`` .. ``first + n - 1``;
    named as ``add_users`` names users, so in an OU with users they need other numbers."""
    return _add_people(dc, range(first, first + n), ou, CONTACT_CLASSES, person)


def read(dc: SambaDC, dn: str, attributes: Sequence[str]) -> dict[str, list]:
    """The named attributes of one entry, as ldap3 decodes them without a schema."""
    conn = dc.connect()
    try:
        ok = conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes))
        _check(conn, ok, "reading", dn)
        return dict(conn.response[0]["attributes"])
    finally:
        conn.unbind()


def modify(dc: SambaDC, dn: str, changes: Mapping[str, Sequence[str | bytes] | None]) -> None:
    """Replace the values of attributes; ``None`` removes an attribute."""
    replace = {
        name: [(ldap3.MODIFY_REPLACE, list(values or []))] for name, values in changes.items()
    }
    conn = dc.connect()
    try:
        _check(conn, conn.modify(dn, replace), "modifying", dn)
    finally:
        conn.unbind()


def _modify_dn(dc: SambaDC, dn: str, rdn: str, parent: str | None, what: str) -> str:
    conn = dc.connect()
    try:
        _check(conn, conn.modify_dn(dn, rdn, new_superior=parent), what, dn)
    finally:
        conn.unbind()
    return ",".join([rdn, parent or ",".join(to_dn(dn)[1:])])


def rename(dc: SambaDC, dn: str, cn: str) -> str:
    """Give an entry a new CN in the same container; return its new DN."""
    return _modify_dn(dc, dn, f"CN={escape_rdn(cn)}", None, "renaming")


def move(dc: SambaDC, dn: str, parent: str) -> str:
    """Move an entry (its name kept) below ``parent``, another OU; return its new DN."""
    return _modify_dn(dc, dn, to_dn(dn)[0], parent, "moving")


def delete(dc: SambaDC, dn: str) -> None:
    """Delete an entry; AD keeps a tombstone under CN=Deleted Objects."""
    conn = dc.connect()
    try:
        _check(conn, conn.delete(dn), "deleting", dn)
    finally:
        conn.unbind()


def disable(dc: SambaDC, dn: str) -> None:
    """Set ACCOUNTDISABLE in the user's userAccountControl, keeping its other flags."""
    flags = int(read(dc, dn, ["userAccountControl"])["userAccountControl"][0])
    modify(dc, dn, {"userAccountControl": [str(flags | ACCOUNTDISABLE)]})


def filetime(when: datetime) -> int:
    """AD's time format: 100 ns steps since 1601-01-01 UTC."""
    return (when - _FILETIME_EPOCH) // timedelta(microseconds=1) * 10


def expire(dc: SambaDC, dn: str, when: datetime = datetime(2020, 1, 1, tzinfo=UTC)) -> None:
    """Let the account expire at ``when`` (by default long ago)."""
    modify(dc, dn, {"accountExpires": [str(filetime(when))]})


def set_photo(dc: SambaDC, dn: str, photo: bytes) -> None:
    """Store ``photo`` (JPEG bytes, say) as the entry's thumbnailPhoto."""
    modify(dc, dn, {"thumbnailPhoto": [photo]})
