"""Run the learner's code where it can be stopped for real: a child process forked for each run.

:func:`run_request` gets the learner's object and a *request* (plain data: the calls to make and their
inputs), forks, and in the child makes the calls, turns what came back into plain data
(:mod:`.wire`) and writes it to a pipe. The parent only waits, up to the time limit, and reads. Because
the learner's code runs in another process:

- an endless loop, even one inside C code, is ended by ``SIGKILL`` on time, whatever the code does to
  timers, signals or ``except:`` clauses;
- ``SystemExit``, ``KeyboardInterrupt`` and every other ``BaseException`` end only the child; so do
  ``os._exit``, a crash and any threads the code started;
- nothing the code changes (globals, the grader's modules, its inputs) reaches the caller.

The child starts from a copy of the caller's memory, so the learner's function, its imports and its
globals are all there without pickling anything. Where the OS has no ``fork`` (Windows), the calls run
in the caller's process under a signal or trace deadline, and the result says so.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import io
import os
import random
import select
import signal
import sys
import threading
import time
import traceback
import types
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch._ops
import torch.autograd  # noqa: F401  (imported here, once, so the learner's timed call does not pay for it)
import torch.nn.functional  # noqa: F401
import torch.optim  # noqa: F401
import torch.utils._pytree
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from . import wire

_warmed = False


def _warm_up() -> None:
    """The first optimizer step in a process imports a good deal of torch (seconds): take it once, before the
    first run, so forked children inherit it and a learner's timed call never pays for it (and a process that
    only imports the grader, such as the CLI checking its arguments, never does)."""
    global _warmed
    if not _warmed:
        warm = torch.zeros(1, requires_grad=True)
        warm.grad = torch.zeros(1)
        torch.optim.SGD([warm], lr=0.1).step()
        torch.optim.Adam([warm], lr=0.1).step()
        _warmed = True

MAX_RESPONSE_BYTES = 256 * 1024 * 1024
MAX_PRINTED = 4000  # characters of the learner's printed output kept per run
CAN_FORK = hasattr(os, "fork") and os.environ.get("LLMCOURSE_GRADING_INPROCESS") != "1"


class CheckTimeout(BaseException):
    """The learner's code ran past the time limit (only used when running in-process)."""


class _CappedText(io.TextIOBase):
    """A stdout/stderr for the learner's code: keeps the first characters, drops a flood."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        room = MAX_PRINTED - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def getvalue(self) -> str:
        return "".join(self.parts) + (f"\n… ({self.dropped} more characters not shown)" if self.dropped else "")


# --- inside the child: make the calls ----------------------------------------------------------------


def _is_stub(exc: BaseException) -> bool:
    return isinstance(exc, NotImplementedError)


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """The learner's error as data: its type, first line, and the learner's line it came from."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _library_frame(f.filename)]
    where = ""
    if frames:
        last = frames[-1]
        where = f"line {last.lineno}: `{(last.line or '').strip()[:200]}`"
    text = str(exc)
    return {"type": type(exc).__name__, "message": (text.splitlines()[0] if text else "")[:400],
            "full": f"{type(exc).__name__}: {text}"[:2000], "where": where, "stub": _is_stub(exc)}


_LIBRARY_ROOTS = tuple({os.path.dirname(os.__file__), os.path.dirname(os.path.dirname(torch.__file__))})


def _library_frame(filename: str) -> bool:
    """A frame of the grader, torch or the standard library (an error is reported at the learner's line)."""
    path = filename.replace("\\", "/")
    return "llmcourse/grading" in path or filename.startswith(_LIBRARY_ROOTS)


def _global_rng_state() -> tuple[torch.Tensor, Any]:
    return torch.random.get_rng_state(), random.getstate()


def _leaves(value: Any, path: str, out: list[tuple[str, torch.Tensor]]) -> None:
    """Every leaf tensor that requires grad inside a built input, with a path naming where it is."""
    if isinstance(value, torch.Tensor):
        if value.requires_grad and value.is_leaf:
            out.append((path, value))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _leaves(v, f"{path}[{i}]", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, f"{path}[{k!r}]", out)
    elif isinstance(value, torch.nn.Module):
        for name, p in value.named_parameters():
            if p.requires_grad:
                out.append((f"{path}.{name}", p))


def _pairs(output: Any, upstream: Any) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(output tensor, upstream gradient) for every tensor of ``upstream`` that the output has there too."""
    if isinstance(upstream, torch.Tensor):
        if isinstance(output, torch.Tensor) and output.shape == upstream.shape and output.requires_grad:
            yield output, upstream.to(output.dtype)
    elif isinstance(upstream, (list, tuple)) and isinstance(output, (list, tuple)) and len(output) == len(upstream):
        for o, u in zip(output, upstream, strict=True):
            yield from _pairs(o, u)


@contextmanager
def _counting_autograd(counter: list[int]) -> Iterator[None]:
    """Count the learner's calls into autograd (``backward``, ``autograd.grad``, ``torch.func``): for by-hand exercises.

    Every backward pass, by whatever name the learner reached it (``from torch.autograd import grad`` in an earlier
    cell keeps the unwrapped function), ends in the C++ engine's ``run_backward``, looked up on ``Variable`` at
    call time; so the engine itself is swapped for a counting stand-in during the call, beside the public names.
    """
    from torch.autograd.variable import Variable

    originals = (torch.autograd.backward, torch.autograd.grad, torch.Tensor.backward)
    engine = Variable._execution_engine

    def counted(fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return fn(*args, **kwargs)
        return wrapper

    class CountingEngine:
        """The autograd engine, counting each backward pass it runs."""

        def run_backward(self, *args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            return engine.run_backward(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            return getattr(engine, name)

    torch.autograd.backward, torch.autograd.grad = counted(originals[0]), counted(originals[1])
    torch.Tensor.backward = counted(originals[2])
    Variable._execution_engine = CountingEngine()
    try:
        yield
    finally:
        torch.autograd.backward, torch.autograd.grad, torch.Tensor.backward = originals
        Variable._execution_engine = engine


def _resolve(path: str) -> Any:
    """The object a dotted path names, looked up in modules already imported (the child imports nothing new,
    so watching costs the learner's time limit nothing); None where there is none."""
    module_name, _, attr = path.rpartition(".")
    parts = module_name.split(".")
    for cut in range(len(parts), 0, -1):  # the longest imported module, then attributes: torch.ops.aten.x
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        obj: Any = module
        for name in [*parts[cut:], attr]:
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return obj
    return None


def _same_function(func: Any, target: Any) -> bool:
    """Whether the ``func`` a TorchFunctionMode sees is ``target``: the object itself, or one of its operator's
    forms (``torch.ops.aten.x``, ``torch.ops.aten.x.default`` for the builtin ``x`` of ``F.x``)."""
    if func is target:
        return True
    packet = getattr(func, "overloadpacket", func)  # an OpOverload belongs to an OpOverloadPacket
    if not isinstance(packet, torch._ops.OpOverloadPacket):
        return False
    if isinstance(target, torch._ops.OpOverloadPacket):
        return packet is target
    return (isinstance(target, types.BuiltinFunctionType)
            and packet._qualified_op_name == f"aten::{target.__name__}")


def _passes(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], when: dict[str, Any]) -> bool:
    """Whether a call passes every value of ``when`` (by keyword, or by position where a signature says so)."""
    given = dict(kwargs)
    if when and any(name not in given for name in when) and args:
        try:
            given = dict(inspect.signature(func).bind_partial(*args, **kwargs).arguments)
        except (TypeError, ValueError):  # builtins without a signature: their flags are keyword-only anyway
            pass
    for name, wanted in when.items():
        if name not in given:
            return False
        value = given[name]
        try:
            if not (value == wanted or (isinstance(wanted, bool) and bool(value) == wanted)):
                return False
        except Exception:  # noqa: BLE001 — a value that cannot be compared is not the forbidden one
            return False
    return True


class _ForbiddenCallWatch(TorchFunctionMode):
    """Notes every call of a forbidden function (see ``core.Forbidden``) and lets it run: the grader, not the
    learner's code, turns the note into a verdict."""

    def __init__(self, rules: list[dict[str, Any]], seen: set[str]) -> None:
        super().__init__()
        self.targets = [(rule["function"], target, dict(rule.get("when") or {})) for rule in rules
                        if (target := _resolve(rule["function"])) is not None]
        self.seen = seen

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = kwargs or {}
        for path, target, when in self.targets:
            if _same_function(func, target) and _passes(func, args, kwargs, when):
                self.seen.add(path)
        return func(*args, **kwargs)


class _LibraryWatch:
    """Notes any use of a ruled-out library (see ``core.Forbidden(module=...)``) during the learner's call.

    A profiler hook (``sys.setprofile``, and ``threading.setprofile`` for threads the call starts) sees every
    Python frame that starts and every C function called: a frame whose module is the library or one of its
    submodules, or a C function that belongs to it, is noted, however the learner reached it (an import before the
    call, an alias, an object of one of its classes). An import of the library inside the call is noted and
    refused with ImportError: the verdict names the library either way, and a large library is not loaded against
    the time limit. The hook costs one Python call per call the learner makes, so only exercises that declare a
    library pay it.
    """

    def __init__(self, names: list[str], seen: set[str], where: dict[str, str]) -> None:
        self.names = names
        self.seen = seen
        self.where = where
        self.owners: dict[str, str | None] = {}  # module name -> its ruled-out library: the hook asks per call

    def owner(self, module_name: object) -> str | None:
        """The ruled-out library ``module_name`` belongs to (itself or a submodule), else None."""
        if not isinstance(module_name, str):
            return None
        if module_name not in self.owners:
            self.owners[module_name] = next((name for name in self.names
                                             if module_name == name or module_name.startswith(name + ".")), None)
        return self.owners[module_name]

    def note(self, name: str, what: str) -> None:
        key = f"module:{name}"
        self.seen.add(key)
        self.where.setdefault(key, what)  # the first use is the one a message shows

    def profile(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            module_name = frame.f_globals.get("__name__")
            name = self.owner(module_name)
            if name:
                code = frame.f_code
                self.note(name, f"ran `{module_name}.{getattr(code, 'co_qualname', code.co_name)}`")
        elif event == "c_call":
            module_name = getattr(arg, "__module__", None)
            owner_object = getattr(arg, "__self__", None)
            if not module_name and owner_object is not None:  # a method of an object a C extension made
                module_name = (owner_object.__name__ if isinstance(owner_object, types.ModuleType)
                               else type(owner_object).__module__)
            name = self.owner(module_name)
            if name:
                self.note(name, f"called `{module_name}.{getattr(arg, '__qualname__', getattr(arg, '__name__', '?'))}`")

    def refused(self, name: str) -> ImportError:
        library = self.owner(name)
        assert library is not None
        self.note(library, f"imported `{name}`")
        return ImportError(f"importing {name} is ruled out in this exercise")

    @contextmanager
    def watching(self) -> Iterator[None]:
        real_import, real_import_module = builtins.__import__, importlib.import_module
        watch = self

        def guarded_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (),
                           level: int = 0) -> Any:
            if level == 0 and watch.owner(name):
                raise watch.refused(name)
            return real_import(name, globals, locals, fromlist, level)

        def guarded_import_module(name: str, package: str | None = None) -> Any:
            if not name.startswith(".") and watch.owner(name):
                raise watch.refused(name)
            return real_import_module(name, package)

        previous, previous_threads = sys.getprofile(), threading.getprofile()
        builtins.__import__, importlib.import_module = guarded_import, guarded_import_module
        threading.setprofile(self.profile)
        sys.setprofile(self.profile)
        try:
            yield
        finally:
            sys.setprofile(previous)
            threading.setprofile(previous_threads)
            builtins.__import__, importlib.import_module = real_import, real_import_module


@contextmanager
def _watching_calls(rules: list[dict[str, Any]], seen: set[str], where: dict[str, str] | None = None
                    ) -> Iterator[None]:
    """Watch the learner's call for the forbidden functions and libraries of ``rules`` (none: watch nothing, cost
    nothing); ``seen`` gets the rules' keys (a function's path, ``module:<name>`` for a library), ``where`` the first
    use of each library in words."""
    functions = [rule for rule in rules if rule.get("function")]
    libraries = [str(rule["module"]) for rule in rules if rule.get("module")]
    devices = [str(rule["device"]) for rule in rules if rule.get("device")]
    where = {} if where is None else where
    with _ForbiddenCallWatch(functions, seen) if functions else _nothing(), \
            _LibraryWatch(libraries, seen, where).watching() if libraries else _nothing(), \
            _DeviceWatch(devices, seen, where) if devices else _nothing():
        yield


class _DeviceWatch(TorchDispatchMode):
    """Notes any operator whose result lies on a ruled-out device (``core.Forbidden(device="meta")``): however the
    tensors were asked for (``device=``, ``with torch.device(...)``, ``.to()``), their operators pass through here."""

    def __init__(self, devices: list[str], seen: set[str], where: dict[str, str]) -> None:
        super().__init__()
        self.devices = set(devices)
        self.seen = seen
        self.where = where

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for value in torch.utils._pytree.tree_leaves(out):
            if isinstance(value, torch.Tensor) and value.device.type in self.devices:
                key = f"device:{value.device.type}"
                self.seen.add(key)
                self.where.setdefault(key, f"ran `{func}` there")
                break
        return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _run_steps(student: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Make every call of the request (in this process) and describe the results as plain data."""
    objects: dict[str, Any] = {}
    steps_out: list[dict[str, Any]] = []
    for step in request["steps"]:
        args = [wire.build(a, objects) for a in step.get("args", [])]
        kwargs = {k: wire.build(v, objects) for k, v in step.get("kwargs", {}).items()}
        target = objects[step["on"]] if step.get("on") else student
        if step.get("method"):
            try:  # the learner's object may not have it, or its __getattr__ may raise anything
                target = getattr(target, step["method"])
            except BaseException as exc:  # noqa: BLE001 — an answer's error, reported as data
                steps_out.append({"ok": False, "error": describe_exception(exc)})
                break
        seed = int(step.get("global_seed", 0))
        torch.manual_seed(seed)
        random.seed(seed)
        before = _global_rng_state()
        autograd_calls = [0]
        forbidden_calls: set[str] = set()
        forbidden_where: dict[str, str] = {}
        started = time.perf_counter()
        try:
            with _watching_calls(list(request.get("forbidden") or []), forbidden_calls, forbidden_where):
                if request.get("count_autograd"):
                    with _counting_autograd(autograd_calls):
                        output = target(*args, **kwargs)
                else:
                    output = target(*args, **kwargs)
        except CheckTimeout:
            raise
        except BaseException as exc:  # everything the learner's code can raise ends as data
            steps_out.append({"ok": False, "error": describe_exception(exc), "forbidden_calls": sorted(forbidden_calls),
                              "forbidden_where": forbidden_where})
            break
        elapsed = time.perf_counter() - started
        after = _global_rng_state()
        untouched = torch.equal(before[0], after[0]) and before[1] == after[1]
        record: dict[str, Any] = {"ok": True, "elapsed": elapsed, "global_rng_touched": not untouched,
                                  "autograd_calls": autograd_calls[0], "forbidden_calls": sorted(forbidden_calls),
                                  "forbidden_where": forbidden_where}
        try:
            if step.get("backward") is not None:
                record["grads"] = _gradients(output, step["backward"], args)
            record["output"] = wire.encode(output, meta=True)
            record["args_after"] = [wire.state_after(o, b, objects) for o, b in zip(step.get("args", []), args,
                                                                                    strict=True)]
            record["kwargs_after"] = {k: wire.state_after(step["kwargs"][k], v, objects) for k, v in kwargs.items()}
        except BaseException as exc:
            steps_out.append({"ok": False, "error": describe_exception(exc), "after_call": True})
            break
        if not step.get("on") and not step.get("method"):
            record["aliases"] = _aliases(output, args, kwargs)
        if step.get("keep"):
            objects[step["keep"]] = output
        steps_out.append(record)
    return {"steps": steps_out}


def _tensors(value: Any, depth: int = 0) -> Iterator[torch.Tensor]:
    """Every tensor inside ``value`` (lists, tuples, dicts), for the aliasing check."""
    if depth > 8:
        return
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item, depth + 1)


def _aliases(output: Any, args: list[Any], kwargs: dict[str, Any]) -> list[str]:
    """The arguments (``"0"``, ``"1"``, ..., or keyword names) whose memory a tensor of the result shares: the input
    itself or a view of it handed back, so the caller's next change to one changes the other."""
    storages = {t.untyped_storage().data_ptr() for t in _tensors(output) if t.numel() and t.layout == torch.strided}
    found = []
    for name, value in [(str(i), a) for i, a in enumerate(args)] + list(kwargs.items()):
        if any(t.numel() and t.layout == torch.strided and t.untyped_storage().data_ptr() in storages
               for t in _tensors(value)):
            found.append(name)
    return found


def input_gradients(output: Any, upstream: Any, args: list[Any]) -> tuple[dict[str, torch.Tensor | None], bool]:
    """d(sum of output · upstream)/d(every leaf tensor inside ``args``), by path (None: not reached), and
    whether any output tensor was connected to autograd at all. The grader's reference uses it too."""
    leaves: list[tuple[str, torch.Tensor]] = []
    for i, a in enumerate(args):
        _leaves(a, f"arg{i}", leaves)
    pairs = list(_pairs(output, upstream))
    grads: dict[str, torch.Tensor | None] = {path: None for path, _ in leaves}
    if pairs and leaves:
        outs, ups = zip(*pairs, strict=True)
        found = torch.autograd.grad(outs, [leaf for _, leaf in leaves], ups, allow_unused=True)
        grads.update((path, g) for (path, _), g in zip(leaves, found, strict=True))
    return grads, bool(pairs)


def _gradients(output: Any, backward: dict[str, Any], args: list[Any]) -> dict[str, Any]:
    """The learner's gradients (see :func:`input_gradients`) as plain data."""
    grads, connected = input_gradients(output, backward["upstream"], args)
    return {"connected": connected, "wrt": {k: None if g is None else wire.encode(g) for k, g in grads.items()}}


def _child_main(student: Any, request: dict[str, Any], write_fd: int) -> None:
    """Body of the forked child: quiet output, one thread, the calls, the answer down the pipe, exit."""
    code = 0
    try:
        try:
            os.setpgid(0, 0)  # its own process group, so the parent can end it and anything it starts
        except OSError:
            pass
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        captured = _CappedText()
        sys.stdout = sys.stderr = captured
        torch.set_num_threads(1)
        result = _run_steps(student, request)
        result["printed"] = captured.getvalue()
        payload = wire.dumps(result)
        with os.fdopen(write_fd, "wb", closefd=True) as pipe:
            pipe.write(len(payload).to_bytes(8, "little"))
            pipe.write(payload)
    except BaseException:  # noqa: BLE001 — the child must never return into the caller's code
        code = 70
    finally:
        os._exit(code)


# --- in the caller: fork, wait, read ----------------------------------------------------------------


def _kill_group(pid: int) -> None:
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            kill()
        except (ProcessLookupError, PermissionError, OSError):
            pass


def run_request(student: Any, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Make the request's calls to ``student`` within ``timeout`` seconds; always returns plain data.

    The result's ``status`` is ``"done"`` (then ``steps`` has one record per call made), ``"timeout"``,
    ``"died"`` (the child ended without answering: ``os._exit``, a crash, a kill) or ``"bad-output"``.
    """
    request = wire.loads(wire.dumps(request))  # what the child gets is exactly what the wire can carry
    _warm_up()
    if not CAN_FORK:
        return _run_in_process(student, request, timeout)
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    started = time.monotonic()
    with warnings.catch_warnings():  # Python 3.12+ warns about forking a threaded process (a Jupyter kernel is one);
        warnings.simplefilter("ignore", DeprecationWarning)  # the child runs only the learner's call and exits
        pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        _child_main(student, request, write_fd)
    os.close(write_fd)
    data = bytearray()
    status = "done"
    try:
        deadline = started + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                status = "timeout"
                break
            ready, _, _ = select.select([read_fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            data.extend(chunk)
            if len(data) > MAX_RESPONSE_BYTES + 8:
                status = "bad-output"
                break
    finally:
        _kill_group(pid)  # whatever is left of the child and anything it started
        os.close(read_fd)
        _reap(pid)
    elapsed = time.monotonic() - started
    if status != "done":
        return {"status": status, "steps": [], "elapsed": elapsed}
    if len(data) < 8 or int.from_bytes(data[:8], "little") != len(data) - 8:
        return {"status": "died", "steps": [], "elapsed": elapsed}
    try:
        result = wire.loads(bytes(data[8:]))
    except Exception:  # noqa: BLE001
        return {"status": "bad-output", "steps": [], "elapsed": elapsed}
    result.update(status="done", elapsed=elapsed)
    return result


def _reap(pid: int) -> None:
    for _ in range(200):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.005)


@contextmanager
def deadline(seconds: float, *, use_signal: bool | None = None) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in the running code after ``seconds`` (the in-process fallback only).

    A real-time timer signal in a Unix main thread, else a trace function that checks the clock on every
    line of Python. Neither stops a loop inside C code, and learner code can defeat both: that is why
    checks fork wherever they can.
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


def _run_in_process(student: Any, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    saved_rng = _global_rng_state()
    old_out, old_err = sys.stdout, sys.stderr
    captured = _CappedText()
    sys.stdout = sys.stderr = captured
    try:
        with deadline(timeout):
            result = _run_steps(student, request)
        status = "done"
    except CheckTimeout:
        result, status = {"steps": []}, "timeout"
    finally:
        sys.stdout, sys.stderr = old_out, old_err
        torch.random.set_rng_state(saved_rng[0])
        random.setstate(saved_rng[1])
    try:
        result = wire.loads(wire.dumps(result))
    except Exception:  # noqa: BLE001
        result, status = {"steps": []}, "bad-output"
    result.update(status=status, elapsed=time.monotonic() - started, printed=captured.getvalue(), in_process=True)
    return result


def master_executor(master: Any) -> Any:
    """An executor that runs the course's own master answer in this process (with the same time limit and the
    same watches as a learner's child, but no fork per call): recording the cases trusts the master, and a fork
    per call was most of ``exercises build``'s time."""
    return lambda request, timeout: _run_in_process(master, request, timeout)

