"""The browser harness of tests/browser.py on small pages of its own: Debian's chromium types,
clicks and reports console errors, axe-core finds what it must and nothing on a clean page,
also under a strict Content-Security-Policy like the web pages of ``metadir serve``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser import axe_violations, describe_violations, screenshot
from tests.servers import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

CSP = "default-src 'self'; img-src 'self' data:"
HEAD = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title></head>'
# a 1×1 transparent PNG
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
PAGES: dict[str, tuple[str, bytes]] = {
    "/form": (
        "text/html",
        (
            HEAD.format("Greeter") + "<body><main><h1>Greeter</h1>"
            '<label for="name">Name</label> <input id="name">'
            ' <button id="greet" type="button">Greet</button>'
            '<p id="out" aria-live="polite"></p></main>'
            '<script src="/form.js"></script></body></html>'
        ).encode(),
    ),
    "/form.js": (
        "text/javascript",
        b"document.getElementById('greet').addEventListener('click', () => {"
        b" document.getElementById('out').textContent ="
        b" 'Hello, ' + document.getElementById('name').value + '!'; });",
    ),
    "/broken": (
        "text/html",
        (
            HEAD.format("Broken") + "<body><main><h1>Broken</h1></main>"
            '<script src="/broken.js"></script>'
            "<script>console.log('inline, blocked by the CSP')</script></body></html>"
        ).encode(),
    ),
    "/broken.js": ("text/javascript", b"console.error('logged'); undefinedFunction();"),
    "/bad": (
        "text/html",
        (
            HEAD.format("Bad")
            + '<body><main><h1>Bad</h1><img src="/pixel.png"><button></button></main></body></html>'
        ).encode(),
    ),
    "/clean": (
        "text/html",
        (
            HEAD.format("Clean") + "<body><main><h1>Clean</h1>"
            '<img src="/pixel.png" alt="A dot"> <button type="button">Call</button>'
            "</main></body></html>"
        ).encode(),
    ),
    "/pixel.png": ("image/png", PIXEL),
    "/favicon.ico": ("image/png", PIXEL),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path not in PAGES:
            self.send_error(404)
            return
        content_type, body = PAGES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The pages above over HTTP on a free loopback port: their base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_types_and_clicks(page: Page, site: str) -> None:
    page.goto(f"{site}/form")
    page.get_by_label("Name").fill("Anna")
    page.get_by_role("button", name="Greet").click()
    assert page.locator("#out").text_content() == "Hello, Anna!"
    assert page.console_errors == []  # type: ignore[attr-defined]


def test_collects_console_errors(page: Page, site: str) -> None:
    page.goto(f"{site}/broken")
    page.wait_for_function("() => document.readyState === 'complete'")
    errors = "\n".join(page.console_errors)  # type: ignore[attr-defined]
    assert "logged" in errors
    assert "uncaught ReferenceError: undefinedFunction is not defined" in errors
    assert "Content Security Policy" in errors  # the inline script


def test_axe_reports_violations(page: Page, site: str) -> None:
    page.goto(f"{site}/bad")
    violations = axe_violations(page)
    assert {v["id"] for v in violations} >= {"image-alt", "button-name"}, describe_violations(
        violations
    )
    assert {v["impact"] for v in violations} <= {"serious", "critical"}
    # again on the same page: axe is injected once
    assert [v["id"] for v in axe_violations(page)] == [v["id"] for v in violations]


def test_axe_passes_a_clean_page(page: Page, site: str, tmp_path: Path) -> None:
    page.goto(f"{site}/clean")
    violations = axe_violations(page)
    assert violations == [], describe_violations(violations)
    assert page.console_errors == []  # type: ignore[attr-defined]
    shot = screenshot(page, tmp_path / "shots" / "clean.png")
    assert shot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
