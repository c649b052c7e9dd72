"""Comparisons that explain themselves without giving the answer away.

:func:`difference` compares what the learner's code returned (decoded plain data, see :mod:`.wire`) with
the reference answer and says in plain words what is wrong: the type, the dtype, the shape, or which
elements are off and by how much relative to the right value — never the right value itself, so a
message cannot be copied back as an answer. Types are exact: a Python float where a 0-d tensor is asked
for, float64 where float32 is, or int32 ids where int64 are, are all wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from .wire import ModuleInfo, TensorInfo, Unsupported


class CheckFailure(AssertionError):
    """Raised by a case to say, in plain words, what is wrong with the learner's answer.

    ``kind`` sorts the failure for hidden cases, whose messages are replaced by a generic one.
    """

    def __init__(self, message: str, kind: str = "wrong") -> None:
        super().__init__(message)
        self.kind = kind


def kind_of(value: Any) -> str:
    """'None (did you forget to `return` it?)', 'a Python float', 'a float64 tensor of shape (2, 3)', ..."""
    if isinstance(value, TensorInfo):
        value = value.value
    if value is None:
        return "None (did you forget to `return` it?)"
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, (int, float, str, bytes)):
        return f"a Python {type(value).__name__}"
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, ModuleInfo):
        return f"an nn.Module ({value.class_name})"
    if isinstance(value, Unsupported):
        return f"an object of type {value.type_name} (not plain data: return tensors, numbers, strings, lists or dicts)"
    return f"an object of type {type(value).__name__}"


def _tensor_difference(got: torch.Tensor, expected: torch.Tensor, what: str, atol: float, rtol: float,
                       slack: torch.Tensor | None = None) -> str | None:
    if got.dtype != expected.dtype:
        extra = ""
        if expected.dtype == torch.float32 and got.dtype == torch.float64:
            extra = " (a float64 constant or NumPy array crept in; keep the inputs' dtype)"
        elif expected.dtype == torch.int64 and not got.is_floating_point():
            extra = " (PyTorch's ids and indices are int64: torch.long)"
        elif expected.is_floating_point() and not got.is_floating_point():
            extra = " (an integer tensor where numbers with decimals are expected)"
        return f"{what} is a {_dtype(got)} tensor, but should be {_dtype(expected)}{extra}."
    if got.shape != expected.shape:
        return f"{what} has shape {tuple(got.shape)}, but should have shape {tuple(expected.shape)}."
    if expected.numel() == 0:
        return None
    if got.is_floating_point() or got.is_complex():
        finite_expected = torch.isfinite(expected)
        bad = ~torch.isfinite(got) & finite_expected
        if bool(bad.any()):
            return f"{what} contains NaN or infinity at {int(bad.sum())} of {got.numel()} elements."
        g, e = got.double(), expected.double()
        close = torch.isclose(g, e, atol=atol, rtol=rtol, equal_nan=True)
        if isinstance(slack, torch.Tensor) and slack.shape == expected.shape:  # low precision rounds, per element
            close |= (g - e).abs() <= atol + slack.double() + rtol * e.abs()
    else:
        g, e = got.double(), expected.double()
        close = got == expected
    if bool(close.all()):
        return None
    wrong = ~close
    first = tuple(int(i) for i in wrong.nonzero()[0].tolist())
    where = f" (the first at index {first})" if got.dim() > 0 else ""
    if got.dim() == 0:
        return f"{what} is wrong: {_relative(g, e)}." + _float32_on_the_way(g, e, expected.dtype)
    size = f"{int(wrong.sum())} of {got.numel()} elements"
    worst = (g - e).abs()[wrong].max().item()
    return (f"{what} is wrong at {size}{where}; the largest error is {worst:.3g}, {_relative(g[wrong], e[wrong])}."
            + _float32_on_the_way(g, e, expected.dtype))


def _float32_on_the_way(g: torch.Tensor, e: torch.Tensor, dtype: torch.dtype) -> str:
    """For a float64 answer off by float32's rounding only: the likely cause, in words."""
    scale = e.abs().max().item()
    if dtype != torch.float64 or scale == 0 or not math.isfinite(scale):
        return ""
    ratio = (g - e).abs().max().item() / scale  # against the whole result's size: float32 rounds at about 6e-8 of it
    if 1e-9 < ratio < 1e-5:
        return (" An error this small in a float64 result is float32's rounding: a step on the way ran in float32 "
                "(a tensor or constant made without dtype=, such as torch.zeros, torch.tensor or torch.arange, or a "
                ".float()); make every new tensor in the inputs' dtype.")
    return ""


def _relative(g: torch.Tensor, e: torch.Tensor) -> str:
    """How far off, relative to the right values' size, in words (no sign, no value)."""
    scale = e.abs().max().item()
    err = (g - e).abs().max().item()
    if scale == 0:
        return "a sizeable error"
    ratio = err / scale
    if ratio > 10:
        return f"more than {int(ratio)}x the size of the right values"
    return f"about {100 * ratio:.0f}% of the size of the right values"


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).replace("torch.", "")


def difference(got: Any, expected: Any, what: str, *, atol: float = 1e-5, rtol: float = 1e-4,
               strict_sequences: bool = False, positions: bool = True, slack: Any = None) -> str | None:
    """What is wrong with ``got`` compared with ``expected`` (in words), or ``None`` when it is right.

    ``slack`` (shaped like ``expected``: a tensor per tensor, a float per float, lists and dicts alike) widens
    ``atol`` element by element, by how far a low-precision answer may round away (``Trial.rounding_slack``)."""
    if isinstance(expected, TensorInfo):
        expected = expected.value
    if isinstance(expected, torch.Tensor):
        if isinstance(got, TensorInfo):
            got = got.value
        if not isinstance(got, torch.Tensor):
            hint = ""
            if isinstance(got, (int, float)) and expected.dim() == 0:
                hint = " Keep the result as a 0-d tensor (don't call .item() or float() on it)."
            elif isinstance(got, (list, tuple)):
                hint = " Build the result with torch operations (or torch.stack), not a Python list."
            return f"{what} should be a tensor, but it is {kind_of(got)}.{hint}"
        return _tensor_difference(got, expected, what, atol, rtol, slack)
    if isinstance(got, TensorInfo):
        got = got.value
    if isinstance(expected, bool):
        if not isinstance(got, bool):
            return f"{what} should be a bool (True or False), but it is {kind_of(got)}."
        return None if got == expected else f"{what} is wrong."
    if isinstance(expected, float):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            hint = " (use .item() to turn a one-element tensor into a Python float)" if isinstance(got, torch.Tensor) \
                else ""
            return f"{what} should be a Python float, but it is {kind_of(got)}{hint}."
        if math.isnan(got) and math.isnan(expected):
            return None
        if not math.isfinite(got) and math.isfinite(expected):
            return f"{what} is {got}, not a finite number."
        extra = float(slack) if isinstance(slack, (int, float)) else 0.0
        if abs(got - expected) <= atol + extra + rtol * abs(expected) or got == expected:
            return None
        return f"{what} is wrong: {_relative(torch.tensor(float(got)), torch.tensor(expected))}."
    if isinstance(expected, int):
        if isinstance(got, bool) or not isinstance(got, int):
            return f"{what} should be a Python int, but it is {kind_of(got)}."
        return None if got == expected else f"{what} is wrong."
    if isinstance(expected, (str, bytes)):
        if type(got) is not type(expected):
            return f"{what} should be a Python {type(expected).__name__}, but it is {kind_of(got)}."
        if got == expected:
            return None
        if not positions:
            return f"{what} is not the right {'text' if isinstance(expected, str) else 'bytes'}."
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                     min(len(got), len(expected)))
        unit = "characters" if isinstance(expected, str) else "bytes"
        more = "many" if len(got) > len(expected) else "few"
        length = "" if len(got) == len(expected) else f"; it has {len(got)} {unit}, too {more}"
        return f"{what} differs from the right {'text' if unit == 'characters' else 'bytes'} from position {first} " \
               f"on{length}."
    if isinstance(expected, (list, tuple)):
        allowed = (type(expected),) if strict_sequences else (list, tuple)
        if not isinstance(got, allowed):
            should = f"a {type(expected).__name__}" if strict_sequences else "a list (or tuple)"
            return f"{what} should be {should}, but it is {kind_of(got)}."
        if len(got) != len(expected):
            more = "many" if len(got) > len(expected) else "few"
            first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False))
                          if difference(a, b, "", atol=atol, rtol=rtol) is not None), None)
            where = f", and the items differ from position {first} on" if first is not None else ""
            return f"{what} has {len(got)} items: too {more}{where}."
        slacks = slack if isinstance(slack, (list, tuple)) and len(slack) == len(expected) else [None] * len(expected)
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            problem = difference(a, b, f"item {i} of {what}", atol=atol, rtol=rtol, strict_sequences=strict_sequences,
                                 positions=positions, slack=slacks[i])
            if problem:
                return problem
        return None
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"{what} should be a dict, but it is {kind_of(got)}."
        extra = [k for k in got if k not in expected]
        missing = [k for k in expected if k not in got]
        if extra:
            return f"{what} has {len(extra)} key{'s' if len(extra) > 1 else ''} that should not be there, " \
                   f"e.g. {_clip(extra[0])}."
        if missing:
            return f"{what} is missing keys that the right answer has."
        for key in expected:
            problem = difference(got[key], expected[key], f"the value for {_clip(key)} in {what}", atol=atol,
                                 rtol=rtol, strict_sequences=strict_sequences, positions=positions,
                                 slack=slack.get(key) if isinstance(slack, Mapping) else None)
            if problem:
                return problem
        return None
    if expected is None:
        return None if got is None else f"{what} should be None, but it is {kind_of(got)}."
    raise TypeError(f"the grader cannot compare a {type(expected).__name__}")  # a bug in a case, not the learner's


def _clip(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expect_like(got: Any, expected: Any, what: str, **tolerances: Any) -> None:
    """Fail with :func:`difference`'s words unless ``got`` matches ``expected``."""
    problem = difference(got, expected, what, **tolerances)
    if problem:
        raise CheckFailure(problem, "wrong")


def expect_true(condition: bool, message: str, kind: str = "wrong") -> None:
    """Fail with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailure(message, kind)


def expect_type(got: Any, types: type | tuple[type, ...], what: str, should_be: str) -> None:
    """Fail unless ``got`` is an instance of ``types``: "``what`` should be ``should_be``, but it is None (...)"."""
    if isinstance(got, TensorInfo):
        got = got.value
    if not isinstance(got, types):
        raise CheckFailure(f"{what} should be {should_be}, but it is {kind_of(got)}.", "type")


def matches(got: Any, value: Any, **tolerances: Any) -> bool:
    """Whether ``got`` equals ``value`` in the sense :func:`difference` uses (for naming mistakes)."""
    try:
        return difference(got, value, "", **tolerances) is None
    except TypeError:
        return False


def mistake_values(compute: Mapping[str, Any]) -> dict[str, Any]:
    """Each named mistake's value on a case's inputs (``{description: zero-argument function}``); a mistake that
    cannot run on these shapes is left out, since an answer that ran cannot have made it."""
    values = {}
    for description, fn in compute.items():
        try:
            values[description] = fn()
        except (RuntimeError, IndexError, ValueError):
            pass
    return values
