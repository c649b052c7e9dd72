"""The grading engine: exercises, their test cases, and running them safely.

An :class:`Exercise` grades one object a learner writes in a notebook (a function or a class, named
by ``Exercise.name``). Its cases are small functions that call the learner's object on inputs they
make themselves and compare against a reference computed at check time; a case says what is wrong
by raising :class:`CheckFailure` with a message in plain words. :func:`run_check` runs every case
under a time limit and turns anything the learner's code does — an exception, a wrong shape, a NaN,
an endless loop — into a failed case, so a check never crashes the notebook.

The cases live in the package (``llmcourse/grading/chNN.py``), not in the notebooks, so the notebook,
the batch grader and the tests all judge an answer the same way.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


class CheckFailure(AssertionError):
    """Raised by a case to say, in plain words, what is wrong with the learner's answer."""


class NotImplementedYet(Exception):
    """The learner's object still raises the stub's NotImplementedError."""


class CheckTimeout(BaseException):
    """The learner's code ran past the case's time limit (a BaseException so bare excepts can't eat it)."""


CaseFn = Callable[[Any], None]


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str = ""


@dataclass
class CheckResult:
    """The verdict on one exercise: what the notebook prints and the gradebook records."""

    check_id: str
    passed: bool
    points: float
    max_points: float
    cases: list[CaseResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Exercise:
    """One graded exercise: an id like ``ch01.linear_forward``, the notebook name it grades, its cases."""

    check_id: str
    name: str
    description: str
    points: float = 1.0
    timeout: float = 10.0
    kind: str = "function"  # "function" (anything callable) or "class"
    cases: list[tuple[str, CaseFn]] = field(default_factory=list)

    @property
    def chapter(self) -> str:
        return self.check_id.split(".", 1)[0]

    def case(self, name: str) -> Callable[[CaseFn], CaseFn]:
        """Decorator: register ``fn(student)`` as a case of this exercise, described by ``name``."""

        def register(fn: CaseFn) -> CaseFn:
            self.cases.append((name, fn))
            return fn

        return register


REGISTRY: dict[str, Exercise] = {}


def exercise(
    check_id: str,
    name: str,
    description: str,
    *,
    points: float = 1.0,
    timeout: float = 10.0,
    kind: str = "function",
) -> Exercise:
    """Create and register an exercise; add cases to it with ``@ex.case("...")``."""
    if check_id in REGISTRY:
        raise ValueError(f"exercise {check_id!r} is registered twice")
    ex = Exercise(check_id, name, description, points=points, timeout=timeout, kind=kind)
    REGISTRY[check_id] = ex
    return ex


def load_chapter_checks() -> None:
    """Import every ``llmcourse.grading.chNN`` module so their exercises are registered."""
    import importlib
    import pkgutil

    from llmcourse import grading

    for info in pkgutil.iter_modules(grading.__path__):
        if info.name.startswith("ch") and info.name[2:].isdigit():
            importlib.import_module(f"llmcourse.grading.{info.name}")


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


def call_student(fn: Callable[..., Any], *args: Any, hints: dict[str, str] | None = None,
                 otherwise: str | None = None, catch: tuple[type[Exception], ...] = (Exception,)) -> Any:
    """Call the learner's ``fn``; an error of a ``catch`` type whose text contains a key of ``hints`` becomes a
    CheckFailure with that hint (and with ``otherwise`` when no key matches, if given). The stub's
    NotImplementedError and anything unmatched pass through, for :func:`run_check` to report."""
    try:
        return fn(*args)
    except catch as exc:
        if _is_stub(exc):
            raise
        text = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        for fragment, hint in (hints or {}).items():
            if fragment in f"{type(exc).__name__}: {exc}":
                raise CheckFailure(f"{text} — {hint}") from exc
        if otherwise is not None:
            raise CheckFailure(f"{text} — {otherwise}") from exc
        raise


# --- time limits -------------------------------------------------------------------------------


@contextlib.contextmanager
def deadline(seconds: float, *, use_signal: bool | None = None) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in the running code once ``seconds`` have passed.

    In the main thread of a Unix process (a Jupyter kernel is one) a real-time timer signal
    interrupts even a tight ``while True: pass``. Elsewhere (Windows, other threads) a trace
    function checks the clock on every line of Python, which is slower but still stops Python loops.
    """
    if use_signal is None:
        use_signal = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if use_signal:

        def on_alarm(signum: int, frame: Any) -> None:
            raise CheckTimeout()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return

    stop_at = time.monotonic() + seconds
    previous_trace = sys.gettrace()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > stop_at:
            raise CheckTimeout()
        return tracer

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous_trace)


# --- running a check ---------------------------------------------------------------------------


def _describe_exception(exc: BaseException, name: str) -> str:
    """Say where in the learner's code an exception came from, without the grader's own frames."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if "llmcourse/grading" not in f.filename.replace("\\", "/")
    ]
    where = ""
    if frames:
        last = frames[-1]
        where = f" (at line {last.lineno}: `{(last.line or '').strip()}`)"
    return f"calling `{name}` raised {type(exc).__name__}: {exc}{where}"


def _is_stub(exc: BaseException) -> bool:
    return isinstance(exc, (NotImplementedError, NotImplementedYet))


def run_check(check_id: str, student: Any, *, timeout: float | None = None) -> CheckResult:
    """Judge ``student`` against exercise ``check_id`` without printing anything.

    Every case runs, each under the exercise's time limit; the exercise passes only when all do.
    Points are all or nothing per exercise, so a half-right answer is never counted as right.
    """
    try:
        ex = get_exercise(check_id)
    except KeyError as err:
        return CheckResult(check_id, False, 0.0, 0.0, messages=[str(err.args[0])])

    problem = _wrong_kind(ex, student)
    if problem:
        return CheckResult(check_id, False, 0.0, ex.points, messages=[problem])

    limit = timeout if timeout is not None else ex.timeout
    results: list[CaseResult] = []
    timed_out = False
    for case_name, case_fn in ex.cases:
        if timed_out:  # code that loops forever on one input almost always does on the next: don't wait again
            results.append(CaseResult(case_name, False, "not run: an earlier case did not finish in time"))
            continue
        try:
            with deadline(limit):
                case_fn(student)
            results.append(CaseResult(case_name, True))
        except CheckTimeout:
            timed_out = True
            results.append(
                CaseResult(case_name, False, f"did not finish within {limit:g} s: is there an endless loop?")
            )
        except CheckFailure as failure:
            results.append(CaseResult(case_name, False, str(failure)))
        except Exception as exc:  # the learner's code raised: a failure, never a crash
            if _is_stub(exc):
                msg = (
                    f"`{ex.name}` is not implemented yet: replace the `raise NotImplementedError(...)` line "
                    "with your code."
                )
                return CheckResult(check_id, False, 0.0, ex.points, [CaseResult(case_name, False, msg)], [msg])
            results.append(CaseResult(case_name, False, _describe_exception(exc, ex.name)))

    passed = bool(results) and all(r.passed for r in results)
    messages = [f"{r.name}: {r.message}" for r in results if not r.passed]
    return CheckResult(check_id, passed, ex.points if passed else 0.0, ex.points, results, messages)


def _wrong_kind(ex: Exercise, student: Any) -> str:
    if student is None:
        return f"`{ex.name}` is None: define it in the exercise cell above and run that cell first."
    if ex.kind == "class" and not isinstance(student, type):
        return f"`{ex.name}` should be a class (defined with `class {ex.name}(...)`), got {type(student).__name__}."
    if ex.kind == "function" and not callable(student):
        return f"`{ex.name}` should be a function, got {type(student).__name__}."
    return ""
