"""Sending answers: straight to the socket when nothing is queued before them.

Twisted queues every write and sends it on the next turn of the reactor, registering write
interest with epoll and removing it again afterwards: for a one-packet lookup answer that
bookkeeping cost as much CPU as the search itself (docs/performance.md). On a plain TCP
connection whose queue is empty, the answer is sent at once, as asyncio's transports do;
whatever the socket does not take, and everything on TLS, goes through Twisted's queue.
"""

from __future__ import annotations

from twisted.internet import tcp
from twisted.internet.interfaces import ITransport


def send(transport: ITransport, chunks: list[bytes]) -> None:
    """Write ``chunks`` (encoded messages, in order) to ``transport``."""
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if _idle_tcp(transport):
        sent = transport.writeSomeData(data)
        if isinstance(sent, int):  # otherwise the connection is gone: Twisted will notice
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)


def _idle_tcp(transport: ITransport) -> bool:
    """A plain TCP connection with nothing queued: a direct send keeps the order."""
    return (
        type(transport) is tcp.Server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport.dataBuffer
        # private, but the only way to tell that Twisted holds nothing back
        and not transport._tempDataLen
    )
