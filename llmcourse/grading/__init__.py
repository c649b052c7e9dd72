"""Auto-grading: ``check(...)`` in a notebook, ``run_check(...)`` from Python, ``grade`` from the CLI.

Exercises and their cases are defined per chapter in ``llmcourse/grading/chNN.py``.
"""

from .core import CheckFailure, CheckResult, Exercise, chapter_exercises, exercise, get_exercise, run_check
from .report import check

__all__ = [
    "CheckFailure", "CheckResult", "Exercise", "chapter_exercises", "check", "exercise", "get_exercise", "run_check",
]
