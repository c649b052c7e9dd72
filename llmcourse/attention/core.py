"""Scaled dot-product attention written out, and the two masks it is used with (chapter 5).

    weights = softmax(q k^T / sqrt(d) + mask)      # (..., Tq, Tk): each row sums to 1
    out     = weights v                            # (..., Tq, dv): a weighted average of the values

Chapter 5 builds this from a loop over one toy sentence, then as matrices, and checks it against
``torch.nn.functional.scaled_dot_product_attention`` (SDPA): same numbers to float32 rounding, with and
without the causal mask and with a padding mask. The conventions are SDPA's, so the two can be swapped:

- a boolean ``mask`` broadcastable to ``(..., Tq, Tk)``, ``True`` = this query may attend to this key;
- ``causal=True`` lets query ``i`` see keys ``0..i`` (aligned top-left, as SDPA's ``is_causal``; when
  ``Tk > Tq``, e.g. with a KV cache, build the mask yourself with :func:`causal_mask` and ``offset``);
- a query row whose keys are all masked gets zero weights and a zero output, not NaN: what SDPA gives since
  PyTorch 2.5 (pytorch/pytorch#133882; earlier versions give NaN there, which :mod:`.multihead` guards against).

What it leaves out: dropout on the weights (see :mod:`.multihead`), float (additive) masks, and speed —
:mod:`.tiled` shows why fused kernels never build the (Tq, Tk) matrix.

References: Bahdanau, Cho & Bengio (2015) for attention as a soft lookup; Vaswani et al. (2017),
"Attention Is All You Need", section 3.2 for the scaled dot product.
"""

from __future__ import annotations

import math

import torch


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(f"attention needs q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); got {shapes}")
    if q.size(-1) != k.size(-1):
        raise ValueError(f"q and k must share the last dimension d (the dot product's length); got {shapes}")
    if k.size(-2) != v.size(-2):
        raise ValueError(f"k and v must have one row per key (the same Tk); got {shapes}")
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(f"the leading (batch, head) dimensions of q, k, v do not broadcast; got {shapes}") from None


def causal_mask(t_q: int, t_k: int | None = None, device: torch.device | str | None = None,
                offset: int = 0) -> torch.Tensor:
    """Boolean (t_q, t_k) mask, True where query ``i`` may see key ``j``: ``j <= i + offset``.

    ``offset=0`` is SDPA's ``is_causal`` (top-left aligned). With a cache of ``t_k - t_q`` earlier keys, pass
    ``offset=t_k - t_q`` so that the last query sees every key.
    """
    t_k = t_q if t_k is None else t_k
    if t_q < 1 or t_k < 1:
        raise ValueError(f"causal_mask needs positive lengths, got t_q={t_q}, t_k={t_k}")
    rows = torch.arange(t_q, device=device).unsqueeze(1)  # (Tq, 1)
    cols = torch.arange(t_k, device=device).unsqueeze(0)  # (1, Tk)
    return cols <= rows + offset  # (Tq, Tk)


def padding_mask(lengths: torch.Tensor | list[int], length: int) -> torch.Tensor:
    """Boolean (B, 1, 1, length) mask, True at real tokens: sequence ``b`` has ``lengths[b]`` of them, then padding.

    The two singleton dimensions broadcast it over heads and queries of (B, n_head, Tq, Tk) scores; for scores
    without a head dimension, (B, Tq, Tk), use ``padding_mask(...)[:, 0]`` (shape (B, 1, Tk)).
    Note the polarity: ``nn.MultiheadAttention``'s ``key_padding_mask`` is the opposite (True = padding).
    """
    lengths = torch.as_tensor(lengths)
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be a 1-d tensor of one length per sequence, got shape {tuple(lengths.shape)}")
    if bool((lengths < 0).any()) or bool((lengths > length).any()):
        raise ValueError(f"every length must lie in 0..{length}, got {lengths.tolist()}")
    positions = torch.arange(length, device=lengths.device)  # (T,)
    return (positions < lengths.unsqueeze(1))[:, None, None, :]  # (B, 1, 1, T)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, mask: torch.Tensor | None = None,
              causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention: (out (..., Tq, dv), weights (..., Tq, Tk)).

    Each query takes a softmax-weighted average of the values, weighted by how well it matches each key.
    Scaling by 1/sqrt(d) keeps the scores' spread near 1 whatever the head width, so the softmax does not
    saturate (chapter 5 measures what happens without it).
    """
    _check_qkv(q, k, v)
    t_q, t_k = q.size(-2), k.size(-2)
    allowed = None
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")
        try:
            torch.broadcast_shapes(mask.shape, q.shape[:-2] + (t_q, t_k))
        except RuntimeError:
            raise ValueError(
                f"mask of shape {tuple(mask.shape)} does not broadcast to the scores' shape "
                f"{tuple(q.shape[:-2]) + (t_q, t_k)}"
            ) from None
        allowed = mask
    if causal:
        tri = causal_mask(t_q, t_k, device=q.device)
        allowed = tri if allowed is None else allowed & tri
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., Tq, Tk)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., Tq, Tk)
    if allowed is not None:
        weights = weights.nan_to_num(0.0)  # a row with every key masked: softmax of all -inf is NaN; make it 0
    return weights @ v, weights  # (..., Tq, dv), (..., Tq, Tk)
