"""Build the course website (a Jupyter Book) from book/ and the chapter notebooks.

The notebooks live in chapters/, where the reader opens them in JupyterLab, not in book/. So the
build first stages a source folder, book/_build/src, with a copy of book/ and of chapters/*.ipynb,
and builds the site from it into book/_build/html; book/_toc.yml alone decides which chapters are
in. The staged chapters keep the repository's layout (chapters/NN_topic.ipynb), so a launch
button's link names the real notebook in the repository, not a staged copy.

Staging is also where widgets are dealt with: saved widget state would make a page load the
ipywidgets embedder from a CDN, and the site must work offline, so the staged notebooks lose that
state and their widget views. Each widget has a static view in its section (a figure, printed text
or HTML that shows what the widget displays); the widget's output becomes a note pointing at it, and
both cells are tagged (WIDGET_TAG, STATIC_VIEW_TAG: classes ``tag_<tag>`` on the page) so the
browser test can find them. A widget without a static view fails the build.

Launch buttons (Colab, Binder) need the course's public address: ``repository.url`` in
book/_config.yml, or ``repository`` here. Without one the staged configuration turns them off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from .launch import check_branch, check_repository, repository_branch, repository_url

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO_ROOT / "book"
CHAPTERS_DIR = REPO_ROOT / "chapters"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_TAG = "llmcourse-widget"
STATIC_VIEW_TAG = "llmcourse-widget-static-view"
STATIC_MIMES = ("image/png", "image/svg+xml", "text/html")
# The `jupyter-book` command of the environment this package runs in.
JUPYTER_BOOK = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build_book(output_dir: Path | None = None, *, strict: bool = True, repository: str | None = None,
               branch: str | None = None) -> Path:
    """Build the book from scratch and return its HTML folder, ``<output_dir>/_build/html``.

    ``output_dir`` works like jupyter-book's ``--path-output`` and defaults to book/, so the site
    lands in book/_build/html. With ``strict``, any Sphinx warning (a broken link, a chapter missing
    from the toc) fails the build, after all of them are reported. ``repository`` and ``branch``
    override book/_config.yml's ``repository.url`` and ``repository.branch`` for the launch buttons;
    a bad one raises ValueError naming it before anything is built.
    """
    published = repository_url()  # where the chapters' first cells install the course from
    url = repository or published
    url = check_repository(url) if url else ""
    branch = check_branch(branch or repository_branch())
    if not url:
        print("launch buttons off: the course has no public address yet (set repository.url in book/_config.yml,"
              " or pass --repository https://github.com/OWNER/REPO)", file=sys.stderr)
    elif url != published:
        print(f"warning: the launch buttons open {url}, but the chapters' first cells install the course from"
              f" {published or 'nowhere'}: set repository.url in book/_config.yml before publishing",
              file=sys.stderr)
    build = (BOOK_DIR if output_dir is None else Path(output_dir)) / "_build"
    shutil.rmtree(build, ignore_errors=True)  # no pages left over from removed chapters
    source = build / "src"
    _stage(source, url, branch)
    command = [*JUPYTER_BOOK, "build", str(source), "--path-output", str(build.parent)]
    if strict:
        command += ["-W", "--keep-going"]
    if subprocess.run(command).returncode:
        raise RuntimeError(
            "the book build failed; the messages above say why (the files they name under"
            " _build/src are copies of book/ and chapters/)"
        )
    return build / "html"


def launch_config(config: dict, url: str, branch: str) -> dict:
    """``config`` (book/_config.yml, parsed) with the launch buttons pointed at ``url``, or off without one.

    The theme cannot build a launch link without a repository (it fails on every notebook page), so
    no address means no launch providers at all.
    """
    config = {**config, "repository": {**(config.get("repository") or {}), "url": url, "branch": branch}}
    if not url:
        config["launch_buttons"] = {key: ("" if key.endswith("_url") else value)
                                    for key, value in (config.get("launch_buttons") or {}).items()}
    return config


def has_static_output(cell: dict) -> bool:
    """Whether a code cell shows something without a kernel: a figure, HTML, or printed text."""
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if WIDGET_VIEW not in data and any(mime in data for mime in STATIC_MIMES):
            return True
        if out.get("output_type") == "stream" and "".join(out.get("text", "")).strip():
            return True
    return False


def widget_static_views(cells: list[dict]) -> dict[int, int]:
    """Map each widget cell's index to its static view's: the nearest code cell in the same section with a
    static output, after the widget first, else before it. ValueError names a widget that has none."""
    def is_heading(cell: dict) -> bool:
        source = "".join(cell.get("source", ""))
        return cell["cell_type"] == "markdown" and any(line.startswith("#") for line in source.splitlines())

    def search(indexes: range) -> int | None:
        for k in indexes:
            if is_heading(cells[k]):
                return None
            if cells[k]["cell_type"] == "code":
                return k if has_static_output(cells[k]) and not is_widget(cells[k]) else None
        return None

    views = {}
    for i, cell in enumerate(cells):
        if is_widget(cell):
            view = search(range(i + 1, len(cells)))
            view = view if view is not None else search(range(i - 1, -1, -1))
            if view is None:
                first = "".join(cell.get("source", "")).splitlines()[:1]
                raise ValueError(f"cell {i} ({first}) shows a widget but no code cell next to it in its section"
                                 " (the nearest one after it, or before it) has a static view: a figure, HTML or"
                                 " printed text that the book can show instead")
            views[i] = view
    return views


def is_widget(cell: dict) -> bool:
    """Whether a cell's stored outputs include a widget view."""
    return any(WIDGET_VIEW in out.get("data", {}) for out in cell.get("outputs", []))


def _widget_note(above: bool) -> dict:
    """The output that replaces a widget view in the book."""
    where = "above" if above else "below"
    text = (f"An interactive widget: it runs when you open this notebook in Jupyter. The output {where}"
            " shows what it displays.")
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": f'<p class="llmcourse-widget-note"><em>{text}</em></p>', "text/plain": text}}


def _stage_notebook(nb: dict) -> dict:
    """The notebook as the book shows it: widget views become notes, both cells of each pair tagged."""
    nb.get("metadata", {}).pop("widgets", None)
    cells = nb["cells"]
    for widget, view in widget_static_views(cells).items():
        outputs = [out for out in cells[widget]["outputs"] if WIDGET_VIEW not in out.get("data", {})]
        cells[widget]["outputs"] = [*outputs, _widget_note(above=view < widget)]
        for index, tag in ((widget, WIDGET_TAG), (view, STATIC_VIEW_TAG)):
            tags = cells[index].setdefault("metadata", {}).setdefault("tags", [])
            tags.append(tag)
    return nb


def _stage(source: Path, url: str = "", branch: str = "main") -> None:
    """Copy book/ and the chapters into ``source``: launch buttons set for ``url``, widget state dropped."""
    shutil.copytree(BOOK_DIR, source, ignore=shutil.ignore_patterns("_build"))
    config = yaml.safe_load((source / "_config.yml").read_text(encoding="utf-8")) or {}
    (source / "_config.yml").write_text(yaml.safe_dump(launch_config(config, url, branch), sort_keys=False),
                                        encoding="utf-8")
    (source / "chapters").mkdir()
    for notebook in sorted(CHAPTERS_DIR.glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        try:
            nb = _stage_notebook(nb)
        except ValueError as err:
            raise ValueError(f"{notebook.relative_to(REPO_ROOT)}: {err}") from None
        (source / "chapters" / notebook.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
