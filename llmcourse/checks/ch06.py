"""Chapter 6's graded exercises: the backward pass of layer norm by hand, LLaMA's SwiGLU width and network,
the parameter count of a LLaMA-style encoder-decoder, and a mixture-of-experts feed-forward with top-k routing.

The chapter builds layer norm (autograd differentiates it), the GELU feed-forward network, the blocks and
the models, and counts the parameters of blocks and of a decoder-only model; each exercise asks for a
sibling or an extension. The references are PyTorch's own or the package's: autograd through
``F.layer_norm`` for the gradients; the SwiGLU and mixture-of-experts formulas written with ``F.silu`` /
``F.gelu`` on the learner's very tensors (so gradients are compared too); Meta's LLaMA code for the width; and for
the count, the layout built from PyTorch's own layers on the ``meta`` device and counted with ``sum(p.numel())``
(a layout the package does not build -- RMSNorm, no biases, grouped-query attention, SwiGLU, a token table per side,
an untied head -- so neither its models nor its formulas answer it). Exercise 1 rules out PyTorch's normalisation
kernels, whose own backward would hand back the answer. Every case draws its
inputs from the run's trial, and each known mistake is computed on the same inputs, so a message can name it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..grading.core import CheckFailure, Forbidden, Trial, exercise
from ..grading.expect import kind_of, mistake_values


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """atol and rtol for a result in ``dtype``: float64 answers are held to float64 rounding, so a float32 step
    on the way (a constant or a buffer made without dtype=) shows even when the result's dtype is right."""
    return {"atol": 1e-10, "rtol": 1e-10} if dtype == torch.float64 else {"atol": 1e-5, "rtol": 1e-4}


def _tuple_of(got: Any, n: int, name: str, what: str) -> tuple[Any, ...]:
    if not isinstance(got, (tuple, list)) or len(got) != n:
        raise CheckFailure(f"`{name}` should return {what}, but it returned {kind_of(got)}.", "type")
    return tuple(got)


# --- 1. layer_norm_backward --------------------------------------------------------------------------

_OWN_STATISTICS = ("compute the mean, the variance and x_hat yourself with tensor operations, then write each "
                   "gradient as a formula.")
# PyTorch's normalisation kernels carry their own backward: called directly (torch.ops.aten.*_backward), or through
# the grad_fn of their output, they would hand back the answer. Layer norm's kernel, and the ones that compute
# layer norm when the tensor is laid out for them (group norm with one group, instance norm on (N, 1, C), batch
# norm on the transpose), are ruled out by every name the TorchFunctionMode sees (F., torch., torch.ops.aten).
LN_FORBIDDEN = (
    *(Forbidden(f"torch.ops.aten.{name}_backward",
                why=f"`{name}_backward` is PyTorch's own backward of its normalisation kernel: " + _OWN_STATISTICS)
      for name in ("native_layer_norm", "native_group_norm", "native_batch_norm")),
    *(Forbidden(path, why="PyTorch's normalisation kernels come with their own backward (its grad_fn would hand "
                          "back the gradients): " + _OWN_STATISTICS)
      for path in ("torch.nn.functional.layer_norm", "torch.layer_norm", "torch.native_layer_norm",
                   "torch.nn.functional.group_norm", "torch.group_norm", "torch.native_group_norm",
                   "torch.nn.functional.instance_norm", "torch.instance_norm",
                   "torch.nn.functional.batch_norm", "torch.batch_norm", "torch.native_batch_norm")),
)

layer_norm_backward = exercise(
    "ch06.layer_norm_backward", name="layer_norm_backward",
    description="The backward pass of y = (x - mean) / sqrt(var + eps) * weight + bias over the last dimension "
                "(biased variance), by hand: given dL/dy (..., C), x (..., C), weight (C,) and eps, return "
                "(dL/dx, dL/dweight, dL/dbias).",
    args=("grad_out", "x", "weight", "eps"), points=2, timeout=10, no_autograd=True, forbidden=LN_FORBIDDEN, hints={
        "The size of tensor a": "check the shapes: dL/dx has x's shape; dL/dweight and dL/dbias have one entry "
                                "per feature, so they add up every position's share (every dimension but the "
                                "last).",
        "must match the size": "the mean and the variance are one number per position: keep the last dimension "
                               "(keepdim=True) so they broadcast against x.",
    },
)
_LN_NAMES = ("dL/dx", "dL/dweight", "dL/dbias")


def _ln_forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, mistake: str = "") -> Any:
    """Layer norm, or one known mistake of its forward pass (whose gradients autograd then gives)."""
    dims: Any = -1
    if mistake == "batch":
        if x.dim() < 2:
            raise ValueError("one vector has no batch to normalise over")
        dims = tuple(range(x.dim() - 1))  # every dimension but the features: batch norm's statistics
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, unbiased=mistake == "unbiased")
    std = var.sqrt() + eps if mistake == "eps_outside" else (var + eps).sqrt()
    return (x - mean) / std * weight + bias


def ln_reference(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, ...]:
    """Autograd through F.layer_norm for the upstream gradient grad_out: (dx, dweight, dbias)."""
    leaves = [x.detach().clone().requires_grad_(True), weight.detach().clone().requires_grad_(True),
              torch.zeros_like(weight, requires_grad=True)]
    y = F.layer_norm(leaves[0], (x.shape[-1],), leaves[1], leaves[2], eps)
    return tuple(g.detach() for g in torch.autograd.grad(y, leaves, grad_out))


def ln_mistakes(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float) -> dict[str, tuple]:
    """What each known mistake gives for the three gradients (those that cannot run here are left out)."""

    def through(mistake: str) -> tuple[torch.Tensor, ...]:
        leaves = [x.detach().clone().requires_grad_(True), weight.detach().clone().requires_grad_(True),
                  torch.zeros_like(weight, requires_grad=True)]
        y = _ln_forward(*leaves, eps, mistake)
        return tuple(g.detach() for g in torch.autograd.grad(y, leaves, grad_out))

    def per_feature(t: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
        flat = t.reshape(-1, t.shape[-1])  # (positions, C)
        return flat.sum(0) if reduce == "sum" else flat.mean(0)

    x_hat = _ln_forward(x, torch.ones_like(weight), torch.zeros_like(weight), eps)
    std = (x.var(-1, keepdim=True, unbiased=False) + eps).sqrt()
    g_hat = grad_out * weight  # dL/dx_hat
    right = ln_reference(grad_out, x, weight, eps)
    return mistake_values({
        "treated the mean and the variance as constants (dL/dx = dL/dy * weight / std): both depend on every x_i "
        "of the position, so their derivatives add two terms": lambda: (g_hat / std, *right[1:]),
        "left out the variance's dependence on x: besides subtracting the mean of dL/dx_hat, subtract x_hat times "
        "the mean of dL/dx_hat * x_hat": lambda: ((g_hat - g_hat.mean(-1, keepdim=True)) / std, *right[1:]),
        "used the unbiased variance (divided by C - 1): layer norm divides by C": lambda: through("unbiased"),
        "put eps outside the square root: it is sqrt(var + eps)": lambda: through("eps_outside"),
        "normalised over the batch (every dimension but the last) instead of over each position's features":
            lambda: through("batch"),
        "averaged dL/dweight and dL/dbias over the positions: every position adds its share, so sum them":
            lambda: (right[0], per_feature(grad_out * x_hat, "mean"), per_feature(grad_out, "mean")),
        "forgot x_hat in dL/dweight: y = weight * x_hat + bias, so dL/dweight sums dL/dy * x_hat":
            lambda: (right[0], per_feature(grad_out), right[2]),
        "left dL/dweight and dL/dbias with one row per position: sum over every dimension but the last":
            lambda: (right[0], grad_out * x_hat, grad_out),
    })


def check_ln_backward(t: Trial, shape: tuple[int, ...], eps: float, scale: float = 1.0,
                      dtype: torch.dtype = torch.float32) -> None:
    """layer_norm_backward against autograd through F.layer_norm, each of the three gradients on its own."""
    x = t.randn(*shape, scale=scale, dtype=dtype) + t.py.uniform(-1.0, 1.0)  # (..., C), not centred
    weight = t.randn(shape[-1], dtype=dtype) + 1.0  # (C,): far from the default ones, so a missing weight shows
    grad_out = t.randn(*shape, dtype=dtype)  # (..., C): dL/dy
    got = _tuple_of(t.call(grad_out, x, weight, eps).value, 3, "layer_norm_backward",
                    "three tensors (dL/dx, dL/dweight, dL/dbias)")
    # The reference in float64: with few features dL/dx is a small difference of large terms, and float32 autograd
    # itself is off by ~1e-4 there. An answer in x's dtype is allowed the rounding of those terms (|dL/dy w| / std).
    expected = tuple(e.to(x.dtype) for e in ln_reference(grad_out.double(), x.double(), weight.double(), eps))
    std = (x.double().var(-1, keepdim=True, unbiased=False) + eps).sqrt()
    terms = (grad_out.double() * weight.double() / std).abs().max().item()
    tol = tolerance(x.dtype)
    atols = (tol["atol"] * max(1.0, terms), tol["atol"], tol["atol"])
    mistakes = ln_mistakes(grad_out, x, weight, eps)
    for k, name in enumerate(_LN_NAMES):
        t.expect(got[k], expected[k], name, mistakes={text: values[k] for text, values in mistakes.items()},
                 atol=atols[k], rtol=tol["rtol"])


@layer_norm_backward.case("all three gradients match autograd on a batch of sequences (B, T, C)")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(2, 4), t.py.randint(3, 6), t.py.randint(5, 9)), 1e-5)


@layer_norm_backward.case("the same on a 2-d batch (N, C) with few features and a large eps, in float64")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(3, 7), t.py.randint(3, 5)), t.py.uniform(0.05, 0.3), scale=0.3,
                      dtype=torch.float64)


@layer_norm_backward.case("the same on a single sequence (1, T, C), more positions than features")
def _(t: Trial) -> None:
    features = t.py.randint(4, 6)
    check_ln_backward(t, (1, features + t.py.randint(2, 5), features), t.py.choice((1e-5, 1e-3)))


@layer_norm_backward.case("the same on one vector (C,) of many features")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(30, 64),), 1e-5, scale=2.0)


# --- 2. swiglu_width and swiglu_ffn ------------------------------------------------------------------

swiglu_width = exercise(
    "ch06.swiglu_width", name="swiglu_width",
    description="LLaMA's hidden width F for a SwiGLU feed-forward network of width n_embd: the F at which its three "
                "bias-free weight matrices hold as many weights as a bias-free GELU network of width 4 * n_embd, "
                "its whole-number part rounded up to a multiple of multiple_of; a Python int.",
    args=("n_embd", "multiple_of"), points=1, timeout=10,
)


def width_reference(n_embd: int, multiple_of: int) -> int:
    """Meta's LLaMA code: 3 C F = 2 C (4C) gives F = 2/3 of 4C; int() of it, then up to a multiple."""
    hidden = int(2 * (4 * n_embd) / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def width_mistakes(n_embd: int, multiple_of: int) -> dict[str, int]:
    def up(value: int) -> int:
        return multiple_of * -(-value // multiple_of)

    exact = 8 * n_embd / 3
    return {
        "kept the GELU network's width 4 * n_embd: SwiGLU has three matrices, not two, so at the same count its "
        "hidden layer is narrower": 4 * n_embd,
        "rounded down to a multiple: LLaMA rounds up, so the network is never smaller than the GELU one":
            multiple_of * (int(exact) // multiple_of),
        "rounded to the nearest multiple: LLaMA rounds up": multiple_of * round(int(exact) / multiple_of),
        "rounded the exact width up before taking the multiple: LLaMA takes its whole-number part (int) first":
            up(math.ceil(exact)),
        "matched the chapter's GELU network with its biases: compare the bias-free networks (LLaMA has none)":
            up(int((8 * n_embd * n_embd + 5 * n_embd) / (3 * n_embd))),
        "divided 4 * n_embd by 3: the three matrices share the two matrices' weights, so F is 2/3 of 4 * n_embd":
            up(int(4 * n_embd / 3)),
    }


def check_width(t: Trial, n_embd: int, multiple_of: int) -> None:
    got = t.call(n_embd, multiple_of).value
    if isinstance(got, float) or not isinstance(got, int) or isinstance(got, bool):
        raise CheckFailure(f"the width should be a Python int, but `swiglu_width` returned {kind_of(got)}: use "
                           "int() and // (integer division).", "type")
    t.expect(got, width_reference(n_embd, multiple_of), "the hidden width", mistakes=width_mistakes(n_embd,
                                                                                                 multiple_of))


@swiglu_width.case("LLaMA's own sizes: 7B (4096 wide, multiple 256), and 13B (5120) or 65B (8192)")
def _(t: Trial) -> None:
    check_width(t, 4096, 256)
    check_width(t, t.py.choice((5120, 8192)), 256)


@swiglu_width.case("small widths rounded up to multiples of 8, 32 or 64")
def _(t: Trial) -> None:
    check_width(t, t.py.choice((16, 20, 48, 100, 130, 200)), t.py.choice((8, 32, 64)))


@swiglu_width.case("multiple_of = 1: the whole-number part itself, for widths not divisible by 3")
def _(t: Trial) -> None:
    check_width(t, t.py.choice((4, 7, 10, 13, 22, 25)), 1)


swiglu_ffn = exercise(
    "ch06.swiglu_ffn", name="swiglu_ffn",
    description="LLaMA's feed-forward network without biases (SwiGLU): x (..., C), w_gate and w_up (F, C), w_down "
                "(C, F) stored as nn.Linear weights; the SiLU of x's gate projection gates its up projection element "
                "by element, and w_down projects the product back to (..., C).",
    args=("x", "w_gate", "w_up", "w_down"), points=1, timeout=10, grad=True, hints={
        "cannot be multiplied": "check the shapes: the weights are stored as nn.Linear stores them, (out, in), so "
                                "multiply x by their transposes.",
        "must match the size": "check the shapes: the gate and the up projection are both (F, C) and give (..., F), "
                               "multiplied element by element.",
    },
)


def swiglu_reference(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T  # (..., C)


def swiglu_mistakes(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor,
                    w_down: torch.Tensor) -> dict[str, torch.Tensor]:
    gate, up = x @ w_gate.T, x @ w_up.T  # (..., F) each
    return mistake_values({
        "applied SiLU to the up branch instead of the gate: the gate's projection is the one activated":
            lambda: (gate * F.silu(up)) @ w_down.T,
        "used GELU, the chapter's activation: SwiGLU's gate is SiLU (Swish), x * sigmoid(x)":
            lambda: (F.gelu(gate) * up) @ w_down.T,
        "used a plain sigmoid as the gate (that is the original GLU): SiLU is x * sigmoid(x)":
            lambda: (torch.sigmoid(gate) * up) @ w_down.T,
        "left out the up branch: SwiGLU multiplies the activated gate by a second projection":
            lambda: F.silu(gate) @ w_down.T,
        "used ReLU instead of SiLU": lambda: (torch.relu(gate) * up) @ w_down.T,
        "applied SiLU to the product of both branches: only the gate's branch is activated":
            lambda: F.silu(gate * up) @ w_down.T,
        "added the two branches: the gate multiplies the up projection element by element":
            lambda: (F.silu(gate) + up) @ w_down.T,
    })


def check_swiglu(t: Trial, lead: tuple[int, ...], n_embd: int, d_ff: int, dtype: torch.dtype = torch.float32) -> None:
    x = t.randn(*lead, n_embd, dtype=dtype)  # (..., C)
    w_gate = t.randn(d_ff, n_embd, scale=1.5 / math.sqrt(n_embd), dtype=dtype)  # (F, C): pre-activations ~1-2
    w_up = t.randn(d_ff, n_embd, scale=1 / math.sqrt(n_embd), dtype=dtype)  # (F, C)
    w_down = t.randn(n_embd, d_ff, scale=1 / math.sqrt(d_ff), dtype=dtype)  # (C, F)
    t.check_call(x, w_gate, w_up, w_down, reference=swiglu_reference, what="the FFN's output",
                 mistakes=swiglu_mistakes, **tolerance(dtype))


@swiglu_ffn.case("values and gradients on a batch of sequences (B, T, C), F = LLaMA's width for multiple_of 1")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 8)
    check_swiglu(t, (t.py.randint(2, 3), t.py.randint(3, 5)), n_embd, width_reference(n_embd, 1))


@swiglu_ffn.case("values and gradients on one row (1, C), F narrower than C, in float64")
def _(t: Trial) -> None:
    n_embd = t.py.randint(6, 9)
    check_swiglu(t, (1,), n_embd, n_embd - t.py.randint(2, 4), dtype=torch.float64)


@swiglu_ffn.case("values and gradients with F = C (square weights) and extra leading dimensions")
def _(t: Trial) -> None:
    size = t.py.randint(3, 6)
    check_swiglu(t, (2, t.py.randint(2, 3), t.py.randint(2, 4)), size, size)


# --- 3. encoder_decoder_params -------------------------------------------------------------------------

encoder_decoder_params = exercise(
    "ch06.encoder_decoder_params", name="encoder_decoder_params",
    description="The number of parameters of a LLaMA-style encoder-decoder, by formula, as a Python int: a token "
                "table per side (src_vocab_size and tgt_vocab_size rows), rotary positions (no parameters), "
                "n_enc_layer encoder blocks (RMSNorm, grouped-query self-attention, RMSNorm, SwiGLU FFN of hidden "
                "width d_ff) and n_dec_layer decoder blocks (the same with a grouped-query cross-attention and its "
                "RMSNorm in between), a final RMSNorm per side, an untied output head; no biases anywhere; "
                "n_kv_head key/value heads of n_embd // n_head features each.",
    args=("src_vocab_size", "tgt_vocab_size", "n_embd", "n_head", "n_kv_head", "n_enc_layer", "n_dec_layer",
          "d_ff"), points=1, timeout=10,
    forbidden=[Forbidden(device="meta", why="a model built on the meta device and counted is a measurement, not a "
                                            "formula: add up each layer's weights from the sizes, with arithmetic.")],
)


def _reference_model(src_vocab_size: int, tgt_vocab_size: int, n_embd: int, n_head: int, n_kv_head: int,
                     n_enc_layer: int, n_dec_layer: int, d_ff: int) -> torch.nn.Module:
    """The layout built from PyTorch's own layers (call it on the meta device): what the formula must count."""
    nn = torch.nn
    c, kv = n_embd, n_kv_head * (n_embd // n_head)  # keys and values: n_kv_head heads of n_embd // n_head

    def attention() -> nn.Module:
        return nn.ModuleDict(dict(q=nn.Linear(c, c, bias=False), k=nn.Linear(c, kv, bias=False),
                                  v=nn.Linear(c, kv, bias=False), o=nn.Linear(c, c, bias=False)))

    def ffn() -> nn.Module:
        return nn.ModuleDict(dict(gate=nn.Linear(c, d_ff, bias=False), up=nn.Linear(c, d_ff, bias=False),
                                  down=nn.Linear(d_ff, c, bias=False)))

    def block(cross: bool) -> nn.Module:
        parts = dict(norm_self=nn.RMSNorm(c), self_attn=attention(), norm_ffn=nn.RMSNorm(c), ffn=ffn())
        if cross:
            parts.update(norm_cross=nn.RMSNorm(c), cross_attn=attention())
        return nn.ModuleDict(parts)

    return nn.ModuleDict(dict(
        src_table=nn.Embedding(src_vocab_size, c), tgt_table=nn.Embedding(tgt_vocab_size, c),
        encoder=nn.ModuleList(block(False) for _ in range(n_enc_layer)),
        decoder=nn.ModuleList(block(True) for _ in range(n_dec_layer)),
        enc_norm=nn.RMSNorm(c), dec_norm=nn.RMSNorm(c), head=nn.Linear(c, tgt_vocab_size, bias=False)))


def count_reference(*args: int) -> int:
    """The layout built on the meta device (shapes only, no memory) and counted parameter by parameter."""
    with torch.device("meta"):
        model = _reference_model(*args)
    return sum(p.numel() for p in model.parameters())


def count_mistakes(src_vocab_size: int, tgt_vocab_size: int, n_embd: int, n_head: int, n_kv_head: int,
                   n_enc_layer: int, n_dec_layer: int, d_ff: int) -> dict[str, int]:
    c, kv = n_embd, n_kv_head * (n_embd // n_head)
    right = count_reference(src_vocab_size, tgt_vocab_size, n_embd, n_head, n_kv_head, n_enc_layer, n_dec_layer,
                            d_ff)
    attn = 2 * c * c + 2 * c * kv  # one attention's weights
    n_attn, n_norms = n_enc_layer + 2 * n_dec_layer, 2 * n_enc_layer + 3 * n_dec_layer + 2
    return {
        "counted a shift in every norm: RMSNorm has a gain only, n_embd numbers": right + n_norms * c,
        "counted biases: this model's linear layers have none":
            right + n_attn * (2 * c + 2 * kv) + (n_enc_layer + n_dec_layer) * (2 * d_ff + c),
        "counted the chapter's two-matrix FFN: SwiGLU has three matrices of n_embd x d_ff (gate, up, down)":
            right - (n_enc_layer + n_dec_layer) * c * d_ff,
        "counted the chapter's layers (its two-matrix FFN, keys and values as wide as the queries): SwiGLU has three "
        "matrices of n_embd x d_ff, and n_kv_head key/value heads of n_embd // n_head features are "
        "n_kv_head * (n_embd // n_head) wide":
            right - (n_enc_layer + n_dec_layer) * c * d_ff + n_attn * 2 * c * (c - kv),
        "gave the keys and the values n_embd features: with n_kv_head heads of n_embd // n_head features they are "
        "n_kv_head * (n_embd // n_head) wide": right + n_attn * 2 * c * (c - kv),
        "multiplied the attention weights by the number of heads: the heads split n_embd, they add nothing":
            right + (n_head - 1) * n_attn * attn,
        "counted only the source's token table: this model has one per side (tgt_vocab_size rows for the target)":
            right - tgt_vocab_size * c,
        "counted only the target's token table: this model has one per side (src_vocab_size rows for the source)":
            right - src_vocab_size * c,
        "tied the output head to a token table: this head is a weight of its own, tgt_vocab_size x n_embd":
            right - tgt_vocab_size * c,
        "sized the output head by the source vocabulary: it scores target tokens":
            right + (src_vocab_size - tgt_vocab_size) * c,
        "left out the decoder's cross-attention (and its norm): each decoder block has three sublayers":
            right - n_dec_layer * (attn + c),
        "forgot the norm of the cross-attention sublayer: every sublayer has its own": right - n_dec_layer * c,
        "left out the final norms: each side ends with one RMSNorm": right - 2 * c,
    }


def check_count(t: Trial, *args: int) -> None:
    got = t.call(*args).value
    if isinstance(got, float) and got.is_integer():
        raise CheckFailure("the count should be a Python int (the number of parameters), but it is a float: use "
                           "integer arithmetic (// instead of /, no math.pow).", "type")
    t.expect(got, count_reference(*args), "the number of parameters", mistakes=count_mistakes(*args))


@encoder_decoder_params.case("a small model with as many key/value heads as query heads, deeper decoder")
def _(t: Trial) -> None:
    n_embd = t.py.choice((16, 24, 32))
    n_head = t.py.choice((2, 4))
    check_count(t, t.py.randint(10, 40), t.py.randint(41, 80), n_embd, n_head, n_head, t.py.randint(1, 3),
                t.py.randint(4, 5), t.py.choice((40, 48, 64)))


@encoder_decoder_params.case("grouped-query attention (fewer key/value heads), a narrow FFN, deeper encoder")
def _(t: Trial) -> None:
    n_embd, n_head, n_kv_head = t.py.choice(((12, 4, 1), (12, 4, 2), (24, 6, 2), (48, 8, 2), (48, 12, 3)))
    check_count(t, t.py.randint(200, 300), t.py.randint(50, 150), n_embd, n_head, n_kv_head, t.py.randint(3, 5),
                t.py.randint(1, 2), n_embd + t.py.randint(1, 9))


@encoder_decoder_params.case("a model far too large to build in memory: LLaMA-65B's width on both sides")
def _(t: Trial) -> None:
    check_count(t, 32000, t.py.choice((32000, 128256)), 8192, 64, t.py.choice((8, 64)), t.py.randint(40, 48),
                t.py.randint(60, 80), 22016)


# --- 4. moe_feedforward --------------------------------------------------------------------------------

moe_feedforward = exercise(
    "ch06.moe_feedforward", name="moe_feedforward",
    description="A mixture-of-experts feed-forward (Mixtral's routing): for each position of x (..., C), "
                "router logits x router_weight^T (E experts), keep the k largest, gates = softmax over those k, "
                "output = sum of gate_e * expert_e(x), expert e = the chapter's GELU FFN with weights "
                "w_fc[e] (F, C), b_fc[e] (F,), w_proj[e] (C, F), b_proj[e] (C,).",
    args=("x", "router_weight", "w_fc", "b_fc", "w_proj", "b_proj", "k"), points=2, timeout=15, grad=True, hints={
        "selected index k out of range": "k counts experts: take the top k along the last dimension of the router "
                                         "logits (one score per expert), not along the positions.",
        "cannot be multiplied": "check the shapes: expert e's weights are w_fc[e] (F, C) and w_proj[e] (C, F), "
                                "stored as nn.Linear stores them, (out, in).",
        "must match the size": "check the shapes: the router gives (..., E) logits; the gates and the experts' "
                               "outputs must line up per position.",
    },
)


def _experts(x: torch.Tensor, w_fc: torch.Tensor, b_fc: torch.Tensor, w_proj: torch.Tensor, b_proj: torch.Tensor,
             act: Callable[[torch.Tensor], torch.Tensor] = F.gelu) -> torch.Tensor:
    """Every expert on every position: (..., E, C)."""
    h = act(torch.einsum("...c,efc->...ef", x, w_fc) + b_fc)  # (..., E, F)
    return torch.einsum("...ef,ecf->...ec", h, w_proj) + b_proj  # (..., E, C)


def moe_variant(x: torch.Tensor, router_weight: torch.Tensor, w_fc: torch.Tensor, b_fc: torch.Tensor,
                w_proj: torch.Tensor, b_proj: torch.Tensor, k: int, mistake: str = "") -> torch.Tensor:
    """The right mixture, or one known mistake of it: (..., C)."""
    logits = x @ router_weight.T  # (..., E)
    top, index = logits.topk(k, dim=-1, largest=mistake != "smallest")  # (..., k)
    if mistake == "softmax_all":
        gates = torch.softmax(logits, -1).gather(-1, index)  # not renormalised over the k kept
    elif mistake == "uniform":
        gates = torch.full_like(top, 1.0 / k)
    elif mistake == "raw":
        gates = top
    else:
        gates = torch.softmax(top, dim=-1)  # (..., k)
    outs = _experts(x, w_fc, b_fc, w_proj, b_proj, torch.relu if mistake == "relu" else F.gelu)  # (..., E, C)
    if mistake == "all_experts":
        return (torch.softmax(logits, -1)[..., None] * outs).sum(-2)
    chosen = outs.gather(-2, index[..., None].expand(*index.shape, outs.size(-1)))  # (..., k, C)
    return (gates[..., None] * chosen).sum(-2)  # (..., C)


def moe_reference(*args: Any) -> torch.Tensor:
    return moe_variant(*args)


MOE_MISTAKES = {
    "softmax_all": "took the softmax over all experts and kept the top k without renormalising: the gates are a "
                   "softmax over the k kept logits only, so they add up to 1",
    "uniform": "averaged the k chosen experts equally: weight each by its gate",
    "raw": "used the raw router logits as gates: take the softmax over the k kept ones",
    "smallest": "kept the k smallest router logits: route each position to its k highest-scoring experts",
    "all_experts": "mixed every expert with softmax gates (a dense mixture): only the top k take part",
    "relu": "used ReLU in the experts: each expert is the chapter's GELU feed-forward network",
}


def moe_mistakes(*args: Any) -> dict[str, torch.Tensor]:
    return mistake_values({text: (lambda m=m: moe_variant(*args, mistake=m)) for m, text in MOE_MISTAKES.items()})


def check_moe(t: Trial, lead: tuple[int, ...], n_embd: int, d_ff: int, n_expert: int, k: int,
              dtype: torch.dtype = torch.float32) -> None:
    x = t.randn(*lead, n_embd, dtype=dtype)  # (..., C)
    router = t.randn(n_expert, n_embd, scale=2 / math.sqrt(n_embd), dtype=dtype)  # (E, C): clear winners
    w_fc = t.randn(n_expert, d_ff, n_embd, scale=1.5 / math.sqrt(n_embd), dtype=dtype)  # (E, F, C)
    b_fc = t.randn(n_expert, d_ff, scale=0.3, dtype=dtype)  # (E, F)
    w_proj = t.randn(n_expert, n_embd, d_ff, scale=1 / math.sqrt(d_ff), dtype=dtype)  # (E, C, F)
    b_proj = t.randn(n_expert, n_embd, scale=0.3, dtype=dtype)  # (E, C)
    t.check_call(x, router, w_fc, b_fc, w_proj, b_proj, k, reference=moe_reference, what="the mixture's output",
                 mistakes=moe_mistakes, **tolerance(dtype))


@moe_feedforward.case("top-2 of several experts on a batch of sequences (B, T, C): values and gradients")
def _(t: Trial) -> None:
    check_moe(t, (t.py.randint(2, 3), t.py.randint(3, 5)), t.py.randint(4, 6), t.py.randint(6, 10),
              t.py.randint(4, 6), 2)


@moe_feedforward.case("top-1 under this rule (the one gate is always 1) on one position (1, C), F narrower than C")
def _(t: Trial) -> None:
    n_embd = t.py.randint(6, 8)
    check_moe(t, (1,), n_embd, n_embd - t.py.randint(1, 3), t.py.randint(3, 4), 1)


@moe_feedforward.case("top-3 of eight experts on many positions (N, C), F = C, in float64")
def _(t: Trial) -> None:
    size = t.py.randint(3, 5)
    check_moe(t, (t.py.randint(12, 20),), size, size, 8, 3, dtype=torch.float64)
