"""A seeded mutation fuzzer of LDAP requests, run in-process against the connection
protocol (Twisted's StringTransport): bit flips, truncations, length corruption, type
substitution, oversized integers and strings, nesting bombs of valid search, bind, compare
and other requests. Any exception that escapes the protocol or is logged with a traceback
counts as a failure.

    .venv/bin/python scripts/fuzz_ldap.py --cases 100000 --seed 1
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from twisted.internet import defer, task
from twisted.internet.testing import StringTransport
from twisted.python import log as twisted_log

from metadir.config import DirectoryConfig
from metadir.core import ber
from metadir.directory.backend import DirectoryBackend
from metadir.directory.tree import DirectoryTree
from metadir.ldap.protocol import LDAPServerFactory

Node = tuple[int, "bytes | list[Node]"]  # a BER element: tag, content or children


def _search(
    filter: bytes, scope: int = 2, controls: bytes = b"", base: str = "ou=contacts,dc=meta"
) -> bytes:
    op = ber.tlv(
        0x63,
        ber.octets(base) + ber.integer(scope, ber.ENUMERATED)
        + ber.integer(0, ber.ENUMERATED) + ber.integer(10) + ber.integer(5) + b"\x01\x01\x00"
        + filter + ber.tlv(ber.SEQUENCE, ber.octets("cn") + ber.octets("telephoneNumber")),
    )  # fmt: skip
    return ber.message(3, op, controls)


def _ava(tag: int, attribute: str, value: str) -> bytes:
    return ber.tlv(tag, ber.octets(attribute) + ber.octets(value))


PAGED = ber.tlv(
    0xA0,
    ber.tlv(
        ber.SEQUENCE,
        ber.octets("1.2.840.113556.1.4.319")
        + ber.octets(ber.tlv(ber.SEQUENCE, ber.integer(2) + ber.octets(b""))),
    ),
)

SEEDS = [
    _search(ber.tlv(0xA1, _ava(0xA3, "telephoneNumber", "+4930123") + _ava(0xA3, "mobile", "1"))),
    _search(ber.tlv(0xA4, ber.octets("cn") + ber.tlv(0x30, ber.octets("Con", 0x80)))),
    _search(ber.tlv(0xA9, ber.octets("2.5.13.2", 0x81) + ber.octets("x", 0x83)), scope=1),
    _search(ber.tlv(0xA0, ber.tlv(0x87, b"cn") + _ava(0xA5, "sn", "N")), controls=PAGED),
    _search(ber.tlv(0x87, b"objectClass"), scope=0, base=""),
    _search(_ava(0xA3, "objectClass", "subschema"), scope=0, base="cn=Subschema"),
    ber.message(1, ber.tlv(0x60, ber.integer(3) + ber.octets("cn=pbx,dc=meta") + b"\x80\x02pw")),
    ber.message(1, ber.tlv(0x60, ber.integer(3) + b"\x04\x00" + b"\xa3\x06\x04\x04EXTE")),
    ber.message(
        2,
        ber.tlv(0x6E, ber.octets("entryUUID=u1,ou=contacts,dc=meta") + _ava(0x30, "sn", "x")),
    ),
    ber.message(4, ber.tlv(0x77, ber.octets("1.3.6.1.4.1.4203.1.11.3", 0x80))),
    ber.message(5, ber.tlv(0x50, b"\x03")),
    ber.message(6, ber.tlv(0x4A, b"cn=x,dc=meta")),
]

_TAGS = (0x01, 0x02, 0x04, 0x05, 0x0A, 0x30, 0x31, 0x80, 0x87, 0xA0, 0xA3, 0x42, 0x60, 0xFF)


def parse(data: bytes) -> Node:
    tag, content, _ = ber.read(data)
    return (tag, parse_all(content)) if tag & 0x20 else (tag, content)


def parse_all(content: bytes) -> list[Node] | bytes:
    try:
        return [parse(ber.tlv(t, c)) for t, c in ber.elements(content)]
    except ber.BerError:
        return content  # a constructed tag whose content is no BER: keep it as bytes


def encode(node: Node) -> bytes:
    tag, content = node
    return ber.tlv(tag, content if isinstance(content, bytes) else b"".join(map(encode, content)))


def _nodes(node: Node, out: list[Node]) -> list[Node]:
    out.append(node)
    if not isinstance(node[1], bytes):
        for child in node[1]:
            _nodes(child, out)
    return out


def _replace(node: Node, old: Node, new: Node) -> Node:
    if node is old:
        return new
    tag, content = node
    if isinstance(content, bytes):
        return node
    return (tag, [_replace(child, old, new) for child in content])


def mutate(rng: random.Random, seed: bytes) -> bytes:
    """One hostile variant of a valid request."""
    kind = rng.randrange(8)
    if kind < 5:  # structural: the result is well framed, its content is not
        tree = parse(seed)
        target = rng.choice(_nodes(tree, []))
        tag, content = target
        new: Node
        if kind == 0:
            new = (rng.choice(_TAGS), content)  # type substitution
        elif kind == 1:
            new = (tag, b"\x7f" + rng.randbytes(rng.choice((4, 8, 5000))))  # oversized value
        elif kind == 2:
            text = rng.choice(("\n\x1b[31m", "\x00", "é" * 5000, "\ud800"))
            new = (tag, text.encode("utf-8", "surrogatepass"))
        elif kind == 3:  # nesting bomb
            wrapped = encode(target)  # as bytes: a tree 3,000 deep would not encode
            for _ in range(rng.choice((2, 70, 3000))):
                wrapped = ber.tlv(rng.choice((0xA0, 0xA1, 0xA2, 0x30)), wrapped)
            new = (wrapped[0], ber.read(wrapped)[1])
        else:  # children dropped or repeated
            if isinstance(content, bytes) or not content:
                new = (tag, b"")
            else:
                new = (tag, rng.sample(content, rng.randrange(len(content))) * rng.randrange(3))
        return encode(_replace(tree, target, new))
    data = bytearray(seed)
    if kind == 5:  # bit flips
        for _ in range(rng.randrange(1, 9)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 6:  # truncation, with or without the outer length fixed up
        cut = bytes(data[: rng.randrange(2, len(data))])
        return cut if rng.random() < 0.3 else ber.tlv(ber.SEQUENCE, cut[2:])
    else:  # length corruption
        data[rng.randrange(1, len(data))] = rng.choice((0x00, 0x7F, 0x80, 0x81, 0x84, 0xFF))
    return bytes(data)


def small_factory(clock: task.Clock) -> LDAPServerFactory:
    reps = [{"name": "crm", "type": "csv", "path": "x.csv", "key": "k"}]
    tree = DirectoryTree(
        [DirectoryConfig.model_validate({"name": "contacts", "replicators": reps})]
    )
    # binds answered at once, timers on ``clock``: every case runs to its end in one turn
    factory = LDAPServerFactory(
        DirectoryBackend(tree),
        [],
        True,
        0,
        log_operations=True,
        clock=clock,
        in_thread=defer.maybeDeferred,
    )
    factory.authenticate = lambda dn, password: None  # argon2 is not under test here
    return factory


@dataclass
class Outcome:
    cases: int = 0
    seconds: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)  # what went wrong → how often
    examples: dict[str, bytes] = field(default_factory=dict)  # one input for each


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(f"logged {record.exc_info[0].__name__}: {record.getMessage()}")


def fuzz(cases: int, seed: int = 0) -> Outcome:
    """Feed ``cases`` mutated requests, each on a new connection; count what went wrong."""
    rng, outcome, clock = random.Random(seed), Outcome(), task.Clock()
    factory = small_factory(clock)
    handler, twisted_errors = _Tracebacks(), []
    observer = twisted_errors.append
    metadir_log = logging.getLogger("metadir")
    metadir_log.addHandler(handler)
    twisted_log.addObserver(observer)
    started = time.perf_counter()
    try:
        for _ in range(cases):
            data = mutate(rng, rng.choice(SEEDS))
            handler.seen.clear()
            twisted_errors.clear()
            connection = factory.buildProtocol(None)
            connection.makeConnection(StringTransport())
            try:
                connection.dataReceived(data)
                clock.advance(3600)
            except Exception as exc:
                handler.seen.append(f"raised {type(exc).__name__}: {exc}")
            connection.connectionLost()
            errors = [e for e in twisted_errors if e.get("isError")]
            for what in handler.seen + [str(e.get("log_text", e)) for e in errors]:
                outcome.failures[what[:200]] += 1
                outcome.examples.setdefault(what[:200], data)
            outcome.cases += 1
    finally:
        metadir_log.removeHandler(handler)
        twisted_log.removeObserver(observer)
    outcome.seconds = time.perf_counter() - started
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.getLogger("metadir").setLevel(logging.ERROR)  # the expected warnings, unprinted
    outcome = fuzz(args.cases, args.seed)
    tracebacks = sum(outcome.failures.values())
    print(f"{outcome.cases} cases, {tracebacks} tracebacks, {outcome.seconds:.1f} s")
    for what, count in outcome.failures.most_common():
        print(f"{count:6d}  {what}\n        input {outcome.examples[what].hex()[:200]}")
    return 1 if tracebacks else 0


if __name__ == "__main__":
    raise SystemExit(main())
