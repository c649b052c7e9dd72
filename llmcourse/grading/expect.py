"""Comparisons that explain themselves, for writing exercise cases.

Each helper raises :class:`~llmcourse.grading.core.CheckFailure` with a message a learner can act on:
what was expected, what came back, and — when the answer matches a known mistake — which mistake.
Known mistakes are passed as ``mistakes={"forgot the 1/n": value, ...}``: the value that mistake
would produce on the same inputs, computed by the case, so the hint is exact rather than guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from .core import CheckFailure


def short(value: Any, max_items: int = 4) -> str:
    """A compact rendering of a tensor or number for messages: shape and the first few values."""
    if isinstance(value, torch.Tensor):
        flat = value.detach().flatten().float()
        items = ", ".join(f"{v:.4g}" for v in flat[:max_items].tolist())
        more = ", ..." if flat.numel() > max_items else ""
        return f"tensor of shape {tuple(value.shape)} [{items}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def as_tensor(value: Any, what: str) -> torch.Tensor:
    """Accept a tensor or a plain number; anything else is a failure that names its type."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return torch.tensor(float(value))
    raise CheckFailure(f"{what} should be a torch tensor or a number, but it is {_kind(value)}.")


def _kind(value: Any) -> str:
    return "None (did you forget to `return` it?)" if value is None else f"a {type(value).__name__}"


def expect_tensor(got: Any, what: str, shape: Sequence[int] | None = None) -> torch.Tensor:
    """Check that ``got`` is a finite tensor, of ``shape`` when given."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailure(f"{what} should be a torch tensor, but it is {_kind(got)}.")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise CheckFailure(f"{what} has shape {tuple(got.shape)}, expected {tuple(shape)}.")
    if got.is_floating_point() and not torch.isfinite(got).all():
        raise CheckFailure(f"{what} contains NaN or infinity: {short(got)}.")
    return got


def _close(a: torch.Tensor, b: torch.Tensor, atol: float, rtol: float) -> bool:
    return a.shape == b.shape and torch.allclose(
        a.detach().double().cpu(), b.detach().double().cpu(), atol=atol, rtol=rtol
    )


def expect_close(
    got: Any,
    expected: Any,
    what: str,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    mistakes: Mapping[str, Any] | None = None,
) -> None:
    """Check ``got`` ≈ ``expected`` (tensors or numbers); name the mistake when one matches."""
    expected_t = as_tensor(expected, "the reference")
    got_t = as_tensor(got, what)
    if expected_t.dim() > 0 or got_t.dim() > 0:
        expect_tensor(got_t, what, shape=tuple(expected_t.shape))
    elif got_t.is_floating_point() and not math.isfinite(got_t.item()):
        raise CheckFailure(f"{what} is {got_t.item()}, expected a finite number ≈ {short(expected_t.item())}.")
    if _close(got_t, expected_t, atol, rtol):
        return
    message = f"{what} is wrong: expected {short(expected_t)}, got {short(got_t)}."
    for description, value in (mistakes or {}).items():
        if _close(got_t, as_tensor(value, "a mistake's value"), atol, rtol):
            message += f" That is what you get if you {description}."
            break
    raise CheckFailure(message)


def expect_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailure(message)


def expect_type(got: Any, types: type | tuple[type, ...], what: str, should_be: str) -> None:
    """Fail unless ``got`` is an instance of ``types``: "``what`` should be ``should_be``, but it is None (...)"."""
    if not isinstance(got, types):
        raise CheckFailure(f"{what} should be {should_be}, but it is {_kind(got)}.")


def expect_equal(got: Any, expected: Any, what: str, *, mistakes: Mapping[str, Any] | None = None) -> None:
    """Check ``got == expected`` for plain Python values (lists, dicts, strings); name a matching mistake."""
    if got == expected:
        return
    if expected is not None and got is None:
        raise CheckFailure(f"{what} is None: did you forget to `return` it?")
    message = f"{what} is wrong: expected {_clip(expected)}, got {_clip(got)}."
    for description, value in (mistakes or {}).items():
        if got == value:
            message += f" That is what you get if you {description}."
            break
    raise CheckFailure(message)


def _clip(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
