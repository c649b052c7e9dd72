"""Auto-grading: ``check(...)`` in a notebook, ``run_check(...)`` from Python, ``grade`` from the CLI.

Which side of the line each file runs on:

- the grader's own process (cases, inputs, references, comparisons, verdicts, the gradebook):
  ``core.py`` (exercises, cases, the rules every call enforces), ``expect.py`` (comparisons and their
  words), ``chNN.py`` (each chapter's public cases), ``hidden.py`` (loads teacher-side cases from
  ``solutions/hidden/``), ``report.py`` (what a check cell prints), ``batch.py`` (a class's notebooks);
- the learner's side, given inputs and returning plain data only: ``runner.py`` (forks a child for each
  run of the learner's code) and ``worker.py`` (a submission's kernel inside the sandbox);
- between them: ``wire.py`` (plain data both ways, read with ``torch.load(weights_only=True)``) and
  ``sandbox.py`` (bubblewrap and resource limits around a worker).
"""

from .core import CheckFailure, CheckResult, Exercise, chapter_exercises, exercise, get_exercise, run_check
from .report import check

__all__ = [
    "CheckFailure", "CheckResult", "Exercise", "chapter_exercises", "check", "exercise", "get_exercise", "run_check",
]
