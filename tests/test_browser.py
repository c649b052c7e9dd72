"""The built site, opened in headless Chromium as a reader would, works offline and shows everything.

The book is built into a temporary folder and served from a local HTTP server (as a real site, not
file://). Every page is opened and must: log no console error and no uncaught exception; make no
request that fails, returns an error status, or goes anywhere but the local server (the site must
not need the network); show every <img> (loaded, with a width); and, where it has math, have MathJax
typeset all of it without errors.

Chromium is Debian's (`apt-get install -y chromium`); playwright's own browser download is not used.
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Request, Response, sync_playwright

from llmcourse.book import build_book

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Waits for MathJax to typeset the page, then lists the math Sphinx marked that is not typeset, or
# typeset with errors (all of it if MathJax did not load).
UNRENDERED_MATH_JS = """async () => {
    if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
    return [...document.querySelectorAll("span.math, div.math")]
        .filter(m => !m.querySelector("mjx-container") || m.querySelector("mjx-merror"))
        .map(m => m.textContent.slice(0, 80));
}"""
BROKEN_IMAGES_JS = "() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of one access-log line per request."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The built book, served on 127.0.0.1 at a free port: (base URL, HTML folder)."""
    html = build_book(tmp_path_factory.mktemp("book"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=html))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", html
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is not installed: run `apt-get install -y chromium` (Debian/Ubuntu)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def problems_on(browser: Browser, url: str, base: str) -> list[str]:
    """Open ``url`` in a fresh page and list everything a reader would find wrong with it."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith((base, "data:", "blob:")):
            problems.append(f"off-site request: {request.url}")

    def on_response(response: Response) -> None:
        if response.status >= 400:
            problems.append(f"HTTP {response.status}: {response.url}")

    page = browser.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught exception: {error}"))
    page.on("request", on_request)
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url} ({request.failure})"))
    page.on("response", on_response)
    try:
        page.goto(url, wait_until="networkidle")
        unrendered = page.evaluate(UNRENDERED_MATH_JS)
        page.wait_for_load_state("networkidle")  # the fonts MathJax asked for
        problems += [f"math not rendered: {text!r}" for text in unrendered]
        problems += [f"image not shown: {src}" for src in page.evaluate(BROKEN_IMAGES_JS)]
    finally:
        page.close()
    return problems


def test_every_page_works_offline_and_shows_its_figures_and_math(
    site: tuple[str, Path], browser: Browser
) -> None:
    base, html = site
    pages = sorted(
        path.relative_to(html).as_posix()
        for path in html.rglob("*.html")
        if not path.relative_to(html).parts[0].startswith("_")  # _static, _sources: not pages
    )
    assert "index.html" in pages
    problems = [f"{page}: {problem}" for page in pages for problem in problems_on(browser, base + page, base)]
    assert not problems, "what a reader would see go wrong:\n" + "\n".join(problems)
