"""``python -m llmcourse doctor``: is this machine ready for the course, and does its device compute right?

Each check below is a small function returning :class:`Check` records (name, ok/warn/fail/skip, one line, and
whether the course needs it), in the order the report prints them: versions, device, precision, compile, memory,
disk, data, the teacher's sandbox, then the numerics check, which runs a small forward and backward pass of the
course's GPT and LSTM on the device and in float64 on the CPU and compares loss and gradients. A device that fails
it is not used: :func:`llmcourse.device.best_device` falls back to the CPU (see :func:`device_trouble`).

:func:`checkup` is the one-line version at the top of every chapter; :func:`run_cli` is the command.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from . import data
from .device import (
    TRUST_ENV_VAR,
    autocast_dtype,
    can_compile,
    compiles_on_cpu,
    forced_device,
    native_bf16,
    preferred_device,
    trust_device,
)

FULL_REPORT = "python -m llmcourse doctor"
MIN_FREE_MEMORY_GB = 2.0  # the laptop profile's largest runs (chapters 3 and 7) stay under this; less: expect swapping
MIN_FREE_DISK_GB = 1.0  # the datasets (about 120 MB) plus checkpoints and the book's build


@dataclass
class Check:
    """One line of the report. ``needed``: a ``fail`` here makes the command exit 1."""

    name: str
    status: str  # "ok", "warn", "fail" or "skip"
    detail: str
    needed: bool


# ---------------------------------------------------------------------------------------------------- versions


def installed_version(name: str) -> str | None:
    """The installed distribution's version, or None (a module-level function so tests can pretend)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    """Python against the course's ``requires-python``."""
    have = platform.python_version()
    try:
        wanted = SpecifierSet(metadata.metadata("llmcourse")["Requires-Python"] or "")
    except metadata.PackageNotFoundError:
        return Check("python", "warn", f"{have}; llmcourse is not installed, its needs are unknown: pip install -e .",
                     False)
    ok = wanted.contains(have, prereleases=True)
    return Check("python", "ok" if ok else "fail", f"{have} (the course needs {wanted})", True)


def check_requirements() -> list[Check]:
    """Each requirement of the installed llmcourse against its specifier: base ones are needed, dev extras not."""
    try:
        lines = metadata.requires("llmcourse") or []
    except metadata.PackageNotFoundError:
        return [Check("requirements", "warn", "llmcourse is not installed, its requirements cannot be read: "
                      "pip install -e .", False)]
    checks = []
    for line in lines:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            needed = True
        elif req.marker.evaluate({"extra": "dev"}):
            needed = False
        else:
            continue  # another platform's or another extra's
        have = installed_version(req.name)
        fix = f"pip install '{req.name}{req.specifier}'"
        if have is None:
            status, detail = ("fail" if needed else "warn"), f"missing (needs {req.specifier}): {fix}"
        elif req.specifier.contains(have, prereleases=True):
            status, detail = "ok", f"{have} ({req.specifier or 'any'})"
        else:
            status, detail = ("fail" if needed else "warn"), f"{have}, but needs {req.specifier}: {fix}"
        checks.append(Check(req.name if needed else f"{req.name} (dev)", status, detail, needed))
    return checks


# ------------------------------------------------------------------------------------------ device and precision


def describe(device: torch.device) -> str:
    """'cuda:0 (NVIDIA H100)', 'cpu (2 threads, x86_64)', 'mps'."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"
    return str(device)


def precision_name(device: torch.device) -> str:
    dtype = autocast_dtype(device)
    return f"{str(dtype).removeprefix('torch.')} autocast" if dtype else "float32"


def check_precision(device: torch.device) -> Check:
    """What the device supports and what the course chooses: bf16 where native, fp16 with a scaler, else fp32."""
    dtype = autocast_dtype(device)
    if device.type == "cuda":
        bf16 = "native" if native_bf16() else "emulated only (slow)"
        scaler = ("float16 runs use a GradScaler (llmcourse.training); chapter 7's train_gpt stays in float32"
                  if dtype == torch.float16 else "no GradScaler needed")
        return Check("precision", "ok", f"bf16 {bf16}, fp16 yes; the course uses {precision_name(device)}, {scaler}",
                     True)
    why = "CPU bf16 is slow on most laptops" if device.type == "cpu" else "autocast is not used on this backend"
    return Check("precision", "ok", f"float32 (no autocast: {why})", True)


@functools.cache
def _compiles_on(device_name: str) -> bool:
    """Compile and run a tiny forward and backward on ``device_name`` (the CPU's answer is device.py's)."""
    if device_name == "cpu":
        return compiles_on_cpu()
    try:
        x = torch.ones(4, device=device_name, requires_grad=True)
        torch.compile(lambda t: (t.sin() * 2).sum())(x).backward()
        return bool(torch.isfinite(x.grad).all())
    except Exception:  # noqa: BLE001 — any failure means: do not compile here
        return False


def check_compile(device: torch.device, skip: bool) -> Check:
    """Whether ``torch.compile`` works here, tried for real (seconds), not merely whether it might."""
    if skip:
        return Check("torch.compile", "skip", "not tried (--no-compile)", False)
    if not can_compile(device):
        return Check("torch.compile", "warn", f"unsupported on {device.type} here (CUDA on Linux, or a CPU with a C++ "
                     "compiler); the course keeps compile off", False)
    started = time.perf_counter()
    if _compiles_on(device.type if device.index is None else str(device)):
        seconds = time.perf_counter() - started
        return Check("torch.compile", "ok", f"compiled and ran a tiny function in {seconds:.1f} s", False)
    return Check("torch.compile", "warn", "torch.compile failed here: train with compile=False", False)


# ------------------------------------------------------------------------------------------------ memory, disk


def free_memory_bytes() -> int | None:
    """Memory available to a new process: /proc/meminfo's MemAvailable, else sysconf's free pages."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    with contextlib.suppress(AttributeError, OSError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return None


def check_memory(device: torch.device) -> Check:
    free = free_memory_bytes()
    detail = "free memory unknown" if free is None else f"{free / 2**30:.1f} GiB free"
    low = free is not None and free < MIN_FREE_MEMORY_GB * 2**30
    if device.type == "cuda":
        gpu_free, gpu_total = torch.cuda.mem_get_info(device)
        detail += f"; GPU {gpu_free / 2**30:.1f} of {gpu_total / 2**30:.1f} GiB free"
        low = low or gpu_free < MIN_FREE_MEMORY_GB * 2**30
    if low:
        detail += f" (below {MIN_FREE_MEMORY_GB:g} GiB: close other programs or use the ci profile)"
    return Check("memory", "warn" if low or free is None else "ok", detail, False)


def _existing(folder: Path) -> Path:
    """The folder, or its nearest parent that exists (a cache folder is made on first download)."""
    folder = folder.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_disk() -> list[Check]:
    """Free space where the datasets are read from and downloaded to."""
    places = {"cache": data.cache_dir()}
    if data.data_dir() is not None:
        places["data dir"] = data.data_dir()
    checks = []
    for label, folder in places.items():
        free = shutil.disk_usage(_existing(folder)).free
        low = free < MIN_FREE_DISK_GB * 2**30
        detail = f"{free / 2**30:.1f} GiB free at {folder}" + (f" (below {MIN_FREE_DISK_GB:g} GiB)" if low else "")
        checks.append(Check(f"disk ({label})", "warn" if low else "ok", detail, False))
    return checks


# --------------------------------------------------------------------------------------------- data and sandbox


def check_data() -> list[Check]:
    """Each registered dataset: present and sha256-verified (ok), absent (warn: it downloads on first use), or
    present but not the registered file (fail: the course would refuse it)."""
    checks = []
    for name in data.REGISTRY:
        try:
            where = data.path(name, download=False)
            checks.append(Check(f"data: {name}", "ok", f"verified (sha256) at {where}", False))
        except data.DataUnavailable:
            checks.append(Check(f"data: {name}", "warn", f"not here yet; downloads on first use "
                                f"(or now: python -m llmcourse data fetch {name})", False))
        except data.ChecksumMismatch as err:
            checks.append(Check(f"data: {name}", "fail", err.args[0], True))
    return checks


def check_sandbox() -> list[Check]:
    """The teacher's grading sandbox: bubblewrap works, a pids cgroup can be made (learners need neither)."""
    from .grading import sandbox

    isolation = sandbox.detect()
    if isolation.tool == "bwrap":
        bwrap = Check("sandbox (teachers)", "ok", "bubblewrap works: submissions are graded isolated", False)
    else:
        bwrap = Check("sandbox (teachers)", "warn", f"no working bubblewrap, grading uses {isolation.tool}; not "
                      f"isolated: {'; '.join(isolation.missing)} (apt-get install bubblewrap)", False)
    prefix, cgroup = sandbox.limits(sandbox.Limits())
    sandbox.remove_cgroup(cgroup)
    rlimits = "prlimit sets CPU, memory and file limits" if prefix else "no prlimit: no CPU or memory limits"
    if cgroup is not None:
        pids = Check("cgroup (teachers)", "ok", f"a pids cgroup can be made; {rlimits}", False)
    else:
        pids = Check("cgroup (teachers)", "warn", f"no pids cgroup here ({sandbox.PIDS_CGROUP_ROOT} not writable): "
                     f"process count limited by RLIMIT_NPROC only; {rlimits}", False)
    return [bwrap, pids]


# ---------------------------------------------------------------------------------------------------- numerics

# Tolerances on the largest relative difference from float64 on the CPU (loss relative to the loss, gradients
# relative to the largest gradient element of the model: some gradients are exactly zero in exact arithmetic, the
# key biases' for one, and cannot be measured relative to themselves). A wrong kernel is off by 1e-1 or more.
FLOAT32_TOL = 1e-4  # float32 rounds at 6e-8; over these sums of a few hundred terms the CPU measured 3e-7
TF32_TOL = 1e-2  # CUDA float32 may round matmul/cuDNN inputs to TF32's 10-bit mantissa (5e-4), as fp16 does
AUTOCAST_TOL = {torch.float16: 1e-2,  # fp16 rounds at 4.9e-4; CPU autocast measured 5e-4 on the GPT
                torch.bfloat16: 5e-2}  # bf16 rounds at 3.9e-3; CPU autocast measured 6e-3 (GPT), 2e-3 (LSTM)
VOCAB = 64


@dataclass(frozen=True)
class Comparison:
    """One model under one precision on one device, against float64 on the CPU."""

    model: str  # "GPT" or "LSTM"
    device: str
    precision: str  # "float32" or "bfloat16 autocast" ...
    loss_gap: float  # relative
    grad_gap: float  # relative to the largest gradient element
    tolerance: float
    error: str = ""  # the device raised instead of computing

    @property
    def ok(self) -> bool:
        return not self.error and max(self.loss_gap, self.grad_gap) <= self.tolerance

    def line(self) -> str:
        what = f"{self.model} on {self.device} in {self.precision} vs float64 on the CPU"
        if self.error:
            return f"{what}: FAILED to run: {self.error}"
        verdict = "within" if self.ok else "OUTSIDE"
        return (f"{what}: loss {self.loss_gap:.1e}, gradients {self.grad_gap:.1e} "
                f"({verdict} tolerance {self.tolerance:.0e})")


def _models() -> dict[str, torch.nn.Module]:
    """The course's GPT and LSTM language model, small, from fixed seeds (the caller's random state is kept)."""
    from .gpt import GPT, GPTConfig
    from .rnn import CharRNN

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return {"GPT": GPT(GPTConfig(vocab_size=VOCAB, block_size=16, n_layer=2, n_head=2, n_embd=32)),
                "LSTM": CharRNN(VOCAB, 32, kind="lstm")}


def _batch() -> torch.Tensor:
    return torch.randint(0, VOCAB, (4, 17), generator=torch.Generator().manual_seed(0))


def loss_and_grads(model: torch.nn.Module, ids: torch.Tensor, device: torch.device, dtype: torch.dtype,
                   amp: torch.dtype | None) -> list[torch.Tensor]:
    """[loss, *gradients] of a copy of ``model`` in ``dtype`` on ``device`` (under ``amp`` autocast), in float64
    on the CPU."""
    net = copy.deepcopy(model).to(device=device, dtype=dtype)
    ids = ids.to(device)
    cast = torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()
    with cast:
        out = net(ids[:, :-1])
    logits = out[0] if isinstance(out, tuple) else out  # the LSTM returns (logits, state)
    loss = F.cross_entropy(logits.to(dtype).reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    loss.backward()
    return [t.detach().to("cpu", torch.float64) for t in [loss, *(p.grad for p in net.parameters())]]


def _gaps(got: list[torch.Tensor], ref: list[torch.Tensor]) -> tuple[float, float]:
    loss_gap = (abs(got[0] - ref[0]) / abs(ref[0])).item()
    scale = max(r.abs().max().item() for r in ref[1:])
    grad_gap = max((g - r).abs().max().item() for g, r in zip(got[1:], ref[1:], strict=True)) / scale
    return loss_gap, grad_gap


def _float32_tolerance(device: torch.device) -> float:
    tf32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
    return TF32_TOL if device.type == "cuda" and tf32 else FLOAT32_TOL


@functools.cache
def numerics(device_name: str) -> tuple[Comparison, ...]:
    """GPT and LSTM, float32 (and the device's autocast dtype, if any) on ``device_name`` vs float64 on the CPU.

    On a CPU-only machine this compares float32 on the CPU with float64 on the CPU. Cached: once per process.
    """
    device = torch.device(device_name)
    ids = _batch()
    runs = [("float32", torch.float32, None, _float32_tolerance(device))]
    amp = autocast_dtype(device)
    if amp is not None:
        runs.append((f"{str(amp).removeprefix('torch.')} autocast", torch.float32, amp, AUTOCAST_TOL[amp]))
    results = []
    for name, model in _models().items():
        ref = loss_and_grads(model, ids, torch.device("cpu"), torch.float64, None)
        for precision, dtype, cast, tolerance in runs:
            try:
                loss_gap, grad_gap = _gaps(loss_and_grads(model, ids, device, dtype, cast), ref)
                results.append(Comparison(name, device_name, precision, loss_gap, grad_gap, tolerance))
            except Exception as err:  # noqa: BLE001 — a backend that cannot run the model fails the check
                first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                results.append(Comparison(name, device_name, precision, float("nan"), float("nan"), tolerance,
                                          error=first))
    return tuple(results)


def device_trouble(device: torch.device) -> str | None:
    """None if ``device`` passes the numerics check, else one line saying what differs (for best_device)."""
    bad = [c for c in numerics(str(device)) if not c.ok]
    if not bad:
        return None
    c = bad[0]
    if c.error:
        return f"the course's {c.model} fails to run on {device} in {c.precision}: {c.error}"
    return (f"the course's {c.model} on {device} in {c.precision} differs from float64 on the CPU by "
            f"{max(c.loss_gap, c.grad_gap):.1e} (tolerance {c.tolerance:.0e})")


def check_numerics(device: torch.device) -> list[Check]:
    """Each comparison as a needed check; on a device other than the CPU, the CPU's own float32 too."""
    checks = []
    for c in numerics(str(device)):
        name = f"numerics: {c.model} {c.precision}"
        checks.append(Check(name, "ok" if c.ok else "fail", c.line(), True))
    if device.type != "cpu" and any(ch.status == "fail" for ch in checks):
        fallback = (f"{TRUST_ENV_VAR}=1 is set: the course uses {device} anyway, results may be garbage"
                    if trust_device() else f"the course falls back to the CPU (set {TRUST_ENV_VAR}=1 to override)")
        checks.append(Check("device fallback", "warn", fallback, False))
    return checks


# ------------------------------------------------------------------------------------------------- the report


def report(device: torch.device, compile_check: bool = True) -> list[Check]:
    """Every check, in the report's order."""
    return [check_python(), *check_requirements(),
            Check("device", "ok", describe(device), True), check_precision(device),
            check_compile(device, skip=not compile_check), check_memory(device), *check_disk(),
            *check_data(), *check_sandbox(), *check_numerics(device)]


MARK = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}


def table(checks: list[Check]) -> str:
    """The checks as aligned text: mark, name, detail; the numerics after the rest, under their own heading."""
    width = max(len(c.name) for c in checks)
    plain = [c for c in checks if not c.name.startswith("numerics:")]
    lines = [f"{MARK[c.status]} {c.name:<{width}}  {c.detail}" for c in plain]
    lines.append("numerics (a forward and backward pass of the course's GPT and LSTM against float64 on the CPU):")
    lines += [f"{MARK[c.status]}   {c.detail}" for c in checks if c.name.startswith("numerics:")]
    return "\n".join(lines)


def run_cli(args: argparse.Namespace) -> int:
    """``python -m llmcourse doctor``: 0 when everything needed is ok, 1 when something needed fails, 2 for a bad
    ``--device`` (or LLMCOURSE_DEVICE / LLMCOURSE_TRUST_DEVICE)."""
    started = time.perf_counter()
    try:
        device = forced_device(args.device.strip().lower(), "--device") if args.device else preferred_device()
        trust_device()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    checks = report(device, compile_check=not args.no_compile)
    failed = [c.name for c in checks if c.needed and c.status == "fail"]
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"ok": not failed, "device": str(device), "seconds": round(seconds, 2),
                          "checks": [asdict(c) for c in checks]}))
    else:
        print(table(checks))
        print(f"\n{'missing or wrong: ' + ', '.join(failed) if failed else 'everything the course needs is here'} "
              f"({seconds:.1f} s)")
    return 1 if failed else 0


# ------------------------------------------------------------------------------------- the chapters' one line


def checkup(device: torch.device | str | None = None) -> None:
    """Print :func:`checkup_line`: the one line at the top of every chapter."""
    print(checkup_line(device))


def checkup_line(device: torch.device | str | None = None) -> str:
    """Versions, device, precision and the numerics check in one line (no compile, no sha256 of big files); what
    is wrong and what to do, if anything. Never raises: a failing check is said, not thrown."""
    try:
        return _checkup_line(device)
    except Exception as err:  # noqa: BLE001 — the top of a chapter must print a line, whatever goes wrong
        return f"doctor: ✗ {type(err).__name__}: {err} — run: {FULL_REPORT}"


def _checkup_line(device: torch.device | str | None) -> str:
    device = torch.device(device) if device is not None else preferred_device()
    versions = [check_python(), *check_requirements()]
    wrong = [f"{c.name} {c.detail}" for c in versions if c.needed and c.status == "fail"]
    parts = [f"python {platform.python_version()}, torch {torch.__version__.split('+')[0]} "
             + ("✓" if not wrong else "✗ " + "; ".join(wrong))]
    parts.append(f"{describe(device).split(' (')[0]}, {precision_name(device)}")
    comparisons = numerics(str(device))
    worst = max((c for c in comparisons if not c.error), key=lambda c: max(c.loss_gap, c.grad_gap), default=None)
    where = "float32 on the CPU" if device.type == "cpu" else f"{device} ({precision_name(device)})"
    if all(c.ok for c in comparisons):
        gap = max(worst.loss_gap, worst.grad_gap)
        parts.append(f"numerics: GPT and LSTM in {where} agree with float64 on the CPU "
                     f"(largest difference {gap:.0e}) ✓")
    else:
        trouble = device_trouble(device)
        if device.type == "cpu":
            advice = "the CPU itself computes wrongly: report it with the full report"
        elif trust_device():
            advice = f"{TRUST_ENV_VAR}=1 keeps {device}: results may be garbage"
        else:
            advice = f"the course uses the CPU instead ({TRUST_ENV_VAR}=1 to override)"
        parts.append(f"numerics: ✗ {trouble}; {advice}")
    return "doctor: " + " | ".join(parts) + f" — full report: {FULL_REPORT}"
