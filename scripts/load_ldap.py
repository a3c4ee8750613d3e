"""Many concurrent LDAP connections for a while: no error, no refused connection, no traceback.

    .venv/bin/python scripts/load_ldap.py [--count 10000] [--connections 200]
        [--duration 60] [--processes 4] [--url ldap://HOST:PORT --csv CONTACTS.csv]

Without --url: generates COUNT contacts (scripts/generate_contacts.py, seed 1), syncs them
into a temporary SQLite store (demo/metadir.yaml's mapping, no access log) and starts
``metadir serve`` as tests/servers.py does; with --url it loads a server already running on
the contacts of --csv.

CONNECTIONS connections are opened from PROCESSES client processes and bound anonymously;
each then loops, one request at a time, over a mix of what phones ask: 70 % caller lookups
(``(|(telephoneNumber=N)(mobile=N)(homePhone=N))`` with a number as the CSV holds it) and 30 %
name searches as typed (``(searchContact=Given Sur)``, a first name and a surname's first
three letters). Requests are encoded before the clock starts; a client only frames answers.

Reported: requests, errors (a result code other than success, a refused, closed or reset
connection, no answer within --timeout seconds; must be 0), connections that got no answer,
throughput, p50 / p99 latency, and tracebacks in the server's log (must be 0). A name search
answered sizeLimitExceeded with the 50 entries it asked for is the answer a phone wants and
is counted apart, not as an error. Exit 0 when there were neither errors nor tracebacks.
"""

from __future__ import annotations

import argparse
import array
import csv
import multiprocessing
import random
import selectors
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from ldaptor.protocols import pureldap

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/servers.py, scripts/generate_contacts.py

from metadir.core.ber import BIND_RESPONSE, SEARCH_RESULT_DONE, SEARCH_RESULT_ENTRY, message  # noqa: E402
from scripts.bench_ldap import ANONYMOUS_BIND, SHOWN, element, equality, search_op  # noqa: E402
from scripts.generate_contacts import contacts, write_csv  # noqa: E402
from tests.servers import MetadirServer  # noqa: E402

LOOKUP_SHARE = 0.7
REQUESTS = 4000  # distinct requests, shared out among the client processes
SIZE_LIMIT_EXCEEDED = 4


# --- requests --------------------------------------------------------------------------------


def requests(csv_path: Path, count: int, seed: int) -> list[tuple[str, bytes]]:
    """``count`` encoded search requests drawn from the contacts in ``csv_path``, each with
    its kind ("lookup" or "name")."""
    numbers, names = [], []
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f, delimiter=";"):
            numbers += [row[c] for c in ("Phone", "Mobile", "HomePhone") if row.get(c)]
            if row.get("FirstName") and len(row.get("LastName") or "") >= 3:
                names.append(f"{row['FirstName']} {row['LastName'][:3]}")
    if not numbers or not names:
        raise ValueError(f"{csv_path}: no numbers or no names to search for")
    rng = random.Random(seed)
    ops = []
    for _ in range(count):
        if rng.random() < LOOKUP_SHARE:
            number = rng.choice(numbers)
            lookup = [equality(a, number) for a in ("telephoneNumber", "mobile", "homePhone")]
            ops.append(("lookup", search_op(pureldap.LDAPFilter_or(lookup), 10, SHOWN)))
        else:
            # a name typed on a phone: each word must start a word of the contact's name
            ops.append(("name", search_op(equality("searchContact", rng.choice(names)), 50, SHOWN)))
    return ops


# --- the client processes ------------------------------------------------------------------


@dataclass
class Job:
    url: str
    connections: int
    ops: list[tuple[str, bytes]]  # (kind, encoded request)
    start: float  # time.time(), the same for every process
    stop: float
    timeout: float


@dataclass
class Outcome:
    latencies: array.array = field(default_factory=lambda: array.array("d"))
    codes: Counter = field(default_factory=Counter)  # (kind, result code) -> searches
    errors: Counter = field(default_factory=Counter)  # kind -> how many
    served: list[int] = field(default_factory=list)  # answered searches per connection
    entries: int = 0


class Conn:
    """One connection: one request in flight at a time, answers framed, not decoded."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.mid = 0
        self.sent = 0.0
        self.waiting_for = BIND_RESPONSE
        self.answered = 0
        self.entries = 0  # search result entries received
        self.next = 0
        self.kind = "bind"

    def send(self, op: bytes, done: int) -> None:
        self.mid += 1
        self.waiting_for = done
        self.sent = time.perf_counter()
        self.sock.sendall(message(self.mid, op))

    def result(self) -> int | None:
        """The result code once the awaited final response is in the buffer, else None.
        Search entries before it are dropped unread."""
        buf = self.buf
        while True:
            header = element(buf, 0)
            if header is None or header[2] > len(buf):
                return None
            _tag, start, end = header
            op_at = start + 2 + buf[start + 1]  # after the messageID
            if buf[op_at] == self.waiting_for:
                _, op_start, _ = element(buf, op_at)
                _, code_start, code_end = element(buf, op_start)
                code = int.from_bytes(buf[code_start:code_end], "big")
                del buf[:end]
                return code
            self.entries += buf[op_at] == SEARCH_RESULT_ENTRY
            del buf[:end]


def drive(job: Job) -> Outcome:
    """One client process: open its connections, bind, then search until ``stop``; requests
    still in flight then are awaited (up to the timeout) and counted."""
    out = Outcome()
    address = urlsplit(job.url)
    selector = selectors.DefaultSelector()
    conns: list[Conn] = []
    for _ in range(job.connections):
        try:
            sock = socket.create_connection((address.hostname, address.port), timeout=job.timeout)
        except OSError as exc:
            out.errors[f"connect: {type(exc).__name__}"] += 1
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock)
        conn.send(ANONYMOUS_BIND, BIND_RESPONSE)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, conn)
        conns.append(conn)
    time.sleep(max(0.0, job.start - time.time()))  # every process's connections are open
    open_conns = len(conns)
    while open_conns:
        now = time.time()
        events = selector.select(timeout=1.0)
        for key, _ in events:
            conn = key.data
            try:
                chunk = conn.sock.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                chunk, reason = b"", f"recv: {type(exc).__name__}"
            else:
                reason = "closed by the server"
            if not chunk:
                out.errors[reason] += 1
                selector.unregister(conn.sock)
                open_conns -= 1
                continue
            conn.buf += chunk
            code = conn.result()
            if code is None:
                continue
            if conn.waiting_for == SEARCH_RESULT_DONE:
                out.latencies.append(time.perf_counter() - conn.sent)
                out.codes[conn.kind, code] += 1
                conn.answered += 1
            # a name typed on a phone may match more contacts than the phone asked for:
            # sizeLimitExceeded with the first 50 is the answer it wants, not an error
            if code != 0 and (conn.kind, code) != ("name", SIZE_LIMIT_EXCEEDED):
                out.errors[f"result code {code}"] += 1
            if time.time() < job.stop:
                conn.kind, op = job.ops[conn.next % len(job.ops)]
                conn.next += 1
                try:
                    conn.send(op, SEARCH_RESULT_DONE)
                    continue
                except OSError as exc:  # reset by the server: an error, not a crash
                    out.errors[f"send: {type(exc).__name__}"] += 1
            selector.unregister(conn.sock)
            open_conns -= 1
        late = time.perf_counter() - job.timeout
        for key in list(selector.get_map().values()):
            if key.data.sent < late:
                out.errors["no answer within the timeout"] += 1
                selector.unregister(key.fileobj)
                open_conns -= 1
        if not events and now > job.stop + job.timeout:
            break
    for conn in conns:
        out.served.append(conn.answered)
        out.entries += conn.entries
        conn.sock.close()
    return out


@dataclass
class Figures:
    connections: int
    duration: float
    requests: int
    errors: Counter
    unserved: int  # connections that got no search answered
    p50_ms: float
    p99_ms: float
    tracebacks: int
    codes: Counter
    entries: int  # entries returned, all searches together

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> str:
        errors = ", ".join(f"{n} {kind}" for kind, n in self.errors.items()) or "none"
        return (
            f"{self.connections} connections, {self.duration:.0f} s: {self.requests:,} requests "
            f"({self.requests / self.duration:,.0f}/s), {self.error_count} errors ({errors}), "
            f"{self.unserved} connections unserved, p50 {self.p50_ms:.1f} ms, "
            f"p99 {self.p99_ms:.1f} ms, {self.entries / max(1, self.requests):.2f} entries a "
            f"search, {self.tracebacks} tracebacks in the server log"
        )


def load(
    url: str,
    ops: list[tuple[str, bytes]],
    connections: int = 200,
    duration: float = 60,
    processes: int = 4,
    timeout: float = 10,
) -> Figures:
    """Run the load against ``url``; the figures (tracebacks: 0, the caller reads the log)."""
    per = [connections // processes + (i < connections % processes) for i in range(processes)]
    share = max(1, len(ops) // processes)
    # time to open and bind every connection before the clock starts
    start = time.time() + 1.0 + connections / 500
    jobs = [
        Job(url, n, ops[i * share : (i + 1) * share] or ops, start, start + duration, timeout)
        for i, n in enumerate(per)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        outcomes = pool.map(drive, jobs)
    latencies = sorted(x for o in outcomes for x in o.latencies)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    served = [n for o in outcomes for n in o.served]
    return Figures(
        connections=connections,
        duration=duration,
        requests=len(latencies),
        errors=sum((o.errors for o in outcomes), Counter()),
        unserved=connections - len(served) + sum(1 for n in served if n == 0),
        p50_ms=cuts[49] * 1000 if cuts else 0.0,
        p99_ms=cuts[98] * 1000 if cuts else 0.0,
        tracebacks=0,
        codes=sum((o.codes for o in outcomes), Counter()),
        entries=sum(o.entries for o in outcomes),
    )


def serve_contacts(workdir: Path, count: int) -> tuple[MetadirServer, Path]:
    """``metadir serve`` on ``count`` generated contacts (seed 1); the server and the CSV."""
    csv_path = workdir / "contacts.csv"
    write_csv(csv_path, contacts(count, seed=1))
    config = yaml.safe_load((ROOT / "demo/metadir.yaml").read_text(encoding="utf-8"))
    config["store"] = {"url": "sqlite:///metadir.db"}
    # an access log line for each of some 100,000 requests would measure the disk
    config["server"] = {"access_log": False}
    server = MetadirServer(workdir, config)
    server.sync()
    server.start(timeout=max(20.0, count / 2000))
    return server, csv_path


def tracebacks(log: str) -> int:
    return log.count("Traceback") + log.count("Unhandled error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="contacts to generate")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60, help="seconds")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--timeout", type=float, default=10, help="seconds for one answer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a running server instead of a generated one")
    parser.add_argument("--csv", type=Path, help="with --url: the contacts it serves")
    args = parser.parse_args(argv)
    if args.url and not args.csv:
        parser.error("--url needs --csv: the contacts to search for")
    with tempfile.TemporaryDirectory(prefix="metadir-load-") as tmp:
        server = None
        if args.url:
            url, csv_path = args.url, args.csv
        else:
            began = time.monotonic()
            server, csv_path = serve_contacts(Path(tmp), args.count)
            url = server.url
            print(f"serving {args.count} contacts after {time.monotonic() - began:.0f} s")
        try:
            ops = requests(csv_path, REQUESTS, args.seed)
            figures = load(url, ops, args.connections, args.duration, args.processes, args.timeout)
        finally:
            if server is not None:
                server.stop()
        if server is not None:
            figures.tracebacks = tracebacks(server.stderr)
    print(figures.summary())
    codes = sorted(figures.codes.items())
    print("result codes: " + ", ".join(f"{kind} {c}: {n:,}" for (kind, c), n in codes))
    return 1 if figures.error_count or figures.unserved or figures.tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
