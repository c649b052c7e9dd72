"""Recorded public cases: what a learner's ``check()`` compares with, as plain data instead of reference code.

``python -m llmcourse exercises build`` runs every public case of every exercise for several seeds on the
teacher's side, with the master solution answering and the teacher's references (:mod:`.references`) computing
the expected answers, and writes each case's *tape*: every expected answer the case asked for, in order (expected
outputs, upstream and expected gradients, named-mistake outputs), each with a fingerprint of the inputs it was
computed from. One file per exercise, ``llmcourse/checks/recorded/chNN/<name>.pt``, saved with ``torch.save`` and
read with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists, tuples and dicts, no code.

A learner's check draws, for every case, one of its recorded seeds at random, runs the case's own code (which
draws the inputs from that seed again and calls the learner's function on them), and reads each expected answer
from the tape, after checking that the inputs drawn now have the recorded fingerprint. ``exercises build
--check`` (and the course's tests) record again and fail when a tape differs from the committed one.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from . import wire

FORMAT = 1
RECORDED_DIR = Path(__file__).resolve().parents[1] / "checks" / "recorded"
SEEDS_PER_CASE = 4


class RecordingMismatch(Exception):
    """A recorded tape does not fit the case replaying it: the recording is out of date or the inputs differ."""


def trial_seed(check_id: str, case_index: int, k: int) -> int:
    """The seed of the k-th recorded trial of a case (fixed, so a recording can be made again and compared)."""
    return int.from_bytes(hashlib.sha256(f"record:{check_id}:{case_index}:{k}".encode()).digest()[:8], "little")


# --- fingerprints: which inputs an expected answer was computed from ------------------------------------------


def fingerprint(value: Any) -> Any:
    """A small summary of ``value``: the structure, every tensor's shape, dtype, sum and sum of absolute values
    (in float64), every number and a hash of every text. Two draws that agree on it are the same inputs."""
    if isinstance(value, wire.LeafSpec):
        return ("leaf", fingerprint(value.value), fingerprint(value.grad))
    if isinstance(value, wire.SharedSpec):
        return ("shared", value.name, fingerprint(value.value))
    if isinstance(value, wire.SequentialSpec):
        return ("sequential", fingerprint(list(value.layers)), fingerprint(getattr(value, "state", None)),
                fingerprint(getattr(value, "grads", None)))
    if isinstance(value, wire.GeneratorSpec):
        return ("generator", value.seed)
    if isinstance(value, wire.IterSpec):
        return ("iter", [fingerprint(v) for v in value.items])
    if isinstance(value, torch.nn.Module):
        return ("module", type(value).__name__, fingerprint(dict(value.state_dict())))
    if isinstance(value, torch.Tensor):
        data = value.detach()
        data = data.real if data.is_complex() else data
        flat = data.reshape(-1).to(torch.float64)
        # the sum, the sum of magnitudes, and a sum weighted by position (fixed weights in [0.5, 1.5)), so inputs
        # that differ only in their order (another permutation drawn) do not share a fingerprint
        weights = 0.5 + (torch.arange(flat.numel(), dtype=torch.float64) * 0.6180339887498949) % 1.0
        return ("tensor", tuple(value.shape), str(value.dtype), flat.sum().item(), flat.abs().sum().item(),
                (flat * weights).sum().item())
    if isinstance(value, dict):
        return ("dict", [(fingerprint(k), fingerprint(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [fingerprint(v) for v in value])
    if isinstance(value, (str, bytes)):
        raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
        return ("text", len(value), hashlib.sha256(raw).hexdigest()[:16])
    if isinstance(value, (bool, int)) or value is None:
        return value
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, torch.dtype):
        return ("dtype", str(value))
    return ("object", type(value).__name__)


def same_fingerprint(a: Any, b: Any, rel: float = 1e-6) -> bool:
    """Equal structure and numbers equal to ``rel`` (sums made on another CPU may differ in the last bits)."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b or abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_fingerprint(x, y, rel) for x, y in zip(a, b, strict=True))
    return a == b


# --- storage ---------------------------------------------------------------------------------------------------


def path_for(check_id: str, folder: Path | None = None) -> Path:
    """One file an exercise (``recorded/ch05/alibi_attention.pt``), so a check loads only its own tapes."""
    chapter, name = check_id.split(".", 1)
    return (folder or RECORDED_DIR) / chapter / f"{name}.pt"


def _load(path: Path, chapter: str) -> dict[str, Any]:
    data = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RecordingMismatch(f"{path} is not a recording this version of llmcourse reads; rebuild the exercises")
    MADE_WITH[chapter] = str(data.get("torch", "?"))
    return data


def load_chapter(chapter: str, folder: Path | None = None) -> dict[str, Any]:
    """The recorded cases of one chapter, by exercise id ({} when there is no recording)."""
    where = (folder or RECORDED_DIR) / chapter
    return {data["check_id"]: {"cases": data["cases"]}
            for data in (_load(path, chapter) for path in sorted(where.glob("*.pt")))}


MADE_WITH: dict[str, str] = {}  # the PyTorch each chapter's recording was made with, for an honest mismatch message


def version_note(chapter: str) -> str:
    """Words for a replay whose inputs differ: the likeliest cause when this PyTorch is not the recording's."""
    made, here = MADE_WITH.get(chapter), torch.__version__.split("+")[0]
    if made and made != "?" and made != here:
        return (f" — the recording was made with PyTorch {made} and this is {here}, whose random numbers may differ; "
                "your teacher's grade draws its own inputs and is not affected")
    return ""


def save_chapter(chapter: str, exercises: dict[str, Any], folder: Path | None = None) -> Path:
    """Write a chapter's recording, one file an exercise, each atomically (a half-written file is never left
    behind); files of exercises the chapter no longer has are removed."""
    where = (folder or RECORDED_DIR) / chapter
    where.mkdir(parents=True, exist_ok=True)
    kept = set()
    for check_id, entry in exercises.items():
        path = path_for(check_id, folder)
        kept.add(path.name)
        handle, tmp = tempfile.mkstemp(dir=where, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(handle)
        try:
            torch.save({"format": FORMAT, "torch": torch.__version__.split("+")[0], "check_id": check_id,
                        "cases": entry["cases"]}, tmp)
            os.chmod(tmp, 0o644)  # mkstemp makes it private; a recording is shipped to every learner
            torch.load(tmp, weights_only=True)  # what a learner's install will do: it must read back as plain data
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    for stale in where.glob("*.pt"):
        if stale.name not in kept:
            stale.unlink()
    return where


_CACHE: dict[str, dict[str, Any] | None] = {}


def recorded_cases(check_id: str) -> list[dict[str, Any]] | None:
    """The recorded trials of every public case of ``check_id`` ([{"name", "trials": [{"seed", "tape"}]}]), or None."""
    if check_id not in _CACHE:
        path = path_for(check_id)
        _CACHE[check_id] = _load(path, check_id.split(".", 1)[0]) if path.is_file() else None
    entry = _CACHE[check_id]
    return None if entry is None else list(entry["cases"])


# A low-precision answer's rounding allowance (Trial.rounding_slack): a spread of float32 runs, whose last bits another
# CPU rounds otherwise; it widens a tolerance, so only its size matters. An element of it is the largest of a few
# rounding differences and moves by several percent from one CPU to another (an AMD EPYC gave 0.0265 where the
# recording's CPU gave 0.0250), so it is compared to a quarter of itself, or 2% of the allowance's largest element.
_SLACK_KEYS = ("slack", "grad_slack")


def same_tape(a: Any, b: Any, *, allowance: bool = False) -> str:
    """'' when two tapes agree (tensors to float rounding, rounding allowances to a percent), else where they first
    differ; ``allowance``: ``a`` and ``b`` are a rounding allowance (the entries under :data:`_SLACK_KEYS`)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or a.shape != b.shape \
                or a.dtype != b.dtype:
            return "a tensor's type, shape or dtype"
        if a.is_floating_point() and allowance:
            scale = float(b.abs().max()) if b.numel() else 0.0
            close = torch.allclose(a, b, rtol=0.25, atol=1e-5 + 0.02 * scale)
            return "" if close else "a rounding allowance's values"
        if a.is_floating_point():  # a few rounding steps of the dtype: another CPU may round the last bit otherwise
            eps = torch.finfo(a.dtype).eps
            tol = {"atol": 1e-12, "rtol": 1e-9} if a.dtype == torch.float64 else {"atol": max(1e-5, 4 * eps),
                                                                                  "rtol": max(1e-4, 4 * eps)}
            return "" if torch.allclose(a, b, equal_nan=True, **tol) else "a tensor's values"
        return "" if torch.equal(a, b) else "a tensor's values"
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"keys {sorted(map(str, a))[:5]} against {sorted(map(str, b))[:5]}"
        for k in a:
            where = same_tape(a[k], b[k], allowance=allowance or k in _SLACK_KEYS)
            if where:
                return f"[{k!r}] {where}"
        return ""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b) or type(a) is not type(b):
            return "a list's length or type"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            where = same_tape(x, y, allowance=allowance)
            if where:
                return f"[{i}] {where}"
        return ""
    if isinstance(a, float) and isinstance(b, float) and allowance:
        return "" if abs(a - b) <= 1e-5 + 0.25 * abs(b) else "a rounding allowance"
    if isinstance(a, float) and isinstance(b, float):
        return "" if same_fingerprint(a, b, 1e-9) else "a number"
    return "" if a == b else f"{str(a)[:60]!r} against {str(b)[:60]!r}"
