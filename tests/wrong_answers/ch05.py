"""Plausible wrong answers to chapter 5's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import WrongAnswer


def _softmax_attend(scores, mask, v, dim=-1):
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=dim)
    return torch.nan_to_num(weights) @ v


def _naive_softmax(scores, dim=-1):
    e = scores.exp()  # overflows to inf for scores above ~88 (float32) or ~709 (float64): inf / inf is NaN
    total = e.sum(dim, keepdim=True)
    return torch.where(total == 0, 0.0, e / total).to(scores.dtype)


NAIVE = "without subtracting each row's largest score"


# --- grouped_query_attention -----------------------------------------------------------------------


def _gqa(x, w_q, w_k, w_v, w_o, n_head, n_kv_head, *, repeat="interleave", scale=None, diagonal=0, masked=True,
         split="view", dim=-1):
    B, T, C = x.shape
    hd = C // n_head

    def heads(y, n):
        if split == "reshape":
            return y.reshape(B, n, T, hd)
        return y.view(B, T, n, hd).transpose(1, 2)

    q, k, v = heads(x @ w_q.T, n_head), heads(x @ w_k.T, n_kv_head), heads(x @ w_v.T, n_kv_head)
    g = n_head // n_kv_head
    if repeat == "interleave":
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    elif repeat == "tile":
        k, v = k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1)
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(hd) if scale is None else scale)
    mask = torch.ones(T, T, dtype=torch.bool).tril(diagonal) if masked else torch.ones(T, T, dtype=torch.bool)
    out = _softmax_attend(scores, mask, v, dim=dim)
    merged = out.reshape(B, T, C) if split == "reshape" else out.transpose(1, 2).reshape(B, T, C)
    return merged @ w_o.T


def gqa_naive_softmax(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    hd = C // n_head
    q = (x @ w_q.T).view(B, T, n_head, hd).transpose(1, 2)
    k = (x @ w_k.T).view(B, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    v = (x @ w_v.T).view(B, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(hd)).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(),
                                                                    float("-inf"))
    return (_naive_softmax(scores) @ v).transpose(1, 2).reshape(B, T, C) @ w_o.T


def gqa_float32_additive_mask(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    hd = C // n_head
    q = (x @ w_q.T).view(B, T, n_head, hd).transpose(1, 2)
    k = (x @ w_k.T).view(B, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    v = (x @ w_v.T).view(B, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    mask = torch.zeros(T, T).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))  # float32
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd) + mask  # float16 + float32 (T, T): float32 from here on
    return (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T, C) @ w_o.T


def gqa_view_minus_one(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    hd = C // n_head
    q = (x @ w_q.T).view(-1, T, n_head, hd).transpose(1, 2)  # -1 cannot be inferred for an empty batch
    k = (x @ w_k.T).view(-1, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    v = (x @ w_v.T).view(-1, T, n_kv_head, hd).transpose(1, 2).repeat_interleave(n_head // n_kv_head, dim=1)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(hd)).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(),
                                                                    float("-inf"))
    return (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, T, C) @ w_o.T


def gqa_tiles_heads(*args):
    return _gqa(*args, repeat="tile")


def gqa_no_scale(*args):
    return _gqa(*args, scale=1.0)


def gqa_scale_by_c(x, *rest):
    return _gqa(x, *rest, scale=1 / math.sqrt(x.shape[-1]))


def gqa_sees_next(*args):
    return _gqa(*args, diagonal=1)


def gqa_no_mask(*args):
    return _gqa(*args, masked=False)


def gqa_softmax_over_queries(*args):
    return _gqa(*args, dim=-2)


def gqa_reshape_heads(*args):
    return _gqa(*args, split="reshape")


def gqa_no_repeat(*args):
    return _gqa(*args, repeat="none")  # runs only when n_kv_head == n_head


def gqa_detached(*args):
    return _gqa(*args).detach()


def gqa_float32_buffer(x, w_q, w_k, w_v, w_o, n_head, n_kv_head):
    B, T, C = x.shape
    hd, g = C // n_head, n_head // n_kv_head
    y = torch.zeros(B, T, C)  # float32 whatever x's dtype: each head's share is rounded into it
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for h in range(n_head):
        own = slice(h * hd, (h + 1) * hd)
        kv = slice((h // g) * hd, (h // g + 1) * hd)
        q, k, v = x @ w_q[own].T, x @ w_k[kv].T, x @ w_v[kv].T  # (B, T, hd) each
        y += _softmax_attend(q @ k.transpose(-2, -1) / math.sqrt(hd), mask, v) @ w_o[:, own].T
    return y


def _gqa_library(x, w_q, w_k, w_v, w_o, n_head, n_kv_head, attend):
    B, T, C = x.shape
    hd = C // n_head
    q = (x @ w_q.T).view(B, T, n_head, hd).transpose(1, 2)  # (B, n_head, T, hd)
    k = (x @ w_k.T).view(B, T, n_kv_head, hd).transpose(1, 2)  # (B, n_kv_head, T, hd): not shared out by hand
    v = (x @ w_v.T).view(B, T, n_kv_head, hd).transpose(1, 2)
    return attend(q, k, v).transpose(1, 2).reshape(B, T, C) @ w_o.T


def gqa_sdpa_enable_gqa(*args):
    # right values and gradients, but PyTorch does the sharing of the key/value heads: the whole exercise
    return _gqa_library(*args, lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                                              enable_gqa=True))


def gqa_cpu_flash_kernel(*args):
    # PyTorch's internal CPU kernel, which shares fewer key/value heads by itself (no flag at all)
    return _gqa_library(*args, lambda q, k, v: torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        q, k, v, is_causal=True)[0])


# --- sliding_window_attention ----------------------------------------------------------------------


def _window(q, k, v, lengths, window, *, lower=0, upper=0, keys=True, two_sided=False, after=False, dim=-1,
            scale=True, float_mask=False):
    T = q.size(-2)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    band = (i - j).abs() < window if two_sided else (j <= i + upper) & (j > i - window - lower)
    mask = band & (j < lengths[:, None, None, None]) if keys else band[None, None] & (i < lengths[:, None, None, None])
    scores = q @ k.transpose(-2, -1) / (math.sqrt(q.size(-1)) if scale else 1.0)
    if float_mask:
        return torch.softmax(scores.double() + mask.double().log(), dim=-1).nan_to_num() @ v.double()
    if after:
        return torch.softmax(scores, dim=-1) * mask @ v
    return _softmax_attend(scores, mask, v, dim=dim)


def window_too_wide(*args):
    return _window(*args, lower=1)


def window_sees_next(*args):
    return _window(*args, upper=1)


def window_two_sided(*args):
    return _window(*args, two_sided=True)


def window_ignores_padding(q, k, v, lengths, window):
    return _window(q, k, v, torch.full_like(lengths, q.size(-2)), window)


def window_masks_queries(*args):
    return _window(*args, keys=False)


def window_mask_after_softmax(*args):
    return _window(*args, after=True)


def window_softmax_over_queries(*args):
    return _window(*args, dim=-2)


def window_no_scale(*args):
    return _window(*args, scale=False)


def window_naive_softmax(q, k, v, lengths, window):
    T = q.size(-2)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    mask = (j <= i) & (j > i - window) & (j < lengths[:, None, None, None])
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).masked_fill(~mask, float("-inf"))
    return _naive_softmax(scores) @ v


def window_float32_additive_mask(q, k, v, lengths, window):
    T = q.size(-2)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    allowed = (j <= i) & (j > i - window) & (j < lengths[:, None, None, None])  # (B, 1, T, T)
    mask = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))  # float32 whatever q's dtype
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)) + mask, dim=-1)
    return torch.where(allowed.any(-1, keepdim=True), weights, 0.0) @ v


def window_nan_rows(q, k, v, lengths, window):
    T = q.size(-2)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    mask = (j <= i) & (j > i - window) & (j < lengths[:, None, None, None])
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # rows with no key are NaN


def window_float64_mask(*args):
    return _window(*args, float_mask=True)  # a float64 log-mask promotes the result to float64


def window_float32_zeros(q, k, v, lengths, window):
    T = q.size(-2)
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    mask = (j <= i) & (j > i - window) & (j < lengths[:, None, None, None])  # (B, 1, T, T)
    has_key = mask.any(-1, keepdim=True)  # (B, 1, T, 1)
    scores = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).masked_fill(~(mask | ~has_key), float("-inf"))
    out = torch.zeros(*q.shape[:-1], v.size(-1))  # zeros for the rows without a key, but float32
    out += (torch.softmax(scores, dim=-1) @ v) * has_key
    return out


# --- attention_backward ----------------------------------------------------------------------------


def _backward(q, k, v, grad_out, *, jacobian="full", scale_power=1, dv="transposed"):
    scale = 1 / math.sqrt(q.size(-1))
    p = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)
    d_v = p.transpose(-2, -1) @ grad_out if dv == "transposed" else p @ grad_out
    d_p = grad_out @ v.transpose(-2, -1)
    if jacobian == "none":
        d_s = d_p
    elif jacobian == "diagonal":
        d_s = p * d_p
    elif jacobian == "columns":
        d_s = p * (d_p - (p * d_p).sum(-2, keepdim=True))
    else:
        d_s = p * (d_p - (p * d_p).sum(-1, keepdim=True))
    s = scale**scale_power
    return d_s @ k * s, d_s.transpose(-2, -1) @ q * s, d_v


def backward_naive_softmax(q, k, v, grad_out):
    scale = 1 / math.sqrt(q.size(-1))
    p = _naive_softmax(q @ k.transpose(-2, -1) * scale)
    d_p = grad_out @ v.transpose(-2, -1)
    d_s = p * (d_p - (p * d_p).sum(-1, keepdim=True))
    return d_s @ k * scale, d_s.transpose(-2, -1) @ q * scale, p.transpose(-2, -1) @ grad_out


def backward_float32_rowsum(q, k, v, grad_out):
    scale = 1 / math.sqrt(q.size(-1))
    p = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)
    d_p = grad_out @ v.transpose(-2, -1)
    rowsum = torch.zeros(*p.shape[:-1], 1)  # float32 whatever the inputs' dtype
    rowsum += (p * d_p).sum(-1, keepdim=True)
    d_s = p * (d_p - rowsum)
    return d_s @ k * scale, d_s.transpose(-2, -1) @ q * scale, p.transpose(-2, -1) @ grad_out


def backward_no_softmax_jacobian(*args):
    return _backward(*args, jacobian="none")


def backward_diagonal_only(*args):
    return _backward(*args, jacobian="diagonal")


def backward_rowsum_over_queries(*args):
    return _backward(*args, jacobian="columns")


def backward_no_scale(*args):
    return _backward(*args, scale_power=0)


def backward_scale_twice(*args):
    return _backward(*args, scale_power=2)


def backward_dv_untransposed(*args):
    return _backward(*args, dv="plain")


def backward_by_autograd(q, k, v, grad_out):
    leaves = [x.detach().clone().requires_grad_(True) for x in (q, k, v)]
    out = torch.softmax(leaves[0] @ leaves[1].transpose(-2, -1) / math.sqrt(q.size(-1)), -1) @ leaves[2]
    return torch.autograd.grad(out, leaves, grad_out)


def backward_float32_accumulators(q, k, v, grad_out):
    scale = 1 / math.sqrt(q.size(-1))
    p = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)  # (..., Tq, Tk)
    d_p = grad_out @ v.transpose(-2, -1)
    d_s = p * (d_p - (p * d_p).sum(-1, keepdim=True))
    d_k, d_v = torch.zeros(k.shape), torch.zeros(v.shape)  # float32 whatever the inputs' dtype
    for i in range(q.size(-2)):  # each query adds its share to every key and value
        d_v += p[..., i, :, None] * grad_out[..., i, None, :]
        d_k += d_s[..., i, :, None] * q[..., i, None, :] * scale
    return d_s @ k * scale, d_k, d_v


def backward_dot_T(q, k, v, grad_out):
    scale = 1 / math.sqrt(q.size(-1))
    p = torch.softmax(q @ k.T * scale, dim=-1)  # .T reverses every dimension of a batched tensor
    d_p = grad_out @ v.T
    d_s = p * (d_p - (p * d_p).sum(-1, keepdim=True))
    return d_s @ k * scale, d_s.T @ q * scale, p.T @ grad_out


# --- alibi_attention -------------------------------------------------------------------------------


def _alibi(q, k, v, *, sign=-1.0, reverse=False, start=1, after=False, masked=True, scale=True, bias=True,
           dtype=None, naive=False, float_distance=False):
    B, H, T, d = q.shape
    slopes = 2.0 ** (-8 * torch.arange(start, start + H, dtype=dtype or q.dtype) / H)
    if reverse:
        slopes = slopes.flip(0)
    distance = torch.arange(T)[:, None] - torch.arange(T)[None, :]
    if float_distance:
        distance = distance.float()  # float32 distances promote half-precision scores to float32
    b = sign * slopes[:, None, None] * distance if bias else torch.zeros(H, T, T, dtype=q.dtype)
    scores = q @ k.transpose(-2, -1) / (math.sqrt(d) if scale else 1.0)
    if not after:
        scores = scores + b
    if masked:
        scores = scores.masked_fill(distance < 0, float("-inf"))
    weights = _naive_softmax(scores) if naive else torch.softmax(scores, dim=-1)
    if after:
        weights = weights + b
    return weights @ v


def alibi_positive_bias(*args):
    return _alibi(*args, sign=1.0)


def alibi_reversed_slopes(*args):
    return _alibi(*args, reverse=True)


def alibi_slopes_from_zero(*args):
    return _alibi(*args, start=0)


def alibi_bias_after_softmax(*args):
    return _alibi(*args, after=True)


def alibi_no_causal_mask(*args):
    return _alibi(*args, masked=False)


def alibi_no_scale(*args):
    return _alibi(*args, scale=False)


def alibi_no_bias(*args):
    return _alibi(*args, bias=False)


def alibi_float32_bias(*args):
    return _alibi(*args, dtype=torch.float32)  # as torch.arange(1, H + 1) gives: float32 slopes for float64 scores


def alibi_naive_softmax(*args):
    return _alibi(*args, naive=True)


def alibi_float32_distance(*args):
    return _alibi(*args, float_distance=True)


def alibi_in_place(q, k, v):
    q /= math.sqrt(q.size(-1))  # scales the caller's queries
    return _alibi(q, k, v, scale=False)


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch05.grouped_query_attention": [
        WrongAnswer("kv heads tiled instead of interleaved", gqa_tiles_heads, "as a block"),
        WrongAnswer("no 1/sqrt(head_dim)", gqa_no_scale, "1/sqrt(head_dim)"),
        WrongAnswer("scaled by 1/sqrt(C)", gqa_scale_by_c, "instead of 1/sqrt(head_dim)"),
        WrongAnswer("mask lets a token see the next one", gqa_sees_next, "see the next one"),
        WrongAnswer("no causal mask", gqa_no_mask, "left out the causal mask"),
        WrongAnswer("softmax over the queries", gqa_softmax_over_queries, "over the queries"),
        WrongAnswer("heads split by a plain reshape", gqa_reshape_heads, "plain reshape"),
        WrongAnswer("k and v not repeated", gqa_no_repeat, "repeating each of their heads"),
        WrongAnswer("output detached from autograd", gqa_detached, "autograd"),
        WrongAnswer("SDPA with enable_gqa=True does the sharing", gqa_sdpa_enable_gqa, "enable_gqa=True"),
        WrongAnswer("PyTorch's CPU flash kernel does the sharing", gqa_cpu_flash_kernel, "internal PyTorch kernel"),
        WrongAnswer("heads written into a float32 torch.zeros buffer", gqa_float32_buffer, "should be float64"),
        WrongAnswer("softmax as exp / sum exp, no max subtracted", gqa_naive_softmax, NAIVE),
        WrongAnswer("additive mask made by torch.zeros(T, T) in float32", gqa_float32_additive_mask,
                    "but found Half"),  # the float32 scores meet float16 values in a product, which PyTorch refuses
    ],
    "ch05.sliding_window_attention": [
        WrongAnswer("window one key too wide", window_too_wide, "window + 1 keys"),
        WrongAnswer("mask lets a token see the next one", window_sees_next, "see the next one"),
        WrongAnswer("two-sided window", window_two_sided, "two-sided"),
        WrongAnswer("padding ignored", window_ignores_padding, "ignored the padding"),
        WrongAnswer("padded queries masked instead of keys", window_masks_queries, "instead of the padded keys"),
        WrongAnswer("mask applied after the softmax", window_mask_after_softmax, "after the softmax"),
        WrongAnswer("softmax over the queries", window_softmax_over_queries, "over the queries"),
        WrongAnswer("no 1/sqrt(d)", window_no_scale, "1/sqrt(d)"),
        WrongAnswer("NaN for queries without keys", window_nan_rows, "NaN"),
        WrongAnswer("float64 log-mask", window_float64_mask, "float64"),
        WrongAnswer("output started as a float32 torch.zeros", window_float32_zeros, "should be float64"),
        WrongAnswer("softmax as exp / sum exp, no max subtracted", window_naive_softmax, NAIVE),
    ],
    "ch05.attention_backward": [
        WrongAnswer("no softmax Jacobian", backward_no_softmax_jacobian, "straight through the softmax"),
        WrongAnswer("only the diagonal of the Jacobian", backward_diagonal_only, "second term"),
        WrongAnswer("row sum over the queries", backward_rowsum_over_queries, "summed P * dP over the queries"),
        WrongAnswer("no 1/sqrt(d) in dq, dk", backward_no_scale, "forgot the 1/sqrt(d)"),
        WrongAnswer("1/d instead of 1/sqrt(d)", backward_scale_twice, "instead of sqrt(d)"),
        WrongAnswer("dv = P @ grad_out", backward_dv_untransposed, "P^T @ grad_out"),
        WrongAnswer("autograd instead of by hand", backward_by_autograd, "called autograd"),
        WrongAnswer(".T on batched tensors", backward_dot_T, "transpose"),
        WrongAnswer("dk, dv summed into float32 torch.zeros", backward_float32_accumulators, "should be float64"),
        WrongAnswer("softmax as exp / sum exp, no max subtracted", backward_naive_softmax, NAIVE),
    ],
    "ch05.alibi_attention": [
        WrongAnswer("bias with the wrong sign", alibi_positive_bias, "penalises distance"),
        WrongAnswer("slopes reversed", alibi_reversed_slopes, "reverse order"),
        WrongAnswer("slopes counted from h = 0", alibi_slopes_from_zero, "counted from 0"),
        WrongAnswer("bias added after the softmax", alibi_bias_after_softmax, "after the softmax"),
        WrongAnswer("no causal mask", alibi_no_causal_mask, "left out the causal mask"),
        WrongAnswer("no 1/sqrt(d)", alibi_no_scale, "1/sqrt(d)"),
        WrongAnswer("no bias at all", alibi_no_bias, "forgot the bias"),
        WrongAnswer("scales q in place", alibi_in_place, "in place"),
        WrongAnswer("bias built in float32 for float64 inputs", alibi_float32_bias, "built the bias in float32"),
        WrongAnswer("softmax as exp / sum exp, no max subtracted", alibi_naive_softmax, NAIVE),
    ],
}


def backward_softmax_kernel(q, k, v, grad_out):
    """The softmax's backward through PyTorch's own kernel (found by the adversarial run, issue 20)."""
    scale = 1 / math.sqrt(q.size(-1))
    p = torch.softmax(q @ k.transpose(-2, -1) * scale, -1)
    d_scores = torch.ops.aten._softmax_backward_data.default(grad_out @ v.transpose(-2, -1), p, -1, q.dtype)
    return d_scores @ k * scale, d_scores.transpose(-2, -1) @ q * scale, p.transpose(-2, -1) @ grad_out


WRONG_ANSWERS["ch05.attention_backward"].append(
    WrongAnswer("the softmax backward kernel", backward_softmax_kernel, "softmax's backward pass"))

# float32 steps inside an answer: caught as the error each one really causes
WRONG_ANSWERS["ch05.sliding_window_attention"].append(
    WrongAnswer("a float32 additive mask", window_float32_additive_mask, "NaN or infinity"))
WRONG_ANSWERS["ch05.attention_backward"].append(
    WrongAnswer("a float32 row sum", backward_float32_rowsum, "float32's rounding"))
WRONG_ANSWERS["ch05.alibi_attention"].append(
    WrongAnswer("float32 distances", alibi_float32_distance, "found Half"))
