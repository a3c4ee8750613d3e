"""A local HTTPS server for the fakes of cloud services: a thread per connection
(keep-alive, as the real services), a certificate from the tests' CA (``tests.pki``), and
one function that answers each request. Besides answers, a handler may drop the connection
halfway through a response, as a network or a load balancer does."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.pki import Authority, issue, write_pair


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # send the headers and half the body, then close the connection
    drop: bool = False


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    data = json.dumps(body).encode()
    return Response(status, data, {"Content-Type": "application/json", **headers})


Handler = Callable[[Request], Response | None]  # None: close the connection, no answer


class HttpsServer:
    """Serves ``handler`` on 127.0.0.1 at a free port over TLS until ``stop``."""

    def __init__(self, ca: Authority, directory: Path, handler: Handler) -> None:
        cert, key = directory / "server.pem", directory / "server.key"
        write_pair(issue(ca, "localhost", 2), cert, key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.handler = handler

        class Connection(_Connection):
            answer = staticmethod(handler)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Connection)
        self.httpd.daemon_threads = True
        # the handshake happens in the connection's thread, not in the accepting one
        self.httpd.socket = context.wrap_socket(
            self.httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _Connection(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answer: Handler

    def log_message(self, format: str, *args: Any) -> None:  # quiet in tests
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = type(self).answer(
            Request(self.command, unquote(parts.path), query, headers, body)
        )
        if response is None:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.drop:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)
