"""Plausible wrong answers for every exercise, one module per chapter (``chNN.py``).

Each module defines ``WRONG_ANSWERS: dict[str, list[WrongAnswer]]`` mapping an exercise id to at
least two mistakes a learner could really make. The tests run every one through the grader and
require a failure whose message contains ``says`` (so the feedback names the problem).
"""

from dataclasses import dataclass
from typing import Any


@dataclass
class WrongAnswer:
    mistake: str  # what the learner did wrong, for the test id
    answer: Any  # the learner's object: a function or class written the wrong way
    says: str  # a phrase the grader's message must contain (case-insensitive)
