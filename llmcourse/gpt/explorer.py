"""The sampling explorer of chapter 8: a prompt and the sampling knobs in, a continuation and the top candidates out.

    explorer(model, tokenizer, prompt="ROMEO:")                      # a widget: text box, sliders, the picture
    candidates_figure(model, tokenizer, "ROMEO:", temperature=0.8, top_p=0.9)   # the same picture, a plain figure

The picture shows, for the next token after the prompt, the model's probabilities of its most likely candidates
(grey) and the probabilities after temperature, top-k and top-p have reshaped them (blue): the ones the filters
removed drop to 0, the rest grow to fill the mass. The book cannot run widgets, so the chapter also shows
:func:`candidates_figure` in a normal cell.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from .sampling import generate, process_logits


@torch.no_grad()
def candidates(model: nn.Module, tokenizer, prompt: str, *, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, n: int = 12) -> list[tuple[str, float, float]]:
    """The ``n`` most likely next tokens after ``prompt``: (text, probability, probability after reshaping)."""
    if not prompt:
        raise ValueError("the prompt must hold at least one character")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)[:, -model.config.block_size:]
    logits = model(ids)[:, -1, :].float()  # (1, V)
    model.train(was_training)
    before = F.softmax(logits, dim=-1)[0]  # (V,)
    after = F.softmax(process_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p), dim=-1)[0]
    top = before.topk(min(n, before.numel())).indices.tolist()
    return [(tokenizer.decode([i]), float(before[i]), float(after[i])) for i in top]


def candidates_figure(model: nn.Module, tokenizer, prompt: str, *, temperature: float = 1.0,
                      top_k: int | None = None, top_p: float | None = None, n: int = 12) -> plt.Figure:
    """Bars of the next token's top candidates, before (grey) and after (blue) the reshaping."""
    rows = candidates(model, tokenizer, prompt, temperature=temperature, top_k=top_k, top_p=top_p, n=n)
    labels = [repr(text)[1:-1].replace(" ", "␣") for text, _, _ in rows]  # a visible space
    x = torch.arange(len(rows)).float()
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(x - 0.2, [b for _, b, _ in rows], width=0.4, color="0.7", label="model")
    ax.bar(x + 0.2, [a for _, _, a in rows], width=0.4, color="C0", label="after temperature / top-k / top-p")
    ax.set_xticks(x.tolist(), labels)
    ax.set(ylabel="probability", ylim=(0, 1),
           title=f"next token after {prompt[-30:]!r}: T={temperature}, top_k={top_k}, top_p={top_p}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def explorer(model: nn.Module, tokenizer, prompt: str = "ROMEO:", max_new_tokens: int = 120):  # -> widgets.VBox
    """Text box, temperature / top-k / top-p / seed sliders -> a continuation and :func:`candidates_figure`."""
    import ipywidgets as widgets

    device = next(model.parameters()).device
    box = widgets.Text(value=prompt, description="prompt")
    temperature = widgets.FloatSlider(value=0.8, min=0.1, max=2.0, step=0.05, description="temperature")
    top_k = widgets.IntSlider(value=0, min=0, max=model.config.vocab_size, description="top-k (0: off)")
    top_p = widgets.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p")
    seed = widgets.IntSlider(value=0, min=0, max=20, description="seed")

    def show(prompt: str, temperature: float, top_k: int, top_p: float, seed: int) -> None:
        if not prompt:
            print("type a prompt")
            return
        k, p = (top_k or None), (top_p if top_p < 1 else None)
        ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)
        g = torch.Generator(device=device).manual_seed(seed)
        out = generate(model, ids, max_new_tokens, temperature, k, g, top_p=p)  # crops to block_size itself
        print(prompt + tokenizer.decode(out[0, ids.size(1):].tolist()))
        candidates_figure(model, tokenizer, prompt, temperature=temperature, top_k=k, top_p=p)
        plt.show()

    out = widgets.interactive_output(show, {"prompt": box, "temperature": temperature, "top_k": top_k,
                                            "top_p": top_p, "seed": seed})
    return widgets.VBox([box, widgets.HBox([temperature, top_k]), widgets.HBox([top_p, seed]), out])
