"""The solved exercise functions of a chapter, taken from its master notebook (solutions/NN_*.ipynb).

Runs the notebook's code cells except its check cells into one namespace (see
:func:`llmcourse.exercises.solution_namespace`), so tests can grade the masters' own answers with run_check
without executing a whole notebook in a kernel.
"""

from __future__ import annotations

from llmcourse.exercises import solution_namespace

__all__ = ["solution_namespace"]
