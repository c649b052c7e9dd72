"""Auto-grading: ``check(...)`` in a notebook, ``run_check(...)`` from Python, ``grade`` from the CLI.

Three places, and which side of the line each runs on:

- the engine, here (the grader's own process: cases run, verdicts, the gradebook): ``core.py`` (exercises,
  cases, the rules every call enforces), ``expect.py`` (comparisons and their words), ``references.py`` (the
  teacher's references, by key), ``recorded.py`` (the recorded public cases a learner's check replays),
  ``hidden.py`` (teacher-side hidden cases), ``report.py`` (what a check cell prints), ``batch.py`` (a class's
  notebooks); on the learner's side, given inputs and returning plain data only: ``runner.py`` (forks a child
  for each run of the learner's code) and ``worker.py`` (a submission's kernel inside the sandbox); between
  them ``wire.py`` (plain data both ways, read with ``torch.load(weights_only=True)``) and ``sandbox.py``;
- what a learner's install needs to check an exercise: ``llmcourse/checks/chNN.py`` (declarations and cases,
  no answers) and ``llmcourse/checks/recorded/chNN/*.pt`` (the recorded expected answers);
- what only the teacher holds, outside the package: ``solutions/references/chNN.py`` (references and named
  mistakes) and ``solutions/hidden/chNN.py`` (hidden cases).
"""

from .core import CheckFailure, CheckResult, Exercise, chapter_exercises, exercise, get_exercise, run_check
from .report import check

__all__ = [
    "CheckFailure", "CheckResult", "Exercise", "chapter_exercises", "check", "exercise", "get_exercise", "run_check",
]
