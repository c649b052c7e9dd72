"""The course website: book/_toc.yml lists every chapter, and each becomes a page with its figures.

The toc check is quick and runs with the fast tests. The others build the book once, as
``python -m llmcourse book`` does but into a temporary folder, and read the HTML: the landing page
has the course map, every document in the toc became a page, and every figure a chapter notebook
stored (an image/png output) is shown on the chapter's page from an image file in the site.
"""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sphinx_external_toc.parsing import parse_toc_yaml

from llmcourse.book import BOOK_DIR, CHAPTERS_DIR, REPO_ROOT, WIDGET_VIEW, build_book

TOC = parse_toc_yaml(BOOK_DIR / "_toc.yml")
TOC_CHAPTERS = [docname for docname in TOC if docname != TOC.root.docname]
PLANNED_CHAPTERS = 10


class Page(HTMLParser):
    """What the tests read from one HTML page: its images, and the rows and links of its tables."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.images: list[str] = []
        self.table_rows = 0
        self.table_links: list[str] = []
        self._open_tables = 0
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._open_tables += 1
        elif tag == "img":
            self.images.append(attributes["src"] or "")
        elif self._open_tables and tag == "tr":
            self.table_rows += 1
        elif self._open_tables and tag == "a":
            self.table_links.append(attributes.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._open_tables -= 1


def stored_figures(notebook: Path) -> list[bytes]:
    """The PNG figures in a notebook's stored outputs (widget views aside: the book leaves them out)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    outputs = [out for cell in nb["cells"] for out in cell.get("outputs", [])]
    return [
        base64.b64decode(out["data"]["image/png"])
        for out in outputs
        if "image/png" in out.get("data", {}) and WIDGET_VIEW not in out["data"]
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_book(tmp_path_factory.mktemp("book"))


def test_toc_lists_exactly_the_chapter_notebooks() -> None:
    on_disk = sorted(f"chapters/{path.stem}" for path in CHAPTERS_DIR.glob("*.ipynb"))
    assert sorted(TOC_CHAPTERS) == on_disk, (
        "book/_toc.yml must list every chapters/*.ipynb, and only those, as `- file: chapters/NN_topic`"
    )


@pytest.mark.slow
def test_landing_page_has_the_course_map_linking_the_available_chapters(site: Path) -> None:
    landing = Page(site / "index.html")
    assert landing.table_rows == 1 + PLANNED_CHAPTERS, "the course map should have a row per planned chapter"
    linked = sorted(href.split("#")[0].removesuffix(".html") for href in landing.table_links)
    assert linked == sorted(TOC_CHAPTERS), "the course map must link exactly the chapters in the toc"


@pytest.mark.slow
def test_every_toc_document_is_a_page_showing_its_stored_figures(site: Path) -> None:
    for docname in TOC:
        page_path = site / f"{docname}.html"
        assert page_path.is_file(), f"{docname} is in the toc but was not built"
        notebook = REPO_ROOT / f"{docname}.ipynb"
        if not notebook.exists():
            continue  # a Markdown page: no stored outputs
        shown = [(page_path.parent / src).read_bytes() for src in Page(page_path).images]
        figures = enumerate(stored_figures(notebook), start=1)
        missing = [number for number, figure in figures if figure not in shown]
        assert not missing, f"figures {missing} (counting from 1) of {notebook.name} are not on its page"
