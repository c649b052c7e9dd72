"""How long does each exercise's check take on its master answer? Issue 20 asks for under 2 s a check.

Runs every registered exercise's public cases (as ``check(...)`` in a notebook does: a forked child per call)
on the solved function from ``solutions/NN_*.ipynb``, each chapter in a fresh process so its first check pays
the imports and the fork's warm-up, as a learner's first check does. Reports the first check of each exercise
and the median of ``--repeats`` more; the peer is the 2 s goal itself. Results are committed with the command:

    python benchmarks/check_times.py > benchmarks/results/check_times_cpu.txt
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_S = 2.0


def time_chapter(chapter: str, repeats: int) -> list[dict]:
    """Rows (exercise, first s, median s, passed) for one chapter, measured in this process."""
    sys.path.insert(0, str(ROOT / "tests"))
    from _solutions import solution_namespace

    from llmcourse.grading import chapter_exercises, run_check

    namespace = solution_namespace(chapter)
    rows = []
    for ex in chapter_exercises(chapter):
        times, passed = [], True
        for seed in range(repeats + 1):
            started = time.perf_counter()
            result = run_check(ex.check_id, namespace[ex.name], seed=1000 + seed)
            times.append(time.perf_counter() - started)
            passed = passed and result.passed
        rows.append({"exercise": ex.check_id, "first": times[0], "median": statistics.median(times[1:] or times),
                     "passed": passed})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="checks after the first, per exercise")
    parser.add_argument("--chapter", action="append", help="only these chapters (ch01, ...); default all")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child's side: one chapter, rows as JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(time_chapter(args.one, args.repeats)))
        return
    from llmcourse.device import environment_report

    chapters = args.chapter or sorted(f"ch{p.name[:2]}" for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    print(f"# {environment_report()}")
    print(f"# each chapter in a fresh process; first = the first check of the exercise in it (the chapter's first "
          f"pays the imports), median of {args.repeats} more; goal {GOAL_S:g} s")
    print(f"{'exercise':<34} {'first s':>8} {'median s':>9}  passed  over goal")
    slow = 0
    for chapter in chapters:
        out = subprocess.run([sys.executable, __file__, "--one", chapter, "--repeats", str(args.repeats)],
                             capture_output=True, text=True, cwd=ROOT, check=True).stdout
        for row in json.loads(out.strip().splitlines()[-1]):
            over = max(row["first"], row["median"]) > GOAL_S
            slow += over
            print(f"{row['exercise']:<34} {row['first']:>8.2f} {row['median']:>9.2f}  {str(row['passed']):<6}  "
                  f"{'OVER' if over else ''}")
    print(f"# {slow} check(s) over {GOAL_S:g} s")


if __name__ == "__main__":
    main()
