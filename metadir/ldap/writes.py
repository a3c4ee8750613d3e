"""Sending answers: straight to the socket when nothing is queued before them.

Twisted queues every write and sends it on the next turn of the reactor, registering write
interest with epoll and removing it again afterwards: for a one-packet lookup answer that
bookkeeping cost as much CPU as the search itself (docs/performance.md). On a plain TCP
connection whose queue is empty, the answer is sent at once, as asyncio's transports do;
whatever the socket does not take, and everything on TLS, goes through Twisted's queue.

This module is the one place that relies on Twisted's internals (``RELIES_ON``);
tests/unit/test_adapters_twisted.py checks them on a real ``tcp.Server`` and names the
Twisted version when an upgrade changes them. Should one disappear anyway, answers take
Twisted's queue (slower, never wrong).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

# what a tcp.Server must have for a direct send: the public ones, and two private ones:
# ``_tempDataLen`` (bytes written but not yet moved to dataBuffer) and ``writeSomeData``
# (send what the socket takes now; an int, or an exception object when the connection is gone)
RELIES_ON = ("TLS", "connected", "disconnecting", "dataBuffer", "_tempDataLen", "writeSomeData")


def send(transport: Any, chunks: list[bytes]) -> None:
    """Write ``chunks`` (encoded messages, in order) to ``transport`` (an ITransport;
    Any, as zope interfaces are opaque to mypy)."""
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if _idle_tcp(transport):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):  # otherwise the connection is gone: Twisted will notice
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)


def _idle_tcp(transport: Any) -> bool:
    """A plain TCP connection with nothing queued: a direct send keeps the order."""
    return bool(
        type(transport) is tcp.Server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport.dataBuffer
        # private, but the only way to tell that Twisted holds nothing back; missing (a
        # Twisted that changed it): count it as something queued
        and not getattr(transport, "_tempDataLen", 1)
    )
