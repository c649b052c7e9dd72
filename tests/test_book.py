"""The course website: book/_toc.yml lists every chapter, and each becomes a page with its figures.

The toc, first-cell, launch-configuration and widget checks are quick and run with the fast tests.
The others build the book once, as ``python -m llmcourse book --repository EXAMPLE_REPOSITORY`` does
but into a temporary folder, and read the HTML: the landing page has the course map, every document
in the toc became a page, every figure a chapter notebook stored (an image/png output) is shown on the
chapter's page from an image file in the site, and every chapter page's Colab and Binder links open
that chapter's own notebook in the repository, at the path git tracks it under.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from sphinx_external_toc.parsing import parse_toc_yaml

from llmcourse.__main__ import main
from llmcourse.book import (
    BOOK_DIR,
    CHAPTERS_DIR,
    REPO_ROOT,
    WIDGET_VIEW,
    build_book,
    has_static_output,
    is_widget,
    launch_config,
    widget_static_views,
)
from llmcourse.launch import DOCTOR_CELL, check_repository, install_cell, repository_branch, repository_url

TOC = parse_toc_yaml(BOOK_DIR / "_toc.yml")
TOC_CHAPTERS = [docname for docname in TOC if docname != TOC.root.docname]
PLANNED_CHAPTERS = 12  # the course map in book/index.md: 01 to 12
# An address for the launch buttons in test builds: the course has no public one yet.
EXAMPLE_REPOSITORY = "https://github.com/example/llmcourse"
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/example/llmcourse/blob/(?P<branch>[^/]+)/(?P<path>.+)")
BINDER_LINK = re.compile(r"https://mybinder\.org/v2/gh/example/llmcourse/(?P<branch>[^?]+)\?urlpath=lab/tree/(?P<path>.+)")


class Page(HTMLParser):
    """What the tests read from one HTML page: its images, and the rows and links of its tables."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.images: list[str] = []
        self.table_rows = 0
        self.table_links: list[str] = []
        self.links: list[str] = []
        self._open_tables = 0
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "a":
            self.links.append(attributes.get("href") or "")
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


def code_cells(notebook: Path) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return ["".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "code"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_book(tmp_path_factory.mktemp("book"), repository=EXAMPLE_REPOSITORY)


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


def test_every_chapter_starts_by_installing_the_course_then_the_doctor() -> None:
    expected = {"first": install_cell(repository_url(), repository_branch()), "second": DOCTOR_CELL}
    wrong = [f"{path.name} ({which})" for path in sorted(CHAPTERS_DIR.glob("*.ipynb"))
             for which, cell in zip(expected, (code_cells(path) + ["", ""])[:2], strict=True)
             if cell != expected[which]]
    assert not wrong, (f"code cells {wrong} must be, first, llmcourse.launch.install_cell(repository_url()) for"
                       " the repository.url now in book/_config.yml and, second, DOCTOR_CELL")


def test_the_install_cell_installs_the_course_from_its_address_or_says_how() -> None:
    published = install_cell(EXAMPLE_REPOSITORY)
    pip_lines = [line.strip() for line in published.splitlines() if line.strip().startswith("%pip install")]
    assert len(pip_lines) == 1 and "llmcourse" in pip_lines[0] and f"git+{EXAMPLE_REPOSITORY}" in pip_lines[0]
    assert f'git+{EXAMPLE_REPOSITORY}@main"' in pip_lines[0]  # the branch the launch buttons open
    assert f'git+{EXAMPLE_REPOSITORY}@dev"' in install_cell(EXAMPLE_REPOSITORY, "dev")
    unpublished = install_cell("")
    assert "%pip" not in unpublished and "-e .[dev]" in unpublished and "make lab" in unpublished


def test_launch_buttons_are_colab_and_binder_and_off_without_an_address() -> None:
    config = yaml.safe_load((BOOK_DIR / "_config.yml").read_text(encoding="utf-8"))
    on = launch_config(config, EXAMPLE_REPOSITORY, "main")
    providers = sorted(key for key, value in on["launch_buttons"].items() if key.endswith("_url") and value)
    assert providers == ["binderhub_url", "colab_url"], "no JupyterLite: torch does not run in Pyodide"
    assert on["repository"]["url"] == EXAMPLE_REPOSITORY and on["repository"]["path_to_book"] == ""
    off = launch_config(config, "", "main")
    assert not [key for key, value in off["launch_buttons"].items() if key.endswith("_url") and value]


@pytest.mark.parametrize("url", ["github.com/example/llmcourse", "https://gitlab.com/example/llmcourse",
                                 "https://github.com/example", "https://github.com/example/llmcourse.git"])
def test_a_repository_address_launch_links_cannot_use_is_refused_in_one_line(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="^repository: "):
        check_repository(url)
    assert main(["book", "--repository", url]) == 2  # refused before anything is built
    err = capsys.readouterr().err
    assert err.startswith("error: repository: ") and err.count("\n") == 1


def test_every_widget_has_a_static_view_in_its_section() -> None:
    widgets = 0
    for notebook in sorted(CHAPTERS_DIR.glob("*.ipynb")):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        views = widget_static_views(cells)
        widgets += len(views)
        assert sorted(views) == [i for i, cell in enumerate(cells) if is_widget(cell)]
        assert all(has_static_output(cells[view]) and not is_widget(cells[view]) for view in views.values())
    assert widgets >= 5, "chapters 2, 3, 4, 5 and 8 have explorers"


def test_a_widget_without_a_static_view_in_its_section_is_refused() -> None:
    def code(*outputs: dict) -> dict:
        return {"cell_type": "code", "source": "x", "metadata": {}, "outputs": list(outputs)}

    widget = code({"output_type": "display_data", "data": {WIDGET_VIEW: {}, "text/plain": "w"}})
    figure = code({"output_type": "display_data", "data": {"image/png": "", "text/plain": "f"}})
    heading = {"cell_type": "markdown", "source": "## Next section", "metadata": {}}
    assert widget_static_views([figure, widget, code()]) == {1: 0}  # the nearest after shows nothing
    assert widget_static_views([code(), widget, figure]) == {1: 2}
    assert widget_static_views([figure, widget, heading, figure]) == {1: 0}
    for cells in ([widget, heading, figure], [figure, heading, widget], [widget, code(), figure], [widget]):
        with pytest.raises(ValueError, match="no code cell next to it"):
            widget_static_views(cells)


@pytest.mark.slow
def test_every_chapter_page_launches_its_own_notebook_from_the_repository(site: Path) -> None:
    tracked = set(subprocess.run(["git", "ls-files", "chapters"], cwd=REPO_ROOT, capture_output=True, text=True,
                                 check=True).stdout.split())
    for docname in TOC_CHAPTERS:
        links = Page(site / f"{docname}.html").links
        colab = [m for m in map(COLAB_LINK.fullmatch, links) if m]
        binder = [m for m in map(BINDER_LINK.fullmatch, links) if m]
        assert len(colab) == 1 and len(binder) == 1, f"{docname}: want one Colab and one Binder link: {colab} {binder}"
        for match in colab + binder:
            assert match["branch"] == "main" and match["path"] == f"{docname}.ipynb", f"{docname}: {match[0]}"
            assert match["path"] in tracked, f"{docname}: {match['path']} is not a file git tracks"
        assert not [link for link in links if "jupyterlite" in link.lower()]
    assert not [link for link in Page(site / "index.html").links if COLAB_LINK.fullmatch(link)], "index is no notebook"
