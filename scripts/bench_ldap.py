"""metadir side by side with OpenLDAP slapd: the same contacts, the same load client, one run.

    .venv/bin/python scripts/bench_ldap.py [--count 100000] [--duration 10] [--clients 4]
        [--scale] [--profile DIR]

Generates COUNT contacts (scripts/generate_contacts.py, seed 1), syncs them into metadir (a
temporary SQLite store, the demo mapping and location DE/89/0, server.size_limit 0) and
starts ``metadir serve`` (start-up time: process start to the first answered search; RSS
from /proc). Dumps what metadir serves with ldapsearch and loads exactly those entries into
a throw-away slapd (tests/servers.py; back-mdb with eq,sub indexes on cn, sn, givenName,
displayName, mail, telephoneNumber, mobile, ipPhone, homePhone and eq on objectClass and
entryUUID), contacts renamed ``uid=<entryUUID>``. Numbers are in E.164 there too, as metadir
serves them, so slapd's telephoneNumberMatch finds the same entries. Neither server writes
an access log (metadir's server.access_log is off; slapd has no olcLogLevel).

Then each workload runs DURATION seconds on metadir, then on slapd, with the same requests
(compared first: the same entry count and result code from both):

  (a) lookup by number   (|(telephoneNumber=+49…)(mobile=+49…)), random existing numbers;
                         also with one client, for latency without queueing
  (b) name prefix        (|(cn=Mül*)(sn=Mül*)), sizeLimit 50, 3-letter surname prefixes
  (c) full dump          (objectClass=*) under dc=meta: paged (500 a page) when metadir's
                         root DSE lists the paged results control, else one search each

The load client is CLIENTS processes, each with one persistent connection over a raw socket:
requests are encoded before the clock starts and answers are only framed (entries counted,
not decoded), so a search costs the client some 30 µs of CPU and the servers, not the
client, are what is measured (the table shows both sides' CPU).

Then (a) again at 10k contacts (and 1M with --scale, on metadir only: slapadd alone takes
more than 10 minutes for a million contacts here): latency across directory sizes.
--profile DIR runs (a) and (b) on metadir once more under py-spy (``pip install py-spy``),
keeps the folded stacks in DIR and prints the busiest functions.

Needs slapd, slapadd and ldapsearch (Debian slapd, ldap-utils: scripts/test.sh installs them).
"""

from __future__ import annotations

import argparse
import array
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import ldap3
import yaml
from ldaptor.protocols import pureldap

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's server processes: tests/servers.py

from metadir.core.ber import (  # noqa: E402
    BIND_RESPONSE,
    OCTET_STRING,
    SEARCH_RESULT_DONE,
    SEARCH_RESULT_ENTRY,
    SEQUENCE,
    elements,
    integer,
    message,
    octets,
    tlv,
)
from scripts.generate_contacts import contacts, write_csv  # noqa: E402
from tests.servers import (  # noqa: E402
    SLAPD,
    MetadirServer,
    SlapdServer,
    connect,
    for_slapd,
    parse_ldif,
)

BASE = "dc=meta"
PAGED = "1.2.840.113556.1.4.319"
PAGE_SIZE = 500
PREFIX_SIZE_LIMIT = 50
SHOWN = ["cn", "telephoneNumber", "mobile", "company"]  # what a phone shows of a hit
REQUESTS = 8000  # distinct requests per workload, shared out among the clients
CHECKED = 100  # requests per workload compared between the servers before timing
OTHER_SIZES = (10_000,)  # (a) again at these sizes
SCALE_SIZE = 1_000_000  # metadir only: slapadd of a million contacts takes over 10 minutes

CONTROLS = 0xA0  # [0] Controls of an LDAPMessage (RFC 4511)
ANONYMOUS_BIND = pureldap.LDAPBindRequest(dn="", auth="").toWire()


# --- the load client: raw BER over a socket ------------------------------------------------


def paged_control(cookie: bytes) -> bytes:
    value = tlv(SEQUENCE, integer(PAGE_SIZE) + octets(cookie))
    return tlv(CONTROLS, tlv(SEQUENCE, octets(PAGED) + octets(value)))


def element(buf: bytearray, pos: int) -> tuple[int, int, int] | None:
    """(tag, value start, value end) of the BER element at ``pos``; None while its header is
    not all in ``buf``. The value may end beyond ``buf``."""
    if len(buf) - pos < 2:
        return None
    size = buf[pos + 1]
    if size < 0x80:
        return buf[pos], pos + 2, pos + 2 + size
    start = pos + 2 + (size & 0x7F)
    if len(buf) < start:
        return None
    return buf[pos], start, start + int.from_bytes(buf[pos + 2 : start], "big")


def paged_cookie(controls: bytes) -> bytes | None:
    """The cookie of the paged results control among the response controls, if there."""
    for _tag, control in elements(controls):
        parts = elements(control)  # controlType, [criticality], [controlValue]
        (_, oid), (tag, value) = parts[0], parts[-1]
        if oid == PAGED.encode() and tag == OCTET_STRING:
            ((_, sequence),) = elements(value)
            _size, (_, cookie) = elements(sequence)
            return cookie
    return None


class Connection:
    """One LDAP connection sending encoded requests and counting the entries that come back."""

    def __init__(self, url: str) -> None:
        address = urlsplit(url)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.mid = 0
        _, code, _ = self.exchange(ANONYMOUS_BIND, BIND_RESPONSE)
        if code != 0:
            raise ConnectionError(f"anonymous bind to {url} failed with result {code}")

    def close(self) -> None:
        self.sock.close()

    def search(self, op: bytes, paged: bool = False) -> tuple[int, int]:
        """Send the encoded SearchRequest ``op`` (page by page when ``paged``); return
        (entries, result code)."""
        if not paged:
            entries, code, _ = self.exchange(op, SEARCH_RESULT_DONE)
            return entries, code
        total, cookie = 0, b""
        while True:
            entries, code, cookie = self.exchange(op, SEARCH_RESULT_DONE, paged_control(cookie))
            total += entries
            if code != 0 or not cookie:
                return total, code

    def exchange(
        self, op: bytes, done: int, controls: bytes = b""
    ) -> tuple[int, int, bytes | None]:
        """Send one request, read up to its final response (protocolOp tag ``done``):
        (search entries before it, result code, paged results cookie)."""
        self.mid = self.mid % 0x7FFFFFFF + 1
        self.sock.sendall(message(self.mid, op, controls))
        buf, pos, entries = self.buf, 0, 0
        while True:
            header = element(buf, pos)
            if header is None or header[2] > len(buf):
                del buf[:pos]
                pos = 0
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                buf += chunk
                continue
            _, start, end = header
            op_at = start + 2 + buf[start + 1]  # after the messageID
            tag = buf[op_at]
            if tag == SEARCH_RESULT_ENTRY:
                entries += 1
            elif tag == done:
                _, op_start, op_end = element(buf, op_at)
                _, code_start, code_end = element(buf, op_start)
                code = int.from_bytes(buf[code_start:code_end], "big")
                cookie = None
                if op_end < end and buf[op_end] == CONTROLS:
                    _, controls_start, controls_end = element(buf, op_end)
                    cookie = paged_cookie(bytes(buf[controls_start:controls_end]))
                del buf[:end]
                return entries, code, cookie
            pos = end


@dataclass
class Job:
    url: str
    ops: list[bytes]
    paged: bool
    start: float  # time.time(), the same for every client
    stop: float
    # what the client speaks: LDAP here; anything with search(op, paged) -> (entries, code)
    # and close() (scripts/bench_web.py: HTTP)
    connection: Callable[[str], Any] = Connection


@dataclass
class ClientResult:
    latencies: array.array
    entries: int
    codes: Counter
    end: float
    cpu: float  # the client's own CPU seconds


def client_signals() -> None:
    """Ctrl-C is the parent's to handle; SIGTERM (from the pool when done) just ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def drive(job: Job) -> ClientResult:
    """One client process: search in a loop from ``start`` to ``stop``."""
    conn = job.connection(job.url)
    latencies = array.array("d")
    entries, codes, n = 0, Counter(), 0
    time.sleep(max(0.0, job.start - time.time()))
    cpu = time.process_time()
    while time.time() < job.stop:
        began = time.perf_counter()
        got, code = conn.search(job.ops[n % len(job.ops)], job.paged)
        latencies.append(time.perf_counter() - began)
        entries += got
        codes[code] += 1
        n += 1
    end = time.time()
    conn.close()
    return ClientResult(latencies, entries, codes, end, time.process_time() - cpu)


# --- workloads and measurement -------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    example: str
    ops: list[bytes]
    paged: bool = False
    clients: int | None = None  # None: --clients
    compare: bool = True  # False: the same requests as the workload before
    connection: Callable[[str], Any] = Connection  # the load client's, see Job


@dataclass
class Run:
    """One workload on one server."""

    latencies: list[float]
    entries: int
    codes: Counter
    elapsed: float
    cpu: float  # the server's CPU seconds meanwhile
    client_cpu: float
    other_cpu: float  # everything else on the machine: noise

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed

    def ms(self, percentile: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000
        return statistics.quantiles(self.latencies, n=100)[percentile - 1] * 1000

    def row(self, label: str) -> str:
        searches = len(self.latencies)
        results = ", ".join(f"{code}: {n}" for code, n in sorted(self.codes.items()))
        return (
            f"  {label:14} {self.rate:10,.1f} {self.ms(50):8.2f} {self.ms(99):8.2f} "
            f"{self.entries / searches:8.1f} {100 * self.cpu / self.elapsed:6.0f} % "
            f"{1000 * self.cpu / searches:9.3f} {100 * self.client_cpu / self.elapsed:6.0f} %"
            f"{100 * self.other_cpu / self.elapsed:6.0f} %  results {results}"
        )


@dataclass
class Comparison:
    workload: Workload
    clients: int
    runs: dict[str, Run]  # by server; no slapd at --scale's size

    @property
    def ratio(self) -> float | None:
        if "slapd" not in self.runs:
            return None
        return self.runs["metadir"].rate / self.runs["slapd"].rate


def search_op(filter: object, size_limit: int = 0, attributes: list[str] | None = None) -> bytes:
    return pureldap.LDAPSearchRequest(
        baseObject=BASE, filter=filter, sizeLimit=size_limit, attributes=attributes or []
    ).toWire()


def either(filters: list[object]) -> object:
    return pureldap.LDAPFilter_or(filters)


def equality(attribute: str, value: str) -> object:
    return pureldap.LDAPFilter_equalityMatch(
        attributeDesc=pureldap.LDAPAttributeDescription(attribute),
        assertionValue=pureldap.LDAPAssertionValue(value),
    )


def prefix(attribute: str, value: str) -> object:
    return pureldap.LDAPFilter_substrings(
        type=attribute, substrings=[pureldap.LDAPFilter_substrings_initial(value)]
    )


def number_lookups(numbers: list[str], rng: random.Random) -> list[bytes]:
    chosen = (rng.choice(numbers) for _ in range(REQUESTS))
    return [
        search_op(either([equality("telephoneNumber", n), equality("mobile", n)]), 10, SHOWN)
        for n in chosen
    ]


def name_prefixes(surnames: list[str], rng: random.Random) -> list[bytes]:
    chosen = (rng.choice(surnames)[:3] for _ in range(REQUESTS))
    limit = PREFIX_SIZE_LIMIT
    return [search_op(either([prefix("cn", p), prefix("sn", p)]), limit, SHOWN) for p in chosen]


def measure(url: str, pid: int, workload: Workload, clients: int, duration: float) -> Run:
    start = time.time() + 0.5  # every client connected and bound by then
    ops = workload.ops
    share = max(1, len(ops) // clients)
    jobs = [
        Job(
            url,
            ops[i * share : (i + 1) * share] or ops,
            workload.paged,
            start,
            start + duration,
            workload.connection,
        )
        for i in range(clients)
    ]
    cpu, busy = cpu_seconds(pid), machine_busy()
    with multiprocessing.get_context("fork").Pool(clients, client_signals) as pool:
        results = pool.map(drive, jobs)
    cpu, busy = cpu_seconds(pid) - cpu, machine_busy() - busy
    client_cpu = sum(r.cpu for r in results)
    return Run(
        latencies=[x for r in results for x in r.latencies],
        entries=sum(r.entries for r in results),
        codes=sum((r.codes for r in results), Counter()),
        elapsed=max(r.end for r in results) - start,
        cpu=cpu,
        client_cpu=client_cpu,
        other_cpu=max(0.0, busy - cpu - client_cpu),
    )


def differences(urls: tuple[str, str], workload: Workload) -> list[str]:
    """Requests of ``workload`` that the servers answer with another entry count or result
    code (the first ``CHECKED`` compared)."""
    left, right = (Connection(url) for url in urls)
    try:
        found = []
        for op in workload.ops[:CHECKED]:
            a, b = left.search(op, workload.paged), right.search(op, workload.paged)
            if a != b:
                found.append(f"(entries, result) {a} from metadir, {b} from slapd")
        return found
    finally:
        left.close()
        right.close()


# --- the servers ---------------------------------------------------------------------------


class BenchSlapd(SlapdServer):
    indexed = ("cn", "sn", "givenName", "displayName", "mail")
    indexed_numbers = ("telephoneNumber", "mobile", "ipPhone", "homePhone")
    db_max_size = 64 << 30  # room for a million contacts with their indexes


@dataclass
class Served:
    """Both servers holding the same ``count`` contacts."""

    count: int
    metadir: MetadirServer
    slapd: SlapdServer | None
    entries: int  # what a dump of dc=meta returns, containers included
    numbers: list[str] = field(repr=False)  # E.164 telephoneNumber and mobile values
    surnames: list[str] = field(repr=False)  # at least 3 characters
    metadir_start: float
    slapd_start: float
    metadir_rss: tuple[float, float]  # MB, after load and after the ldapsearch dump
    paged: bool  # metadir's root DSE lists the paged results control

    @property
    def servers(self) -> dict[str, tuple[str, int]]:
        """URL and process id by server name."""
        running = {"metadir": self.metadir, "slapd": self.slapd}
        return {
            name: (server.url, server.process.pid)
            for name, server in running.items()
            if server is not None and server.process is not None
        }


def say(message: str) -> None:
    print(message, flush=True)


@contextmanager
def serving(count: int, workdir: Path, with_slapd: bool) -> Iterator[Served]:
    home = workdir / "metadir"
    home.mkdir(parents=True)
    started = time.monotonic()
    write_csv(home / "contacts.csv", contacts(count, seed=1))
    say(f"  generated {count} contacts in {time.monotonic() - started:.1f} s")
    config = yaml.safe_load((ROOT / "demo/metadir.yaml").read_text(encoding="utf-8"))
    config["store"] = {"url": "sqlite:///metadir.db"}
    # no access log: slapd without olcLogLevel logs nothing either
    config["server"] = {"size_limit": 0, "access_log": False}
    metadir = MetadirServer(home, config)
    slapd: SlapdServer | None = None
    try:
        started = time.monotonic()
        metadir.sync()
        say(f"  metadir sync: {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        metadir.start(timeout=max(20.0, count / 2000))
        metadir_start = time.monotonic() - started
        assert metadir.process is not None
        metadir_rss = rss_mb(metadir.process.pid)
        say(f"  metadir serve: answering after {metadir_start:.2f} s, RSS {metadir_rss:.0f} MB")

        started = time.monotonic()
        slapd = BenchSlapd(workdir / "slapd") if with_slapd else None
        entries, numbers, surnames = copy_entries(metadir.url, workdir / "dump.ldif", slapd)
        say(f"  {entries} entries dumped from metadir{', slapadd' * with_slapd}: "
            f"{time.monotonic() - started:.1f} s")  # fmt: skip
        dumped_rss = rss_mb(metadir.process.pid)
        started = time.monotonic()
        if slapd is not None:
            slapd.start()
        slapd_start = time.monotonic() - started
        yield Served(
            count,
            metadir,
            slapd,
            entries,
            numbers,
            surnames,
            metadir_start,
            slapd_start,
            (metadir_rss, dumped_rss),
            lists_paging(metadir.url),
        )
    finally:
        if slapd is not None:
            slapd.stop()
        metadir.stop()


def copy_entries(
    url: str, dump: Path, slapd: SlapdServer | None
) -> tuple[int, list[str], list[str]]:
    """(entries, numbers, surnames) of what metadir serves; all of it loaded into ``slapd``
    if there is one."""
    wanted = ["*", "entryUUID", "createTimestamp", "modifyTimestamp"]
    ldapsearch = shutil.which("ldapsearch")
    if ldapsearch is None:
        raise FileNotFoundError("ldapsearch is not installed (Debian package ldap-utils)")
    with dump.open("wb") as out:
        subprocess.run(
            [
                ldapsearch,
                "-x",
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                url,
                "-b",
                BASE,
                "(objectClass=*)",
                *(wanted if slapd else ["telephoneNumber", "mobile", "sn"]),
            ],
            stdout=out,
            check=True,
            env={**os.environ, "LDAPNOINIT": "1"},
        )
    entries, numbers, surnames = 0, [], []
    converted = dump.with_suffix(".slapd.ldif")
    with converted.open("w", encoding="utf-8") as out:
        for chunk in ldif_chunks(dump):
            if slapd is not None:
                out.write(for_slapd(chunk))
            for _dn, attrs in parse_ldif(chunk):
                entries += 1
                for name in ("telephoneNumber", "mobile"):
                    numbers += [v for v in attrs.get(name, ()) if v.startswith("+")]
                surnames += [v for v in attrs.get("sn", ()) if len(v) >= 3]
    dump.unlink()
    if slapd is not None:
        # the schema is checked by tests/integration/test_differential.py; company-only
        # contacts lack sn
        slapd.load_file(converted, check_schema=False)
    converted.unlink()
    return entries, numbers, surnames


def ldif_chunks(path: Path, entries: int = 5000) -> Iterator[str]:
    """``path``'s LDIF (entries separated by one empty line) ``entries`` at a time."""
    lines: list[str] = []
    ends = 0
    with path.open(encoding="utf-8") as ldif:
        for line in ldif:
            lines.append(line)
            ends += line == "\n"
            if ends == entries:
                yield "".join(lines)
                lines, ends = [], 0
    if lines:
        yield "".join(lines)


def lists_paging(url: str) -> bool:
    conn = connect(url)
    try:
        conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedControl"])
        return PAGED in conn.response[0]["attributes"].get("supportedControl", [])
    finally:
        conn.unbind()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    (line,) = (x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system time of the process and all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


# --- profiling -----------------------------------------------------------------------------


def profile(served: Served, workload: Workload, args: argparse.Namespace) -> None:
    """Run ``workload`` on metadir under py-spy; keep the folded stacks, print the top."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise FileNotFoundError("--profile needs py-spy: .venv/bin/pip install py-spy")
    pid = served.servers["metadir"][1]
    out = args.profile / f"metadir-{workload.key.strip('()')}.folded"
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--format", "raw", "--nolineno", "--full-filenames",
         "--duration", str(int(args.duration) + 1), "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)  # attached
        measure(served.metadir.url, pid, workload, workload.clients or args.clients, args.duration)
        _, errors = spy.communicate(timeout=args.duration + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy failed with {spy.returncode}:\n{errors}")
    say(f"\npy-spy on metadir during {workload.key} {workload.title} ({out}):")
    print_profile(out)


def short(frame: str) -> str:
    """``function (path)`` with the path from the package on."""
    function, _, path = frame.partition(" (")
    for root in (
        f"{ROOT}/",
        "site-packages/",
        f"/python{sys.version_info[0]}.{sys.version_info[1]}/",
    ):
        path = path.split(root, 1)[-1]
    return f"{function} ({path}"


def print_profile(folded: Path, top: int = 12) -> None:
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    for line in folded.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [short(f) for f in stack.split(";")]
        # py-spy counts the thread pool's workers waiting for work as active: they are not
        if frames[-1].startswith("Condition.wait "):
            continue
        own[frames[-1]] += int(count)
        for frame in set(frames):
            under[frame] += int(count)
    total = own.total()
    if not total:
        say("  no samples")
        return
    say(f"  {total} samples; own time:")
    for frame, count in own.most_common(top):
        say(f"  {100 * count / total:5.1f} %  {frame}")
    say("  with callees (below the event loop):")
    below = [(f, n) for f, n in under.most_common() if n < 0.9 * total]
    for frame, count in below[:top]:
        say(f"  {100 * count / total:5.1f} %  {frame}")


# --- the run -------------------------------------------------------------------------------


def workloads(served: Served, lookups_only: bool) -> list[Workload]:
    rng = random.Random(7)
    lookups = number_lookups(served.numbers, rng)
    example = "(|(telephoneNumber=+49…)(mobile=+49…))"
    chosen = [
        Workload("(a)", "number lookup", example, lookups),
        Workload("(a)", "number lookup", example, lookups, clients=1, compare=False),
    ]
    if lookups_only:
        return chosen
    dump = search_op(pureldap.LDAPFilter_present("objectClass"))
    how = f"paged, {PAGE_SIZE} a page" if served.paged else "one search (metadir cannot page)"
    names = f"(|(cn=Mül*)(sn=Mül*)), sizeLimit {PREFIX_SIZE_LIMIT}"
    return [
        *chosen,
        Workload("(b)", "name prefix", names, name_prefixes(served.surnames, rng)),
        Workload("(c)", "full dump", f"(objectClass=*), all attributes, {how}", [dump],
                 paged=served.paged),
    ]  # fmt: skip


def bench(served: Served, args: argparse.Namespace, lookups_only: bool) -> list[Comparison]:
    done = []
    servers = served.servers
    for workload in workloads(served, lookups_only):
        if workload.compare and len(servers) == 2:
            urls = servers["metadir"][0], servers["slapd"][0]
            found = differences(urls, workload)
            if found:
                checked = min(CHECKED, len(workload.ops))
                say(f"  warning: {workload.key}: {len(found)} of {checked} requests answered "
                    f"differently, e.g. {found[0]}")  # fmt: skip
        clients = workload.clients or args.clients
        runs = {
            name: measure(url, pid, workload, clients, args.duration)
            for name, (url, pid) in servers.items()
        }
        done.append(Comparison(workload, clients, runs))
        rates = ", ".join(f"{name} {run.rate:,.0f}/s" for name, run in runs.items())
        say(f"  {workload.key} {workload.title}, {clients} client{'s' * (clients > 1)}: {rates}")
    return done


def report(served: Served, done: list[Comparison], args: argparse.Namespace) -> None:
    say(f"\n{served.count:,} contacts ({served.entries:,} entries), {args.duration:g} s per "
        f"workload and server; CPU in % of one core (server also in ms a search)")  # fmt: skip
    say(f"  {'':14} {'searches/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'entries':>8} "
        f"{'server CPU':>17} {'clients':>8} {'others':>7}")  # fmt: skip
    for c in done:
        say(f"{c.workload.key} {c.workload.title}, {c.clients} client"
            f"{'s' * (c.clients > 1)}: {c.workload.example}")  # fmt: skip
        for name, run in c.runs.items():
            say(run.row(name))
        if c.ratio is not None:
            say(f"  {'metadir/slapd':14} {c.ratio:10.2f}")
    metadir_pid = served.servers["metadir"][1]
    loaded, dumped = served.metadir_rss
    say(f"metadir: start-up {served.metadir_start:.2f} s (process start to first answered "
        f"search); RSS {loaded:.0f} MB after load, {dumped:.0f} MB after the ldapsearch dump "
        f"(one search for all), {rss_mb(metadir_pid):.0f} MB after the workloads")  # fmt: skip
    if "slapd" in served.servers:
        say(f"slapd:   start-up {served.slapd_start:.2f} s, "
            f"RSS {rss_mb(served.servers['slapd'][1]):.0f} MB after the workloads")  # fmt: skip
    else:
        say("slapd:   left out at this size (slapadd alone would take more than 10 minutes)")


def across_sizes(results: list[tuple[int, list[Comparison]]]) -> None:
    say("\n(a) number lookup across directory sizes")
    say(f"{'contacts':>10} {'clients':>7}  {'metadir/s':>9} {'p50 ms':>7} {'p99 ms':>7}  "
        f"{'slapd/s':>9} {'p50 ms':>7} {'p99 ms':>7}  {'ratio':>5}")  # fmt: skip
    for count, done in results:
        for c in done:
            if c.workload.key != "(a)":
                continue
            columns = []
            for name in ("metadir", "slapd"):
                run = c.runs.get(name)
                columns.append(
                    f"{run.rate:9,.0f} {run.ms(50):7.2f} {run.ms(99):7.2f}"
                    if run
                    else f"{'-':>9} {'-':>7} {'-':>7}"
                )
            ratio = f"{c.ratio:5.2f}" if c.ratio is not None else f"{'-':>5}"
            say(f"{count:10,} {c.clients:7}  {columns[0]}  {columns[1]}  {ratio}")


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((x.split(":", 1)[1].strip() for x in cpuinfo if x.startswith("model name")), "?")
    slapd = subprocess.run([SLAPD, "-VV"], capture_output=True, text=True).stderr.split("$")
    version = slapd[1].strip() if len(slapd) > 1 else "slapd"
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"metadir {commit or '?'}, {version}; {os.cpu_count()} cores {cpu}, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="contacts (default 100000)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per workload")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--scale", action="store_true", help="(a) at 1M contacts too")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy metadir into DIR")
    args = parser.parse_args()
    if SLAPD is None:
        parser.error("slapd is not installed (Debian package slapd; scripts/test.sh installs it)")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    # SIGTERM unwinds like Ctrl-C, so every server and temporary directory is cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    say(f"{machine()}")
    say(f"load average before: {os.getloadavg()[0]:.2f}; {args.clients} client processes")
    if os.getloadavg()[0] > 1:
        say("warning: the machine is busy; see the 'others' column for how much it disturbs")
    sizes = [args.count, *(n for n in OTHER_SIZES if n != args.count)]
    if args.scale and SCALE_SIZE not in sizes:
        sizes.append(SCALE_SIZE)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench_ldap-") as tmp:
            for count in sizes:
                say(f"\n{count:,} contacts")
                workdir = Path(tmp) / str(count)
                with serving(count, workdir, with_slapd=count != SCALE_SIZE) as served:
                    done = bench(served, args, lookups_only=count != args.count)
                    report(served, done, args)
                    if args.profile and count == args.count:
                        for c in done:
                            if c.workload.key in ("(a)", "(b)") and c.clients == args.clients:
                                profile(served, c.workload, args)
                results.append((count, done))
                shutil.rmtree(workdir)
    except KeyboardInterrupt:
        say("interrupted; servers stopped, temporary files removed")
        return 130
    across_sizes(results)
    say(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
