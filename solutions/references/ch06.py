"""Chapter 6's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch06.py compare with. The references are PyTorch's own or written here from PyTorch's layers and
Meta's code: autograd through ``F.layer_norm`` (in float64) for layer norm's backward; the SwiGLU and
mixture-of-experts formulas written with ``F.silu`` / ``F.gelu`` on the learner's very tensors (so gradients are
compared too); Meta's LLaMA code for the width; and for the count, the layout built from PyTorch's own layers on the
``meta`` device and counted with ``sum(p.numel())`` (a layout the package does not build -- RMSNorm, no biases,
grouped-query attention, SwiGLU, a token table per side, an untied head -- so neither its models nor its formulas
answer it). Each mistake function computes the known mistakes on the same inputs (through autograd of a mistaken
forward pass, or by formula), so a message can name the one an answer makes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.grading.expect import mistake_values
from llmcourse.grading.references import reference

# --- 1. layer_norm_backward --------------------------------------------------------------------------


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


def ln_autograd(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, ...]:
    """Autograd through F.layer_norm for the upstream gradient grad_out: (dx, dweight, dbias)."""
    leaves = [x.detach().clone().requires_grad_(True), weight.detach().clone().requires_grad_(True),
              torch.zeros_like(weight, requires_grad=True)]
    y = F.layer_norm(leaves[0], (x.shape[-1],), leaves[1], leaves[2], eps)
    return tuple(g.detach() for g in torch.autograd.grad(y, leaves, grad_out))


@reference("ch06.layer_norm_backward")
def ln_reference(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float) -> tuple[torch.Tensor, ...]:
    """The three gradients by autograd through F.layer_norm in float64, given back in x's dtype: with few features
    dL/dx is a small difference of large terms, and float32 autograd itself is off by ~1e-4 there."""
    return tuple(e.to(x.dtype) for e in ln_autograd(grad_out.double(), x.double(), weight.double(), eps))


@reference("ch06.layer_norm_backward/mistakes")
def ln_mistakes(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, eps: float) -> dict[str, tuple]:
    """What each known mistake gives for the three gradients (those that cannot run here are left out; on an empty
    batch every one of them gives the right gradients, or NaN where it averages over no positions)."""
    if x.numel() == 0:
        return {}

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
    right = ln_autograd(grad_out, x, weight, eps)
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


# --- 2. swiglu_width and swiglu_ffn ------------------------------------------------------------------


@reference("ch06.swiglu_width")
def width_reference(n_embd: int, multiple_of: int) -> int:
    """Meta's LLaMA code: 3 C F = 2 C (4C) gives F = 2/3 of 4C; int() of it, then up to a multiple."""
    hidden = int(2 * (4 * n_embd) / 3)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


@reference("ch06.swiglu_width/mistakes")
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


_HALF = (torch.float16, torch.bfloat16)


def _in_float32(fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
    """``fn`` on float16 / bfloat16 tensors computed in float32 from the same (rounded) inputs, the result rounded
    back to their dtype once (autograd goes through the casts, so the gradients come back in the inputs' dtype);
    other dtypes as they are."""
    low = next((a.dtype for a in args if isinstance(a, torch.Tensor) and a.dtype in _HALF), None)
    if low is None:
        return fn(*args)
    up = [a.float() if isinstance(a, torch.Tensor) and a.dtype in _HALF else a for a in args]
    return fn(*up).to(low)


def _swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    return (F.silu(x @ w_gate.T) * (x @ w_up.T)) @ w_down.T  # (..., C)


@reference("ch06.swiglu_ffn")
def swiglu_reference(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    return _in_float32(_swiglu, x, w_gate, w_up, w_down)


@reference("ch06.swiglu_ffn/mistakes")
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


# --- 3. encoder_decoder_params -------------------------------------------------------------------------


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


@reference("ch06.encoder_decoder_params")
def count_reference(*args: int) -> int:
    """The layout built on the meta device (shapes only, no memory) and counted parameter by parameter."""
    with torch.device("meta"):
        model = _reference_model(*args)
    return sum(p.numel() for p in model.parameters())


@reference("ch06.encoder_decoder_params/mistakes")
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


# --- 4. moe_feedforward --------------------------------------------------------------------------------


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


@reference("ch06.moe_feedforward")
def moe_reference(*args: Any) -> torch.Tensor:
    return _in_float32(moe_variant, *args)


MOE_MISTAKES = {
    "softmax_all": "took the softmax over all experts and kept the top k without renormalising: the gates are a "
                   "softmax over the k kept logits only, so they add up to 1",
    "uniform": "averaged the k chosen experts equally: weight each by its gate",
    "raw": "used the raw router logits as gates: take the softmax over the k kept ones",
    "smallest": "kept the k smallest router logits: route each position to its k highest-scoring experts",
    "all_experts": "mixed every expert with softmax gates (a dense mixture): only the top k take part",
    "relu": "used ReLU in the experts: each expert is the chapter's GELU feed-forward network",
}


@reference("ch06.moe_feedforward/mistakes")
def moe_mistakes(*args: Any) -> dict[str, torch.Tensor]:
    return mistake_values({text: (lambda m=m: moe_variant(*args, mistake=m)) for m, text in MOE_MISTAKES.items()})
