"""The grading engine itself, on a toy exercise: what passes, what fails, and that nothing crashes."""

import time

import pytest
import torch

from llmcourse.grading import core, run_check
from llmcourse.grading.core import CheckTimeout, deadline
from llmcourse.grading.expect import expect_close
from llmcourse.grading.report import check


@pytest.fixture
def double_exercise():
    """A toy exercise 'ch99.double': return 2 * x for a tensor x."""
    ex = core.exercise("ch99.double", "double", "return twice the input", points=2, timeout=1.0)

    @ex.case("doubles a vector")
    def _(student):
        x = torch.arange(4.0)
        expect_close(student(x.clone()), 2 * x, "the output", mistakes={"returned the input unchanged": x})

    @ex.case("doubles a matrix")
    def _(student):
        x = torch.ones(2, 3)
        expect_close(student(x.clone()), 2 * x, "the output")

    yield ex
    del core.REGISTRY["ch99.double"]


def test_correct_answer_gets_full_points(double_exercise):
    result = run_check("ch99.double", lambda x: x * 2)
    assert result.passed and result.points == 2 and result.max_points == 2
    assert all(c.passed for c in result.cases) and len(result.cases) == 2


def test_known_mistake_is_named(double_exercise):
    result = run_check("ch99.double", lambda x: x)
    assert not result.passed and result.points == 0
    assert "returned the input unchanged" in result.messages[0]
    assert "expected tensor of shape (4,)" in result.messages[0]


def test_stub_is_reported_as_not_implemented(double_exercise):
    def double(x):
        raise NotImplementedError("Exercise: multiply by two")

    result = run_check("ch99.double", double)
    assert not result.passed
    assert "not implemented yet" in result.messages[0]


@pytest.mark.parametrize(
    "answer, says",
    [
        (lambda x: x.sum(), "shape"),
        (lambda x: x * float("nan"), "NaN"),
        (lambda x: None, "forget to `return`"),
        (lambda x: [1, 2], "list"),
        (lambda x: 1 / 0, "ZeroDivisionError"),
    ],
    ids=["wrong-shape", "nan", "none", "wrong-type", "exception"],
)
def test_learner_errors_become_failures(double_exercise, answer, says):
    result = run_check("ch99.double", answer)
    assert not result.passed
    assert says in " ".join(result.messages)


def test_exception_message_points_at_the_learners_line(double_exercise):
    def double(x):
        y = x * 2
        return y.view(7, 7)

    result = run_check("ch99.double", double)
    assert "RuntimeError" in result.messages[0] and "y.view(7, 7)" in result.messages[0]


def test_endless_loop_times_out(double_exercise):
    def double(x):
        while True:
            pass

    start = time.monotonic()
    result = run_check("ch99.double", double)
    assert not result.passed and "did not finish within 1 s" in result.messages[0]
    assert "not run: an earlier case did not finish in time" in result.messages[1]
    assert len(result.cases) == 2 and time.monotonic() - start < 1.9  # waited once, not once per case


def test_trace_deadline_stops_python_loops_without_signals():
    def spin():
        while True:
            pass

    start = time.monotonic()
    with pytest.raises(CheckTimeout), deadline(0.2, use_signal=False):
        spin()
    assert time.monotonic() - start < 5


def test_not_a_function_and_unknown_exercise(double_exercise):
    assert "should be a function" in run_check("ch99.double", 3).messages[0]
    assert "is None" in run_check("ch99.double", None).messages[0]
    assert "no exercise called" in run_check("ch99.nope", lambda x: x).messages[0]


def test_check_prints_report_and_running_score_and_never_raises(double_exercise, capsys):
    check("ch99.double", lambda x: 1 / 0)
    out = capsys.readouterr().out
    assert "❌ ch99.double: NOT YET (0/2 points)" in out
    assert "Score so far for ch99: 0/2 points (0 of 1 exercises passed)" in out
    check("ch99.double", lambda x: 2 * x)
    out = capsys.readouterr().out
    assert "✅ ch99.double: PASSED (2/2 points)" in out and "2/2 points (1 of 1" in out


def test_registering_twice_is_an_error(double_exercise):
    with pytest.raises(ValueError, match="registered twice"):
        core.exercise("ch99.double", "double", "again")


def test_call_student_turns_known_errors_into_hints_and_lets_the_rest_through():
    from llmcourse.grading.core import CheckFailure, call_student

    def shapes(x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)")

    with pytest.raises(CheckFailure, match="RuntimeError: mat1 .* — transpose the weight"):
        call_student(shapes, 1, hints={"cannot be multiplied": "transpose the weight"})
    with pytest.raises(CheckFailure, match="— check the shapes"):
        call_student(shapes, 1, otherwise="check the shapes")
    with pytest.raises(RuntimeError):  # no hint matches: run_check reports it with the learner's line
        call_student(shapes, 1, hints={"something else": "?"})
    with pytest.raises(RuntimeError):  # not a type this exercise turns into hints
        call_student(shapes, 1, otherwise="check the shapes", catch=(TypeError,))

    def stub(x):
        raise NotImplementedError("Exercise: ...")

    with pytest.raises(NotImplementedError):  # the stub is reported as "not implemented yet", never as a hint
        call_student(stub, 1, otherwise="check the shapes")
    assert call_student(lambda x: 2 * x, 21) == 42
