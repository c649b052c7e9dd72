"""Measuring vanishing and exploding gradients in recurrent models.

Chapter 4's experiment: how much does the loss at the last step T still depend on the input at each
earlier step t? :func:`input_gradient_norms` answers with ``‖∂L_T / ∂x_t‖`` for every t, where ``x_t`` is
the embedded character fed in at step t. Backpropagation multiplies by one Jacobian ∂h_t/∂h_{t-1} per
step; in a vanilla RNN those products shrink (or blow up) geometrically, so the curve falls off a cliff
a few dozen steps back. The gradients are computed in float64 and their norms with
:func:`safe_norm`: far back they are smaller than float32 can hold, and a float32 measurement shows an
underflow (a norm of exactly 0) instead of the decay. The LSTM's cell state is updated additively
(``c_t = f * c_{t-1} + i * g``), so its gradient decays only as fast as the forget gates close.

:func:`train_recording_grad_norms` is a bare training loop that records the gradient norm before
clipping at every step, to show what clipping does when gradients explode. What this leaves out:
per-parameter statistics and the Jacobian's eigenvalues (Pascanu et al. analyse those).

References: Bengio, Simard & Frasconi (1994); Hochreiter & Schmidhuber (1997);
Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent neural networks".
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm  # plain text: it shows in saved notebooks and the book, where a widget bar would not

from ..charlm import lm_loss
from .models import CharRNN, detach_state


def safe_norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean norm along ``dim`` that does not underflow: ``max|x| * ‖x / max|x|‖``.

    ``x.norm()`` squares every entry first; in float32 a square below about 1e-45 is 0, so any vector whose
    entries are all below about 4e-23 gets norm exactly 0 although none of them is. Dividing by the largest
    magnitude first puts the entries in [-1, 1], where squaring loses nothing that matters. An all-zero
    vector still has norm 0.
    """
    scale = x.abs().amax(dim=dim, keepdim=True)  # (..., 1)
    safe_scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return scale.squeeze(dim) * (x / safe_scale).norm(dim=dim)


def input_gradient_norms(model: CharRNN, ids: torch.Tensor) -> torch.Tensor:
    """(T,) float64, mean over the batch of ‖∂L_T/∂x_t‖: the last step's loss differentiated w.r.t. each input.

    ``ids`` (B, T + 1): the model reads the first T and the loss is its cross-entropy on the final
    target only, so every gradient measures how far back that one prediction reaches. Dropout is off.
    The gradient is computed on a float64 copy of the model (a float32 backward pass rounds entries below
    about 1e-38 towards 0 and loses them below 1e-45; float64 keeps them down to about 1e-308), and its norm
    with :func:`safe_norm`, so a tiny gradient is reported as tiny, never as 0. ``model`` is not changed.
    """
    if ids.dim() != 2 or ids.size(1) < 2:
        raise ValueError(f"expected ids of shape (batch, time + 1) with time >= 1, got {tuple(ids.shape)}")
    model64 = copy.deepcopy(model).double().eval()  # same weights, every operation in float64
    x, target = ids[:, :-1], ids[:, -1]
    emb = model64.embed(x).detach().requires_grad_(True)  # (B, T, C) float64: the inputs we differentiate against
    logits, _ = model64.from_embeddings(emb)  # (B, T, V)
    loss = F.cross_entropy(logits[:, -1], target)  # the loss at step T only
    (grad,) = torch.autograd.grad(loss, emb)  # (B, T, C)
    return safe_norm(grad, dim=-1).mean(dim=0).detach()  # (T,)


def train_recording_grad_norms(model: CharRNN, get_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                               optimizer: torch.optim.Optimizer, steps: int, *, grad_clip: float | None,
                               progress: bool = True) -> tuple[list[float], list[float]]:
    """Train with a carried, detached state (truncated BPTT); return per-step losses and pre-clip gradient norms.

    ``clip_grad_norm_`` returns the total norm *before* clipping, which is exactly the quantity that
    explodes; with ``grad_clip`` the update uses the rescaled gradient. A non-finite loss stops the run
    early (the lists are then shorter than ``steps``): that is what an explosion looks like.
    """
    losses, norms, state = [], [], None
    model.train()
    for step in tqdm(range(steps), disable=not progress, desc=f"clip={grad_clip}"):
        x, y = get_batch(step)
        logits, state = model(x, state)
        state = detach_state(state)
        loss = lm_loss(logits, y)
        if not torch.isfinite(loss):
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = grad_clip if grad_clip is not None else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        losses.append(loss.item())
        norms.append(norm.item())
        if not torch.isfinite(norm):
            break
        optimizer.step()
    return losses, norms
