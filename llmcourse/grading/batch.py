"""Grade a class's notebooks: ``python -m llmcourse grade PATH... --out DIR [--jobs N]``.

Each submission runs in its own sandboxed worker (:mod:`.sandbox`, :mod:`.worker`): a copy of the one
notebook in a fresh scratch folder, no network, no view of other submissions, the teacher's files or the
hidden cases. The worker runs the notebook's code cells one by one, then answers the grader's requests
for each exercise; the cases, references and verdicts stay in this process, so nothing a notebook does
can change its grade or anyone else's.

A cell that raises costs nothing by itself. A cell that does not finish is interrupted; one that ignores
the interrupt, or crashes the kernel, is killed with its whole sandbox, and the worker is restarted and
the cells that worked are replayed, so such a cell costs only the exercises it defines — and the
gradebook names it. The gradebook (CSV and JSON) is written atomically after every submission, so
Ctrl-C or a crash loses nothing, and a rerun skips submissions already graded (unless ``--regrade``).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sandbox, wire
from .core import Case, CaseResult, CheckResult, Exercise, chapter_exercises, grade
from .references import ReferencesMissing, load_references

MAX_ANSWER_BYTES = 64 * 1024 * 1024
GRACE_SECONDS = 15.0  # beyond a cell's or a case's own limit, before the sandbox is killed
_CHECK_CELL = re.compile(r"^\s*check\(\s*[\"']ch\d\d\.\w+[\"']\s*,\s*\w+\s*\)\s*$")


@dataclass
class GradeOptions:
    cell_timeout: float = 300.0
    profile: str = "ci"
    chapter: str | None = None
    hidden: dict[str, list[Case]] = field(default_factory=dict)
    references: Path | None = None  # the teacher's references (default: solutions/references of the course)
    seed: int | None = None
    isolation: sandbox.Isolation | None = None
    limits: sandbox.Limits = field(default_factory=sandbox.Limits)
    max_restarts: int = 3
    grace: float = GRACE_SECONDS  # beyond a limit, before the sandbox is killed


@dataclass
class NotebookGrade:
    path: str
    chapter: str
    sha256: str = ""
    results: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    isolation: str = ""
    seconds: float = 0.0

    @property
    def points(self) -> float:
        return sum(min(r.points, r.max_points) for r in self.results)

    @property
    def max_points(self) -> float:
        return sum(ex.points for ex in chapter_exercises(self.chapter)) if self.chapter != "?" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path, "sha256": self.sha256, "chapter": self.chapter, "points": self.points,
                "max_points": self.max_points, "problems": self.problems, "isolation": self.isolation,
                "seconds": round(self.seconds, 2), "results": [r.to_dict() for r in self.results]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotebookGrade:
        results = [CheckResult(**{**r, "cases": [CaseResult(**c) for c in r["cases"]]}) for r in data["results"]]
        return cls(data["file"], data["chapter"], data.get("sha256", ""), results, list(data["problems"]),
                   data.get("isolation", ""), data.get("seconds", 0.0))


def chapter_of(path: Path) -> str:
    """The chapter id (``ch01``) from the file's ``NN_`` name; never from the notebook's own metadata, which the
    student's file carries and could change to be graded against another chapter's exercises."""
    match = re.match(r"(\d+)_", path.name)
    if not match:
        raise ValueError(f"{path.name}: cannot tell the chapter from the file name (it does not start with the "
                         "chapter's number, 01_...); pass --chapter")
    return f"ch{int(match.group(1)):02d}"


# --- one sandboxed worker ---------------------------------------------------------------------------------


class Worker:
    """A running worker process in its sandbox, and the pipes to it."""

    def __init__(self, scratch: Path, options: GradeOptions) -> None:
        isolation = options.isolation or sandbox.detect()
        inner = [sys.executable, "-m", "llmcourse.grading.worker"]
        argv, env, cwd = sandbox.sandbox_command(inner, scratch, isolation, options.profile)
        prefix, self.cgroup = sandbox.limits(options.limits)
        self.process = subprocess.Popen([*prefix, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)
        sandbox.join_cgroup(self.cgroup, self.process.pid)
        self.answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.alive = self.wait_for("ready", 120.0) is not None

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while True:
                line = self.process.stdout.readline(MAX_ANSWER_BYTES)
                if not line:
                    break
                try:
                    answer = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # not an answer of the worker's: ignore it
                if isinstance(answer, dict):
                    self.answers.put(answer)
        except (OSError, ValueError):
            pass
        self.answers.put(None)

    def wait_for(self, op: str, timeout: float) -> dict[str, Any] | None:
        """The next answer of kind ``op`` within ``timeout`` s; None when the worker died or went quiet."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                answer = self.answers.get(timeout=left)
            except queue.Empty:
                return None
            if answer is None:
                self.answers.put(None)  # stays dead for later waits
                return None
            if answer.get("op") == op:
                return answer

    def send(self, command: dict[str, Any], op: str, timeout: float) -> dict[str, Any] | None:
        if not self.alive:
            return None
        try:
            assert self.process.stdin is not None
            self.process.stdin.write((json.dumps(command) + "\n").encode())
            self.process.stdin.flush()
        except (OSError, ValueError):
            self.alive = False
            return None
        answer = self.wait_for(op, timeout)
        if answer is None:
            self.alive = False
        return answer

    def kill(self) -> None:
        """End the sandbox and every process in it."""
        self.alive = False
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.process.kill()
            self.process.wait(timeout=10)
        except (OSError, subprocess.SubprocessError):
            pass
        sandbox.remove_cgroup(self.cgroup)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                if stream:
                    stream.close()
            except OSError:
                pass


class Session:
    """A submission's worker across restarts: the cells that worked are replayed into a fresh one."""

    def __init__(self, scratch: Path, options: GradeOptions, grade_record: NotebookGrade) -> None:
        self.scratch, self.options, self.record = scratch, options, grade_record
        self.replay: list[tuple[int, str]] = []
        self.restarts = 0
        self.worker = Worker(scratch, options)
        if not self.worker.alive:
            self.record.problems.append("the grading kernel did not start")

    def run_cell(self, index: int, source: str) -> None:
        limit = self.options.cell_timeout
        started = time.monotonic()
        answer = self.worker.send({"op": "cell", "index": index, "source": source, "timeout": limit}, "cell",
                                  limit + self.options.grace)
        if answer is None:
            try:
                self.worker.process.wait(timeout=2)  # a kernel that died is gone within moments
            except subprocess.TimeoutExpired:
                pass
            died = self.worker.process.poll() is not None or time.monotonic() - started < limit
            self.record.problems.append(
                f"cell {index} crashed the kernel; it was skipped and the cells before it were run again" if died
                else f"cell {index} did not finish within {limit:g} s and ignored the interrupt; the kernel was "
                     "killed, the cell skipped and the cells before it run again")
            self.restart()
            return
        if answer.get("timeout"):
            self.record.problems.append(f"cell {index} did not finish within {limit:g} s and was interrupted")
            return
        if not answer.get("ok"):
            self.record.problems.append(f"cell {index} raised {str(answer.get('error'))[:300]}")
        self.replay.append((index, source))

    def restart(self) -> bool:
        self.worker.kill()
        if self.restarts >= self.options.max_restarts:
            return False
        self.restarts += 1
        self.worker = Worker(self.scratch, self.options)
        limit = self.options.cell_timeout
        for index, source in self.replay:
            if self.worker.send({"op": "cell", "index": index, "source": source, "timeout": limit}, "cell",
                                limit + self.options.grace) is None:
                self.record.problems.append(f"cell {index} failed when run again after a restart")
                return False
        return self.worker.alive

    def ensure_alive(self) -> bool:
        return self.worker.alive or self.restart()

    def kinds(self, names: list[str]) -> dict[str, str]:
        if not self.ensure_alive():
            return {}
        answer = self.worker.send({"op": "kinds", "names": names}, "kinds", 60.0)
        kinds = answer.get("kinds") if answer else None
        return {str(k): str(v) for k, v in kinds.items()} if isinstance(kinds, dict) else {}

    def executor(self, name: str):  # noqa: ANN201
        def run(request: dict[str, Any], timeout: float) -> dict[str, Any]:
            if not self.ensure_alive():
                return {"status": "died", "steps": []}
            payload = base64.b64encode(wire.dumps(request)).decode("ascii")
            answer = self.worker.send({"op": "run", "name": name, "request": payload, "timeout": timeout}, "run",
                                      timeout + self.options.grace)
            if answer is None:
                return {"status": "timeout" if self.worker.process.poll() is None else "died", "steps": []}
            try:
                response = wire.loads(base64.b64decode(str(answer.get("response", ""))))
            except Exception:  # noqa: BLE001 — anything but plain data is not an answer
                return {"status": "bad-output", "steps": []}
            return response if isinstance(response, dict) else {"status": "bad-output", "steps": []}

        return run

    def close(self) -> None:
        self.worker.kill()


# --- one notebook -------------------------------------------------------------------------------------------


def _defining_cells(cells: Sequence[tuple[int, str]], name: str) -> list[int]:
    pattern = re.compile(rf"^\s*(def|class)\s+{re.escape(name)}\b|^\s*{re.escape(name)}\s*=", re.MULTILINE)
    return [i for i, source in cells if pattern.search(source)]


def _kind_problem(ex: Exercise, kind: str) -> str:
    if kind == "missing":
        return f"`{ex.name}` is not defined in the notebook."
    if kind == "none":
        return f"`{ex.name}` is None."
    if ex.kind == "class" and kind != "class":
        return f"`{ex.name}` should be a class (defined with `class {ex.name}(...)`)."
    if ex.kind == "function" and kind != "function":
        return f"`{ex.name}` should be a function (defined with `def {ex.name}(...)`)."
    return ""


def grade_notebook(path: Path, options: GradeOptions | None = None, **overrides: Any) -> NotebookGrade:
    """Run one submitted notebook in a sandbox and grade it; never raises for anything the notebook does."""
    import nbformat

    options = options or GradeOptions()
    for key, value in overrides.items():
        setattr(options, key, value)
    if options.isolation is None:
        options.isolation = sandbox.detect()
    path = Path(path)
    started = time.monotonic()
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        notebook = nbformat.read(io.StringIO(data.decode("utf-8")), as_version=4)
        chapter = options.chapter or chapter_of(path)
    except Exception as exc:  # noqa: BLE001
        chapter = options.chapter or "?"
        record = NotebookGrade(str(path), chapter, digest, problems=[f"could not read the notebook: {exc}"])
        record.results = [CheckResult(ex.check_id, False, 0.0, ex.points, messages=["not graded: unreadable notebook"])
                          for ex in (chapter_exercises(chapter) if chapter != "?" else [])]
        return record
    record = NotebookGrade(str(path), chapter, digest, isolation=options.isolation.tool)
    exercises = chapter_exercises(chapter)
    if not exercises:
        record.problems.append(f"no graded exercises for chapter {chapter!r}")
        return record
    try:  # the batch grade is the teacher's: fresh inputs, expected answers from the teacher's references
        load_references(options.references)
    except ReferencesMissing as exc:
        record.problems.append(str(exc))
        record.results = [CheckResult(ex.check_id, False, 0.0, ex.points, messages=["not graded: " + str(exc)])
                          for ex in exercises]
        return record
    cells = [(i, c.source) for i, c in enumerate(notebook.cells) if c.cell_type == "code" and c.source.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="llmcourse-grade-"))
    session = None
    try:
        (scratch / path.name).write_bytes(data)
        session = Session(scratch, options, record)
        for index, source in cells:
            if _CHECK_CELL.match(source):
                continue  # the learner's own check() calls: the grade below runs every case anyway
            if not session.worker.alive and not session.restart():
                record.problems.append(f"cells from {index} on were not run: the kernel kept failing")
                break
            session.run_cell(index, source)
        kinds = session.kinds([ex.name for ex in exercises])
        for ex in exercises:
            problem = _kind_problem(ex, kinds.get(ex.name, "missing"))
            if problem:
                skipped = [i for i in _defining_cells(cells, ex.name)
                           if any(f"cell {i} " in p for p in record.problems)]
                if skipped:
                    problem += f" Cell {skipped[0]}, which defines it, did not run to the end."
                record.results.append(CheckResult(ex.check_id, False, 0.0, ex.points, messages=[problem]))
                continue
            try:
                record.results.append(grade(ex, session.executor(ex.name), seed=options.seed,
                                            hidden=options.hidden.get(ex.check_id, [])))
            except Exception as exc:  # noqa: BLE001 — a bug in the course's cases, not the learner's
                record.results.append(CheckResult(ex.check_id, False, 0.0, ex.points, messages=[
                    f"the grader itself failed on this exercise ({type(exc).__name__}: {exc}); please report it"]))
    finally:
        if session is not None:
            session.close()
        shutil.rmtree(scratch, ignore_errors=True)
        record.seconds = time.monotonic() - started
    return record


# --- the gradebook ------------------------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Gradebook:
    """``gradebook.json`` and ``gradebook.csv`` in one folder, rewritten atomically after every submission."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.json_path, self.csv_path = self.out_dir / "gradebook.json", self.out_dir / "gradebook.csv"
        self.grades: dict[str, NotebookGrade] = {}
        self.lock = threading.Lock()
        if self.json_path.exists():
            for entry in json.loads(self.json_path.read_text(encoding="utf-8")):
                grade_ = NotebookGrade.from_dict(entry)
                self.grades[grade_.path] = grade_

    def done(self, path: Path) -> bool:
        """Already graded, from exactly this file content."""
        existing = self.grades.get(str(path))
        return existing is not None and existing.sha256 == hashlib.sha256(Path(path).read_bytes()).hexdigest()

    def add(self, grade_: NotebookGrade) -> None:
        with self.lock:
            self.grades[grade_.path] = grade_
            self.write()

    def write(self) -> None:
        ordered = [self.grades[k] for k in sorted(self.grades)]
        _atomic_write(self.json_path, json.dumps([g.to_dict() for g in ordered], indent=1))
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["student_file", "chapter", "exercise", "points", "max_points", "passed", "messages",
                         "problems"])
        for g in ordered:
            problems = " | ".join(g.problems)
            for r in g.results:
                writer.writerow([g.path, g.chapter, r.check_id, min(r.points, r.max_points), r.max_points, r.passed,
                                 " | ".join(r.messages), problems])
            if not g.results:
                writer.writerow([g.path, g.chapter, "", 0, 0, False, "", problems])
        _atomic_write(self.csv_path, buffer.getvalue())


def summary_table(grades: Sequence[NotebookGrade]) -> str:
    """A fixed-width table for the terminal: one line per notebook, with each exercise's mark."""
    width = max([len("notebook")] + [len(g.path) for g in grades])
    rows = [f"{'notebook'.ljust(width)}  chapter  score      exercises"]
    for g in grades:
        marks = " ".join(("✓" if r.passed else "✗") + r.check_id.split(".", 1)[-1] for r in g.results)
        rows.append(f"{g.path.ljust(width)}  {g.chapter:<7}  {f'{g.points:g}/{g.max_points:g}':<9}  {marks}")
        for problem in g.problems[:3]:
            rows.append(f"{'':{width}}    ! {problem[:150]}")
    return "\n".join(rows)


def grade_all(paths: Sequence[Path], book: Gradebook, options: GradeOptions, *, jobs: int = 1,
              regrade: bool = False, progress: bool = True) -> list[NotebookGrade]:
    """Grade every notebook not yet in ``book`` (all with ``regrade``), ``jobs`` at a time, saving as it goes."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm import tqdm

    todo = [p for p in paths if regrade or not book.done(p)]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(grade_notebook, p, GradeOptions(**vars(options))): p for p in todo}
        bar = tqdm(total=len(todo), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
        try:
            for future in as_completed(futures):
                book.add(future.result())
                bar.update(1)
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            raise
        finally:
            bar.close()
    return [book.grades[str(p)] for p in paths if str(p) in book.grades]
