"""A fixed-window neural language model: the k previous characters, embedded, concatenated, one tanh layer, softmax.

Chapter 4 puts it between the bigram model and the RNN. It is the model of Bengio et al. (2003), "A Neural
Probabilistic Language Model", at the character level: each of the last ``context`` ids is looked up in a
shared embedding table, the ``context`` vectors are concatenated (so position matters: the character one step
back has other weights than the one two steps back), a hidden layer with tanh mixes them, and a linear head
scores the next character. Unlike a count table it shares what it learns between similar contexts; unlike an
RNN it sees nothing beyond its window.

    model = MLPLanguageModel(vocab_size=65, context=8, n_embd=24, hidden_size=256)
    logits, state = model(ids)          # ids (B, T) -> logits (B, T, V), state = the last 7 ids (B, 7)
    logits, state = model(next_ids, state)  # carries on as if the two calls had been one

Positions near the start of the text have fewer than ``context`` characters before them; their missing
characters are the extra id ``vocab_size`` ("before the text"), with an embedding row of its own. The model's
"state" is just the ``context - 1`` ids it read last, so it plugs into the same truncated-BPTT loop
(:func:`~llmcourse.rnn.models.train_tbptt`), evaluation and sampler (:func:`~llmcourse.rnn.models.sample`) as
:class:`~llmcourse.rnn.models.CharRNN`; nothing flows back through it, because ids have no gradient.
What it leaves out: the paper's direct connections from the embeddings to the output, and its mixture with
an n-gram model.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPLanguageModel(nn.Module):
    """ids (B, T) -> logits (B, T, V) from the ``context`` ids up to each position, and the last ``context - 1`` ids."""

    def __init__(self, vocab_size: int, context: int, n_embd: int, hidden_size: int) -> None:
        super().__init__()
        if min(vocab_size, context, n_embd, hidden_size) < 1:
            raise ValueError(f"vocab_size, context, n_embd and hidden_size must be >= 1, got {vocab_size}, "
                             f"{context}, {n_embd} and {hidden_size}")
        self.vocab_size, self.context, self.hidden_size = vocab_size, context, hidden_size
        self.pad_id = vocab_size  # "before the text": fills the window where there are fewer than context ids
        self.embed = nn.Embedding(vocab_size + 1, n_embd)
        self.hidden = nn.Linear(context * n_embd, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(f"expected int64 ids of shape (batch, time), got {ids.dtype} {tuple(ids.shape)}")
        B, T = ids.shape
        k = self.context
        if state is None:
            state = ids.new_full((B, k - 1), self.pad_id)
        if tuple(state.shape) != (B, k - 1):
            raise ValueError(f"state should hold the last context - 1 ids, shape {(B, k - 1)}, got "
                             f"{tuple(state.shape)}")
        padded = torch.cat([state, ids], dim=1)  # (B, k-1+T)
        windows = padded.unfold(1, k, 1)  # (B, T, k): ids t-k+1 .. t, oldest first
        x = self.embed(windows).flatten(2)  # (B, T, k*C): the k embeddings side by side
        h = torch.tanh(self.hidden(x))  # (B, T, H)
        return self.head(h), padded[:, T:]  # (B, T, V), (B, k-1): what the next call needs
