"""The attention explorer of chapter 5: pick a head and a token, see where that token looks.

    weights = mha(x, need_weights=True)[1][0]          # (n_head, T, T) for one sentence
    explorer(tokens, weights)                           # a widget: head slider, token menu, the picture
    attention_figure(tokens, weights, head=1, query=5)  # the same picture as a plain matplotlib figure

The picture has two panels: on the left the head's whole (T, T) weight matrix, the chosen query's row
outlined; on the right the chosen token's weights over the sentence, one bar per token (a causal head
gives no weight to later tokens). The book cannot run widgets, so the chapter also shows
:func:`attention_figure` in a normal cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch


def _check(tokens: Sequence[str], weights: torch.Tensor) -> None:
    if weights.dim() != 3 or weights.size(-1) != weights.size(-2) or weights.size(-1) != len(tokens):
        raise ValueError(f"weights must have shape (n_head, T, T) with T = {len(tokens)} tokens, "
                         f"got {tuple(weights.shape)}")


def attention_figure(tokens: Sequence[str], weights: torch.Tensor, head: int = 0, query: int = -1,
                     title: str = "") -> plt.Figure:
    """Head ``head``'s weights (n_head, T, T): the matrix, and token ``query``'s row as bars."""
    _check(tokens, weights)
    query = query % len(tokens)
    w = weights[head].detach().float().cpu()  # (T, T)
    labels = [repr(t)[1:-1] for t in tokens]  # show spaces and newlines
    fig, (ax_m, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.3]})
    ax_m.imshow(w, cmap="Blues", vmin=0, vmax=1)
    ax_m.add_patch(plt.Rectangle((-0.5, query - 0.5), len(tokens), 1, fill=False, edgecolor="C3", linewidth=2))
    ax_m.set_xticks(range(len(tokens)), labels, rotation=90, fontsize=8)
    ax_m.set_yticks(range(len(tokens)), labels, fontsize=8)
    ax_m.set(xlabel="key (attended to)", ylabel="query (attending)", title=f"head {head}: all weights")
    ax_b.bar(range(len(tokens)), w[query], color=["C3" if j == query else "C0" for j in range(len(tokens))])
    ax_b.set_xticks(range(len(tokens)), labels, rotation=90, fontsize=8)
    ax_b.set(ylim=(0, 1), ylabel="weight", title=f"where {labels[query]!r} (token {query}) looks")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def explorer(tokens: Sequence[str], weights: torch.Tensor):  # -> ipywidgets.interactive
    """A head slider and a token menu that redraw :func:`attention_figure`."""
    import ipywidgets as widgets

    _check(tokens, weights)
    options = [(f"{i}: {t!r}", i) for i, t in enumerate(tokens)]

    def show(head: int, query: int) -> None:
        attention_figure(tokens, weights, head, query)
        plt.show()

    return widgets.interactive(
        show,
        head=widgets.IntSlider(value=0, min=0, max=weights.size(0) - 1, description="head"),
        query=widgets.Dropdown(options=options, value=len(tokens) - 1, description="token"),
    )
