"""Grade a folder of submitted notebooks from the command line: ``python -m llmcourse grade PATH...``.

Each notebook is executed headless (nbclient), cell by cell, so one crashing or endless cell costs only
that cell. After the learner's cells, the grader runs every exercise of the chapter against the
objects the notebook defined — whether or not the learner kept the check cells — and writes a
gradebook (CSV and JSON) plus a summary table. Whatever did not run scores zero, with the reason.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .core import CaseResult, CheckResult, chapter_exercises, run_check


@dataclass
class NotebookGrade:
    path: str
    chapter: str
    results: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> float:
        return sum(ex.points for ex in chapter_exercises(self.chapter))

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "chapter": self.chapter,
            "points": self.points,
            "max_points": self.max_points,
            "problems": self.problems,
            "results": [r.to_dict() for r in self.results],
        }


def grade_namespace(namespace: dict[str, Any], chapter: str) -> list[CheckResult]:
    """Run every exercise of ``chapter`` against the objects of that name in ``namespace``."""
    results = []
    for ex in chapter_exercises(chapter):
        if ex.name not in namespace:
            results.append(
                CheckResult(
                    ex.check_id, False, 0.0, ex.points, messages=[f"`{ex.name}` is not defined in the notebook."]
                )
            )
        else:
            results.append(run_check(ex.check_id, namespace[ex.name]))
    return results


def write_namespace_grades(namespace: dict[str, Any], chapter: str, out_path: str) -> None:
    """Called inside the learner's kernel by the batch grader: grade and write JSON to ``out_path``."""
    results = grade_namespace(namespace, chapter)
    Path(out_path).write_text(json.dumps([r.to_dict() for r in results]))


def chapter_of(path: Path, notebook: Any) -> str:
    """The chapter id (``ch01``) from the notebook's metadata, else from its ``NN_`` file name."""
    meta = notebook.metadata.get("llmcourse", {})
    if meta.get("chapter"):
        return str(meta["chapter"])
    match = re.match(r"(\d+)_", path.name)
    if not match:
        raise ValueError(f"{path}: cannot tell the chapter (no llmcourse.chapter metadata and no NN_ prefix)")
    return f"ch{int(match.group(1)):02d}"


def grade_notebook(path: Path, *, cell_timeout: int = 300, kernel_name: str = "python3") -> NotebookGrade:
    """Execute one submitted notebook and grade it; never raises for anything the notebook does."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    try:
        notebook = nbformat.read(path, as_version=4)
        chapter = chapter_of(path, notebook)
    except Exception as exc:
        return NotebookGrade(str(path), "?", problems=[f"could not read the notebook: {exc}"])
    grade = NotebookGrade(str(path), chapter)

    client = NotebookClient(
        notebook,
        timeout=cell_timeout,
        kernel_name=kernel_name,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={"ename": "CellTimeoutError", "evalue": f"cell ran over {cell_timeout} s", "traceback": []},
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "grades.json")
        try:
            with client.setup_kernel():
                for index, cell in enumerate(notebook.cells):
                    if cell.cell_type != "code":
                        continue
                    client.execute_cell(cell, index)
                    grade.problems.extend(_cell_problems(cell, index, cell_timeout))
                grader = nbformat.v4.new_code_cell(
                    "from llmcourse.grading.batch import write_namespace_grades as _grade\n"
                    f"_grade(globals(), {chapter!r}, {out_path!r})"
                )
                total_timeout = sum(ex.timeout * max(1, len(ex.cases)) for ex in chapter_exercises(chapter)) + 60
                client.timeout = int(total_timeout)
                notebook.cells.append(grader)  # nbclient writes the executed cell back at its index
                client.execute_cell(grader, len(notebook.cells) - 1)
        except Exception as exc:  # a dead kernel, a timeout the kernel did not survive, ...
            grade.problems.append(f"execution stopped: {type(exc).__name__}: {exc}")
        if os.path.exists(out_path):
            grade.results = [
                CheckResult(**{**r, "cases": [CaseResult(**c) for c in r["cases"]]})
                for r in json.loads(Path(out_path).read_text())
            ]
        else:
            grade.results = [
                CheckResult(
                    ex.check_id, False, 0.0, ex.points, messages=["not graded: the notebook did not run to the end"]
                )
                for ex in chapter_exercises(chapter)
            ]
    return grade


def _cell_problems(cell: Any, index: int, cell_timeout: int) -> list[str]:
    """What went wrong in one executed cell, in words for the gradebook."""
    problems = []
    for output in cell.get("outputs", []):
        if output.get("output_type") != "error":
            continue
        if output.get("ename") in ("KeyboardInterrupt", "CellTimeoutError"):  # the grader's timeout stopped it
            problems.append(f"cell {index} did not finish within {cell_timeout} s and was stopped")
        else:
            problems.append(f"cell {index} raised {output.get('ename')}: {output.get('evalue')}")
    return problems


def write_gradebook(grades: list[NotebookGrade], out_dir: Path) -> tuple[Path, Path]:
    """Write ``gradebook.csv`` (one row per notebook and exercise) and ``gradebook.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / "gradebook.csv", out_dir / "gradebook.json"
    with csv_path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student_file", "chapter", "exercise", "points", "max_points", "passed", "messages"])
        for g in grades:
            for r in g.results:
                writer.writerow(
                    [g.path, g.chapter, r.check_id, r.points, r.max_points, r.passed, " | ".join(r.messages)]
                )
            if not g.results:
                writer.writerow([g.path, g.chapter, "", 0, 0, False, " | ".join(g.problems)])
    json_path.write_text(json.dumps([g.to_dict() for g in grades], indent=1))
    return csv_path, json_path


def summary_table(grades: list[NotebookGrade]) -> str:
    """A fixed-width table for the terminal: one line per notebook, with each exercise's mark."""
    rows = []
    width = max([len("notebook")] + [len(g.path) for g in grades])
    rows.append(f"{'notebook'.ljust(width)}  chapter  score      exercises")
    for g in grades:
        marks = " ".join(("✓" if r.passed else "✗") + r.check_id.split(".", 1)[-1] for r in g.results)
        score = f"{g.points:g}/{g.max_points:g}"
        rows.append(f"{g.path.ljust(width)}  {g.chapter:<7}  {score:<9}  {marks}")
        for problem in g.problems[:3]:
            rows.append(f"{'':{width}}    ! {problem[:150]}")
    return "\n".join(rows)
