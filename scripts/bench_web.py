"""The estos JSON search over HTTP (issue 13) beside LDAP to metadir and to slapd: the same
contacts, the same load client, one run.

    .venv/bin/python scripts/bench_web.py [--contacts 100000] [--clients 4] [--seconds 10]

Sets up as scripts/bench_ldap.py does (its ``serving``): generates CONTACTS contacts (seed 1),
syncs them into metadir (SQLite, the demo mapping, DE/89/0, size_limit 0, no access log),
starts ``metadir serve`` — the demo config's ``http:`` section puts the web server on a free
loopback port of its own — and loads what metadir serves into a throw-away slapd (back-mdb,
indexed). Then each workload runs SECONDS seconds, one server (or protocol) after the other:

  (n) caller-ID lookup, random numbers of the contacts written as phones send them (E.164,
      +49 89 …, 0049…, 089 …, 0 089 … behind the outside line 0):
        HTTP   GET /search.json?searchNumber=…             (metadir's web server)
        LDAP   (searchNumber=…), the same texts            (metadir)
        LDAP   (|(telephoneNumber=+…)(mobile=+…)), E.164   (metadir, slapd)
      also HTTP and LDAP searchNumber with one client: latency without queueing
  (s) name search as typed, random 3-letter surname prefixes, at most 50:
        HTTP   GET /search.json?searchContact=Mül&limit=50 (metadir's web server)
        LDAP   (searchContact=Mül*), sizeLimit 50          (metadir)
        LDAP   (|(cn=Mül*)(sn=Mül*)), sizeLimit 50         (metadir, slapd)

LDAP searches ask for the attributes the JSON answer holds. Before timing, the first 100
requests of each HTTP workload are checked against their LDAP twin on metadir: the same
number of contacts.

The load client is bench_ldap.py's: CLIENTS processes with one persistent (keep-alive)
connection each, sending without pause; requests are encoded before the clock starts and
answers are only framed (HTTP: status line, headers, chunked or Content-Length body; contacts
counted by their "entryUUID" key, not decoded), so the client costs little CPU and the
server is what is measured. The table shows throughput, p50, p99 and max, server CPU and
client CPU, and the ratios HTTP/LDAP.

Needs slapd, slapadd and ldapsearch (Debian slapd, ldap-utils: scripts/test.sh installs them).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/servers.py and the other scripts

from scripts.bench_ldap import (  # noqa: E402
    Connection,
    Run,
    Served,
    Workload,
    either,
    equality,
    machine,
    measure,
    prefix,
    rss_mb,
    say,
    search_op,
    serving,
)
from tests.servers import SLAPD  # noqa: E402

REQUESTS = 8000  # distinct requests per workload, shared out among the clients
CHECKED = 100  # requests per HTTP workload compared with LDAP before timing
NAME_LIMIT = 50
NUMBER_LIMIT = 50  # what /search.json shows without limit= (http.search_limit)
# what the JSON answer holds, as LDAP attributes (metadir/web/contacts.py, ESTOS_FIELDS)
JSON_ATTRIBUTES = [
    "displayName", "givenName", "sn", "company", "department", "title", "telephoneNumber",
    "otherTelephone", "mobile", "mail", "url", "street", "postalCode", "l", "entryUUID",
]  # fmt: skip


# --- the HTTP load client ------------------------------------------------------------------


class HttpConnection:
    """One HTTP/1.1 keep-alive connection sending encoded requests; answers are framed and
    their contacts counted. The interface of bench_ldap.Connection: search(op) ->
    (entries, status)."""

    def __init__(self, url: str) -> None:
        address = urlsplit(url)
        self.sock = socket.create_connection((address.hostname, address.port), timeout=300)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        self.sock.close()

    def search(self, op: bytes, paged: bool = False) -> tuple[int, int]:
        self.sock.sendall(op)
        status, body = self.answer()
        return body.count(b'"entryUUID"'), status

    def fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buf += chunk

    def line(self) -> bytes:
        """The next CRLF-terminated line, without the CRLF."""
        while (end := self.buf.find(b"\r\n")) < 0:
            self.fill()
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def take(self, size: int) -> bytes:
        while len(self.buf) < size:
            self.fill()
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    def answer(self) -> tuple[int, bytes]:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self.fill()
        head = bytes(self.buf[:end]).lower()
        del self.buf[: end + 4]
        status = int(head[9:12])
        length = re.search(rb"\r\ncontent-length: *(\d+)", head)
        if length is not None:
            return status, self.take(int(length[1]))
        if b"\r\ntransfer-encoding: chunked" not in head:
            raise ConnectionError(f"an answer without length: {head!r}")
        parts = []
        while size := int(self.line().split(b";")[0], 16):
            parts.append(self.take(size))
            self.take(2)  # CRLF after the chunk
        while self.line():  # trailers up to the empty line
            pass
        return status, b"".join(parts)


def get(url: str, target: str) -> bytes:
    """A GET request for ``target`` (path and query), encoded."""
    host = urlsplit(url).netloc
    return f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()


# --- requests ------------------------------------------------------------------------------


def written(e164: str, rng: random.Random) -> str:
    """``e164`` as a phone might send it (location DE/89, outside line 0)."""
    parsed = phonenumbers.parse(e164)
    forms = [
        e164,
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
        "00" + e164[1:],
    ]
    if parsed.country_code == 49:
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms += [national, national.replace(" ", ""), "0 " + national]
    return rng.choice(forms)


@dataclass
class Group:
    """The workloads of one kind of search, the HTTP one first."""

    key: str
    title: str
    workloads: list[tuple[str, str, Workload]]  # (label, server: metadir/slapd, workload)
    twins: tuple[Workload, Workload]  # HTTP and its LDAP twin, checked against each other


def groups(served: Served, http_url: str, rng: random.Random) -> list[Group]:
    numbers = [rng.choice(served.numbers) for _ in range(REQUESTS)]
    texts = [written(n, rng) for n in numbers]
    http = [get(http_url, f"/search.json?searchNumber={quote(t)}") for t in texts]
    by_text = [search_op(equality("searchNumber", t), NUMBER_LIMIT, JSON_ATTRIBUTES) for t in texts]
    e164 = [
        search_op(
            either([equality("telephoneNumber", n), equality("mobile", n)]),
            NUMBER_LIMIT,
            JSON_ATTRIBUTES,
        )
        for n in numbers
    ]
    lookup_http = Workload("(n)", "", "", http, connection=HttpConnection)
    lookup_ldap = Workload("(n)", "", "", by_text)
    lookup_e164 = Workload("(n)", "", "", e164)

    prefixes = [rng.choice(served.surnames)[:3] for _ in range(REQUESTS)]
    query = [f"/search.json?searchContact={quote(p)}&limit={NAME_LIMIT}" for p in prefixes]
    names_http = Workload(
        "(s)", "", "", [get(http_url, q) for q in query], connection=HttpConnection
    )
    names_ldap = Workload(
        "(s)", "", "", [search_op(prefix("searchContact", p), NAME_LIMIT, JSON_ATTRIBUTES)
                        for p in prefixes]
    )  # fmt: skip
    names_cn = Workload(
        "(s)", "", "", [search_op(either([prefix("cn", p), prefix("sn", p)]), NAME_LIMIT,
                                  JSON_ATTRIBUTES) for p in prefixes]
    )  # fmt: skip
    return [
        Group(
            "(n)",
            "caller-ID lookup, random numbers as phones write them (+49 89 …, 089 …, 0049…)",
            [
                ("HTTP searchNumber", "web", lookup_http),
                ("LDAP searchNumber", "metadir", lookup_ldap),
                ("LDAP tel|mobile", "metadir", lookup_e164),
                ("slapd tel|mobile", "slapd", lookup_e164),
                ("HTTP, 1 client", "web", Workload("(n)", "", "", http, clients=1,
                                                    connection=HttpConnection)),
                ("LDAP, 1 client", "metadir", Workload("(n)", "", "", by_text, clients=1)),
                ("slapd, 1 client", "slapd", Workload("(n)", "", "", e164, clients=1)),
            ],
            (lookup_http, lookup_ldap),
        ),
        Group(
            "(s)",
            f"name search, random 3-letter surname prefixes, at most {NAME_LIMIT}",
            [
                ("HTTP searchContact", "web", names_http),
                ("LDAP searchContact", "metadir", names_ldap),
                ("LDAP cn|sn", "metadir", names_cn),
                ("slapd cn|sn", "slapd", names_cn),
            ],
            (names_http, names_ldap),
        ),
    ]  # fmt: skip


def check(http_url: str, ldap_url: str, twins: tuple[Workload, Workload]) -> None:
    """Warn when HTTP and LDAP find another number of contacts for the same search, or
    HTTP answers anything but 200."""
    web, ldap = HttpConnection(http_url), Connection(ldap_url)
    try:
        differ, failed, found = [], [], 0
        for request, op in zip(twins[0].ops[:CHECKED], twins[1].ops[:CHECKED], strict=True):
            (got, status), (want, _code) = web.search(request), ldap.search(op)
            found += got > 0
            if status != 200:
                failed.append(f"{status} for {request.split(b' ')[1].decode()}")
            elif got != want:
                differ.append(f"{got} over HTTP, {want} over LDAP: {request.split(b' ')[1]!r}")
        checked = min(CHECKED, len(twins[0].ops))
        say(f"  {twins[0].key} check: {found} of {checked} HTTP searches found contacts")
        for what, problems in (("answered", failed), ("found another count", differ)):
            if problems:
                say(f"  warning: {len(problems)} of {checked} {what}, e.g. {problems[0]}")
    finally:
        web.close()
        ldap.close()


# --- the run -------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    server: str
    clients: int
    run: Run


def bench(served: Served, args: argparse.Namespace) -> list[tuple[Group, list[Row]]]:
    assert served.metadir.http_url is not None, "the demo config has an http: section"
    metadir = served.servers["metadir"]
    urls = {"web": served.metadir.http_url, "metadir": metadir[0]}
    pids = {"web": metadir[1], "metadir": metadir[1]}  # one process serves both
    if "slapd" in served.servers:
        urls["slapd"], pids["slapd"] = served.servers["slapd"]
    done = []
    for group in groups(served, urls["web"], random.Random(7)):
        check(urls["web"], urls["metadir"], group.twins)
        rows = []
        for label, server, workload in group.workloads:
            if server not in urls:
                continue
            clients = workload.clients or args.clients
            run = measure(urls[server], pids[server], workload, clients, args.seconds)
            rows.append(Row(label, server, clients, run))
            say(f"  {group.key} {label:20} {clients} client{'s' * (clients > 1)}: "
                f"{run.rate:,.0f}/s, p50 {run.ms(50):.2f} ms, p99 {run.ms(99):.2f} ms")  # fmt: skip
        done.append((group, rows))
    return done


def report(served: Served, done: list[tuple[Group, list[Row]]], args: argparse.Namespace) -> None:
    say(f"\n{served.count:,} contacts, {args.seconds:g} s per row; CPU in % of one core, server "
        f"CPU also in ms a request; 'results': HTTP status or LDAP result code: count")  # fmt: skip
    header = (
        f"  {'':20} {'clients':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'entries':>7} {'server CPU':>16} {'clients':>7} {'others':>7}"
    )
    for group, rows in done:
        say(f"{group.key} {group.title}")
        say(header)
        for row in rows:
            run = row.run
            n = len(run.latencies)
            results = ", ".join(f"{code}: {k}" for code, k in sorted(run.codes.items()))
            say(f"  {row.label:20} {row.clients:7} {run.rate:8,.0f} {run.ms(50):7.2f} "
                f"{run.ms(99):7.2f} {1000 * max(run.latencies):7.1f} {run.entries / n:7.1f} "
                f"{100 * run.cpu / run.elapsed:6.0f} % {1000 * run.cpu / n:6.3f} ms "
                f"{100 * run.client_cpu / run.elapsed:5.0f} % "
                f"{100 * run.other_cpu / run.elapsed:5.0f} %  results {results}")  # fmt: skip
        ratios(rows)
    metadir_pid = served.servers["metadir"][1]
    say(f"metadir: RSS {rss_mb(metadir_pid):.0f} MB after the workloads "
        f"({served.metadir_rss[0]:.0f} MB after load)")  # fmt: skip


def ratios(rows: list[Row]) -> None:
    """HTTP against each LDAP row with as many clients: throughput, p50, p99."""
    for http in (r for r in rows if r.server == "web"):
        for other in (r for r in rows if r.server != "web" and r.clients == http.clients):
            a, b = http.run, other.run
            say(f"  {http.label} / {other.label}: throughput {a.rate / b.rate:.2f}, "
                f"p50 {a.ms(50) / b.ms(50):.2f}, p99 {a.ms(99) / b.ms(99):.2f}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000, help="default 100000")
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--seconds", type=float, default=10, help="per row (default 10)")
    args = parser.parse_args()
    if SLAPD is None:
        parser.error("slapd is not installed (Debian package slapd; scripts/test.sh installs it)")
    # SIGTERM unwinds like Ctrl-C, so every server and temporary directory is cleaned up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    say(machine())
    say(f"load average before: {os.getloadavg()[0]:.2f}; {args.clients} client processes")
    if os.getloadavg()[0] > 1:
        say("warning: the machine is busy; see the 'others' column for how much it disturbs")
    try:
        with tempfile.TemporaryDirectory(prefix="bench_web-") as tmp:
            workdir = Path(tmp) / "run"
            with serving(args.contacts, workdir, with_slapd=True) as served:
                report(served, bench(served, args), args)
            shutil.rmtree(workdir)
    except KeyboardInterrupt:
        say("interrupted; servers stopped, temporary files removed")
        return 130
    say(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
