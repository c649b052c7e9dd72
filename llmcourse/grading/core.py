"""The grading engine: exercises, their cases, and verdicts the learner's code cannot reach.

An :class:`Exercise` grades one object a learner writes in a notebook (a function or a class, named by
``Exercise.name``). Its cases are small functions of a :class:`Trial`: they draw inputs from the trial's
generator (seeded afresh every run), hand them to the learner's code with :meth:`Trial.call` and compare
what comes back with a reference computed by the grader. The learner's code runs in a forked child
process (:mod:`.runner`) and answers with plain data only (:mod:`.wire`); the case, the reference and the
comparison stay in the grader's process. So a patched grader, an always-equal object or an endless loop
in C cannot change a verdict, and a crash in the learner's code is one failed case.

Every call enforces, unless the exercise opts out in its declaration:

- inputs are unchanged afterwards (``mutates=`` names the arguments an in-place exercise may change);
- the result has exactly the reference's type, dtype and shape;
- PyTorch's and Python's global random generators are left alone (``global_rng=True`` to allow);
- with ``grad=True``, gradients reach every input and parameter as the reference's do, equal to them;
- float16 and bfloat16 inputs are compared with a float32 reference within the dtype's tolerance widened, element
  by element, by how far that reference moves when its inputs are nudged by the dtype's rounding
  (:meth:`Trial.rounding_slack`): a careful answer computed in the low dtype itself rounds at every step, and
  where a sum cancels its error is set by the size of its terms, not of the result;
- with ``random=True``, an extra case proves the randomness comes from the generator it is given;
- with ``no_autograd=True`` (a gradient derived by hand), no call into autograd;
- with ``forbidden=`` (a list of :class:`Forbidden`), none of the library calls that would do the exercise's
  work for the learner (``F.scaled_dot_product_attention(..., enable_gqa=True)`` where the exercise is the
  sharing of key/value heads), and no use at all of a library ruled out whole (``transformers``, whose logits
  processors do a sampling exercise in one line).

A known mistake is named only when the answer equals that mistake on every call where the mistake
differs from the right answer, so a near miss is never told a mistake it did not make. Messages say
what was checked and how far off the answer is, never the expected values; hidden cases (teacher side,
see :mod:`.hidden`) report only pass or fail and a named mistake.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import random as _random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from . import recorded, references, wire
from .expect import CheckFailure, difference, kind_of, matches
from .runner import input_gradients, run_request

__all__ = ["CheckFailure", "CheckResult", "Exercise", "Forbidden", "Step", "Trial", "exercise", "run_check"]

Executor = Callable[[dict[str, Any], float], dict[str, Any]]  # (request, timeout) -> response


class NotImplementedYet(Exception):
    """The learner's object still raises the stub's NotImplementedError."""


class CaseTimedOut(Exception):
    """A call to the learner's code did not finish within the exercise's limit."""


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str = ""
    hidden: bool = False


@dataclass
class CheckResult:
    """The verdict on one exercise: what the notebook prints and the gradebook records."""

    check_id: str
    passed: bool
    points: float
    max_points: float
    cases: list[CaseResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    seed: int | None = None
    coverage: dict[str, list[Any]] = field(default_factory=dict, repr=False)  # for the course's own tests
    notes: list[str] = field(default_factory=list)  # what this (replayed) check left to the teacher's grade

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("coverage")
        return data


@dataclass
class Case:
    name: str
    fn: Callable[[Trial], None]
    hidden: bool = False


@dataclass
class Step:
    """One call in a :meth:`Trial.run`: ``on`` a kept object (or the learner's), optionally a ``method``;
    ``keep`` names the result for later steps."""

    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    on: str | None = None
    method: str | None = None
    keep: str | None = None


@dataclass
class Forbidden:
    """A library call an exercise rules out, because it would do the exercise's work: "by hand means by hand".

    One function, a whole library or a device:

    - ``function`` is the dotted path of a PyTorch function or operator (``"torch.nn.functional.
      scaled_dot_product_attention"``, ``"torch.ops.aten._scaled_dot_product_flash_attention_for_cpu"``);
      ``when`` narrows the ban to calls that pass these argument values (``{"enable_gqa": True}``; empty: every
      call). The learner's side watches the call through a ``torch.overrides.TorchFunctionMode``, so every name
      it is reached by counts (``F.``, an imported alias, ``torch._C._nn``, ``torch.ops.aten``); a plain-Python
      function outside PyTorch's ``__torch_function__`` protocol is not seen.
    - ``module`` names a library (``"transformers"``) none of whose code may run during the learner's call: a
      profiler hook notes any function or class of it that runs (imported before the call or not, by any name),
      and importing it inside the call is refused, so a heavy library is not loaded against the time limit.
    - ``device`` names a device (``"meta"``) on which no tensor may be made during the learner's call: a
      ``TorchDispatchMode`` sees every operator's results, so a model built there and counted, whatever built it,
      is noted (for exercises that ask for a count by formula).

    ``why`` says in plain words what the call would do for the learner and what to write instead. Like the
    autograd counter, the watch keeps an honest answer honest; it is not a sandbox against code written to dodge
    it (a library's code copied into the notebook is the learner's code).
    """

    function: str = ""
    why: str = ""
    when: dict[str, Any] = field(default_factory=dict)
    module: str = ""
    device: str = ""

    @property
    def key(self) -> str:
        """How the learner's side names this rule in its notes."""
        if self.device:
            return f"device:{self.device}"
        return f"module:{self.module}" if self.module else self.function

    def problem(self) -> str:
        """What is wrong with this declaration ("" when nothing is)."""
        if not self.why:
            return "says no why"
        if sum(map(bool, (self.function, self.module, self.device))) != 1:
            return "names not exactly one of function=, module= and device="
        if self.device and self.when:
            return "cannot narrow a device with when="
        if self.function and self.function.count(".") < 1:
            return "needs a dotted function path ('module.name')"
        if self.module and not all(part.isidentifier() for part in self.module.split(".")):
            return "needs a module name such as 'transformers'"
        if self.module and self.when:
            return "cannot narrow a whole library with when="
        return ""

    def to_wire(self) -> dict[str, Any]:
        """The rule as the learner's side gets it (plain data)."""
        if self.device:
            return {"device": self.device}
        if self.module:
            return {"module": self.module}
        return {"function": self.function, "when": dict(self.when)}

    def shown(self) -> str:
        """The call as a message names it, e.g. ``torch.nn.functional.scaled_dot_product_attention(...,
        enable_gqa=True)``, or ``the `transformers` library``."""
        if self.device:
            return f"tensors on the `{self.device}` device"
        if self.module:
            return f"the `{self.module}` library"
        if not self.when:
            return f"`{self.function}`"
        return f"`{self.function}(..., {', '.join(f'{k}={v!r}' for k, v in self.when.items())})`"


@dataclass
class Exercise:
    """One graded exercise: an id like ``ch01.linear_forward``, the notebook name it grades, its cases."""

    check_id: str
    name: str
    description: str
    args: tuple[str, ...] = ()
    points: float = 1.0
    timeout: float = 10.0
    kind: str = "function"  # "function" (anything callable) or "class"
    mutates: frozenset[str] = frozenset()
    global_rng: bool = False
    grad: bool = False
    random: bool = False
    hints: dict[str, str] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    probe: Callable[[Trial, int], tuple[Any, ...]] | None = None
    # Coverage rules an exercise cannot meet, with the reason (read by tests/test_exercises.py), e.g.
    # {"batch of 1": "an analogy needs at least four words"}.
    exempt: dict[str, str] = field(default_factory=dict)
    no_autograd: bool = False  # a by-hand exercise: any call of .backward() or torch.autograd.grad fails
    forbidden: tuple[Forbidden, ...] = ()  # library calls that would do the exercise's work: any such call fails

    @property
    def chapter(self) -> str:
        return self.check_id.split(".", 1)[0]

    @property
    def rules(self) -> tuple[Forbidden, ...]:
        """The exercise's own rules, and the chapters' graders, which no exercise may use: their references and
        named-mistake functions are answers (a mistake switched off is the right answer)."""
        own = {rule.key for rule in self.forbidden}
        implied = GRADER_RULES + (FORWARD_AD_RULES if self.no_autograd else ())
        return self.forbidden + tuple(rule for rule in implied if rule.key not in own)

    def case(self, name: str) -> Callable[[Callable[[Trial], None]], Callable[[Trial], None]]:
        """Decorator: register ``fn(trial)`` as a public case of this exercise, described by ``name``."""

        def register(fn: Callable[[Trial], None]) -> Callable[[Trial], None]:
            self.cases.append(Case(name, fn))
            return fn

        return register

    def generator_probe(self, fn: Callable[[Trial, int], tuple[Any, ...]]) -> Callable[[Trial, int], tuple[Any, ...]]:
        """Decorator: ``fn(trial, seed)`` gives arguments holding ``GeneratorSpec(seed)``, for the generator case."""
        self.probe = fn
        return fn


REGISTRY: dict[str, Exercise] = {}

# Forward-mode autograd (dual numbers: torch.autograd.forward_ad, torch.func.jvp) never runs a backward pass, so the
# autograd counter cannot see it; every such use makes its dual tensors through this one operator.
FORWARD_AD_RULES: tuple[Forbidden, ...] = (
    Forbidden("torch._make_dual", why="forward-mode autograd (dual numbers: torch.autograd.forward_ad, "
                                      "torch.func.jvp) computes the derivatives this exercise asks you to work out "
                                      "by hand; write each one as a formula."),)

# The teacher's references (imported under llmcourse_references.chNN, see .references) and the chapters' checks,
# ruled out in every exercise: where the learner's code runs beside a loaded reference, calling it is not an answer.
GRADER_RULES: tuple[Forbidden, ...] = (
    Forbidden(module=references.MODULE_PREFIX,
              why="that module is the teacher's reference for the grader; it would pass the check without your own "
                  "code."),
    Forbidden(module="llmcourse.checks",
              why="that module is the grader itself; its cases are not an answer to them."),
)


def exercise(check_id: str, name: str, description: str, *, args: Sequence[str] = (), points: float = 1.0,
             timeout: float = 10.0, kind: str = "function", mutates: Sequence[str] = (), global_rng: bool | None = None,
             grad: bool = False, random: bool = False, hints: dict[str, str] | None = None,
             exempt: dict[str, str] | None = None, no_autograd: bool = False,
             forbidden: Sequence[Forbidden] = ()) -> Exercise:
    """Create and register an exercise; add cases to it with ``@ex.case("...")``."""
    if check_id in REGISTRY:
        raise ValueError(f"exercise {check_id!r} is registered twice")
    for rule in forbidden:
        problem = rule.problem() if isinstance(rule, Forbidden) else "is not a Forbidden"
        if problem:
            raise ValueError(f"{check_id}: forbidden takes Forbidden(function='module.name', why=...), "
                             f"Forbidden(module='library', why=...) or Forbidden(device='meta', why=...); "
                             f"{rule!r} {problem}")
    unknown = set(mutates) - set(args)
    if unknown:
        raise ValueError(f"{check_id}: mutates names arguments it does not have: {sorted(unknown)}")
    ex = Exercise(check_id, name, description, tuple(args), points, timeout, kind, frozenset(mutates),
                  kind == "class" if global_rng is None else global_rng, grad, random, dict(hints or {}),
                  exempt=dict(exempt or {}), no_autograd=no_autograd, forbidden=tuple(forbidden))
    REGISTRY[check_id] = ex
    return ex


def load_chapter_checks() -> None:
    """Import every ``llmcourse.checks.chNN`` module so their exercises are registered."""
    from llmcourse import checks

    for info in pkgutil.iter_modules(checks.__path__):
        if info.name.startswith("ch") and info.name[2:].isdigit():
            importlib.import_module(f"llmcourse.checks.{info.name}")


def get_exercise(check_id: str) -> Exercise:
    load_chapter_checks()
    if check_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY)) or "none"
        raise KeyError(f"no exercise called {check_id!r}; known exercises: {known}")
    return REGISTRY[check_id]


def chapter_exercises(chapter: str) -> list[Exercise]:
    """The exercises of one chapter (``"ch01"``), in the order they were registered."""
    load_chapter_checks()
    return [ex for ex in REGISTRY.values() if ex.chapter == chapter]


# --- errors that are not the learner's mistake in the maths ---------------------------------------------

GENERAL_HINTS = {
    "leaf Variable that requires grad is being used in an in-place operation":
        "your code changes one of its inputs in place (`+=`, `x[...] = ...`, `.add_()`, ...): compute new tensors "
        "and leave the inputs as they were.",
    "a view of a leaf Variable that requires grad is being used in an in-place operation":
        "your code changes one of its inputs in place through a view: compute new tensors instead.",
    "Can't call numpy() on Tensor that requires grad":
        "a NumPy round trip cuts the result off from autograd, so no gradient could flow back: use torch "
        "operations all the way.",
    "view size is not compatible with input tensor's size and stride":
        "an input here is a non-contiguous view (a transpose or a slice, as real tensors often are), and `.view` "
        "needs contiguous memory; reshape copies only when it must.",
    "does not require grad and does not have a grad_fn":
        "the computation was cut off from autograd (torch.no_grad(), .detach(), .data, .item() or NumPy).",
}


@dataclass
class Outcome:
    """What one call of the learner's code gave back, as the grader sees it (plain data)."""

    value: Any  # tensors as plain tensors
    raw: Any  # with TensorInfo / ModuleInfo records
    grads: dict[str, Any] | None
    connected: bool
    args_after: list[Any]
    printed: str


class Trial:
    """One run of one case: its random inputs, its calls to the learner's code, and what they gave.

    ``rng`` (a ``torch.Generator``) and ``py`` (a ``random.Random``) are seeded from the run's seed, so
    every run draws new inputs and a teacher can replay one from the gradebook's seed.
    """

    def __init__(self, ex: Exercise, executor: Executor, seed: int, *, strided: bool = False,
                 tape: list[dict[str, Any]] | None = None, recording: bool = False) -> None:
        self.ex = ex
        self.seed = seed
        # Where the expected answers come from (see .references): computed live from the teacher's references, and
        # appended to ``tape`` when ``recording``; or, given a recorded ``tape`` and not recording, read from it.
        self.recording = recording
        self.tape: list[dict[str, Any]] | None = [] if recording else tape
        self._tape_at = 0
        self.notes: list[str] = []  # what a replayed case leaves to the teacher's grade (see teacher_only)
        self.strided = strided  # send every tensor input as a non-contiguous view (same values), as real ones often are
        # A call another case made and passed, run first in the same process (its answer unused): a function is
        # called again and again in a notebook, so state it keeps from one call to the next must not change the next.
        self.decoy: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.first_call: tuple[tuple[Any, ...], dict[str, Any]] | None = None  # this trial's, to be a later decoy
        self.rng = torch.Generator().manual_seed(seed % (2**63))
        self.py = _random.Random(seed)
        self._executor = executor
        self.mistake_log: list[tuple[str, bool, bool]] = []  # (mistake, differs from right, answer equals it)
        self.coverage: dict[str, list[Any]] = {}
        self.printed = ""

    # -- drawing inputs -------------------------------------------------------------------------------

    def randn(self, *shape: int, scale: float = 1.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Normal draws of ``shape`` (no shape: a 0-d tensor), made in float64 then cast, so dtypes draw alike."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
            shape = tuple(shape[0])  # t.randn((2, 3)) as well as t.randn(2, 3)
        return (scale * torch.randn(shape, generator=self.rng, dtype=torch.float64)).to(dtype)

    def randint(self, low: int, high: int, shape: Sequence[int]) -> torch.Tensor:
        return torch.randint(low, high, tuple(shape), generator=self.rng)

    def seed_for(self, label: str) -> int:
        """A seed derived from this trial's, for something the learner's code gets (a generator)."""
        return int.from_bytes(hashlib.sha256(f"{self.seed}:{label}".encode()).digest()[:7], "little")

    # -- the expected answers: live from the teacher's references, or replayed from a recording ---------------

    @property
    def replaying(self) -> bool:
        return self.tape is not None and not self.recording

    def _taped(self, kind: str, key: str, inputs: Any, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One expected answer: ``compute()`` it live (and record it), or read the next recorded one, after making
        sure the recorded one was computed from the same inputs as this trial drew."""
        if not self.replaying:
            entry = compute()
            if self.recording:
                assert self.tape is not None
                self.tape.append({"kind": kind, "key": key, "inputs": recorded.fingerprint(inputs), **entry})
            return entry
        assert self.tape is not None
        if self._tape_at >= len(self.tape):
            raise recorded.RecordingMismatch(f"{self.ex.check_id}: the recorded case ends before this case asks for "
                                             f"{key!r}; the recorded cases are out of date (exercises build)")
        entry = self.tape[self._tape_at]
        self._tape_at += 1
        if entry.get("kind") != kind or entry.get("key") != key:
            raise recorded.RecordingMismatch(f"{self.ex.check_id}: the case asks for {key!r} where the recording has "
                                             f"{entry.get('key')!r}; the recorded cases are out of date")
        if not recorded.same_fingerprint(entry.get("inputs"), recorded.fingerprint(inputs)):
            raise recorded.RecordingMismatch(
                f"{self.ex.check_id}: this case's inputs, drawn again from the recorded seed, differ from the ones the "
                f"recorded answer {key!r} was computed from (another PyTorch's random numbers, or a case changed "
                f"since the recording){recorded.version_note(self.ex.chapter)}")
        return entry

    def teacher_only(self, key: str, note: str, *args: Any, **kwargs: Any) -> Any:
        """What the teacher's reference ``key`` gives on these arguments, live; None in a replayed check, with
        ``note`` (what is left to the teacher's grade) shown in its report. For a judgement that needs the learner's
        own output and code that would be an answer in the student's install (the objective a trained model reaches,
        where computing that objective is another exercise). Never recorded."""
        if self.replaying:
            self.notes.append(note)
            return None
        return _plain(references.lookup(key)(*args, **kwargs))

    def reference(self, key: str, *args: Any, **kwargs: Any) -> Any:
        """What the teacher's reference ``key`` gives on these inputs (plain data): the expected answer of a case
        that compares by hand, or a dict of named mistakes for :meth:`expect`."""
        return self._taped("value", key, (args, kwargs),
                           lambda: {"value": _plain(references.lookup(key)(*args, **kwargs))})["value"]

    def rounding_slack(self, key: str, *args: Any, upstream: Any = None, **kwargs: Any) -> dict[str, Any]:
        """How far a careful low-precision answer may round from the teacher's reference ``key`` on these inputs.

        Where float16 or bfloat16 tensors come in, ``{"value": ..., "grads": ...}`` shaped like the reference's
        result (and, with ``upstream``, like its input gradients by path): ``ROUNDING_MARGIN`` times the largest
        change of each element over ``ROUNDING_NUDGES`` runs of the reference on float32 copies of the inputs,
        each low-precision element multiplied by ``1 + u * eps`` (``u`` uniform in [-1, 1], ``eps`` the dtype's
        machine epsilon); ``{"value": None, "grads": None}`` otherwise. Taped like a reference.
        """
        return self._taped("slack", key, (args, kwargs),
                           lambda: _rounding_slack(references.lookup(key), args, kwargs, upstream))

    # -- calling the learner's code ----------------------------------------------------------------------

    def call(self, *args: Any, grad: bool | None = None, upstream: Any = None, **kwargs: Any) -> Outcome:
        """Call the learner's function with ``args`` (and ``kwargs``) and return what it gave back.

        Fails the case, in words, when the call raises, times out, ends the process, changes an input it
        may not change, or touches the global random generators. With ``grad`` (default: the exercise's),
        every floating tensor argument is a leaf that requires grad and the gradients of
        ``sum(output * upstream)`` come back in :attr:`Outcome.grads`.
        """
        return self.run([Step(args, kwargs)], grad=grad, upstream=[upstream])[0]

    def run(self, steps: Sequence[Step], *, grad: bool | None = None,
            upstream: Sequence[Any] | None = None) -> list[Outcome]:
        """Make several calls in one child process (later steps may use objects kept by earlier ones)."""
        grad = self.ex.grad if grad is None else grad
        request_steps, sent = [], []
        plain = self.ex.kind == "function" and all(step.on is None and step.method is None for step in steps)
        decoy = self.decoy if plain else None
        if decoy is not None:  # its shared buffers renamed, so this case's calls start from their own
            request_steps.append({"args": [wire.spec_to_wire(_own_buffers(a)) for a in decoy[0]],
                                  "kwargs": {k: wire.spec_to_wire(_own_buffers(v)) for k, v in decoy[1].items()},
                                  "on": None, "method": None, "keep": None,
                                  "global_seed": self.seed_for("global:decoy") % (2**31)})
        for i, step in enumerate(steps):
            args, kwargs = step.args, step.kwargs
            if self.strided:
                args, kwargs = tuple(map(_strided, args)), {k: _strided(v) for k, v in kwargs.items()}
            args = tuple(_as_leaves(a) for a in args) if grad else args
            kwargs = {k: _as_leaves(v) for k, v in kwargs.items()} if grad else kwargs
            sent.append((args, kwargs))
            self._record_coverage(args, kwargs, on_target=step.on is None and step.method is None)
            record: dict[str, Any] = {
                "args": [wire.spec_to_wire(a) for a in args], "kwargs": {k: wire.spec_to_wire(v) for k, v in
                                                                         kwargs.items()},
                "on": step.on, "method": step.method, "keep": step.keep,
                "global_seed": self.seed_for(f"global:{i}") % (2**31),
            }
            if grad and upstream is not None and upstream[i] is not None:
                record["backward"] = {"upstream": upstream[i]}
            request_steps.append(record)
        request = {"steps": request_steps, "count_autograd": self.ex.no_autograd,
                   "forbidden": [rule.to_wire() for rule in self.ex.rules]}
        response = self._executor(request, self.ex.timeout)
        self.printed = str(response.get("printed", ""))[:2000]
        status = response.get("status")
        if status == "timeout":
            raise CaseTimedOut(f"did not finish within {self.ex.timeout:g} s: is there an endless loop, or far "
                               "more work than the task needs?")
        if status == "died":
            raise CheckFailure(f"calling `{self.ex.name}` ended its whole process before it returned "
                               "(os._exit, a crash in C code, or it ran out of memory).", "error")
        if status != "done":
            raise CheckFailure(f"calling `{self.ex.name}` gave back more than an answer can be "
                               "(hundreds of megabytes) or something that is not data.", "error")
        records = list(response.get("steps", []))
        if decoy is not None and records:
            self._interpret(records.pop(0), *decoy)  # it passed in its own case: a failure now is state carried over
        if plain and self.first_call is None and sent and records and records[0].get("ok"):
            self.first_call = sent[0]  # a call that returned (not one a case made to raise), to be a later decoy
        outcomes = []
        for i, (args, kwargs) in enumerate(sent):
            if i >= len(records):
                raise CheckFailure(f"calling `{self.ex.name}` gave no answer.", "error")
            outcomes.append(self._interpret(records[i], args, kwargs))
        return outcomes

    def _interpret(self, record: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Outcome:
        # A ruled-out library is named even when the call then failed (its import inside the call is refused).
        for rule in self.ex.rules:
            if rule.key in record.get("forbidden_calls", ()):
                seen = str(record.get("forbidden_where", {}).get(rule.key, ""))[:200]
                verb = "used" if rule.module or rule.device else "called"
                raise CheckFailure(f"`{self.ex.name}` {verb} {rule.shown()}{f' ({seen})' if seen else ''}, which this "
                                   f"exercise rules out: {rule.why}", "forbidden")
        if not record.get("ok"):
            error = record.get("error", {})
            if error.get("stub"):
                raise NotImplementedYet()
            raise CheckFailure(self._error_message(error), "error")
        if self.ex.no_autograd and record.get("autograd_calls"):
            raise CheckFailure(
                f"`{self.ex.name}` called autograd (.backward() or torch.autograd.grad), which this exercise asks you "
                "to do by hand: write each gradient as a formula, from the loss back to the inputs.", "wrong")
        if record.get("global_rng_touched") and not self.ex.global_rng:
            raise CheckFailure(
                f"`{self.ex.name}` used or reset PyTorch's (or Python's) global random generator "
                "(torch.manual_seed, torch.rand/randn/randint/multinomial without `generator=`, random.*): "
                "this exercise must leave it alone" + (" and draw only from the generator it is given."
                                                       if self.ex.random else "."), "rng")
        after = [wire.decode(a) for a in record.get("args_after", [])]
        kw_after = {k: wire.decode(v) for k, v in record.get("kwargs_after", {}).items()}
        for position, (original, now) in enumerate(zip(args, after, strict=False)):
            self._check_unchanged(self._arg_name(position), original, now)
        for key, value in kwargs.items():
            self._check_unchanged(key, value, kw_after.get(key))
        # after the in-place check: changing an input and handing it back is first of all a change in place
        for alias in record.get("aliases", ()):
            name = self._arg_name(int(alias)) if alias.isdigit() else alias
            if name not in self.ex.mutates and "aliasing" not in self.ex.exempt:
                raise CheckFailure(
                    f"`{self.ex.name}` returned a tensor that shares memory with its input `{name}` (the input itself, "
                    "or a view of it): whoever changes one later changes the other, as a cache or a buffer kept "
                    "between calls would. Return a new tensor (`.clone()` where you mean a copy).", "mutation")
        raw = wire.decode(record.get("output"))
        grads = None
        connected = False
        if "grads" in record:
            connected = bool(record["grads"].get("connected"))
            grads = dict(record["grads"].get("wrt", {}))
        return Outcome(wire.strip_meta(raw), raw, grads, connected, after, self.printed)

    def _arg_name(self, position: int) -> str:
        return self.ex.args[position] if position < len(self.ex.args) else f"argument {position + 1}"

    def _check_unchanged(self, name: str, original: Any, now: Any) -> None:
        if name in self.ex.mutates or isinstance(original, (wire.GeneratorSpec, wire.SequentialSpec)) or now is None:
            return
        before = _plain(original)
        if not wire.same(wire.strip_meta(now), before):
            raise CheckFailure(
                f"`{self.ex.name}` changed its input `{name}` in place (with `+=`, `x[...] = ...`, `.append`, "
                "`.add_()` or similar): the caller's data must be left as it was, so build a new result instead.",
                "mutation")

    def _error_message(self, error: dict[str, Any]) -> str:
        where = f" (at {error['where']})" if error.get("where") else ""
        text = f"calling `{self.ex.name}` raised {error.get('type', 'an error')}: {error.get('message', '')}{where}"
        full = str(error.get("full", ""))
        for fragment, hint in {**self.ex.hints, **GENERAL_HINTS}.items():
            if fragment in full:
                return f"{text} — {hint}"
        if error.get("type") in ("SystemExit", "KeyboardInterrupt"):
            return f"{text} — the function must return its answer; don't exit or interrupt from inside it."
        return text

    def _record_coverage(self, args: tuple[Any, ...], kwargs: dict[str, Any], on_target: bool) -> None:
        if not on_target:
            return
        for position, value in enumerate(args):
            self.coverage.setdefault(self._arg_name(position), []).append(_signature(value))
        for key, value in kwargs.items():
            self.coverage.setdefault(key, []).append(_signature(value))

    # -- judging ----------------------------------------------------------------------------------------

    def expect(self, got: Any, expected: Any, what: str, *, mistakes: dict[str, Any] | None = None,
               message: str | None = None, **tolerances: Any) -> None:
        """Fail unless ``got`` matches ``expected``; log each mistake for the naming rule (see the module).

        ``message`` replaces the words of a wrong value (not of a wrong type); ``positions=False`` keeps a
        text's message from saying where it first differs (for one-word answers, where that gives letters away).
        """
        for description, value in (mistakes or {}).items():
            differs = not matches(value, expected, **tolerances)
            self.mistake_log.append((description, differs, differs and matches(got, value, **tolerances)))
        problem = difference(got, expected, what, **tolerances)
        if problem:
            kind = "type" if any(p in problem for p in (" should be ", " has shape ", " should have shape")) \
                else "wrong"
            raise CheckFailure(message if message and kind == "wrong" else problem, kind)

    def check_call(self, *args: Any, reference: str | Callable[..., Any], what: str = "the result",
                   mistakes: str | dict[str, Any] | Callable[..., dict[str, Any]] | None = None,
                   grad: bool | None = None, atol: float = 1e-5, rtol: float = 1e-4, grad_atol: float | None = None,
                   compare: dict[str, Any] | None = None, **kwargs: Any) -> Outcome:
        """Call the learner's code and the ``reference`` on the same inputs and require the same answer.

        ``reference`` is the key of a teacher-side reference (see :mod:`.references`); a function is taken as
        well, for the engine's own tests, and is always run live. ``mistakes`` maps a description to what that
        mistake gives on these inputs, or is the key of (or a function of the inputs returning) such a dict.
        With gradients on, every input's gradient must match too. ``compare`` passes options to the comparison
        (``strict_sequences``, ``positions``); other keyword arguments go to the learner's function.
        """
        grad = self.ex.grad if grad is None else grad
        leaf_args = tuple(_as_leaves(a) for a in args) if grad else args
        leaf_kwargs = {k: _as_leaves(v) for k, v in kwargs.items()} if grad else kwargs
        plain_args = [_plain(a) for a in args]
        plain_kwargs = {k: _plain(v) for k, v in kwargs.items()}

        def compute() -> dict[str, Any]:
            fn = references.lookup(reference) if isinstance(reference, str) else reference
            ref_objects: dict[str, Any] = {}
            ref_args = [wire.build(wire.spec_to_wire(a), ref_objects) for a in leaf_args]
            ref_kwargs = {k: wire.build(wire.spec_to_wire(v), ref_objects) for k, v in leaf_kwargs.items()}
            expected_raw = fn(*ref_args, **ref_kwargs)
            expected = _plain(expected_raw)
            entry: dict[str, Any] = {"expected": expected, "upstream": None, "grads": None, "connected": False}
            if grad:
                entry["upstream"] = _upstream_like(expected, self.rng)
                entry["grads"], entry["connected"] = input_gradients(expected_raw, entry["upstream"], ref_args)
            named = mistakes
            if isinstance(named, str):
                named = references.lookup(named)
            if callable(named):
                named = named(*plain_args, **plain_kwargs)
            entry["mistakes"] = named
            slack = _rounding_slack(fn, list(leaf_args), leaf_kwargs, entry["upstream"],
                                    base=(expected, entry["grads"]))
            entry["slack"], entry["grad_slack"] = slack["value"], slack["grads"]
            return entry

        key = reference if isinstance(reference, str) else getattr(reference, "__name__", "reference")
        entry = self._taped("call", key, (plain_args, plain_kwargs), compute)
        if grad and self.replaying:
            _upstream_like(entry["expected"], self.rng)  # drawn as when it was recorded, so later draws stay in step
        outcome = self.call(*args, grad=grad, upstream=entry["upstream"], **kwargs)
        self.expect(outcome.value, entry["expected"], what, mistakes=entry["mistakes"], atol=atol, rtol=rtol,
                    slack=entry.get("slack"), **(compare or {}))
        if grad:
            self._check_gradients(outcome, entry["grads"], entry["connected"],
                                  atol if grad_atol is None else grad_atol, rtol, entry.get("grad_slack"))
        return outcome

    def _check_gradients(self, outcome: Outcome, expected: dict[str, Any] | None, connected: bool,
                         atol: float, rtol: float, slack: dict[str, Any] | None = None) -> None:
        if not connected or not expected:
            return
        if not outcome.connected:
            raise CheckFailure(
                "the result is cut off from autograd, so training could not learn through it: no .item(), "
                "float(), .data, .detach(), NumPy round trip or torch.no_grad() on the way from the inputs.", "grad")
        got = outcome.grads or {}
        for path, want in expected.items():
            name = _path_name(path, self.ex.args)
            mine = got.get(path)
            if want is None:  # the reference never reaches it (a fixed target, detached): no gradient may flow
                if mine is not None and bool(mine.abs().sum() > 0):
                    raise CheckFailure(f"a gradient flows into {name}, which the task treats as a fixed target: "
                                       "training must not move it through this result (detach it, or compute it "
                                       "under torch.no_grad()).", "grad")
                continue
            if not bool(want.abs().sum() > 0):
                continue
            if mine is None:
                raise CheckFailure(f"no gradient reaches {name}: the result does not depend on it through autograd "
                                   "(is it used through .data, .detach(), .item(), a NumPy round trip, or not at all?)",
                                   "grad")
            problem = difference(mine, want.detach(), f"the gradient with respect to {name}", atol=atol, rtol=rtol,
                                 slack=(slack or {}).get(path))
            if problem:
                raise CheckFailure(problem + " (the values are right, so look for a step autograd cannot see, such "
                                             "as an in-place change or a constant that should depend on the input)",
                                   "grad")


def _path_name(path: str, names: tuple[str, ...]) -> str:
    head, _, rest = path.partition("[")
    if head.startswith("arg") and head[3:].isdigit():
        i = int(head[3:])
        base = names[i] if i < len(names) else f"argument {i + 1}"
        return f"`{base}`" + (f" (item [{rest}" if rest else "") + (")" if rest else "")
    return f"`{path}`"


ROUNDING_NUDGES = 4  # runs of the reference on nudged inputs (each a fixed seed: recordings stay in step)
ROUNDING_MARGIN = 6.0  # times the largest change they show: rounding at every step of an answer adds up to more


def _low_precision(value: Any) -> torch.dtype | None:
    """float16 or bfloat16 where a tensor of that dtype is among ``value``'s (lists, tuples, dicts, leaf specs)."""
    if isinstance(value, wire.LeafSpec):
        value = value.value
    if isinstance(value, torch.Tensor):
        return value.dtype if value.dtype in (torch.float16, torch.bfloat16) else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return next((d for d in map(_low_precision, items) if d is not None), None)


def _nudge(value: Any, gen: torch.Generator) -> Any:
    """``value`` with each low-precision tensor as a float32 copy, every element times ``1 + u * eps``."""
    if isinstance(value, wire.LeafSpec):
        return wire.LeafSpec(_nudge(value.value, gen))
    if isinstance(value, torch.Tensor) and value.dtype in (torch.float16, torch.bfloat16):
        u = torch.rand(value.shape, generator=gen, dtype=torch.float64) * 2 - 1
        return (value.double() * (1 + u * torch.finfo(value.dtype).eps)).float()
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(_nudge(v, gen) for v in value)
    if isinstance(value, dict) and type(value) is dict:
        return {k: _nudge(v, gen) for k, v in value.items()}
    return value


def _spread(base: Any, other: Any, widest: Any) -> Any:
    """Element by element, the larger of ``widest`` and ``|other - base|``, shaped like ``base``."""
    if isinstance(base, torch.Tensor) and base.is_floating_point():
        if not isinstance(other, torch.Tensor) or other.shape != base.shape:
            return widest
        change = (other.double() - base.double()).abs().nan_to_num(nan=0.0, posinf=0.0)
        return change if widest is None else torch.maximum(widest, change)
    if isinstance(base, float) and isinstance(other, (int, float)):
        change = abs(float(other) - base)
        change = change if change < float("inf") else 0.0
        return change if widest is None else max(widest, change)
    if isinstance(base, (list, tuple)) and isinstance(other, (list, tuple)) and len(other) == len(base):
        wide = widest if isinstance(widest, list) else [None] * len(base)
        return [_spread(b, o, w) for b, o, w in zip(base, other, wide, strict=True)]
    if isinstance(base, dict) and isinstance(other, dict):
        wide = widest if isinstance(widest, dict) else {}
        return {k: _spread(base[k], other.get(k), wide.get(k)) for k in base}
    return widest


def _scaled(spread: Any, factor: float) -> Any:
    if isinstance(spread, (torch.Tensor, float)):
        return spread * factor
    if isinstance(spread, list):
        return [_scaled(s, factor) for s in spread]
    if isinstance(spread, dict):
        return {k: _scaled(v, factor) for k, v in spread.items()}
    return spread


def _rounding_slack(fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], upstream: Any,
                    base: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """See :meth:`Trial.rounding_slack`; ``args`` may hold leaf specs (then the gradients' slack comes too).
    ``base``: the reference's plain result and input gradients on these very inputs, where the caller has them."""
    if _low_precision([args, kwargs]) is None:
        return {"value": None, "grads": None}

    def run(a: list[Any], k: dict[str, Any]) -> tuple[Any, Any]:
        objects: dict[str, Any] = {}
        built = [wire.build(wire.spec_to_wire(v), objects) for v in a]
        built_kwargs = {key: wire.build(wire.spec_to_wire(v), objects) for key, v in k.items()}
        raw = fn(*built, **built_kwargs)
        grads = None
        if upstream is not None:
            grads, _ = input_gradients(raw, _match_upstream(raw, upstream), built)
            grads = {p: None if g is None else g.detach() for p, g in grads.items()}
        return _plain(raw), grads

    base_value, base_grads = run(list(args), dict(kwargs)) if base is None else base
    value_spread, grad_spread = None, None
    for i in range(ROUNDING_NUDGES):
        gen = torch.Generator().manual_seed(i)
        try:
            value, grads = run(_nudge(list(args), gen), _nudge(dict(kwargs), gen))
        except (RuntimeError, TypeError, ValueError):  # a reference made for the low dtype only: no slack
            return {"value": None, "grads": None}
        value_spread = _spread(base_value, value, value_spread)
        if base_grads is not None and grads is not None:
            grad_spread = _spread({p: g for p, g in base_grads.items() if g is not None},
                                  {p: g for p, g in grads.items() if g is not None}, grad_spread)
    return {"value": _scaled(value_spread, ROUNDING_MARGIN), "grads": _scaled(grad_spread, ROUNDING_MARGIN)}


def _match_upstream(output: Any, upstream: Any) -> Any:
    """``upstream`` cast to each output tensor's dtype (a nudged run computes in float32)."""
    if isinstance(output, torch.Tensor) and isinstance(upstream, torch.Tensor):
        return upstream.to(output.dtype)
    if isinstance(output, (list, tuple)) and isinstance(upstream, (list, tuple)):
        return type(upstream)(_match_upstream(o, u) for o, u in zip(output, upstream, strict=False))
    return upstream


def _as_leaves(value: Any) -> Any:
    """Floating tensors become leaves that require grad (inside lists and tuples too)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return wire.LeafSpec(value)
    if isinstance(value, list):
        return [_as_leaves(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_as_leaves(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """The grader's own inputs or results as plain data (tensors detached, specs by value)."""
    return wire.map_plain(value, _plain_one)


def _plain_one(value: Any) -> Any:
    if isinstance(value, (wire.LeafSpec, wire.SharedSpec)):
        return value.value
    if isinstance(value, wire.IterSpec):
        return [_plain(v) for v in value.items]
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, torch.nn.Module):
        return {k: v.detach() for k, v in value.state_dict().items()}
    return value


def _upstream_like(expected: Any, rng: torch.Generator) -> Any:
    """A random upstream gradient for every floating tensor of the result (None elsewhere)."""
    if isinstance(expected, torch.Tensor):
        if expected.is_floating_point():
            return torch.randn(expected.shape, generator=rng, dtype=torch.float64).to(expected.dtype)
        return None
    if isinstance(expected, (list, tuple)):
        return type(expected)(_upstream_like(e, rng) for e in expected)
    return None


def _own_buffers(value: Any) -> Any:
    """``value`` with each shared buffer (:class:`wire.SharedSpec`) given a name no case uses."""
    if isinstance(value, wire.SharedSpec):
        return wire.SharedSpec(value.value, f"earlier case: {value.name}")
    return value


def _strided(value: Any) -> Any:
    """``value`` with every contiguous tensor in it (in lists and tuples too) as a non-contiguous view holding the same
    values, as a transpose or a slice hands a function in real code: the last two dimensions stored column by column
    (so ``.view`` cannot flatten them), or a 1-D tensor as every other element of a buffer twice as long."""
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return type(value)(_strided(v) for v in value)
    if (not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.numel() < 2
            or not value.is_contiguous()):
        return value
    if value.dim() >= 2 and value.shape[-1] > 1 and value.shape[-2] > 1:
        return value.mT.contiguous().mT
    wide = torch.zeros(*value.shape[:-1], 2 * value.shape[-1], dtype=value.dtype)
    wide[..., ::2] = value
    return wide[..., ::2]


def _signature(value: Any) -> Any:
    """How an argument looked, for the coverage tests: shapes and dtypes of tensors, values of scalars."""
    if isinstance(value, (wire.LeafSpec, wire.SharedSpec)):
        value = value.value
    if isinstance(value, torch.Tensor):
        finite = value.detach()[value.detach().isfinite()] if value.is_floating_point() else None
        largest = float(finite.abs().max()) if finite is not None and finite.numel() else None
        return ("tensor", tuple(value.shape), str(value.dtype), largest)
    if isinstance(value, wire.GeneratorSpec):
        return ("generator", value.seed)
    if isinstance(value, (wire.IterSpec, wire.SequentialSpec)):
        return (type(value).__name__, repr(value)[:200])
    if isinstance(value, (list, tuple, dict, str, bytes)):
        return (type(value).__name__, len(value), hashlib.sha1(repr(value).encode()).hexdigest()[:12])
    return value


# --- running a check ---------------------------------------------------------------------------------


def student_executor(student: Any) -> Executor:
    """An executor that runs requests against ``student`` in a forked child of this process."""
    return lambda request, timeout: run_request(student, request, timeout)


def _wrong_kind(ex: Exercise, student: Any) -> str:
    if student is None:
        return f"`{ex.name}` is None: define it in the exercise cell above and run that cell first."
    if ex.kind == "class" and not isinstance(student, type):
        return f"`{ex.name}` should be a class (defined with `class {ex.name}(...)`), but it is {kind_of(student)}."
    if ex.kind == "function" and (isinstance(student, type) or not callable(student)):
        return f"`{ex.name}` should be a function (defined with `def {ex.name}(...)`), but it is {kind_of(student)}."
    return ""


def grade(ex: Exercise, executor: Executor, *, seed: int | None = None, hidden: Sequence[Case] = (),
          replay: Sequence[dict[str, Any]] | None = None) -> CheckResult:
    """Run every public case of ``ex`` (and the given hidden ones) through ``executor``; the verdict.

    With ``replay`` (the exercise's recorded cases, see :mod:`.recorded`), each public case runs one of its
    recorded trials, drawn at random, and reads its expected answers from the recording; without it, every
    case draws fresh inputs and computes them live from the teacher's references. Points are all or nothing per
    exercise and never more than its maximum.
    """
    seed = secrets.randbits(62) if seed is None else seed
    if replay is not None and [c["name"] for c in replay] != [c.name for c in ex.cases]:
        raise recorded.RecordingMismatch(f"{ex.check_id}: the recorded cases are not this exercise's cases "
                                         "(rebuild them: python -m llmcourse exercises build)")
    chooser = _random.Random(seed)
    cases = list(ex.cases) + _generator_cases(ex) + [Case(c.name, c.fn, True) for c in hidden]
    # The second half of the public cases (so an empty-batch case at the end cannot be the only one) and the last
    # hidden one pass their tensors as non-contiguous views (a `.view` that needs contiguous memory fails there, as on
    # a transposed or sliced tensor in real code), unless the exercise declares why it cannot take them.
    last = {len(ex.cases) - 1, len(cases) - 1 if hidden else -1}
    strided = set() if "non-contiguous" in ex.exempt else set(range(len(ex.cases) // 2, len(ex.cases))) | last
    decoy = None  # the first call of the last case that passed, run again before the last cases' own calls
    results: list[CaseResult] = []
    mistake_log: list[tuple[str, bool, bool]] = []
    coverage: dict[str, list[Any]] = {}
    left_to_teacher: list[str] = []
    timed_out = False
    for index, case in enumerate(cases):
        if timed_out:  # code that loops forever on one input almost always does on the next: don't wait again
            results.append(CaseResult(case.name, False, "not run: an earlier case did not finish in time",
                                      case.hidden))
            continue
        trial_seed, tape = int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:8], "little"), None
        if replay is not None and index < len(ex.cases):
            chosen = chooser.choice(replay[index]["trials"])
            trial_seed, tape = int(chosen["seed"]), list(chosen["tape"])
        trial = Trial(ex, executor, trial_seed, strided=index in strided, tape=tape)
        trial.decoy = decoy if index in last and "state across calls" not in ex.exempt else None
        labels = (["non-contiguous inputs"] if trial.strided else []) + \
            (["after another case's call in the same process"] if trial.decoy else [])
        if labels:
            case = Case(f"{case.name} ({'; '.join(labels)})", case.fn, case.hidden)
        try:
            case.fn(trial)
            if trial.replaying and trial.tape is not None and trial._tape_at != len(trial.tape):
                raise recorded.RecordingMismatch(
                    f"{ex.check_id}: the case read {trial._tape_at} of its {len(trial.tape)} recorded answers; the "
                    "recorded cases are out of date (exercises build)")
            results.append(CaseResult(case.name, True, hidden=case.hidden))
            decoy = trial.first_call or decoy
        except NotImplementedYet:
            msg = (f"`{ex.name}` is not implemented yet: replace the `raise NotImplementedError(...)` statement with "
                   "your code.")
            return CheckResult(ex.check_id, False, 0.0, ex.points, [CaseResult(case.name, False, msg)], [msg], seed)
        except CaseTimedOut as exc:
            timed_out = True
            results.append(CaseResult(case.name, False, str(exc), case.hidden))
        except recorded.RecordingMismatch as exc:  # the course's recording, not the learner's code
            results.append(CaseResult(case.name, False, f"the grader could not replay this case: {exc}; please "
                                                        "report it", case.hidden))
        except CheckFailure as failure:
            message = _HIDDEN_WORDS.get(failure.kind, "gives a wrong answer") if case.hidden else str(failure)
            if trial.printed.strip() and not case.hidden:
                message += f"\n(your code printed: {trial.printed.strip()[:300]!r})"
            results.append(CaseResult(case.name, False, message, case.hidden))
        left_to_teacher.extend(n for n in trial.notes if n not in left_to_teacher)
        mistake_log.extend(trial.mistake_log)
        for key, values in trial.coverage.items():
            coverage.setdefault(key, []).extend(values)
    passed = bool(results) and all(r.passed for r in results)
    messages = [f"{r.name}: {r.message}" for r in results if not r.passed]
    if not passed:
        named = named_mistakes(mistake_log)
        if named:
            messages.append("This looks like a known mistake: you " + named[0] + ".")
            for r in results:
                if not r.passed:
                    r.message += f"\n  → this looks like a known mistake: you {named[0]}."
                    break
    points = float(ex.points) if passed else 0.0
    return CheckResult(ex.check_id, passed, min(points, float(ex.points)), float(ex.points), results, messages,
                       seed, coverage, left_to_teacher)


_HIDDEN_WORDS = {
    "error": "raised an error on a hidden case",
    "type": "returned the wrong type on a hidden case",
    "mutation": "changed its input in place on a hidden case",
    "rng": "used the global random generator on a hidden case",
    "grad": "gave wrong gradients on a hidden case",
    "forbidden": "made a library call this exercise rules out on a hidden case",
    "wrong": "gave a wrong answer on a hidden case",
}


def named_mistakes(log: Sequence[tuple[str, bool, bool]]) -> list[str]:
    """Mistakes the answer equals wherever they differ from the right answer (and that differ somewhere)."""
    verdicts: dict[str, list[bool]] = {}
    for description, differs, equals in log:
        if differs:
            verdicts.setdefault(description, []).append(equals)
    return [d for d, seen in verdicts.items() if seen and all(seen)]


def _generator_cases(ex: Exercise) -> list[Case]:
    if not ex.random:
        return []
    if ex.probe is None:
        raise ValueError(f"{ex.check_id} is random=True but has no generator_probe")

    def uses_the_generator(t: Trial) -> None:
        probe = ex.probe
        assert probe is not None
        s1, s2 = t.seed_for("gen-a"), t.seed_for("gen-b")
        args1 = probe(t, s1)  # built once: the same inputs with each generator
        args2 = tuple(wire.GeneratorSpec(s2, a.name) if isinstance(a, wire.GeneratorSpec) else a for a in args1)
        first = t.call(*args1, grad=False).value
        again = t.call(*args1, grad=False).value
        if not wire.same(first, again):
            raise CheckFailure("two calls with generators seeded alike gave different results: draw every random "
                               "number from the generator you are given (pass `generator=`), so a seed makes the "
                               "result repeatable.", "rng")
        other = t.call(*args2, grad=False).value
        if wire.same(first, other):
            raise CheckFailure("generators with different seeds gave the same result: the result must depend on the "
                               "generator you are given (don't ignore it or seed a new one).", "rng")
        twice = t.run([Step(args1), Step(args1)], grad=False)
        if wire.same(twice[0].value, twice[1].value):
            raise CheckFailure("two successive calls with the same generator gave the same result: don't reset it "
                               "(`generator.manual_seed(...)`) or copy its state inside your function.", "rng")

    return [Case("draws its randomness from the generator it is given, and only from it", uses_the_generator)]


def run_check(check_id: str, student: Any, *, seed: int | None = None, hidden: Sequence[Case] = (),
              live: bool = False) -> CheckResult:
    """Judge ``student`` against exercise ``check_id`` (public cases, in a forked child) without printing.

    The public cases replay the exercise's recorded cases (a learner's install holds no references); ``live``
    (the teacher's side, with the references loaded) draws fresh inputs instead, as the batch grade does.
    """
    try:
        ex = get_exercise(check_id)
    except KeyError as err:
        return CheckResult(check_id, False, 0.0, 0.0, messages=[str(err.args[0])])
    problem = _wrong_kind(ex, student)
    if problem:
        return CheckResult(check_id, False, 0.0, ex.points, messages=[problem])
    try:
        replay = None if live else recorded.recorded_cases(check_id)
        return grade(ex, student_executor(student), seed=seed, hidden=hidden, replay=replay)
    except (references.ReferencesMissing, recorded.RecordingMismatch) as err:  # the course's side, in one line
        return CheckResult(check_id, False, 0.0, ex.points, messages=[f"the grader cannot run this check here: {err}"])


def record_exercise(ex: Exercise, executor: Executor, per_case: int = recorded.SEEDS_PER_CASE) -> list[dict[str, Any]]:
    """Record ``per_case`` trials of every public case of ``ex`` with ``executor`` (the master solution) answering
    and the teacher's references loaded; every trial must pass, or the recording would teach a wrong answer."""
    cases = []
    for index, case in enumerate(ex.cases):
        trials = []
        for k in range(per_case):
            seed = recorded.trial_seed(ex.check_id, index, k)
            trial = Trial(ex, executor, seed, recording=True)
            try:
                case.fn(trial)
            except (CheckFailure, CaseTimedOut, NotImplementedYet) as exc:
                raise RuntimeError(f"{ex.check_id}, case {case.name!r}, seed {seed}: the master solution fails it "
                                   f"({type(exc).__name__}: {exc})") from exc
            trials.append({"seed": seed, "tape": trial.tape})
        cases.append({"name": case.name, "trials": trials})
    return cases
