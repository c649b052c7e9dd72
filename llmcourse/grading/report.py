"""What a check cell shows in a notebook: a short report per exercise and a running score.

:func:`check` is the one function exercise notebooks call. It never raises: whatever goes wrong is
printed as a failed case. Results are kept per exercise for the notebook's session, so the line at
the end of each report shows the chapter's score so far.
"""

from __future__ import annotations

from typing import Any

from .core import CheckResult, chapter_exercises, run_check

_SESSION_RESULTS: dict[str, CheckResult] = {}


def format_result(result: CheckResult) -> str:
    """The plain-text report for one check: a verdict line, then one line per case."""
    mark = "PASSED" if result.passed else "NOT YET"
    lines = [
        f"{'✅' if result.passed else '❌'} {result.check_id}: {mark} ({result.points:g}/{result.max_points:g} points)"
    ]
    if result.cases:
        for case in result.cases:
            lines.append(f"   {'✓' if case.passed else '✗'} {case.name}")
            if not case.passed and case.message:
                lines.append(f"       {case.message}")
    else:
        lines.extend(f"   {m}" for m in result.messages)
    return "\n".join(lines)


def score_line(chapter: str) -> str:
    """'Chapter ch01 score so far: 3/8 points (2 of 4 exercises passed)'."""
    exercises = chapter_exercises(chapter)
    total = sum(ex.points for ex in exercises)
    got = sum(_SESSION_RESULTS[ex.check_id].points for ex in exercises if ex.check_id in _SESSION_RESULTS)
    n_passed = sum(1 for ex in exercises if ex.check_id in _SESSION_RESULTS and _SESSION_RESULTS[ex.check_id].passed)
    return f"Score so far for {chapter}: {got:g}/{total:g} points ({n_passed} of {len(exercises)} exercises passed)"


def check(check_id: str, student: Any) -> None:
    """Grade ``student`` for exercise ``check_id`` and print the report with the running score."""
    try:
        result = run_check(check_id, student)
    except BaseException as exc:  # a grader bug must not take the notebook down either
        if isinstance(exc, KeyboardInterrupt):
            raise
        result = CheckResult(check_id, False, 0.0, 0.0, messages=[f"the grader itself failed: {exc!r}"])
    _SESSION_RESULTS[check_id] = result
    print(format_result(result))
    chapter = check_id.split(".", 1)[0]
    if chapter_exercises(chapter):
        print(score_line(chapter))
