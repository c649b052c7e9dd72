"""What a check cell shows in a notebook: a short report per exercise and a running score.

:func:`check` is the one function exercise notebooks call. It never raises for anything the learner's
code does: that code runs in a separate process (see :mod:`.runner`), and whatever goes wrong there is
printed as a failed case. Results are kept per exercise for the notebook's session, so the line at the
end of each report shows the chapter's score so far.
"""

from __future__ import annotations

from typing import Any

from .core import CheckResult, chapter_exercises, run_check
from .runner import CAN_FORK

_SESSION_RESULTS: dict[str, CheckResult] = {}


def format_result(result: CheckResult) -> str:
    """The plain-text report for one check: a verdict line, then one line per case."""
    mark = "PASSED" if result.passed else "NOT YET"
    public = sum(1 for c in result.cases if not c.hidden)
    scope = f" — {public} public case{'s' if public != 1 else ''}" if result.cases else ""
    lines = [f"{'✅' if result.passed else '❌'} {result.check_id}: {mark} "
             f"({result.points:g}/{result.max_points:g} points){scope}"]
    if result.cases:
        for case in result.cases:
            lines.append(f"   {'✓' if case.passed else '✗'} {case.name}{' (hidden case)' if case.hidden else ''}")
            if not case.passed and case.message:
                lines.extend(f"       {line}" for line in case.message.splitlines())
    else:
        lines.extend(f"   {m}" for m in result.messages)
    for note in result.notes:
        lines.append(f"   (left to your teacher's grade: {note})")
    if result.passed and not any(c.hidden for c in result.cases):
        lines.append("   (new random inputs every run; your teacher's grade also runs hidden cases)")
    if not CAN_FORK:
        lines.append("   note: this system cannot fork, so your code ran inside the notebook's own process; "
                     "a loop inside C code cannot be stopped there.")
    return "\n".join(lines)


def score_line(chapter: str) -> str:
    """'Score so far for ch01: 3/8 points (2 of 4 exercises passed)'."""
    exercises = chapter_exercises(chapter)
    total = sum(ex.points for ex in exercises)
    got = sum(_SESSION_RESULTS[ex.check_id].points for ex in exercises if ex.check_id in _SESSION_RESULTS)
    n_passed = sum(1 for ex in exercises if ex.check_id in _SESSION_RESULTS and _SESSION_RESULTS[ex.check_id].passed)
    return f"Score so far for {chapter}: {got:g}/{total:g} points ({n_passed} of {len(exercises)} exercises passed)"


def check(check_id: str, student: Any) -> None:
    """Grade ``student`` for exercise ``check_id`` on the public cases and print the report with the score."""
    try:
        result = run_check(check_id, student)
    except KeyboardInterrupt:
        raise  # the learner pressed stop: the check itself stops
    except Exception as exc:  # a grader bug must not take the notebook down either
        result = CheckResult(check_id, False, 0.0, 0.0, messages=[f"the grader itself failed: {exc!r}"])
    _SESSION_RESULTS[check_id] = result
    print(format_result(result))
    chapter = check_id.split(".", 1)[0]
    if chapter_exercises(chapter):
        print(score_line(chapter))
