"""How many submissions a minute does the batch grader take, and what does the sandbox cost?

Grades N copies of the chapter 1 and chapter 4 solution notebooks (every exercise passes, so every case
runs, hidden cases included) with ``--jobs 1`` and ``--jobs 2``, each in its own bubblewrap sandbox, and
again with no sandbox (a plain separate process, same limits) in the same run: the ratio is the
sandbox's overhead. The peer is the same grader unsandboxed, since that is the one choice a teacher has.
Results are committed under benchmarks/results/ with the command that made them:

    python benchmarks/grading.py > benchmarks/results/grading_cpu.txt
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from llmcourse.device import environment_report
from llmcourse.grading import sandbox
from llmcourse.grading.batch import Gradebook, GradeOptions, grade_all
from llmcourse.grading.hidden import default_hidden_folder, load_hidden

ROOT = Path(__file__).resolve().parent.parent


def grade_copies(chapter: str, copies: int, jobs: int, isolation: sandbox.Isolation,
                 hidden: dict) -> tuple[float, float]:
    """(seconds for all, points of the first) grading ``copies`` of the chapter's solution notebook."""
    master = next((ROOT / "solutions").glob(f"{chapter[2:]}_*.ipynb"))
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        paths = []
        for i in range(copies):
            paths.append(subs / f"{chapter[2:]}_student{i}.ipynb")
            shutil.copy(master, paths[-1])
        out = Path(tmp) / "out"
        out.mkdir()
        options = GradeOptions(profile="ci", isolation=isolation, hidden=hidden)
        started = time.perf_counter()
        grades = grade_all(paths, Gradebook(out), options, jobs=jobs, progress=False)
        elapsed = time.perf_counter() - started
    failed = [(g.path, r.check_id, r.seed, r.messages[:1]) for g in grades for r in g.results if not r.passed]
    assert not failed and all(g.points == g.max_points for g in grades), (failed, [g.problems for g in grades])
    return elapsed, grades[0].points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    bwrap = sandbox.detect("bwrap")
    if bwrap.tool != "bwrap":
        raise SystemExit("bubblewrap is not available here: apt-get install bubblewrap")
    plain = sandbox.Isolation("none", ["(benchmark peer)"])
    folder = default_hidden_folder()
    hidden = load_hidden(folder) if folder else {}
    print(f"# {environment_report()}")
    print(f"# {args.copies} copies of each chapter's solution notebook, profile ci, public + hidden cases; "
          "overhead = bwrap time / unsandboxed time, same run")
    print(f"{'chapter':>7s} {'jobs':>4s} | {'bwrap s':>8s} {'per min':>8s} | {'plain s':>8s} {'per min':>8s} | "
          f"{'overhead':>8s}")
    for chapter in ("ch01", "ch04"):
        for jobs in (1, 2):
            boxed, _ = grade_copies(chapter, args.copies, jobs, bwrap, hidden)
            bare, _ = grade_copies(chapter, args.copies, jobs, plain, hidden)
            print(f"{chapter:>7s} {jobs:>4d} | {boxed:8.1f} {60 * args.copies / boxed:8.1f} | {bare:8.1f} "
                  f"{60 * args.copies / bare:8.1f} | {boxed / bare:8.2f}", flush=True)


if __name__ == "__main__":
    main()
