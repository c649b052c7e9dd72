"""What crosses between the grader and the learner's code: plain data only.

The grader never looks at an object the learner's code made. Whatever the code returns (and whatever
state its inputs are left in) is turned into plain data on the learner's side — tensors, numbers,
strings, bytes, ``None`` and lists, tuples and dicts of those — written with ``torch.save`` and read back
on the grader's side with ``torch.load(weights_only=True)``, which can build nothing else. So an object
whose ``__eq__`` always says yes, a tensor subclass that lies about its values, or a patched grader in
the learner's kernel cannot reach a verdict: the grader compares data it decoded itself.

Inputs travel the other way as the same plain data plus a few *specs* the learner's side knows how to
build: a seeded ``torch.Generator``, a leaf tensor that requires grad (optionally with a ``.grad``), an
iterator over parameters, a small ``nn.Sequential`` with given weights, and a tensor shared by the calls of one
run (a buffer the learner's code keeps state in, written in place from call to call).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import torch

TAG = "__llmcourse__"  # marks an encoded special value inside a plain dict
MAX_ITEMS = 1_000_000  # a container bigger than this is not an answer to any exercise
MAX_DEPTH = 20


BYTES = "__llmcourse_bytes__"  # bytes travel as (BYTES, hex): torch.load(weights_only=True) refuses b""


def _is_bytes_record(value: Any) -> bool:
    return type(value) is tuple and len(value) == 2 and value[0] == BYTES and isinstance(value[1], str)


def bytes_to_wire(value: bytes) -> tuple[str, str]:
    return (BYTES, bytes.hex(value))


def map_plain(value: Any, fn: Any) -> Any:
    """``fn`` applied to everything inside lists, tuples and dicts (keys too), the containers rebuilt alike.

    A dict carrying :data:`TAG` is an encoded record and ``(BYTES, hex)`` encoded bytes, not containers:
    ``fn`` gets them whole.
    """
    if _is_bytes_record(value):
        return fn(value)
    if isinstance(value, list):
        return [map_plain(v, fn) for v in value]
    if isinstance(value, tuple):
        return tuple(map_plain(v, fn) for v in value)
    if isinstance(value, dict) and TAG not in value:
        return {map_plain(k, fn): map_plain(v, fn) for k, v in value.items()}
    return fn(value)


# --- specs: inputs the learner's side builds -------------------------------------------------------


@dataclass
class GeneratorSpec:
    """A ``torch.Generator`` seeded with ``seed``; specs with the same ``name`` in one run are one object."""

    seed: int
    name: str = "generator"


@dataclass
class LeafSpec:
    """A leaf tensor with ``requires_grad=True`` (a parameter), with ``grad`` as its ``.grad`` when given."""

    value: torch.Tensor
    grad: torch.Tensor | None = None


@dataclass
class IterSpec:
    """A one-shot iterator over the items (as ``model.parameters()`` gives), not a list."""

    items: list[Any]


@dataclass
class SharedSpec:
    """A tensor that is one object for all the calls of one run: built from ``value`` the first time a call is
    given a ``SharedSpec`` of this ``name``, and that same tensor, as the earlier calls left it, for every later call
    (``value`` is then not read). For state a learner's function keeps in a buffer it is given and writes in place,
    such as a KV cache: its state after each call comes back like any input's."""

    value: torch.Tensor
    name: str


@dataclass
class SequentialSpec:
    """``nn.Sequential`` of the named layers, e.g. ``[("Linear", 2, 16), ("ReLU",)]``, with ``state``'s weights
    (and ``grads`` as the named parameters' ``.grad``, as a model holds them after an earlier backward)."""

    layers: list[tuple[Any, ...]]
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    grads: dict[str, torch.Tensor] = field(default_factory=dict)


_LAYERS = ("Linear", "ReLU", "Tanh", "GELU", "Sigmoid", "Dropout", "LayerNorm", "Embedding", "Flatten")


def build_sequential(spec: SequentialSpec) -> torch.nn.Sequential:
    """The module a :class:`SequentialSpec` describes (only course-safe layer types)."""
    from torch import nn

    layers = []
    for name, *args in spec.layers:
        if name not in _LAYERS:
            raise ValueError(f"layer type {name!r} is not allowed in a SequentialSpec")
        layers.append(getattr(nn, name)(*args))
    model = nn.Sequential(*layers)
    if spec.state:
        model.load_state_dict(spec.state)
    for name, p in model.named_parameters():
        if name in spec.grads:
            p.grad = spec.grads[name].clone()
    return model


# --- encoding on the learner's side ------------------------------------------------------------------


class Unsupported:
    """Decoded stand-in for a value of a type that is not plain data (the grader reports its type)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"


@dataclass
class TensorInfo:
    """A tensor returned by the learner's code, with what the grader checks besides its values."""

    value: torch.Tensor
    requires_grad: bool = False
    has_grad_fn: bool = False
    is_leaf: bool = True
    grad: torch.Tensor | None = None


@dataclass
class ModuleInfo:
    """An ``nn.Module`` the learner's code built, described as data: its class, submodules and parameters."""

    class_name: str
    is_module: bool
    submodules: list[tuple[str, str, dict[str, Any]]]  # (path, class name, plain attributes)
    parameters: dict[str, torch.Tensor]
    trainable: dict[str, bool]
    training: bool = True


_PLAIN_ATTRIBUTES = ("in_features", "out_features", "num_embeddings", "embedding_dim", "normalized_shape",
                     "input_size", "hidden_size", "p", "eps")


def _plain_tensor(t: torch.Tensor) -> torch.Tensor:
    """An ordinary CPU tensor with the same values, whatever subclass or device ``t`` is."""
    with torch.no_grad(), torch._C.DisableTorchFunctionSubclass():  # a subclass's overrides are not run
        plain = t.detach()
        if type(plain) is not torch.Tensor:
            plain = torch.Tensor._make_subclass(torch.Tensor, plain)
        return plain.cpu().clone().contiguous()


def encode(value: Any, *, meta: bool = False, _depth: int = 0) -> Any:
    """Plain data for ``value``; with ``meta``, tensors carry their autograd flags (for outputs and inputs)."""
    if _depth > MAX_DEPTH:
        return {TAG: "unsupported", "type": "structure nested too deeply"}
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes_to_wire(bytes(value))
    if isinstance(value, torch.Tensor):
        if not meta:
            return _plain_tensor(value)
        info = {TAG: "tensor", "value": _plain_tensor(value), "requires_grad": bool(value.requires_grad),
                "has_grad_fn": value.grad_fn is not None, "is_leaf": bool(value.is_leaf)}
        if value.is_leaf and value.grad is not None:
            info["grad"] = _plain_tensor(value.grad)
        return info
    if isinstance(value, torch.nn.Module):
        return _encode_module(value)
    # Subclasses of the plain types are turned into the plain type, so no overridden method survives.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            return {TAG: "unsupported", "type": f"{kind.__name__} of {len(value)} items"}
        items = [encode(v, meta=meta, _depth=_depth + 1) for v in list.__iter__(list(value))]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        if len(value) > MAX_ITEMS:
            return {TAG: "unsupported", "type": f"dict of {len(value)} items"}
        if TAG in value:
            return {TAG: "unsupported", "type": "dict with a reserved key"}
        return {encode(k, _depth=_depth + 1): encode(v, meta=meta, _depth=_depth + 1) for k, v in dict.items(value)}
    if kind.__module__ == "numpy" or type(value).__module__.startswith("numpy"):
        return {TAG: "unsupported", "type": f"numpy.{kind.__name__}"}
    return {TAG: "unsupported", "type": _type_name(kind)}


def _type_name(kind: type) -> str:
    module = getattr(kind, "__module__", "") or ""
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def _encode_module(module: torch.nn.Module) -> dict[str, Any]:
    submodules = []
    for path, sub in module.named_modules():
        attributes = {}
        for name in _PLAIN_ATTRIBUTES:
            if name in vars(sub):
                attributes[name] = encode(vars(sub)[name])
        submodules.append((path, _type_name(type(sub)), attributes))
    params = dict(module.named_parameters())
    return {TAG: "module", "class_name": _type_name(type(module)), "submodules": submodules,
            "parameters": {n: _plain_tensor(p) for n, p in params.items()},
            "trainable": {n: bool(p.requires_grad) for n, p in params.items()}, "training": bool(module.training)}


@dataclass
class ModuleState:
    """A model input as the learner's code left it: its ``state_dict`` and each named parameter's ``.grad``."""

    state: dict[str, torch.Tensor]
    grads: dict[str, torch.Tensor | None]


# --- building inputs on the learner's side ----------------------------------------------------------


def build(value: Any, objects: dict[str, Any]) -> Any:
    """The learner's-side object for an input: plain data is copied, specs are built (named ones once)."""
    return map_plain(value, lambda v: _build_one(v, objects))


def _build_one(value: Any, objects: dict[str, Any]) -> Any:
    if isinstance(value, torch.Tensor):
        return value.clone()
    if _is_bytes_record(value):
        return bytes.fromhex(value[1])
    if not (isinstance(value, dict) and value.get(TAG) == "spec"):
        return value
    kind, data = value["kind"], value["data"]
    if kind == "generator":
        key = f"generator:{data['name']}"
        if key not in objects:
            objects[key] = torch.Generator().manual_seed(int(data["seed"]))
        return objects[key]
    if kind == "leaf":
        leaf = data["value"].clone().requires_grad_(True)
        if data.get("grad") is not None:
            leaf.grad = data["grad"].clone()
        return leaf
    if kind == "shared":
        key = f"shared:{data['name']}"
        if key not in objects:
            objects[key] = data["value"].clone()
        return objects[key]
    if kind == "iter":
        items = [build(v, objects) for v in data["items"]]
        iterator = iter(items)
        objects.setdefault("_iterated", {})[id(iterator)] = items  # to report the items' state afterwards
        return iterator
    if kind == "sequential":
        return build_sequential(SequentialSpec([tuple(layer) for layer in data["layers"]], data["state"],
                                               data.get("grads", {})))
    raise ValueError(f"unknown input spec {kind!r}")


def spec_to_wire(value: Any) -> Any:
    """The grader's inputs (plain data and spec objects) as plain data for ``torch.save``."""
    return map_plain(value, _spec_to_wire_one)


def _spec_to_wire_one(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes_to_wire(bytes(value))
    if isinstance(value, GeneratorSpec):
        return {TAG: "spec", "kind": "generator", "data": {"seed": value.seed, "name": value.name}}
    if isinstance(value, LeafSpec):
        return {TAG: "spec", "kind": "leaf", "data": {"value": value.value, "grad": value.grad}}
    if isinstance(value, SharedSpec):
        return {TAG: "spec", "kind": "shared", "data": {"value": value.value, "name": value.name}}
    if isinstance(value, IterSpec):
        return {TAG: "spec", "kind": "iter", "data": {"items": [spec_to_wire(v) for v in value.items]}}
    if isinstance(value, SequentialSpec):
        return {TAG: "spec", "kind": "sequential", "data": {"layers": [list(x) for x in value.layers],
                                                            "state": dict(value.state), "grads": dict(value.grads)}}
    return value


def state_after(original: Any, built: Any, objects: dict[str, Any]) -> Any:
    """What an input looks like after the learner's call, as plain data (to check it was left alone)."""
    if _is_spec(original, "generator"):
        return None
    if _is_spec(original, "iter"):
        return encode(objects.get("_iterated", {}).get(id(built), []), meta=True)
    if isinstance(built, torch.nn.Module):
        return {TAG: "state", "value": {k: _plain_tensor(v) for k, v in built.state_dict().items()},
                "grads": {k: None if p.grad is None else _plain_tensor(p.grad) for k, p in built.named_parameters()}}
    return encode(built, meta=True)


def _is_spec(value: Any, kind: str) -> bool:
    return isinstance(value, dict) and value.get(TAG) == "spec" and value.get("kind") == kind


# --- decoding on the grader's side -------------------------------------------------------------------


def decode(value: Any) -> Any:
    """Turn loaded plain data back into the grader's view: tensors, numbers, containers and info records."""
    return map_plain(value, _decode_one)


def _decode_one(value: Any) -> Any:
    if _is_bytes_record(value):
        return bytes.fromhex(value[1])
    if not (isinstance(value, dict) and TAG in value):
        return value
    kind = value[TAG]
    if kind == "tensor":
        return TensorInfo(_tensor(value["value"]), bool(value.get("requires_grad")), bool(value.get("has_grad_fn")),
                          bool(value.get("is_leaf", True)),
                          _tensor(value["grad"]) if value.get("grad") is not None else None)
    if kind == "module":
        submodules = [(str(p), str(c), dict(a)) for p, c, a in value["submodules"]]
        return ModuleInfo(str(value["class_name"]), True, submodules,
                          {str(k): _tensor(v) for k, v in value["parameters"].items()},
                          {str(k): bool(v) for k, v in value["trainable"].items()}, bool(value["training"]))
    if kind == "state":
        return ModuleState({str(k): _tensor(v) for k, v in value["value"].items()},
                           {str(k): None if v is None else _tensor(v) for k, v in value.get("grads", {}).items()})
    return Unsupported(str(value.get("type", "unknown")))


def _tensor(value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ValueError("a tensor record holds no tensor")
    return value


def strip_meta(value: Any) -> Any:
    """The decoded value with every :class:`TensorInfo` replaced by its tensor."""
    return map_plain(value, lambda v: v.value if isinstance(v, TensorInfo) else v)


# --- bytes ---------------------------------------------------------------------------------------------


def dumps(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def loads(data: bytes) -> Any:
    """Read data written by :func:`dumps`, allowing nothing but plain data (``weights_only=True``)."""
    return torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")


def same(a: Any, b: Any) -> bool:
    """Exact equality of two decoded values (tensors by dtype, shape and every element; NaN equals NaN)."""
    if isinstance(a, TensorInfo):
        a = a.value
    if isinstance(b, TensorInfo):
        b = b.value
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and bool(torch.equal(a, b) or (a.is_floating_point() and torch.equal(
                    torch.nan_to_num(a, nan=1.2345e-7), torch.nan_to_num(b, nan=1.2345e-7)))))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, Unsupported):
        return a.type_name == b.type_name
    return a == b
