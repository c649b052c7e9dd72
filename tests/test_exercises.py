"""Every graded exercise judges right: the master's answer passes, its stub and plausible wrong answers fail.

The wrong answers live in tests/wrong_answers/chNN.py; the masters' answers are taken from
solutions/NN_*.ipynb (tests/_solutions.py). Each is graded with several seeds, since every run of a check
draws new inputs. The slow tests run the real notebooks through the batch grader, as a teacher would.
"""

import importlib
from pathlib import Path

import pytest
from _solutions import solution_namespace

from llmcourse.grading import chapter_exercises, run_check
from llmcourse.grading.core import REGISTRY, load_chapter_checks
from llmcourse.grading.references import load_references

load_references()  # the teacher's side: live grading and hidden cases need the references

ROOT = Path(__file__).resolve().parent.parent
SEEDS = (1, 2, 3)
load_chapter_checks()
CHAPTERS = sorted({ex.chapter for ex in REGISTRY.values() if ex.chapter != "ch99"})


def _wrong_answers():
    for chapter in CHAPTERS:
        module = importlib.import_module(f"wrong_answers.{chapter}")
        for check_id, answers in module.WRONG_ANSWERS.items():
            for wrong in answers:
                yield pytest.param(check_id, wrong, id=f"{check_id}-{wrong.mistake}")


@pytest.fixture(scope="module", params=CHAPTERS)
def solved(request):
    return request.param, solution_namespace(request.param)


def test_every_chapter_with_a_solutions_notebook_has_exercises():
    for notebook in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        assert len(chapter_exercises(f"ch{notebook.name[:2]}")) >= 3, f"{notebook.name}: at least 3 exercises"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_at_least_three_wrong_answers(chapter):
    module = importlib.import_module(f"wrong_answers.{chapter}")
    for ex in chapter_exercises(chapter):
        assert len(module.WRONG_ANSWERS.get(ex.check_id, [])) >= 3, f"{ex.check_id} needs three wrong answers"


def test_the_masters_answers_pass_with_any_seed(solved):
    """Replayed from the recorded cases (a learner's check) with several seeds, and live from the teacher's
    references on fresh inputs (the batch grade)."""
    chapter, namespace = solved
    for ex in chapter_exercises(chapter):
        for seed in SEEDS:
            result = run_check(ex.check_id, namespace[ex.name], seed=seed)
            assert result.passed and result.points == ex.points, (ex.check_id, seed, result.messages)
        result = run_check(ex.check_id, namespace[ex.name], seed=SEEDS[0], live=True)
        assert result.passed and result.points == ex.points, (ex.check_id, "live", result.messages)


def test_every_argument_is_varied_and_sizes_include_the_edge_cases(solved):
    """Cases must vary every argument, and tensor inputs must include a batch of 1, a non-square shape and, where
    they are floating point, float64 (exemptions declared with a reason)."""
    chapter, namespace = solved
    for ex in chapter_exercises(chapter):
        if ex.kind != "function":
            continue
        coverage = run_check(ex.check_id, namespace[ex.name], seed=7).coverage
        for name in ex.args:
            seen = {repr(s) for s in coverage.get(name, [])}
            assert len(seen) >= 2, f"{ex.check_id}: every case passes the same `{name}` ({seen})"
        shapes = [s[1] for values in coverage.values() for s in values
                  if isinstance(s, tuple) and s and s[0] == "tensor" and len(s[1]) >= 2]
        if shapes:
            if "batch of 1" not in ex.exempt:
                assert any(shape[0] == 1 for shape in shapes), f"{ex.check_id}: no case has a batch of 1"
            if "non-square" not in ex.exempt:
                assert any(shape[-1] != shape[-2] for shape in shapes), f"{ex.check_id}: no non-square input"
        floats = {s[2] for values in coverage.values() for s in values
                  if isinstance(s, tuple) and s and s[0] == "tensor" and "float" in s[2]}
        if floats and "float64" not in ex.exempt:  # a torch.zeros(...) inside the answer silently makes float32
            assert "torch.float64" in floats, f"{ex.check_id}: no case passes float64 inputs ({sorted(floats)})"


LARGE = 20.0  # an input this large (scores or logits in the hundreds after a product) overflows a naive exp


def _tensor_signatures(coverage):
    return [s for values in coverage.values() for s in values if isinstance(s, tuple) and s and s[0] == "tensor"]


def test_cases_reach_large_magnitudes_low_precision_and_empty_inputs(solved):
    """Engine-wide coverage, unless the exercise declares why its inputs cannot (exempt keys "large magnitudes",
    "low precision", "empty"): a case with a floating input of magnitude LARGE or more (where a softmax without the
    max subtracted, exp(s)/(1+exp(s)) or a one-pass variance break), a case in float16 or bfloat16 (the answer
    must keep the input's dtype), and a case with an empty dimension (an empty batch, no noise words, ...)."""
    chapter, namespace = solved
    missing = []
    for ex in chapter_exercises(chapter):
        if ex.kind != "function":
            continue
        tensors = _tensor_signatures(run_check(ex.check_id, namespace[ex.name], seed=7).coverage)
        floats = [s for s in tensors if "float" in s[2]]
        if floats and "large magnitudes" not in ex.exempt and not any((s[3] or 0) >= LARGE for s in floats):
            missing.append(f"{ex.check_id}: no case has a floating input of magnitude {LARGE:g} or more")
        if floats and "low precision" not in ex.exempt and not any(s[2] in ("torch.float16", "torch.bfloat16")
                                                                   for s in floats):
            missing.append(f"{ex.check_id}: no case passes float16 or bfloat16 inputs")
        if tensors and "empty" not in ex.exempt and not any(0 in s[1] for s in tensors):
            missing.append(f"{ex.check_id}: no case passes an input with an empty dimension")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("check_id, wrong", list(_wrong_answers()))
def test_wrong_answer_fails_with_a_message_that_names_the_problem(check_id, wrong):
    for seed, live in ((SEEDS[0], False), (SEEDS[1], True)):  # a learner's replayed check, the teacher's live grade
        result = run_check(check_id, wrong.answer, seed=seed, live=live)
        if wrong.teacher_only and not live:  # judged live; a replay may catch it another way, or must say so
            assert not result.passed or result.notes, f"the replay says nothing of what it left: {result.messages}"
            continue
        assert not result.passed and result.points == 0, f"the grader accepted a wrong answer: {wrong.mistake}"
        message = " ".join(result.messages)
        assert wrong.says.lower() in message.lower(), f"message should mention {wrong.says!r}; it says: {message}"


def test_the_masters_answers_pass_the_hidden_cases(solved):
    from llmcourse.grading.hidden import default_hidden_folder, load_hidden

    chapter, namespace = solved
    hidden = load_hidden(default_hidden_folder())
    for ex in chapter_exercises(chapter):
        assert hidden.get(ex.check_id), f"{ex.check_id} has no hidden case in solutions/hidden/{chapter}.py"
        result = run_check(ex.check_id, namespace[ex.name], seed=11, hidden=hidden[ex.check_id])
        assert result.passed, (ex.check_id, result.messages)


def _notebook(folder: str, chapter: str) -> Path:
    matches = sorted((ROOT / folder).glob(f"{chapter[2:]}_*.ipynb"))
    assert len(matches) == 1, f"expected one {folder}/{chapter[2:]}_*.ipynb, found {matches}"
    return matches[0]


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_notebook_passes_every_exercise_in_the_batch_grader(chapter):
    from llmcourse.grading.batch import GradeOptions, grade_notebook
    from llmcourse.grading.hidden import default_hidden_folder, load_hidden

    grade = grade_notebook(_notebook("solutions", chapter), GradeOptions(hidden=load_hidden(default_hidden_folder())))
    assert not grade.problems, grade.problems
    assert [r.check_id for r in grade.results] == [ex.check_id for ex in chapter_exercises(chapter)]
    failed = {r.check_id: r.messages for r in grade.results if not r.passed}
    assert not failed, failed
    assert grade.points == grade.max_points > 0


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_stub_of_the_exercise_notebook_fails_and_says_it_is_not_implemented(chapter):
    """The generated notebook's own stubs, graded as a teacher grades (live, fresh inputs). That the notebook runs
    to the end in a kernel, its check cells included, is nbval's run of exercises/; the sandboxed batch grade is
    tested on the solutions above (one run per notebook folder is enough: the exercise notebooks are the masters
    with their answers taken out)."""
    namespace = solution_namespace(chapter, folder="exercises")
    for ex in chapter_exercises(chapter):
        result = run_check(ex.check_id, namespace[ex.name], seed=SEEDS[0], live=True)
        assert not result.passed and result.points == 0, (ex.check_id, result.messages)
        assert "not implemented yet" in " ".join(result.messages), result.messages


def test_a_by_hand_gradient_may_use_no_grad_but_never_autograd():
    """ch01.mlp_backward: the chapter's own style (arithmetic under torch.no_grad()) passes; autograd does not."""
    import torch
    import torch.nn.functional as F

    def by_hand(x, y, W1, b1, W2, b2):
        with torch.no_grad():
            z = x @ W1.T + b1
            h = torch.relu(z)
            d_s = (torch.softmax(h @ W2.T + b2, dim=-1) - F.one_hot(y, W2.shape[0]).to(x.dtype)) / len(x)
            d_z = (d_s @ W2) * (z > 0).to(x.dtype)
            return d_z.T @ x, d_z.sum(0), d_s.T @ h, d_s.sum(0)

    def autograd_on_copies(x, y, W1, b1, W2, b2):
        params = [p.detach().clone().requires_grad_(True) for p in (W1, b1, W2, b2)]
        logits = torch.relu(x.detach() @ params[0].T + params[1]) @ params[2].T + params[3]
        return torch.autograd.grad(F.cross_entropy(logits, y), params)

    assert run_check("ch01.mlp_backward", by_hand, seed=5).passed
    result = run_check("ch01.mlp_backward", autograd_on_copies, seed=5)
    assert not result.passed and "called autograd" in " ".join(result.messages)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_recorded_cases_are_in_sync_with_the_references(chapter):
    """A learner's check replays llmcourse/checks/recorded/chNN/: recorded again here from the masters and the
    teacher's references, it must come out the same (`python -m llmcourse exercises build` rewrites it)."""
    from llmcourse.exercises import record_chapter

    assert record_chapter(chapter, check=True) == [], "run: python -m llmcourse exercises build"
