"""Build the course website (a Jupyter Book) from book/ and the chapter notebooks.

The notebooks live in chapters/, where the reader opens them in JupyterLab, not in book/. So the
build first stages a source folder, book/_build/src, with a copy of book/ and of chapters/*.ipynb,
and builds the site from it into book/_build/html; book/_toc.yml alone decides which chapters are
in. Staging is also where widgets are dealt with: saved widget state would make a page load the
ipywidgets embedder from a CDN, and the site must work offline, so the staged notebooks lose that
state and their widget views (each widget in a chapter has a static view beside it: a figure, printed
text or HTML that shows what the widget displays).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = REPO_ROOT / "book"
CHAPTERS_DIR = REPO_ROOT / "chapters"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# The `jupyter-book` command of the environment this package runs in.
JUPYTER_BOOK = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]


def build_book(output_dir: Path | None = None, *, strict: bool = True) -> Path:
    """Build the book from scratch and return its HTML folder, ``<output_dir>/_build/html``.

    ``output_dir`` works like jupyter-book's ``--path-output`` and defaults to book/, so the site
    lands in book/_build/html. With ``strict``, any Sphinx warning (a broken link, a chapter missing
    from the toc) fails the build, after all of them are reported.
    """
    build = (BOOK_DIR if output_dir is None else Path(output_dir)) / "_build"
    shutil.rmtree(build, ignore_errors=True)  # no pages left over from removed chapters
    source = build / "src"
    _stage(source)
    command = [*JUPYTER_BOOK, "build", str(source), "--path-output", str(build.parent)]
    if strict:
        command += ["-W", "--keep-going"]
    if subprocess.run(command).returncode:
        raise RuntimeError(
            "the book build failed; the messages above say why (the files they name under"
            " _build/src are copies of book/ and chapters/)"
        )
    return build / "html"


def _stage(source: Path) -> None:
    """Copy book/ and the chapters into ``source``, dropping the notebooks' widget state."""
    shutil.copytree(BOOK_DIR, source, ignore=shutil.ignore_patterns("_build"))
    (source / "chapters").mkdir()
    for notebook in sorted(CHAPTERS_DIR.glob("*.ipynb")):
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        nb.get("metadata", {}).pop("widgets", None)
        for cell in nb["cells"]:
            if "outputs" in cell:
                cell["outputs"] = [out for out in cell["outputs"] if WIDGET_VIEW not in out.get("data", {})]
        (source / "chapters" / notebook.name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
