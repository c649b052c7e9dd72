"""Plausible wrong answers for every exercise, one module per chapter (``chNN.py``).

Each module defines ``WRONG_ANSWERS: dict[str, list[WrongAnswer]]`` mapping an exercise id to at
least three mistakes a learner could really make: mistakes in the idea, and the classes of mistake the
engine guards against for every exercise (changing an input in place, the wrong dtype or type, a broken
gradient, working only for batches larger than one or square shapes, ignoring an argument or the
generator). The tests run every one through the grader with several seeds and require a failure whose
message contains ``says`` (so the feedback names the problem).
"""

from dataclasses import dataclass
from typing import Any


@dataclass
class WrongAnswer:
    mistake: str  # what the learner did wrong, for the test id
    answer: Any  # the learner's object: a function or class written the wrong way
    says: str  # a phrase the grader's message must contain (case-insensitive)
    # Caught only by the teacher's (live) grade: what it gets wrong is judged with code that would be an answer in
    # the student's install; a learner's replayed check must then say it left that judgement to the teacher.
    teacher_only: bool = False
