"""The first cells of every chapter: install the course where it is missing, then the doctor's one line.

A chapter opened outside the course's own environment (Colab, Binder, a bare Jupyter) has no ``llmcourse`` to
import. Its first code cell installs the course from where it is published, the address in
``book/_config.yml`` (``repository.url``), the same one the book's launch buttons open; in the course's own
environment the cell does nothing. The second is the doctor's one-line check of the machine. Both are generated
here, so every chapter has the same two cells (tests/test_book.py compares them).
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "book" / "_config.yml"
# Colab opens notebooks from GitHub only, and the theme's launch links need an owner and a repository.
GITHUB_REPO = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
BRANCH = re.compile(r"[A-Za-z0-9_./-]+")


def _repository_section(config: Path) -> dict:
    """The ``repository:`` section of the book's configuration ({} when absent)."""
    import yaml

    return (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("repository") or {}


def repository_url(config: Path = CONFIG) -> str:
    """``repository.url`` of the book's configuration: where the course is published ("" while it is not)."""
    return str(_repository_section(config).get("url") or "").rstrip("/")


def repository_branch(config: Path = CONFIG) -> str:
    """``repository.branch`` of the book's configuration: the branch launch buttons open ("main" if unset)."""
    return str(_repository_section(config).get("branch") or "main")


def check_repository(url: str) -> str:
    """``url`` without a trailing slash, or ValueError naming ``repository`` when launch links cannot use it."""
    url = url.strip().rstrip("/")
    if not GITHUB_REPO.fullmatch(url) or url.endswith(".git"):
        raise ValueError(f"repository: {url!r} is not a GitHub address like https://github.com/OWNER/REPO "
                         "(Colab opens notebooks from GitHub only; no .git at the end)")
    return url


def check_branch(branch: str) -> str:
    """``branch``, or ValueError naming ``branch`` when it cannot be part of a launch link."""
    if not BRANCH.fullmatch(branch) or ".." in branch:
        raise ValueError(f"branch: {branch!r} is not a branch name (letters, digits, and _ . / -)")
    return branch


def install_cell(url: str, branch: str = "main") -> str:
    """The source of a chapter's first code cell for a course published at ``url`` ("" while it is not)."""
    does = ("installs the course\n# first" if url else
            "says how to install the course\n# (it has no public address yet)")
    head = (f"# Opened outside the course's environment (Colab, Binder, a bare Jupyter)? This cell {does}; where it "
            "is installed already, it does nothing.\n"
            "import importlib.util\n\n"
            'if importlib.util.find_spec("llmcourse") is None:\n')
    if url:
        return head + f'    %pip install --quiet "llmcourse[dev] @ git+{url}@{branch}"'
    message = ('"this notebook needs the course and the libraries it checks itself against: in a clone "\n'
               '                              "of the course, run `make lab` (or pip install -c requirements/lock.txt '
               '-e .[dev])"')
    return head + f"    raise ModuleNotFoundError({message})"


DOCTOR_CELL = ("from llmcourse.doctor import checkup\n\n"
               "checkup()  # this machine, in one line: python -m llmcourse doctor says more")
