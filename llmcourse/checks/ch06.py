"""Chapter 6's graded exercises: the backward pass of layer norm by hand, LLaMA's SwiGLU width and network,
the parameter count of a LLaMA-style encoder-decoder, and a mixture-of-experts feed-forward with top-k routing.

The chapter builds layer norm (autograd differentiates it), the GELU feed-forward network, the blocks and
the models, and counts the parameters of blocks and of a decoder-only model; each exercise asks for a
sibling or an extension. Exercise 1 rules out PyTorch's normalisation kernels, whose own backward would hand back
the answer; exercise 3 rules out building the model on the ``meta`` device and counting it. Every case draws its
inputs from the run's trial. The expected answers come from the teacher's references
(``solutions/references/ch06.py``: autograd through ``F.layer_norm``, the SwiGLU and mixture-of-experts formulas
with ``F.silu`` / ``F.gelu``, Meta's LLaMA code for the width, and the encoder-decoder's layout built from
PyTorch's layers on the ``meta`` device and counted), live on the teacher's side and replayed from the recording in
a learner's check; known mistakes are computed on the same inputs, so a message can name the one an answer makes.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ..grading.core import CheckFailure, Forbidden, Trial, exercise
from ..grading.expect import kind_of


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """atol and rtol for a result in ``dtype``: float64 answers are held to float64 rounding, so a float32 step
    on the way (a constant or a buffer made without dtype=) shows even when the result's dtype is right; float16 and
    bfloat16 answers (compared with a reference computed in float32 or float64 from the same inputs, then rounded)
    are allowed a few roundings of their own dtype on the way (8 bits of mantissa for bfloat16, 11 for float16)."""
    if dtype == torch.float64:
        return {"atol": 1e-10, "rtol": 1e-10}
    if dtype == torch.bfloat16:  # 5e-2: a product of bfloat16-rounded factors near 1 was off by 0.036 (1 seed in 12)
        return {"atol": 5e-2, "rtol": 2e-2}
    if dtype == torch.float16:
        return {"atol": 3e-3, "rtol": 3e-3}
    return {"atol": 1e-5, "rtol": 1e-4}


# Gradients of a float16 / bfloat16 network carry more roundings than its output: a weight's gradient adds up
# rounded products over the positions, and a softmax's backward is a small difference of rounded products, so
# with cancellation an element can be off by a few percent of the terms' size (about 1 here); measured on the
# master and on other right formulations (x * sigmoid(x), a by-hand stable softmax, an expert loop), bfloat16 needs
# ~0.12 and float16 ~0.015. The formulas themselves are held to float32 / float64 in the other cases; these cases
# check the dtype and that nothing overflows or breaks. None keeps the output's atol.
HALF_GRAD_ATOL = {torch.bfloat16: 1.5e-1, torch.float16: 2e-2}


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


def check_ln_backward(t: Trial, shape: tuple[int, ...], eps: float, scale: float = 1.0,
                      dtype: torch.dtype = torch.float32, offset: float | None = None) -> None:
    """layer_norm_backward against autograd through F.layer_norm, each of the three gradients on its own. With
    ``offset``, every feature shares that large common offset (x = offset + noise of size ``scale``)."""
    shift = t.py.uniform(-1.0, 1.0) if offset is None else offset
    x = t.randn(*shape, scale=scale, dtype=dtype) + shift  # (..., C), not centred
    weight = t.randn(shape[-1], dtype=dtype) + 1.0  # (C,): far from the default ones, so a missing weight shows
    grad_out = t.randn(*shape, dtype=dtype)  # (..., C): dL/dy
    got = _tuple_of(t.call(grad_out, x, weight, eps).value, 3, "layer_norm_backward",
                    "three tensors (dL/dx, dL/dweight, dL/dbias)")
    # The reference works in float64: with few features dL/dx is a small difference of large terms, and float32
    # autograd itself is off by ~1e-4 there. An answer in x's dtype is allowed the rounding of those terms
    # (|dL/dy w| / std).
    expected = t.reference("ch06.layer_norm_backward", grad_out, x, weight, eps)
    std = (x.double().var(-1, keepdim=True, unbiased=False) + eps).sqrt() if x.numel() else torch.ones(())
    terms = (grad_out.double() * weight.double() / std).abs().max().item() if x.numel() else 0.0
    tol = tolerance(x.dtype)
    atols = [tol["atol"] * max(1.0, terms), tol["atol"], tol["atol"]]
    rtol = tol["rtol"]
    positions = x.numel() // max(1, shape[-1])
    if dtype in (torch.float16, torch.bfloat16):
        atols[1] *= max(1.0, math.sqrt(positions))  # dL/dweight adds up every position's rounded share
    if offset is not None:
        # x is stored in its dtype around the offset, so x - mean is known to about one unit in the last place of
        # the offset (2.4e-4 at 3000 in float32): allow ten of them, relative to std, in x_hat and what uses it. A
        # one-pass variance (E[x^2] - E[x]^2) loses the whole variance at this offset.
        loose = 10 * abs(offset) * torch.finfo(dtype).eps / max(1e-30, std.min().item())
        atols[0] = max(atols[0], loose * max(1.0, terms))
        atols[1] = max(atols[1], loose * max(1.0, positions))
        rtol = max(rtol, loose)
    mistakes = t.reference("ch06.layer_norm_backward/mistakes", grad_out, x, weight, eps)
    for k, name in enumerate(_LN_NAMES):
        t.expect(got[k], expected[k], name, mistakes={text: values[k] for text, values in mistakes.items()},
                 atol=atols[k], rtol=rtol)


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


@layer_norm_backward.case("features sharing a large common offset (activations near +-3000, spread 1), float32: "
                          "a one-pass variance E[x^2] - E[x]^2 cancels them away")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(3, 6), t.py.randint(8, 16)), 1e-5,
                      offset=t.py.choice((-1.0, 1.0)) * t.py.uniform(2000.0, 4000.0))


@layer_norm_backward.case("mixed-precision activations in bfloat16 (B, T, C): the gradients come back in bfloat16")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(2, 3), t.py.randint(3, 5), t.py.randint(6, 12)), 1e-5, dtype=torch.bfloat16)


@layer_norm_backward.case("the same in float16, on a 2-d batch (N, C)")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(3, 8), t.py.randint(6, 12)), 1e-5, dtype=torch.float16)


@layer_norm_backward.case("an empty batch: no sequences (0, T, C) or sequences of no positions (B, 0, C); dL/dx is "
                          "empty, dL/dweight and dL/dbias are zeros")
def _(t: Trial) -> None:
    features = t.py.randint(3, 6)
    check_ln_backward(t, (0, t.py.randint(2, 4), features), 1e-5)
    check_ln_backward(t, (t.py.randint(1, 3), 0, features), 1e-5)


# --- 2. swiglu_width and swiglu_ffn ------------------------------------------------------------------

swiglu_width = exercise(
    "ch06.swiglu_width", name="swiglu_width",
    description="LLaMA's hidden width F for a SwiGLU feed-forward network of width n_embd: the F at which its three "
                "bias-free weight matrices hold as many weights as a bias-free GELU network of width 4 * n_embd, "
                "its whole-number part rounded up to a multiple of multiple_of; a Python int.",
    args=("n_embd", "multiple_of"), points=1, timeout=10,
)


def check_width(t: Trial, n_embd: int, multiple_of: int) -> None:
    got = t.call(n_embd, multiple_of).value
    if isinstance(got, float) or not isinstance(got, int) or isinstance(got, bool):
        raise CheckFailure(f"the width should be a Python int, but `swiglu_width` returned {kind_of(got)}: use "
                           "int() and // (integer division).", "type")
    t.expect(got, t.reference("ch06.swiglu_width", n_embd, multiple_of), "the hidden width",
             mistakes=t.reference("ch06.swiglu_width/mistakes", n_embd, multiple_of))


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


def check_swiglu(t: Trial, lead: tuple[int, ...], n_embd: int, d_ff: int, dtype: torch.dtype = torch.float32,
                 x_scale: float = 1.0, gate_scale: float = 1.5, atol: float | None = None) -> None:
    x = t.randn(*lead, n_embd, scale=x_scale, dtype=dtype)  # (..., C)
    # (F, C): gate pre-activations ~ x_scale * gate_scale (1-2 by default)
    w_gate = t.randn(d_ff, n_embd, scale=gate_scale / math.sqrt(n_embd), dtype=dtype)
    w_up = t.randn(d_ff, n_embd, scale=1 / math.sqrt(n_embd), dtype=dtype)  # (F, C)
    w_down = t.randn(n_embd, d_ff, scale=1 / math.sqrt(d_ff), dtype=dtype)  # (C, F)
    tol = tolerance(dtype) if atol is None else {**tolerance(dtype), "atol": atol}
    t.check_call(x, w_gate, w_up, w_down, reference="ch06.swiglu_ffn", what="the FFN's output",
                 mistakes="ch06.swiglu_ffn/mistakes", grad_atol=HALF_GRAD_ATOL.get(dtype, atol), **tol)


@swiglu_ffn.case("values and gradients on a batch of sequences (B, T, C), F = LLaMA's width for multiple_of 1")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 8)
    check_swiglu(t, (t.py.randint(2, 3), t.py.randint(3, 5)), n_embd, t.reference("ch06.swiglu_width", n_embd, 1))


@swiglu_ffn.case("values and gradients on one row (1, C), F narrower than C, in float64")
def _(t: Trial) -> None:
    n_embd = t.py.randint(6, 9)
    check_swiglu(t, (1,), n_embd, n_embd - t.py.randint(2, 4), dtype=torch.float64)


@swiglu_ffn.case("values and gradients with F = C (square weights) and extra leading dimensions")
def _(t: Trial) -> None:
    size = t.py.randint(3, 6)
    check_swiglu(t, (2, t.py.randint(2, 3), t.py.randint(2, 4)), size, size)


@swiglu_ffn.case("massive activations: x near +-30 to +-90 and gate pre-activations in the hundreds of both signs, "
                 "where SiLU written as z * exp(z) / (1 + exp(z)) overflows (and z / (1 + exp(-z)) has no gradient)")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 8)
    # outputs and gradients in the thousands: float32 rounds them at about 1e-4, so both are compared within 1e-2
    # absolute (the mistakes this case names are off by whole units)
    check_swiglu(t, (t.py.randint(2, 3), t.py.randint(3, 5)), n_embd, t.reference("ch06.swiglu_width", n_embd, 1),
                 x_scale=t.py.uniform(30.0, 40.0), gate_scale=t.py.uniform(6.0, 10.0), atol=1e-2)


@swiglu_ffn.case("in bfloat16, as LLaMA runs (B, T, C): the output and the gradients stay bfloat16")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 8)
    check_swiglu(t, (t.py.randint(2, 3), t.py.randint(3, 5)), n_embd, t.reference("ch06.swiglu_width", n_embd, 1),
                 dtype=torch.bfloat16)


@swiglu_ffn.case("in float16 on one row (1, C)")
def _(t: Trial) -> None:
    n_embd = t.py.randint(6, 9)
    check_swiglu(t, (1,), n_embd, n_embd + t.py.randint(2, 6), dtype=torch.float16)


@swiglu_ffn.case("an empty batch: no sequences (0, T, C), then sequences of no positions (B, 0, C)")
def _(t: Trial) -> None:
    n_embd = t.py.randint(3, 6)
    check_swiglu(t, (0, t.py.randint(2, 4)), n_embd, n_embd + 2)
    check_swiglu(t, (t.py.randint(1, 3), 0), n_embd, n_embd + 2)


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


def check_count(t: Trial, *args: int) -> None:
    got = t.call(*args).value
    if isinstance(got, float) and got.is_integer():
        raise CheckFailure("the count should be a Python int (the number of parameters), but it is a float: use "
                           "integer arithmetic (// instead of /, no math.pow).", "type")
    t.expect(got, t.reference("ch06.encoder_decoder_params", *args), "the number of parameters",
             mistakes=t.reference("ch06.encoder_decoder_params/mistakes", *args))


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


def check_moe(t: Trial, lead: tuple[int, ...], n_embd: int, d_ff: int, n_expert: int, k: int,
              dtype: torch.dtype = torch.float32, router_scale: float = 2.0, margin: float = 0.0) -> None:
    """With ``margin``, x's positions (lead = (N,)) are drawn from three times as many, keeping those whose k-th and
    (k+1)-th router logits are at least ``margin`` apart: a choice that rounding in a low-precision dtype (or an
    answer that works in float32) cannot flip."""
    rows = lead[0] * 3 if margin else lead[0]
    x = t.randn(rows, *lead[1:], n_embd, dtype=dtype)  # (..., C)
    router = t.randn(n_expert, n_embd, scale=router_scale / math.sqrt(n_embd), dtype=dtype)  # (E, C): clear winners
    if margin and k < n_expert:
        # only the inputs are chosen here: which experts win is the learner's (and the reference's) to work out
        ranked = (x.double() @ router.double().T).sort(-1, descending=True).values  # (3N, E)
        gap = (ranked[:, k - 1] - ranked[:, k]).flatten()
        keep = (gap >= margin).nonzero().flatten()
        keep = torch.cat([keep, (gap < margin).nonzero().flatten()])[:lead[0]].sort().values
        x = x[keep].contiguous()
    elif margin:
        x = x[:lead[0]].contiguous()
    w_fc = t.randn(n_expert, d_ff, n_embd, scale=1.5 / math.sqrt(n_embd), dtype=dtype)  # (E, F, C)
    b_fc = t.randn(n_expert, d_ff, scale=0.3, dtype=dtype)  # (E, F)
    w_proj = t.randn(n_expert, n_embd, d_ff, scale=1 / math.sqrt(d_ff), dtype=dtype)  # (E, C, F)
    b_proj = t.randn(n_expert, n_embd, scale=0.3, dtype=dtype)  # (E, C)
    t.check_call(x, router, w_fc, b_fc, w_proj, b_proj, k, reference="ch06.moe_feedforward",
                 what="the mixture's output", mistakes="ch06.moe_feedforward/mistakes",
                 grad_atol=HALF_GRAD_ATOL.get(dtype), **tolerance(dtype))


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


@moe_feedforward.case("router logits in the hundreds, tens to hundreds apart within a position (top-2): a softmax "
                      "of the kept logits without the largest subtracted overflows")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 6)
    check_moe(t, (t.py.randint(2, 3), t.py.randint(3, 5)), n_embd, t.py.randint(6, 10), t.py.randint(4, 6), 2,
              router_scale=t.py.uniform(150.0, 250.0))


@moe_feedforward.case("in bfloat16, as Mixtral runs: top-2 of four experts on positions (N, C) whose choice is "
                      "clear; the output and the gradients stay bfloat16")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 6)
    check_moe(t, (t.py.randint(4, 8),), n_embd, t.py.randint(6, 10), 4, 2, dtype=torch.bfloat16, margin=0.3)


@moe_feedforward.case("in float16, top-1 of three experts on positions (N, C) whose choice is clear")
def _(t: Trial) -> None:
    n_embd = t.py.randint(4, 6)
    check_moe(t, (t.py.randint(3, 6),), n_embd, n_embd, 3, 1, dtype=torch.float16, margin=0.3)


@moe_feedforward.case("no positions at all: an empty batch (0, C), then sequences of no positions (B, 0, C)")
def _(t: Trial) -> None:
    n_embd = t.py.randint(3, 5)
    check_moe(t, (0,), n_embd, t.py.randint(3, 6), 4, 2)
    check_moe(t, (t.py.randint(1, 3), 0), n_embd, t.py.randint(3, 6), 4, 2)
