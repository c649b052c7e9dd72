"""Where the work runs: the best device, the autocast dtype it supports, seeding, an environment report.

Chapter 1 introduces these; every later chapter starts with ``device = best_device()`` and prints
:func:`environment_report` so a result can always be traced to the machine that made it. The choices
follow what the hardware supports (bf16 only where it is fast and exact enough, ``torch.compile``
only where it works) so a default never crashes an older GPU or a laptop.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import random
import shutil
import sys
from collections.abc import Iterator

import numpy as np
import torch

DEVICE_ENV_VAR = "LLMCOURSE_DEVICE"


TRUST_ENV_VAR = "LLMCOURSE_TRUST_DEVICE"
MIXED_PRECISION_TROUBLE = "mixed precision only: "  # how the doctor's device_trouble starts when float32 is fine
_warned: set[str] = set()  # devices whose fallback warning this process has printed (once each)
_float32_only: set[str] = set()  # device types whose float32 passed the numerics check and mixed precision did not


def best_device() -> torch.device:
    """:func:`preferred_device`, unless it is not the CPU and fails the numerics check, then the CPU.

    A GPU or MPS backend whose kernels give wrong numbers would train garbage for an hour without a sign, so the
    first call per process and device runs the doctor's small GPT and LSTM check (well under a second) and falls
    back with a one-line warning; ``LLMCOURSE_TRUST_DEVICE=1`` skips the check. On the CPU nothing is checked. Where
    float32 passes and only mixed precision (bf16 or fp16 autocast) differs, the device is kept and
    :func:`autocast_dtype` says float32 for it: a GPU in float32 is still far faster than the CPU.
    """
    device = preferred_device()
    if trust_device() or device.type == "cpu":  # the variable first: a bad value is refused on every machine
        return device
    from .doctor import device_trouble  # here, not at the top: the doctor builds models whose modules import this one

    trouble = device_trouble(device)
    if trouble is None:
        return device
    float32_fine = trouble.startswith(MIXED_PRECISION_TROUBLE)  # only bf16/fp16 differ: keep the device, in float32
    if float32_fine:
        _float32_only.add(device.type)
    if str(device) not in _warned:
        _warned.add(str(device))
        instead = f"the course trains on {device} in float32" if float32_fine else "the course uses the CPU instead"
        print(f"warning: {trouble}; {instead} (set {TRUST_ENV_VAR}=1 to use {device} as it is)", file=sys.stderr)
    return device if float32_fine else torch.device("cpu")


def trust_device() -> bool:
    """``LLMCOURSE_TRUST_DEVICE``: 1 skips the numerics check, 0 or unset runs it; anything else is refused."""
    value = os.environ.get(TRUST_ENV_VAR, "").strip().lower()
    if value not in ("", "0", "1", "false", "true"):
        raise ValueError(f"{TRUST_ENV_VAR}={value!r}: use 1 to skip the device's numerics check, 0 or unset to run it")
    return value in ("1", "true")


def preferred_device() -> torch.device:
    """cuda > mps > cpu, unchecked; ``LLMCOURSE_DEVICE`` (e.g. ``cpu``) overrides the choice."""
    forced = os.environ.get(DEVICE_ENV_VAR, "").strip().lower()
    if forced:
        return forced_device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def forced_device(name: str, source: str = DEVICE_ENV_VAR) -> torch.device:
    """The device ``LLMCOURSE_DEVICE`` (or ``source``, e.g. ``--device``) names, refused with a ValueError (one line)
    if torch or this machine does not have it: ``"cuda:1"`` on a one-GPU machine fails here, not in the first tensor
    it would hold."""
    leave_out = f"unset {DEVICE_ENV_VAR}" if source == DEVICE_ENV_VAR else f"leave out {source}"
    advice = f"use cpu, cuda, cuda:N or mps, or {leave_out} to choose automatically"
    what = f"{source}={name!r}"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{what} is not a device torch knows; {advice}") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (device.index or 0) >= count:
            have = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise ValueError(f"{what}, but this machine has {have}; {advice}")
    elif device.type == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise ValueError(f"{what}, but MPS is not available here; {advice}")
    elif device.type != "cpu":
        backend = getattr(torch, device.type, None)
        if not callable(getattr(backend, "is_available", None)) or not backend.is_available():
            raise ValueError(f"{what}, but torch cannot use {device.type} here; {advice}")
    return device


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The mixed-precision dtype worth using on ``device``, or None for plain float32.

    bf16 on CUDA GPUs that support it (Ampere and newer), fp16 on older CUDA GPUs (with a ``GradScaler``, as
    :func:`llmcourse.training.train` and chapter 7's ``train_gpt`` do). On CPU and MPS we
    stay in float32: CPU bf16 is slow on most laptops, and float32 keeps results comparable.
    """
    device = torch.device(device)
    if device.type == "cuda" and device.type not in _float32_only:
        return torch.bfloat16 if native_bf16() else torch.float16
    return None


def native_bf16() -> bool:
    """Whether the CUDA GPU computes in bfloat16 natively (Ampere and newer).

    ``torch.cuda.is_bf16_supported()`` says yes by default on older cards too (a T4, a V100), where bfloat16
    is emulated and slow; there, float16 with a gradient scaler is the fast and safe choice.
    """
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # a torch without the argument judged native support only
        return bool(torch.cuda.is_bf16_supported())


def autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` with :func:`autocast_dtype`, or a no-op context where float32 is better."""
    device = torch.device(device)
    dtype = autocast_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device | str) -> torch.amp.GradScaler:
    """A loss scaler that is on only where :func:`autocast` runs in fp16, whose range is too narrow for small
    gradients; off (every call a pass-through) with bf16 and float32. Chapter 1's and chapter 7's loops use it."""
    device = torch.device(device)
    return torch.amp.GradScaler(device.type, enabled=autocast_dtype(device) == torch.float16)


def can_compile(device: torch.device | str) -> bool:
    """Whether ``torch.compile`` can work here: CUDA on Linux (its Triton backend), or a Linux or macOS CPU with a
    C++ compiler on the PATH (Inductor writes C++ for the CPU and needs one to build it)."""
    device = torch.device(device)
    if not hasattr(torch, "compile"):
        return False
    if device.type == "cuda":
        return sys.platform.startswith("linux")
    if device.type == "cpu":
        compilers = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
        return sys.platform.startswith(("linux", "darwin")) and any(c and shutil.which(c) for c in compilers)
    return False


@functools.cache
def compiles_on(device_name: str) -> bool:
    """Compile and run a tiny forward and backward on ``device_name`` once: a C++ compiler on the PATH (or a GPU
    Triton supports) may still fail to build."""
    try:
        x = torch.ones(4, device=device_name, requires_grad=True)
        torch.compile(lambda t: (t.sin() * 2).sum())(x).backward()
        return bool(torch.isfinite(x.grad).all())
    except Exception:  # noqa: BLE001 — any failure means: do not compile here
        return False


def compiles_on_cpu() -> bool:
    """:func:`compiles_on` for the CPU (cached)."""
    return compiles_on("cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (all devices) so a cell gives the same numbers when re-run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run the block on ``n`` CPU threads (``None``: leave torch's setting), then restore the old count.

    Small models gain little from more threads, and on a busy two-core machine threads fighting over the
    cores can make small loops several times slower; chapters 1 and 3 use this for their small, step-by-step work.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def synchronize(device: torch.device | str) -> None:
    """Wait for queued GPU work, so a timer measures the work and not just its launch."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def environment_report(device: torch.device | None = None) -> str:
    """One line naming everything a result depends on: profile, versions, device, precision."""
    from . import __version__
    from .config import active_profile

    device = device or best_device()
    return (
        f"llmcourse {__version__} | profile {active_profile()} | python {platform.python_version()} | "
        f"torch {torch.__version__} | device {describe(device)} | {precision_name(device)}"
    )


def describe(device: torch.device) -> str:
    """'cuda:0 (NVIDIA H100)', 'cpu (2 threads, x86_64)', 'mps': the device and what it is."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads, {platform.machine()})"
    return str(device)


def precision_name(device: torch.device) -> str:
    """'bfloat16 autocast', 'float16 autocast' or 'float32': what :func:`autocast_dtype` chooses, in words."""
    dtype = autocast_dtype(device)
    return f"{str(dtype).removeprefix('torch.')} autocast" if dtype else "float32"
