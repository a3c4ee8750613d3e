"""Fixtures and helpers for tests in a real headless browser: Debian's chromium driven by
Playwright's sync API, pages checked with axe-core. A pytest plugin (``pytest_plugins`` in
tests/conftest.py), so any test can take the ``browser`` and ``page`` fixtures.

scripts/test.sh installs both (``ensure_browser`` in scripts/setup.sh): the Debian package
chromium, never a browser of Playwright's own (``playwright install`` cannot download here),
and axe-core's ``axe.min.js`` from the npm registry into the venv. Without them the browser
tests fail, and say so, rather than skip.

Playwright is imported only when a browser test runs: it costs the other tests nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches out on its own: without the background-networking
# flags chromium keeps calling Google's hosts, which this machine's closed network refuses.
# Playwright gives every launch a fresh, empty user data dir of its own.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000
_AXE = Path("share", "axe-core", "axe.min.js")
_REPO = Path(__file__).resolve().parent.parent
_INSTALL_HINT = "scripts/test.sh installs it (ensure_browser in scripts/setup.sh)"


def axe_script() -> Path:
    """axe-core's axe.min.js, as ensure_browser puts it into the venv."""
    for venv in (Path(sys.prefix), _REPO / ".venv"):
        if (venv / _AXE).is_file():
            return venv / _AXE
    pytest.fail(f"axe-core is not installed: no {Path(sys.prefix) / _AXE}; {_INSTALL_HINT}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Debian chromium for the session; tests get a fresh context from ``page``."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: Debian package chromium; {_INSTALL_HINT}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a new browser context (no cookies or storage from other tests), 1280×800,
    English, reduced motion, every wait and action timing out after 10 s.

    ``page.console_errors`` (a list of str) collects what the page logs as a console error
    and its uncaught exceptions; a test asserts it empty where the page must run cleanly."""
    context = browser.new_context(viewport=VIEWPORT, locale="en-US", reduced_motion="reduce")
    context.set_default_timeout(TIMEOUT_MS)
    new = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            errors.append(f"{message.text} ({where['url']}:{where['lineNumber'] + 1})")

    new.on("console", on_console)
    new.on("pageerror", lambda error: errors.append(f"uncaught {error.name}: {error.message}"))
    new.console_errors = errors  # type: ignore[attr-defined]
    try:
        yield new
    finally:
        context.close()


def axe_violations(
    page: Page, impact: Iterable[str] | None = ("serious", "critical")
) -> list[dict[str, Any]]:
    """Run axe-core on the page's document as it is now; its violations of those impacts
    (axe's minor, moderate, serious, critical; ``None``: all), as axe reports them: dicts
    with id, impact, help, helpUrl and nodes (each with its target and html).

    axe goes in through the DevTools protocol, so a Content-Security-Policy of the page does
    not keep it out (and stays in force for the page's own scripts)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_script().read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    if impact is None:
        return violations
    wanted = set(impact)
    return [violation for violation in violations if violation["impact"] in wanted]


def describe_violations(violations: Iterable[dict[str, Any]]) -> str:
    """A line per violation and element, for an assertion's message."""
    return "\n".join(
        f"{v['impact']} {v['id']}: {v['help']} at {', '.join(map(str, node['target']))}"
        for v in violations
        for node in v["nodes"]
    )


def screenshot(page: Page, path: Path | str, *, full_page: bool = True) -> Path:
    """A PNG of the page once its web fonts are in, for docs; the folder is made as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.fonts.ready.then(() => true)")
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")
    return path
