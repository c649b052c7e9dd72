"""The grading engine itself, on toy exercises: each property it enforces, and that nothing gets out.

Toy exercises are registered as ch99.* and removed afterwards. Every wrong answer below is one a learner
could write; each must fail with words that say what is wrong, and the right answer must pass.
"""

import os
import re
import signal
import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.grading import core, run_check, wire
from llmcourse.grading.core import Step, named_mistakes
from llmcourse.grading.expect import difference, expect_true
from llmcourse.grading.report import check


@pytest.fixture
def toys():
    made = []

    def make(check_id, *args, **kwargs):
        ex = core.exercise(check_id, check_id.split(".")[1], "toy", *args, **kwargs)
        made.append(check_id)
        return ex

    yield make
    for check_id in made:
        del core.REGISTRY[check_id]


@pytest.fixture
def linear(toys):
    """ch99.lin: what nn.Linear computes, gradients checked, a known mistake, three sizes."""
    ex = toys("ch99.lin", args=("x", "weight", "bias"), grad=True, timeout=3)

    def mistakes(x, w, b):
        return {"forgot to add the bias": x @ w.T}

    @ex.case("a batch of 4 examples, 3 features in, 2 out")
    def _(t):
        t.check_call(t.randn(4, 3), t.randn(2, 3), t.randn(2), reference=F.linear, mistakes=mistakes)

    @ex.case("a batch of 1")
    def _(t):
        t.check_call(t.randn(1, 5), t.randn(3, 5), t.randn(3), reference=F.linear, mistakes=mistakes)

    @ex.case("extra leading dimensions")
    def _(t):
        t.check_call(t.randn(2, 4, 3), t.randn(6, 3), t.randn(6), reference=F.linear, mistakes=mistakes)

    return ex


def right(x, weight, bias):
    return x @ weight.T + bias


def messages(result):
    return " ".join(result.messages)


def test_the_right_answer_passes_with_full_points_and_new_inputs_each_run(linear):
    first, second = run_check("ch99.lin", right), run_check("ch99.lin", right)
    assert first.passed and first.points == first.max_points == 1 and len(first.cases) == 3
    assert first.seed != second.seed  # a new seed, so new inputs, every run


def _mutates(x, weight, bias):
    with torch.no_grad():
        x.add_(1.0)
    return (x - 1) @ weight.T + bias


def _float64(x, weight, bias):
    return x.double() @ weight.double().T + bias.double()


def _numpy(x, weight, bias):
    return torch.from_numpy(x.detach().numpy() @ weight.detach().numpy().T + bias.detach().numpy())


def _data(x, weight, bias):
    return x.data @ weight.data.T + bias.data


def _no_grad(x, weight, bias):
    with torch.no_grad():
        return x @ weight.T + bias


def _detached_weight(x, weight, bias):
    return x @ weight.detach().T + bias


def _batch_over_one(x, weight, bias):
    return (x.squeeze() @ weight.T + bias)


def _square_only(x, weight, bias):
    return x @ weight + bias if weight.shape[0] == weight.shape[1] else x @ weight.T + bias


def _two_dims_only(x, weight, bias):
    return torch.mm(x, weight.T) + bias


def _global_rng(x, weight, bias):
    torch.manual_seed(0)
    return x @ weight.T + bias


@pytest.mark.parametrize("answer, says", [
    (_mutates, "changed its input `x` in place"),
    (_float64, "is a float64 tensor, but should be float32"),
    (_numpy, "cut off from autograd"),
    (_data, "cut off from autograd"),
    (_no_grad, "cut off from autograd"),
    (_detached_weight, "no gradient reaches `weight`"),
    (_batch_over_one, "has shape"),
    (_two_dims_only, "must be a matrix"),
    (_global_rng, "global random generator"),
    (lambda x, weight, bias: (x @ weight.T + bias).tolist(), "should be a tensor"),
    (lambda x, weight, bias: None, "forget to `return`"),
    (lambda x, weight, bias: np.zeros(3), "numpy.ndarray"),
], ids=["mutates", "float64", "numpy", "data", "no_grad", "detach", "batch>1 only", "2-D only", "global rng",
        "list", "None", "numpy array"])
def test_default_properties_catch_the_usual_wrong_answers(linear, answer, says):
    result = run_check("ch99.lin", answer)
    assert not result.passed and result.points == 0
    assert says in messages(result), messages(result)


def test_square_only_answers_fail_on_non_square_cases(toys):
    ex = toys("ch99.mat", args=("x", "weight"))

    @ex.case("square")
    def _(t):
        t.check_call(t.randn(3, 3), t.randn(3, 3), reference=lambda x, w: x @ w.T)

    @ex.case("non-square")
    def _(t):
        t.check_call(t.randn(4, 3), t.randn(5, 3), reference=lambda x, w: x @ w.T)

    result = run_check("ch99.mat", lambda x, weight: x @ weight if x.shape[0] == x.shape[1] else x @ weight.T)
    assert not result.passed and "square: the result is wrong" in messages(result)


def test_messages_say_where_and_how_much_but_never_the_expected_values(linear):
    result = run_check("ch99.lin", lambda x, weight, bias: x @ weight.T + bias + 0.5)
    text = messages(result)
    assert "wrong at" in text and "the first at index" in text and "largest error" in text
    assert "expected" not in text.lower()
    numbers = {float(n) for n in re.findall(r"-?\d+\.\d+", text)}
    assert numbers <= {0.5}  # the only number shown is the size of the error


def test_a_mistake_is_named_only_when_the_answer_equals_it_wherever_it_differs(linear):
    assert "you forgot to add the bias" in messages(run_check("ch99.lin", lambda x, weight, bias: x @ weight.T))
    # Right on two cases, the mistake on one: not "the" mistake, so it is not named.
    def sometimes(x, weight, bias):
        return x @ weight.T if x.dim() == 3 else x @ weight.T + bias

    assert "known mistake" not in messages(run_check("ch99.lin", sometimes))
    # Close to the mistake is not the mistake.
    assert "known mistake" not in messages(run_check("ch99.lin", lambda x, weight, bias: x @ weight.T + 1e-2))
    assert named_mistakes([("m", True, True), ("m", False, False), ("n", True, False), ("o", False, False)]) == ["m"]


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __hash__(self):
        return 0


class LyingFloat(float):
    def __eq__(self, other):
        return True


class LyingTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.ones(1)


def test_a_forbidden_library_call_fails_by_any_name_and_only_with_the_values_it_names(toys):
    """ch99.causal: causal attention where the mask is the exercise, so SDPA's is_causal=True is ruled out.

    The right answer by hand passes, and so does SDPA given the mask the learner built (the rule names
    is_causal=True, not SDPA); SDPA with is_causal=True fails with the rule's words however it is reached."""
    rule = core.Forbidden("torch.nn.functional.scaled_dot_product_attention", when={"is_causal": True},
                          why="is_causal=True builds the causal mask for you; build it yourself.")
    ex = toys("ch99.causal", args=("q", "k", "v"), grad=True, forbidden=[rule])

    def reference(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    @ex.case("(B, H, T, d) with T = 5")
    def _(t):
        t.check_call(t.randn(2, 3, 5, 4), t.randn(2, 3, 5, 4), t.randn(2, 3, 5, 4), reference=reference)

    def by_hand(q, k, v):
        t = q.size(-2)
        scores = (q @ k.transpose(-2, -1) / q.size(-1) ** 0.5).masked_fill(~torch.ones(t, t).tril().bool(), -torch.inf)
        return torch.softmax(scores, dim=-1) @ v

    def own_mask(q, k, v):
        t = q.size(-2)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(t, t, dtype=torch.bool).tril())

    from torch.nn.functional import scaled_dot_product_attention as sdpa

    flagged = {
        "F.": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "an imported alias": lambda q, k, v: sdpa(q, k, v, is_causal=True),
        "torch._C._nn": lambda q, k, v: torch._C._nn.scaled_dot_product_attention(q, k, v, is_causal=True),
        "torch.ops.aten": lambda q, k, v: torch.ops.aten.scaled_dot_product_attention(q, k, v, is_causal=True),
        "inside a helper": lambda q, k, v: [reference(q, k, v)][0],
    }
    assert run_check("ch99.causal", by_hand).passed
    assert run_check("ch99.causal", own_mask).passed
    for how, answer in flagged.items():
        result = run_check("ch99.causal", answer)
        assert not result.passed and result.points == 0, how
        assert "called `torch.nn.functional.scaled_dot_product_attention(..., is_causal=True)`" in messages(result), how
        assert "build it yourself" in messages(result), how
    hidden = run_check("ch99.causal", by_hand, hidden=[core.Case("hidden", ex.cases[0].fn)])
    assert hidden.passed
    with_hidden = run_check("ch99.causal", flagged["F."], hidden=[core.Case("hidden", ex.cases[0].fn)])
    assert "rules out on a hidden case" in messages(with_hidden)
    with pytest.raises(ValueError, match="forbidden"):
        core.exercise("ch99.bad", "bad", "toy", forbidden=["torch.softmax"])


FAKE_LIBRARY = {  # a stand-in for a library with a ready-made answer (transformers' logits processors, say)
    "__init__.py": "from .warpers import RowSoftmax, row_softmax\n",
    "warpers.py": ("import torch\n\n\ndef row_softmax(x):\n    return torch.softmax(x, dim=-1)\n\n\n"
                   "class RowSoftmax:\n    def __call__(self, x):\n        return row_softmax(x)\n"),
    "extra.py": "import torch\n\nrow_softmax = torch.softmax\n",
}


@pytest.mark.parametrize("in_process", [False, True])
def test_a_library_ruled_out_whole_is_refused_however_it_is_reached(toys, tmp_path, monkeypatch, in_process):
    """ch99.rows: a softmax per row, with a library that has it ready-made ruled out (Forbidden(module=...)).

    By hand passes; every way of running the library's code fails with the rule's words: a function or a class
    imported before the call (as a notebook cell would), an import inside the call (refused, so a large library is
    not loaded against the time limit), importlib, a submodule; a hidden case says only that it was ruled out.
    Afterwards the grader's own imports and profiler are as they were, in a forked child or in process."""
    import builtins
    import importlib
    import sys

    from llmcourse.grading import runner

    package = tmp_path / "fakelib_ch99"
    package.mkdir()
    for name, text in FAKE_LIBRARY.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(runner, "CAN_FORK", runner.CAN_FORK and not in_process)
    fakelib = importlib.import_module("fakelib_ch99")  # the learner imported it in an earlier cell
    rule = core.Forbidden(module="fakelib_ch99", why="it does the whole softmax; write exp and the sum yourself.")
    ex = toys("ch99.rows", args=("x",), forbidden=[rule])

    @ex.case("(B, V) = (3, 5)")
    def _(t):
        t.check_call(t.randn(3, 5), reference=lambda x: torch.softmax(x, dim=-1))

    def by_hand(x):
        e = (x - x.max(-1, keepdim=True).values).exp()
        return e / e.sum(-1, keepdim=True)

    def imports_inside(x):
        import fakelib_ch99

        return fakelib_ch99.row_softmax(x)

    def imports_a_new_submodule(x):
        from fakelib_ch99.extra import row_softmax

        return row_softmax(x, dim=-1)

    flagged = {
        "a function imported before": (lambda x: fakelib.row_softmax(x), "fakelib_ch99.warpers.row_softmax"),
        "a class imported before": (lambda x: fakelib.RowSoftmax()(x), "RowSoftmax.__call__"),
        "an import inside the call": (imports_inside, "imported `fakelib_ch99`"),
        "importlib": (lambda x: importlib.import_module("fakelib_ch99").row_softmax(x), "imported"),
        "a submodule not yet imported": (imports_a_new_submodule, "imported `fakelib_ch99.extra`"),
    }
    hooks = (builtins.__import__, importlib.import_module, sys.getprofile())
    assert run_check("ch99.rows", by_hand).passed
    for how, (answer, where) in flagged.items():
        result = run_check("ch99.rows", answer)
        assert not result.passed and result.points == 0, how
        assert "used the `fakelib_ch99` library" in messages(result), (how, messages(result))
        assert where in messages(result) and "write exp and the sum yourself" in messages(result), how
        assert (builtins.__import__, importlib.import_module, sys.getprofile()) == hooks, how
    assert "fakelib_ch99.extra" not in sys.modules  # refused, so never loaded
    inside = flagged["an import inside the call"][0]
    hidden = run_check("ch99.rows", inside, hidden=[core.Case("hidden", ex.cases[0].fn)])
    assert "rules out on a hidden case" in messages(hidden)
    for bad in (core.Forbidden(why="no rule"), core.Forbidden("torch.softmax", why="both", module="fakelib_ch99"),
                core.Forbidden(module="fakelib_ch99", why="narrowed", when={"dim": -1}),
                core.Forbidden(module="not a module", why="spaces"), core.Forbidden(module="fakelib_ch99")):
        with pytest.raises(ValueError, match="forbidden"):
            core.exercise("ch99.bad", "bad", "toy", forbidden=[bad])


def test_a_shared_buffer_is_one_object_through_the_calls_of_a_run(toys):
    """ch99.tally: state kept in a buffer the learner writes in place (a KV cache, say), over consecutive calls.

    wire.SharedSpec hands every step of one run the same tensor as the earlier steps left it; its state after each
    call comes back like any input's. An answer that writes into a copy leaves the buffer as it was."""
    ex = toys("ch99.tally", args=("x", "total"), mutates=("total",))

    @ex.case("three calls sharing one buffer")
    def _(t):
        start = t.randn(4)
        xs = [t.randn(4) for _ in range(3)]
        outcomes = t.run([core.Step((x, wire.SharedSpec(start, "total"))) for x in xs])
        running = start.clone()
        for x, outcome in zip(xs, outcomes, strict=True):
            running += x
            t.expect(wire.strip_meta(outcome.args_after[1]), running, "the buffer after the call")
            t.expect(outcome.value, running.sum(), "the returned sum")

    def in_place(x, total):
        total += x
        return total.sum()

    def into_a_copy(x, total):
        total = total + x
        return total.sum()

    assert run_check("ch99.tally", in_place).passed
    result = run_check("ch99.tally", into_a_copy)
    assert not result.passed and "the buffer after the call is wrong" in messages(result)
    assert run_check("ch99.tally", in_place).passed  # each run starts again from the case's value


def test_objects_that_lie_about_equality_cannot_pass(toys):
    ex = toys("ch99.half", args=("x",))

    @ex.case("halves a float")
    def _(t):
        value = t.py.uniform(1, 9)
        t.expect(t.call(value).value, value / 2, "the result")

    @ex.case("halves a list of floats")
    def _(t):
        values = [t.py.uniform(1, 9) for _ in range(3)]
        t.expect(t.call(values).value, [v / 2 for v in values], "the result")

    for liar in (lambda x: AlwaysEqual(), lambda x: LyingFloat(0.0) if isinstance(x, float) else [LyingFloat(0.0)] * 3,
                 lambda x: torch.zeros(1).as_subclass(LyingTensor)):
        result = run_check("ch99.half", liar)
        assert not result.passed and result.points == 0, result.messages


def test_exact_types_python_float_versus_0d_tensor_and_int64_ids(toys):
    loss = toys("ch99.loss", args=("x",))

    @loss.case("the mean as a 0-d tensor")
    def _(t):
        t.check_call(t.randn(5), reference=lambda x: x.mean())

    assert "Keep the result as a 0-d tensor" in messages(run_check("ch99.loss", lambda x: x.mean().item()))
    ids = toys("ch99.ids", args=("x",))

    @ids.case("argmax ids")
    def _(t):
        t.check_call(t.randn(4, 6), reference=lambda x: x.argmax(-1))

    assert "int32 tensor, but should be int64" in messages(run_check("ch99.ids", lambda x: x.argmax(-1).int()))


def test_an_argument_the_answer_ignores_is_caught_because_cases_vary_it(toys):
    ex = toys("ch99.step", args=("x", "lr"))
    for lr in (0.1, 0.03):
        @ex.case(f"lr {lr}")
        def _(t, lr=lr):
            t.check_call(t.randn(3), lr, reference=lambda x, lr: x * (1 - lr))

    result = run_check("ch99.step", lambda x, lr: x * 0.9)
    assert not result.passed and "lr 0.03 (non-contiguous inputs; after another case's call in the same process): " \
        "the result is wrong" in messages(result)


def test_generator_use_is_checked_different_seeds_successive_calls_and_the_global_rng(toys):
    ex = toys("ch99.noise", args=("n", "generator"), random=True)

    @ex.generator_probe
    def _(t, seed):
        return (6, wire.GeneratorSpec(seed))

    @ex.case("n numbers")
    def _(t):
        got = t.call(4, wire.GeneratorSpec(t.seed_for("g"))).value
        t.expect(got.shape, torch.Size([4]), "the shape")

    def good(n, generator):
        return torch.randn(n, generator=generator)

    def ignores(n, generator):
        return torch.randn(n)

    def own(n, generator):
        return torch.randn(n, generator=torch.Generator().manual_seed(0))

    def reseeds(n, generator):
        generator.manual_seed(generator.initial_seed())
        return torch.randn(n, generator=generator)

    assert run_check("ch99.noise", good).passed
    assert "global random generator" in messages(run_check("ch99.noise", ignores))
    assert "different seeds gave the same result" in messages(run_check("ch99.noise", own))
    assert "successive calls with the same generator" in messages(run_check("ch99.noise", reseeds))


def test_inputs_change_per_run_so_easy_answers_for_fixed_inputs_fail(linear):
    seen = {}

    def memorise(x, weight, bias):  # a lookup table of earlier runs' answers
        key = tuple(x.flatten().tolist()[:3])
        return seen.setdefault(key, x @ weight.T + bias) if key in seen else torch.zeros(*x.shape[:-1],
                                                                                       weight.shape[0])

    assert not run_check("ch99.lin", memorise).passed


@pytest.mark.parametrize("body, says", [
    ("raise SystemExit(1)", "raised SystemExit"),
    ("raise KeyboardInterrupt", "raised KeyboardInterrupt"),
    ("raise GeneratorExit", "raised GeneratorExit"),
    ("os._exit(0)", "ended its whole process"),
    ("os.kill(os.getpid(), signal.SIGKILL)", "ended its whole process"),
    ("re.match(r'(a*)*b', 'a' * 40)", "did not finish within"),  # a loop inside C code
    ("signal.setitimer(signal.ITIMER_REAL, 0); signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
     "    while True: pass", "did not finish within"),
    ("while True:\n        try:\n            time.sleep(10)\n        except:\n            pass",
     "did not finish within"),
], ids=["SystemExit", "KeyboardInterrupt", "GeneratorExit", "os._exit", "SIGKILL", "C loop", "timer tampering",
        "bare except"])
def test_nothing_the_learners_code_does_escapes_or_hangs_the_check(linear, body, says):
    namespace = {"os": os, "signal": signal, "re": re, "time": time}
    exec(f"def answer(x, weight, bias):\n    {body}\n", namespace)  # noqa: S102
    threads = threading.active_count()
    started = time.monotonic()
    result = run_check("ch99.lin", namespace["answer"])
    assert not result.passed and says in messages(result), messages(result)
    assert time.monotonic() - started < 3 + 5  # one limit (3 s) at most, not one per case
    assert threading.active_count() == threads and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None,
                                                                                       signal.default_int_handler)


def test_stray_threads_and_changed_globals_stay_in_the_child(linear):
    marker = {"changed": False}

    def answer(x, weight, bias):
        threading.Thread(target=time.sleep, args=(100,), daemon=False).start()
        marker["changed"] = True
        core.REGISTRY.clear()
        return x @ weight.T + bias

    threads = threading.active_count()
    assert run_check("ch99.lin", answer).passed
    assert threading.active_count() == threads and marker == {"changed": False} and "ch99.lin" in core.REGISTRY


def test_the_time_limit_covers_the_call_not_imports_or_the_reference(toys):
    ex = toys("ch99.slowref", args=("x",), timeout=0.5)

    def slow_reference(x):
        time.sleep(1.0)  # the grader's own work does not count against the learner
        return x * 2

    @ex.case("doubles")
    def _(t):
        t.check_call(t.randn(3), reference=slow_reference)

    assert run_check("ch99.slowref", lambda x: x * 2).passed


def test_stub_wrong_kind_and_unknown_exercise(linear):
    def stub(x, weight, bias):
        raise NotImplementedError("Exercise: multiply")

    assert "not implemented yet" in messages(run_check("ch99.lin", stub))
    assert "should be a function" in messages(run_check("ch99.lin", 3))
    assert "is None" in messages(run_check("ch99.lin", None))
    assert "no exercise called" in messages(run_check("ch99.nope", right))


def test_class_exercises_build_the_object_in_the_child_and_describe_it_as_data(toys):
    ex = toys("ch99.Model", kind="class")

    @ex.case("one Linear(4, 2) then a ReLU")
    def _(t):
        info, out = t.run([Step(keep="m"), Step((t.randn(1, 4),), on="m")])
        model = info.raw
        expect_true(isinstance(model, wire.ModuleInfo), f"the model should be an nn.Module, got {model!r}")
        w, b = model.parameters["layer.weight"], model.parameters["layer.bias"]
        x = t.randn(16, 4)  # enough rows that some outputs are negative before the ReLU
        t.expect(t.run([Step(keep="m"), Step((x,), on="m")])[1].value, torch.relu(x @ w.T + b), "the output")

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 2)

        def forward(self, x):
            return torch.relu(self.layer(x))

    class NoRelu(Model):
        def forward(self, x):
            return self.layer(x)

    assert run_check("ch99.Model", Model).passed
    assert "the output is wrong" in messages(run_check("ch99.Model", NoRelu))


def test_points_are_bounded_by_the_maximum(linear):
    result = run_check("ch99.lin", right)
    assert result.points <= result.max_points
    assert core.grade(linear, core.student_executor(right)).points == 1


def test_check_prints_report_and_running_score_and_never_raises(linear, capsys):
    check("ch99.lin", lambda x, weight, bias: 1 / 0)
    out = capsys.readouterr().out
    assert "❌ ch99.lin: NOT YET (0/1 points)" in out and "ZeroDivisionError" in out
    assert "Score so far for ch99: 0/1 points (0 of 1 exercises passed)" in out
    check("ch99.lin", right)
    out = capsys.readouterr().out
    assert "✅ ch99.lin: PASSED (1/1 points) — 3 public cases" in out and "1/1 points (1 of 1" in out


def test_registering_twice_and_unknown_mutable_arguments_are_errors(linear):
    with pytest.raises(ValueError, match="registered twice"):
        core.exercise("ch99.lin", "lin", "again")
    with pytest.raises(ValueError, match="mutates names arguments"):
        core.exercise("ch99.other", "other", "x", args=("a",), mutates=("b",))


def test_difference_words_for_each_kind_of_value():
    assert "should be a Python float" in difference(torch.tensor(1.0), 1.0, "the loss")
    assert "has 3 items: too many" in difference([1, 2, 3], [1, 2], "the ids")
    assert "from position 2 on" in difference("abXd", "abcd", "the text")
    assert "missing keys" in difference({(1, 2): 3}, {(1, 2): 3, (2, 3): 1}, "the counts")
    assert "should be a Python int" in difference(True, 1, "the count")
    assert difference([1.0, torch.ones(2)], (1.0, torch.ones(2)), "x") is None


@pytest.mark.parametrize("use_signal", [True, False], ids=["signal", "trace"])
def test_the_in_process_fallback_deadline_stops_python_loops(use_signal):
    """Where the OS cannot fork, the calls run in-process under this deadline (a timer signal or a trace)."""
    from llmcourse.grading.runner import CheckTimeout, deadline

    def spin():
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(CheckTimeout), deadline(0.2, use_signal=use_signal):
        spin()
    assert time.monotonic() - started < 5


def test_the_in_process_fallback_grades_and_times_out(linear):
    """Without fork the same request runs in this process: a right answer passes, a loop is cut off."""
    from llmcourse.grading import runner

    request = {"steps": [{"args": [torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4)]}]}
    done = runner._run_in_process(right, request, 3.0)
    assert done["status"] == "done" and done["in_process"] and done["steps"][0]["ok"]

    def loop(x, weight, bias):
        while True:
            pass

    assert runner._run_in_process(loop, request, 0.3)["status"] == "timeout"


def test_no_exercise_can_be_answered_by_the_graders_own_code():
    """Where the teacher's references are loaded (the batch grade's process, the course's tests), a learner's code
    run there could reach them: every exercise rules them out, by the engine, so a stub that hands the work to one
    fails with the rule's words while the same answer written out passes (live and replayed)."""
    from llmcourse.grading.references import MODULE_PREFIX, REFERENCES, load_references

    load_references()
    assert {rule.module for rule in core.GRADER_RULES} >= {MODULE_PREFIX, "llmcourse.checks"}
    for ex in core.REGISTRY.values():
        assert {rule.key for rule in core.GRADER_RULES} <= {rule.key for rule in ex.rules}, ex.check_id
    teachers = REFERENCES["ch03.glove_loss"]
    assert teachers.__module__.startswith(MODULE_PREFIX)

    def copied(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
        return teachers(W, C, b_w, b_c, rows, cols, counts, x_max, alpha)

    def written_out(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
        x = counts.to(W.dtype)
        weight = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
        error = (W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - x.log()
        return (weight * error**2).sum()

    for live in (False, True):
        assert run_check("ch03.glove_loss", written_out, seed=5, live=live).passed
        result = run_check("ch03.glove_loss", copied, seed=5, live=live)
        words = " ".join(result.messages + [case.message for case in result.cases])
        assert not result.passed and "teacher's reference" in words, words


def test_a_by_hand_gradient_may_not_come_from_autograd_by_any_name():
    """no_autograd counts backward passes at autograd's engine, so the names a notebook bound in an earlier cell
    (``from torch.autograd import grad``, ``Tensor.backward`` kept aside, ``torch.func.grad``) are caught too."""
    from torch.autograd import grad as bound_grad

    bound_backward = torch.Tensor.backward
    bound_func_grad = torch.func.grad

    def glove(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
        x = counts.to(W.dtype)
        weight = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
        return (weight * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - x.log()) ** 2).sum()

    def leaves(*tensors):
        return [t.detach().clone().requires_grad_() for t in tensors]

    def by_bound_grad(W, C, b_w, b_c, *rest):
        params = leaves(W, C, b_w, b_c)
        return tuple(g.detach() for g in bound_grad(glove(*params, *rest), params))

    def by_bound_backward(W, C, b_w, b_c, *rest):
        params = leaves(W, C, b_w, b_c)
        bound_backward(glove(*params, *rest))
        return tuple(p.grad for p in params)

    def by_func_grad(W, C, b_w, b_c, *rest):
        grads = bound_func_grad(lambda *p: glove(*p, *rest), argnums=(0, 1, 2, 3))(W, C, b_w, b_c)
        return tuple(g.detach() for g in grads)

    for answer in (by_bound_grad, by_bound_backward, by_func_grad):
        result = run_check("ch03.glove_grads", answer, seed=3)
        words = " ".join(result.messages + [case.message for case in result.cases])
        assert not result.passed and "called autograd" in words, (answer.__name__, words)


def test_the_last_case_sends_non_contiguous_inputs_so_a_view_that_needs_contiguous_memory_fails(toys):
    """The engine passes the last public case's tensors (and the last hidden case's) as non-contiguous views with
    the same values: `.view` fails there with a hint in words, `.reshape` passes, an input that already is a view
    is left as the case made it, and an exercise that cannot take views says why in ``exempt``."""
    for check_id, exempt in (("ch99.flat", None), ("ch99.flat_exempt", {"non-contiguous": "a toy that needs it"})):
        ex = toys(check_id, args=("x",), exempt=exempt)
        for rows in (2, 3):
            @ex.case(f"({rows}, 4)")
            def _(t, rows=rows):
                t.check_call(t.randn(rows, 4), reference=lambda x: x.flatten() * 2)

    result = run_check("ch99.flat", lambda x: x.view(-1) * 2)
    words = messages(result)
    assert not result.passed and result.cases[0].passed, words
    assert "(3, 4) (non-contiguous inputs" in words and "non-contiguous view" in words, words
    assert run_check("ch99.flat", lambda x: x.reshape(-1) * 2).passed
    assert run_check("ch99.flat_exempt", lambda x: x.view(-1) * 2).passed
    from llmcourse.grading.core import _strided

    x = torch.randn(3, 4)
    assert not _strided(x).is_contiguous() and torch.equal(_strided(x), x)
    assert _strided(x.T) is not None and _strided(x.T).stride() == x.T.stride()  # already a view: left alone
    assert not _strided(torch.arange(5)).is_contiguous() and torch.equal(_strided(torch.arange(5)), torch.arange(5))


def test_the_last_case_runs_after_another_cases_call_so_state_kept_between_calls_is_caught(toys):
    """A notebook calls a function again and again in one process: the engine runs the last case's calls after a
    call another case passed, in the same process, so a cache kept from one call to the next (a default argument,
    a global) fails there, while an answer that keeps nothing passes; ``exempt`` opts out with a reason."""
    for check_id, exempt in (("ch99.double", None), ("ch99.double_exempt", {"state across calls": "a toy"})):
        ex = toys(check_id, args=("x",), exempt=exempt)
        for size in (3, 5):
            @ex.case(f"size {size}")
            def _(t, size=size):
                t.check_call(t.randn(size), reference=lambda x: 2 * x)

    def cached(x, _memo={}):  # noqa: B006 — the mistake under test: state kept between calls
        if "answer" not in _memo:
            _memo["answer"] = 2 * x
        return _memo["answer"].clone()

    result = run_check("ch99.double", cached)
    words = messages(result)
    assert not result.passed and result.cases[0].passed and "after another case's call" in words, words
    assert run_check("ch99.double", lambda x: 2 * x).passed
    assert run_check("ch99.double_exempt", cached).passed


def test_forward_mode_autograd_is_refused_where_gradients_are_by_hand():
    """Dual numbers (torch.autograd.forward_ad, torch.func.jvp) run no backward pass, so the autograd counter cannot
    see them; a by-hand exercise rules out the operator every dual tensor is made by."""
    import torch.autograd.forward_ad as fwAD

    def glove(W, C, b_w, b_c, rows, cols, counts, x_max, alpha):
        x = counts.to(W.dtype)
        weight = torch.where(x < x_max, (x / x_max) ** alpha, torch.ones_like(x))
        return (weight * ((W[rows] * C[cols]).sum(-1) + b_w[rows] + b_c[cols] - x.log()) ** 2).sum()

    def by_dual_numbers(W, C, b_w, b_c, *rest):
        tables = [W, C, b_w, b_c]
        grads = []
        for k, table in enumerate(tables):
            flat = torch.zeros(table.numel(), dtype=table.dtype)
            for j in range(table.numel()):
                tangent = torch.zeros(table.numel(), dtype=table.dtype)
                tangent[j] = 1
                with fwAD.dual_level():
                    dual = fwAD.make_dual(table.detach().contiguous(), tangent.view(table.shape))
                    args = [dual if i == k else t.detach() for i, t in enumerate(tables)]
                    flat[j] = fwAD.unpack_dual(glove(*args, *rest)).tangent
            grads.append(flat.view(table.shape))
        return tuple(grads)

    result = run_check("ch03.glove_grads", by_dual_numbers, seed=3)
    words = " ".join(result.messages + [case.message for case in result.cases])
    assert not result.passed and "forward-mode autograd" in words, words


def test_a_count_by_formula_refuses_a_model_built_on_the_meta_device(toys):
    """Forbidden(device="meta"): a model built there and counted is a measurement, whatever built it (device=,
    a `with torch.device(...)` block); the same count by arithmetic passes; a bad declaration is refused."""
    rule = core.Forbidden(device="meta", why="count it by formula.")
    ex = toys("ch99.count", args=("d_in", "d_out"), forbidden=[rule])
    for d_in, d_out in ((3, 5), (7, 2)):
        @ex.case(f"{d_in} -> {d_out}")
        def _(t, d_in=d_in, d_out=d_out):
            t.check_call(d_in, d_out, reference=lambda a, b: a * b + b)

    def on_meta_block(d_in, d_out):
        with torch.device("meta"):
            return sum(p.numel() for p in nn.Linear(d_in, d_out).parameters())

    def on_meta_argument(d_in, d_out):
        return sum(p.numel() for p in nn.Linear(d_in, d_out, device="meta").parameters())

    for answer in (on_meta_block, on_meta_argument):
        words = messages(run_check("ch99.count", answer))
        assert "tensors on the `meta` device" in words and "count it by formula" in words, words
    assert run_check("ch99.count", lambda d_in, d_out: d_in * d_out + d_out).passed
    with pytest.raises(ValueError, match="not exactly one of"):
        toys("ch99.bad", args=("x",), forbidden=[core.Forbidden(device="meta", module="torch", why="both")])


# --- recorded cases: a learner's check replays plain data, never the teacher's code ------------------------------


@pytest.fixture
def recorded_toy(toys):
    """ch99.scale: x * 2 + offset, its expected answers from a teacher-side reference named by key."""
    from llmcourse.grading import references

    ex = toys("ch99.scale", args=("x", "offset"), grad=True, timeout=3)

    @references.reference("ch99.scale")
    def teacher(x, offset):
        return x * 2 + offset

    @references.reference("ch99.scale/mistakes")
    def mistakes(x, offset):
        return {"forgot the offset": x * 2}

    @ex.case("a (3, 4) input")
    def _(t):
        t.check_call(t.randn(3, 4), t.py.uniform(1, 2), reference="ch99.scale", mistakes="ch99.scale/mistakes")

    @ex.case("a float64 row, compared by hand")
    def _(t):
        x, offset = t.randn(1, 5, dtype=torch.float64), 0.5
        got = t.call(x, offset, grad=False).value
        t.expect(got, t.reference("ch99.scale", x, offset), "the result",
                 mistakes=t.reference("ch99.scale/mistakes", x, offset))

    yield ex
    references.REFERENCES.pop("ch99.scale")
    references.REFERENCES.pop("ch99.scale/mistakes")


def test_a_recorded_case_replays_from_plain_data_without_the_reference(recorded_toy, tmp_path):
    """Recorded with the right answer, saved and read back with weights_only=True, the cases replay with the
    teacher's reference gone: the right answer passes, a wrong one fails with its named mistake, on every seed."""
    from llmcourse.grading import recorded, references

    right = lambda x, offset: x * 2 + offset  # noqa: E731
    tape = core.record_exercise(recorded_toy, core.student_executor(right), per_case=3)
    recorded.save_chapter("ch99", {"ch99.scale": {"cases": tape}}, tmp_path)
    replay = recorded.load_chapter("ch99", tmp_path)["ch99.scale"]["cases"]
    assert recorded.same_tape(replay, tape) == ""
    saved = {key: references.REFERENCES.pop(key) for key in ("ch99.scale", "ch99.scale/mistakes")}
    try:
        with pytest.raises(references.ReferencesMissing, match="not loaded"):
            core.grade(recorded_toy, core.student_executor(right), seed=1)  # live needs the teacher's side
        for seed in range(6):
            result = core.grade(recorded_toy, core.student_executor(right), seed=seed, replay=replay)
            assert result.passed, result.messages
            wrong = core.grade(recorded_toy, core.student_executor(lambda x, offset: x * 2), seed=seed, replay=replay)
            assert not wrong.passed and "forgot the offset" in " ".join(wrong.messages)
    finally:
        references.REFERENCES.update(saved)


def test_a_replay_refuses_a_tape_made_from_other_inputs(recorded_toy):
    """Each recorded answer carries a fingerprint of its inputs: a case that now draws differently (a changed case,
    another random stream) is reported as the grader's problem, never judged against the wrong answer."""
    right = lambda x, offset: x * 2 + offset  # noqa: E731
    tape = core.record_exercise(recorded_toy, core.student_executor(right), per_case=1)
    entry = tape[0]["trials"][0]["tape"][0]
    shape, dtype, total, size, placed = entry["inputs"][1][0][1][0][1:]  # the first argument's fingerprint
    entry["inputs"][1][0][1][0] = ("tensor", shape, dtype, total + 1.0, size, placed)
    result = core.grade(recorded_toy, core.student_executor(right), seed=0, replay=tape)
    assert not result.passed
    assert "could not replay" in result.cases[0].message and "differ from the ones" in result.cases[0].message
    assert result.cases[1].passed
    from llmcourse.grading import recorded

    x = torch.arange(1.0, 7.0)
    assert not recorded.same_fingerprint(recorded.fingerprint(x), recorded.fingerprint(x.flip(0)))  # order counts
    renamed = [dict(tape[0], name="another case"), tape[1]]
    with pytest.raises(Exception, match="not this exercise's cases"):
        core.grade(recorded_toy, core.student_executor(right), seed=0, replay=renamed)


def test_a_recording_is_made_only_from_a_passing_master(recorded_toy):
    with pytest.raises(RuntimeError, match="the master solution fails it"):
        core.record_exercise(recorded_toy, core.student_executor(lambda x, offset: x * 2), per_case=1)


# --- the classes of mistake issue 20 names, each on a toy: one right answer, one wrong of that class -------------


def test_a_result_that_is_an_input_or_a_view_of_it_fails_unless_declared(toys):
    """State handed back must not alias what the caller gave: ``return x`` (or a view, ``x[:]``) where the task asks
    for a new tensor fails with words that say so; the same values copied pass; an in-place exercise may."""
    ex = toys("ch99.relu_state", args=("x",), timeout=3)

    @ex.case("a (3, 4) input")
    def _(t):
        t.check_call(t.randn(3, 4).abs(), reference=lambda x: x.clamp_min(0))  # already non-negative

    assert run_check("ch99.relu_state", lambda x: x.clamp_min(0), seed=1).passed
    assert run_check("ch99.relu_state", lambda x: x.clone(), seed=1).passed
    for aliased in (lambda x: x, lambda x: x[:], lambda x: x.view(x.shape)):
        result = run_check("ch99.relu_state", aliased, seed=1)
        assert not result.passed and "shares memory with its input `x`" in " ".join(result.messages)
    in_place = toys("ch99.relu_", args=("x",), mutates=("x",), timeout=3)
    in_place.cases = ex.cases
    assert run_check("ch99.relu_", lambda x: x.clamp_min_(0), seed=1).passed


def test_large_magnitudes_low_precision_and_an_empty_batch_tell_right_from_naive(toys):
    """A softmax with cases of the three kinds the coverage test asks every exercise for: logits in the hundreds
    (the max not subtracted overflows), bfloat16 logits (a float32 buffer made inside the answer changes the dtype)
    and an empty batch. The right answer passes all; each naive answer fails the case of its kind, in words."""
    ex = toys("ch99.softmax", args=("logits",), timeout=3)

    @ex.case("logits of order one")
    def _(t):
        t.check_call(t.randn(3, 5), reference=lambda s: torch.softmax(s, -1))

    @ex.case("logits in the hundreds, with a large gap within each row")
    def _(t):
        s = t.randn(2, 6, scale=300.0)
        t.check_call(s, reference=lambda s: torch.softmax(s, -1))

    @ex.case("bfloat16 logits")
    def _(t):
        t.check_call(t.randn(4, 7, dtype=torch.bfloat16), reference=lambda s: torch.softmax(s.float(), -1).to(s.dtype),
                     atol=1e-2, rtol=1e-2)

    @ex.case("an empty batch")
    def _(t):
        t.check_call(t.randn(0, 5), reference=lambda s: torch.softmax(s, -1))

    def right(s):
        e = (s - s.amax(-1, keepdim=True)).exp()
        return e / e.sum(-1, keepdim=True)

    def naive(s):
        return s.exp() / s.exp().sum(-1, keepdim=True)

    def float32_buffer(s):
        out = torch.zeros(s.shape)  # float32, whatever the input's dtype
        out[:] = right(s)
        return out

    def max_of_all(s):  # fails on an empty batch: max() of an empty tensor raises
        e = (s - s.max()).exp()
        return e / e.sum(-1, keepdim=True)

    assert run_check("ch99.softmax", right, seed=3).passed
    failing = {naive: "logits in the hundreds", float32_buffer: "bfloat16", max_of_all: "an empty batch"}
    for wrong, case in failing.items():
        result = run_check("ch99.softmax", wrong, seed=3)
        failed = [c.name for c in result.cases if not c.passed]
        assert not result.passed and any(case in name for name in failed), (wrong.__name__, failed)
    dtype_words = " ".join(run_check("ch99.softmax", float32_buffer, seed=3).messages)
    assert "bfloat16" in dtype_words and "float32" in dtype_words, dtype_words


def test_text_and_order_edges_tell_a_careful_answer_from_a_careless_one(toys):
    """Order and text edges, in every run (not by chance): a table handed over in no particular order, every kind of
    line ending, a held-back prefix split over three pieces. Each careless answer fails the case of its kind."""
    lines = toys("ch99.lines", args=("text",), timeout=3)

    @lines.case("every kind of line ending, in every run")
    def _(t):
        parts = [f"line {t.py.randint(0, 99)}" for _ in range(4)]
        text = parts[0] + "\r\n" + parts[1] + "\r" + parts[2] + "\n" + parts[3]
        t.check_call(text, reference=lambda s: s.splitlines())

    assert run_check("ch99.lines", lambda s: s.splitlines(), seed=1).passed
    assert not run_check("ch99.lines", lambda s: s.split("\n"), seed=1).passed

    order = toys("ch99.by_rank", args=("ranks",), timeout=3)

    @order.case("a table in no particular order")
    def _(t):
        tokens = [f"t{i}" for i in range(8)]
        t.py.shuffle(tokens)
        table = {token: rank for rank, token in enumerate(sorted(tokens))}
        shuffled = dict(t.py.sample(sorted(table.items()), len(table)))
        if list(shuffled) == sorted(shuffled, key=shuffled.get):  # never sorted by chance
            shuffled = dict(reversed(list(shuffled.items())))
        t.check_call(shuffled, reference=lambda r: sorted(r, key=r.get))

    assert run_check("ch99.by_rank", lambda r: sorted(r, key=r.get), seed=1).passed
    assert not run_check("ch99.by_rank", lambda r: list(r), seed=1).passed  # trusts the table's order

    held = toys("ch99.release", args=("pieces", "stop"), timeout=3)

    def released(pieces, stop):  # text released before the stop string, holding back any end that may begin it
        out, buffer = [], ""
        for piece in pieces:
            buffer += piece
            if stop in buffer:
                out.append(buffer[:buffer.index(stop)])
                return out
            keep = max((n for n in range(1, len(stop)) if buffer.endswith(stop[:n])), default=0)
            out.append(buffer[:len(buffer) - keep])
            buffer = buffer[len(buffer) - keep:]
        out.append(buffer)
        return out

    @held.case("a stop string's beginning held over three pieces, then no match")
    def _(t):
        t.check_call(["a", "b", "a", "x", "end"], "abab", reference=released)
        t.check_call(["say ", "ab", "a", "bab done"], "abab", reference=released)

    def newest_piece_only(pieces, stop):  # looks for the stop's beginning in the newest piece alone
        out, buffer = [], ""
        for piece in pieces:
            buffer += piece
            if stop in buffer:
                out.append(buffer[:buffer.index(stop)])
                return out
            keep = max((n for n in range(1, min(len(stop), len(piece) + 1)) if piece.endswith(stop[:n])), default=0)
            out.append(buffer[:len(buffer) - keep])
            buffer = buffer[len(buffer) - keep:]
        out.append(buffer)
        return out

    assert run_check("ch99.release", released, seed=1).passed
    assert not run_check("ch99.release", newest_piece_only, seed=1).passed


def _cancelling_rows(t, dtype):
    """Rows of 48 terms of size ~10 whose sum is near 0, in ``dtype``: summing them loses digits to cancellation."""
    x = 10 * torch.randn(3, 48, generator=t.rng, dtype=torch.float64)
    return (x - x.mean(1, keepdim=True)).to(dtype)


def test_a_low_precision_answer_may_round_as_its_terms_do_not_as_its_result(toys, monkeypatch):
    """A bfloat16 sum computed term by term in bfloat16 rounds at the scale of its partial sums; compared with the
    float32 reference within bfloat16's tolerance alone it would fail wherever the terms cancel. The engine widens
    the tolerance by how far the reference moves when its inputs are nudged by bfloat16's rounding, so that answer
    passes, while a wrong one (the last term left out) still fails, and float32 inputs get no slack at all."""
    ex = toys("ch99.rowsum", args=("x",), grad=False, timeout=5)

    def reference(x):
        return x.float().sum(1).to(x.dtype) if x.dtype == torch.bfloat16 else x.sum(1)

    @ex.case("bfloat16 rows whose terms cancel")
    def _(t):
        t.check_call(_cancelling_rows(t, torch.bfloat16), reference=reference, atol=3e-2, rtol=3e-2)

    def term_by_term(x):
        total = torch.zeros(x.shape[0], dtype=x.dtype)
        for j in range(x.shape[1]):
            total = total + x[:, j]  # rounds to bfloat16 at every step
        return total

    for seed in range(5):
        assert run_check("ch99.rowsum", term_by_term, seed=seed).passed
    assert not any(run_check("ch99.rowsum", lambda x: x[:, :-1].sum(1), seed=seed).passed for seed in range(3))
    monkeypatch.setattr(core, "ROUNDING_NUDGES", 0)  # no slack: the same careful answer fails somewhere
    assert not all(run_check("ch99.rowsum", term_by_term, seed=seed).passed for seed in range(5))

    trial_slack = core._rounding_slack(reference, [torch.randn(2, 3)], {}, None)
    assert trial_slack == {"value": None, "grads": None}, "float32 inputs are compared without slack"


def test_a_recorded_rounding_allowance_may_differ_in_its_last_bits_but_not_in_its_size():
    """Another CPU rounds the float32 runs behind a slack otherwise: the recordings stay in sync; a slack twice the
    size, or an expected value off in its last bits beyond float rounding, does not."""
    from llmcourse.grading.recorded import same_tape

    slack = torch.tensor([1e-3, 0.0, 2e-2], dtype=torch.float64)
    entry = {"expected": torch.tensor([1.0, 2.0]), "slack": slack, "grad_slack": {"arg0": slack}}
    nearly = {"expected": torch.tensor([1.0, 2.0]), "slack": slack + 3e-9, "grad_slack": {"arg0": slack * (1 + 1e-6)}}
    assert same_tape(entry, nearly) == ""
    assert "rounding allowance" in same_tape(entry, {**entry, "slack": 2 * slack})
    assert "rounding allowance" in same_tape(entry, {**entry, "grad_slack": {"arg0": 2 * slack}})
    assert same_tape(entry, {**entry, "expected": torch.tensor([1.0, 2.001])}) != ""
    assert same_tape({"slack": None}, {"slack": None}) == ""
