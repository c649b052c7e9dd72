"""Every graded exercise can fail: on its stub, on plausible wrong answers, and passes on the solution.

The wrong answers live in tests/wrong_answers/chNN.py. The stubs and the solutions are the real
notebooks: exercises/NN_*.ipynb and solutions/NN_*.ipynb, executed and graded by the batch grader
exactly as a teacher's `python -m llmcourse grade` would.
"""

import importlib
from pathlib import Path

import pytest

from llmcourse.grading import chapter_exercises, run_check
from llmcourse.grading.batch import grade_notebook
from llmcourse.grading.core import REGISTRY, load_chapter_checks

ROOT = Path(__file__).resolve().parent.parent
load_chapter_checks()
CHAPTERS = sorted({ex.chapter for ex in REGISTRY.values() if ex.chapter != "ch99"})


def _wrong_answers():
    for chapter in CHAPTERS:
        module = importlib.import_module(f"wrong_answers.{chapter}")
        for check_id, answers in module.WRONG_ANSWERS.items():
            for wrong in answers:
                yield pytest.param(check_id, wrong, id=f"{check_id}-{wrong.mistake}")


def _notebook(folder: str, chapter: str) -> Path:
    matches = sorted((ROOT / folder).glob(f"{chapter[2:]}_*.ipynb"))
    assert len(matches) == 1, f"expected one {folder}/{chapter[2:]}_*.ipynb, found {matches}"
    return matches[0]


def test_every_chapter_with_a_solutions_notebook_has_exercises():
    for notebook in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        chapter = f"ch{notebook.name[:2]}"
        assert len(chapter_exercises(chapter)) >= 4, f"{notebook.name}: the issue asks for at least 4 exercises"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_at_least_two_wrong_answers(chapter):
    module = importlib.import_module(f"wrong_answers.{chapter}")
    for ex in chapter_exercises(chapter):
        assert len(module.WRONG_ANSWERS.get(ex.check_id, [])) >= 2, f"{ex.check_id} needs two wrong answers"


@pytest.mark.parametrize("check_id, wrong", list(_wrong_answers()))
def test_wrong_answer_fails_with_a_message_that_names_the_problem(check_id, wrong):
    result = run_check(check_id, wrong.answer)
    assert not result.passed and result.points == 0, f"the grader accepted a wrong answer: {wrong.mistake}"
    message = " ".join(result.messages)
    assert wrong.says.lower() in message.lower(), f"message should mention {wrong.says!r}; it says: {message}"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_notebook_passes_every_exercise(chapter):
    grade = grade_notebook(_notebook("solutions", chapter))
    assert not grade.problems, grade.problems
    assert [r.check_id for r in grade.results] == [ex.check_id for ex in chapter_exercises(chapter)]
    failed = {r.check_id: r.messages for r in grade.results if not r.passed}
    assert not failed, failed
    assert grade.points == grade.max_points > 0


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_exercise_notebook_runs_to_the_end_and_every_stub_fails(chapter):
    grade = grade_notebook(_notebook("exercises", chapter))
    assert not grade.problems, f"a cell of the exercise notebook raised: {grade.problems}"
    assert len(grade.results) == len(chapter_exercises(chapter))
    for result in grade.results:
        assert not result.passed and result.points == 0
        assert "not implemented yet" in " ".join(result.messages), result.messages
