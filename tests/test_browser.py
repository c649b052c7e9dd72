"""The built site, opened in headless Chromium as a reader would, works offline and shows everything.

The book is built into a temporary folder and served from a local HTTP server (as a real site, not
file://). Every page is opened and must: log no console error and no uncaught exception; make no
request that fails, returns an error status, or goes anywhere but the local server (the site must
not need the network); show every <img> (loaded, with a width); and, where it has math, have MathJax
typeset all of it without errors.

The book is built with launch buttons (an example GitHub address): on every chapter page the launch
menu, once opened, shows Colab and Binder links and still nothing is fetched from another host. On
every page with a widget, the widget's note and its static view (the figure, text or HTML that
stands in for it) are shown, and the static view is the cell right next to the widget in its section.

Chromium is Debian's (`apt-get install -y chromium`); playwright's own browser download is not used.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, sync_playwright

from llmcourse.book import CHAPTERS_DIR, STATIC_VIEW_TAG, WIDGET_TAG, build_book, is_widget

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
# An address for the launch buttons: the course has no public one yet.
EXAMPLE_REPOSITORY = "https://github.com/example/llmcourse"
# For each widget cell on the page: what is wrong with it and its static view, where a reader would see it.
WIDGET_VIEWS_JS = f"""() => [...document.querySelectorAll("div.cell.tag_{WIDGET_TAG}")].map((widget, n) => {{
    const shown = e => e && e.checkVisibility({{visibilityProperty: true, opacityProperty: true}})
        && e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().height > 0;
    const problems = [];
    if (!shown(widget.querySelector(".llmcourse-widget-note"))) problems.push("its note is not shown");
    const cells = [...widget.closest("section").querySelectorAll("div.cell")];
    const at = cells.indexOf(widget);
    const views = [cells[at - 1], cells[at + 1]].filter(c => c && c.classList.contains("tag_{STATIC_VIEW_TAG}"));
    if (views.length !== 1) problems.push("no static view right next to it in its section");
    for (const view of views) {{
        const output = view.querySelector(".cell_output");
        if (!shown(output)) problems.push("its static view's output is not shown");
        for (const img of view.querySelectorAll("img")) if (!img.naturalWidth) problems.push("its figure is broken");
    }}
    return problems.map(p => `widget ${{n + 1}}: ${{p}}`);
}}).flat()"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output free of one access-log line per request."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The built book, served on 127.0.0.1 at a free port: (base URL, HTML folder)."""
    html = build_book(tmp_path_factory.mktemp("book"), repository=EXAMPLE_REPOSITORY)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=html))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", html
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def find_chromium() -> str:
    """Chromium's path; a one-line failure that says what to install when there is none (`make test` runs this)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is not on PATH, and this test opens the book in it: install it "
                    "(`sudo apt-get install chromium` on Debian/Ubuntu) so that `chromium` runs", pytrace=False)
    return chromium


def test_without_chromium_the_failure_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception) as failed:
        find_chromium()
    message = str(failed.value)
    assert "\n" not in message and "apt-get install chromium" in message


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = find_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def widgets_in(page: str) -> int:
    """How many widget cells the chapter notebook behind ``page`` (chapters/NN_topic.html) has; 0 for others."""
    notebook = CHAPTERS_DIR / f"{page.removeprefix('chapters/').removesuffix('.html')}.ipynb"
    if not page.startswith("chapters/") or not notebook.exists():
        return 0
    return sum(map(is_widget, json.loads(notebook.read_text(encoding="utf-8"))["cells"]))


def problems_on(browser: Browser, url: str, base: str, widgets: int = 0) -> list[str]:
    """Open ``url`` in a fresh page and list everything a reader would find wrong with it.

    On a chapter page it also opens the launch menu, and checks the page's ``widgets`` widget cells.
    """
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
        if "/chapters/" in url:
            problems += launch_menu_problems(page)
        tagged = page.locator(f"div.cell.tag_{WIDGET_TAG}").count()
        if tagged != widgets:
            problems.append(f"{tagged} widget cells on the page, the notebook has {widgets}")
        problems += page.evaluate(WIDGET_VIEWS_JS)
        page.wait_for_load_state("networkidle")  # anything the launch menu asked for
    finally:
        page.close()
    return problems


def launch_menu_problems(page: Page) -> list[str]:
    """Open the chapter page's launch menu: it must offer exactly Colab and Binder, as plain links."""
    page.locator(".dropdown-launch-buttons button").click()
    shown = page.locator(".dropdown-launch-buttons a.dropdown-item:visible")
    hosts = sorted((shown.nth(k).get_attribute("href") or "").split("/")[2] for k in range(shown.count()))
    return [] if hosts == ["colab.research.google.com", "mybinder.org"] else [f"launch menu links to {hosts}"]


def test_every_page_works_offline_and_shows_its_figures_math_launch_links_and_widget_views(
    site: tuple[str, Path], browser: Browser
) -> None:
    base, html = site
    pages = sorted(
        path.relative_to(html).as_posix()
        for path in html.rglob("*.html")
        if not path.relative_to(html).parts[0].startswith("_")  # _static, _sources: not pages
    )
    assert "index.html" in pages
    assert sum(map(widgets_in, pages)) >= 5, "chapters 2, 3, 4, 5 and 8 have explorers"
    problems = [f"{page}: {problem}" for page in pages
                for problem in problems_on(browser, base + page, base, widgets_in(page))]
    assert not problems, "what a reader would see go wrong:\n" + "\n".join(problems)
