"""Exercise notebooks, generated from their solved masters: ``python -m llmcourse exercises build``.

``solutions/NN_topic.ipynb`` is the one source. Inside its cells, the answer sits between nbgrader's
markers::

    def mse(pred, target):
        ### BEGIN SOLUTION hint: average the squared differences
        return ((pred - target) ** 2).mean()
        ### END SOLUTION

In ``exercises/NN_topic.ipynb`` each such region becomes a stub that raises ``NotImplementedError``
with the hint (code cells) or an answer placeholder (markdown cells). Outputs and all metadata that
could carry the answer are dropped. ``--check`` rebuilds in memory and fails when the committed
exercises differ, so the two can never drift.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path
from typing import Any

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER_PLACEHOLDER = "_Write your answer here._"
ROOT = Path(__file__).resolve().parent.parent
STUB_WIDTH = 100  # JupyterLab shows about this many characters of a code line before it scrolls sideways
_BEGIN_LINE = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION(?:\s+hint:\s*(?P<hint>.*))?\s*$")


class MarkerError(ValueError):
    """A solution region is not closed, or an END comes without a BEGIN."""


def stub_lines(indent: str, message: str) -> list[str]:
    """``raise NotImplementedError(message)``, its message split into adjacent string literals when one line
    would be wider than STUB_WIDTH, so the whole hint stays readable in a notebook cell."""
    line = f"{indent}raise NotImplementedError({message!r})"
    if len(line) <= STUB_WIDTH:
        return [line]
    inner = indent + "    "
    pieces = textwrap.wrap(message, width=STUB_WIDTH - len(inner) - 3, break_long_words=False, break_on_hyphens=False)
    pieces = [piece + " " for piece in pieces[:-1]] + pieces[-1:]  # the spaces wrap() took out, kept in the text
    return [f"{indent}raise NotImplementedError(", *(f"{inner}{piece!r}" for piece in pieces), f"{indent})"]


def strip_solutions(source: str, *, code: bool, where: str = "cell") -> str:
    """Replace every marked region of one cell's source by a stub (code) or a placeholder (markdown)."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), start=1):
        begin = _BEGIN_LINE.match(line)
        if begin:
            if inside:
                raise MarkerError(f"{where}, line {number}: BEGIN SOLUTION inside another solution region")
            inside = True
            indent, hint = begin.group("indent"), (begin.group("hint") or "").strip()
            if code:
                message = f"Exercise: {hint}" if hint else "Exercise: replace this line with your code"
                out.extend(stub_lines(indent, message))
            else:
                out.append(f"{indent}{ANSWER_PLACEHOLDER}")
        elif line.strip().startswith(END):
            if not inside:
                raise MarkerError(f"{where}, line {number}: END SOLUTION without a BEGIN SOLUTION")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: BEGIN SOLUTION is never closed by END SOLUTION")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return BEGIN in source


def build_exercise(solution: nbformat.NotebookNode, source_name: str) -> nbformat.NotebookNode:
    """The learner's copy of a solved notebook: stubs in place of answers, no outputs, no stray metadata."""
    exercise = nbformat.v4.new_notebook()
    exercise.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "llmcourse": {**solution.metadata.get("llmcourse", {}), "generated_from": source_name},
    }
    for index, cell in enumerate(solution.cells):
        where = f"{source_name}, cell {index}"
        code = cell.cell_type == "code"
        text = strip_solutions(cell.source, code=code, where=where)
        if code:
            new = nbformat.v4.new_code_cell(text)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(text)
        else:
            new = nbformat.v4.new_raw_cell(text)
        new.id = cell.get("id") or f"cell-{index}"
        tags = [t for t in cell.metadata.get("tags", []) if t != "solution"]
        if tags:
            new.metadata["tags"] = tags
        exercise.cells.append(new)
    return exercise


def render(notebook: nbformat.NotebookNode) -> str:
    """Deterministic JSON text, so a rebuild of unchanged masters is byte-for-byte the same."""
    return nbformat.writes(notebook, version=4) + "\n"


def build_all(root: Path = ROOT, *, check: bool = False) -> list[str]:
    """Write (or with ``check``, compare) every exercise; return the names that were out of date."""
    solutions_dir, exercises_dir = root / "solutions", root / "exercises"
    stale: list[str] = []
    expected = set()
    for master in sorted(solutions_dir.glob("[0-9][0-9]_*.ipynb")):
        target = exercises_dir / master.name
        expected.add(target.name)
        text = render(build_exercise(nbformat.read(master, as_version=4), f"solutions/{master.name}"))
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current != text:
            stale.append(target.name)
            if not check:
                exercises_dir.mkdir(exist_ok=True)
                target.write_text(text, encoding="utf-8")
    orphans = [p.name for p in sorted(exercises_dir.glob("*.ipynb")) if p.name not in expected]
    if check:
        stale.extend(f"{name} (no solutions/{name} master)" for name in orphans)
    return stale


# --- recorded public cases (see llmcourse.grading.recorded) --------------------------------------------------


def solution_namespace(chapter: str, root: Path = ROOT, folder: str = "solutions") -> dict[str, Any]:
    """The solved exercise functions of a chapter: its master notebook's code cells, check cells left out, run
    into one namespace (the masters are short; the chapter's own notebook is not run). ``folder="exercises"``
    gives the generated notebook's stubs instead."""
    (path,) = sorted((root / folder).glob(f"{chapter[2:]}_*.ipynb"))
    namespace: dict[str, Any] = {"__name__": f"{folder}_{chapter}"}
    with contextlib.redirect_stdout(io.StringIO()):  # the masters' demonstration cells print for a reader, not here
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or 'check("' in cell.source:
                continue
            source = "\n".join(line for line in cell.source.splitlines() if "environment_report()" not in line)
            exec(compile(source, f"{path.name}", "exec"), namespace)  # noqa: S102 — the course's own masters
    return namespace


def record_chapter(chapter: str, root: Path = ROOT, *, check: bool = False,
                   per_case: int | None = None) -> list[str]:
    """Record (or with ``check``, record again in memory and compare) the public cases of one chapter's exercises,
    the master answering and the teacher's references computing; return what was out of date."""
    from .grading import recorded
    from .grading.core import chapter_exercises, record_exercise
    from .grading.references import load_references
    from .grading.runner import master_executor

    load_references(root / "solutions" / "references")
    namespace = solution_namespace(chapter, root)
    per_case = recorded.SEEDS_PER_CASE if per_case is None else per_case
    committed = recorded.load_chapter(chapter)
    fresh: dict[str, Any] = {}
    stale: list[str] = []
    for ex in chapter_exercises(chapter):
        if ex.name not in namespace:
            raise KeyError(f"solutions/{chapter[2:]}_*.ipynb defines no {ex.name!r} for {ex.check_id}")
        cases = record_exercise(ex, master_executor(namespace[ex.name]), per_case)
        fresh[ex.check_id] = {"cases": cases}
        old = committed.get(ex.check_id)
        where = "not recorded" if old is None else recorded.same_tape(old, fresh[ex.check_id])
        if where:
            stale.append(f"{ex.check_id} ({where})")
    if set(committed) - set(fresh):
        stale.extend(f"{name} (recorded, but no such exercise)" for name in sorted(set(committed) - set(fresh)))
    if (stale or recorded.MADE_WITH.get(chapter, "?") == "?") and not check:  # an older file: also its header
        recorded.save_chapter(chapter, fresh)
    return stale


def record_all(root: Path = ROOT, *, check: bool = False) -> list[str]:
    """Every chapter with graded exercises: see :func:`record_chapter`."""
    chapters = sorted(p.name[:2] for p in (root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    stale: list[str] = []
    for number in chapters:
        stale += record_chapter(f"ch{number}", root, check=check)
    return stale
