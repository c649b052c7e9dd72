"""A character language model around a recurrent core, trained with truncated BPTT, sampled with temperature.

Chapter 4 trains these on tiny shakespeare. :class:`CharRNN` is embedding -> recurrent layers -> a linear
head over the vocabulary; the core is PyTorch's ``nn.RNN`` / ``nn.LSTM`` (its C++ kernels; on CUDA it
can call cuDNN) or our hand-written :class:`~llmcourse.rnn.cells.Recurrent` (same maths, a Python loop), so
the chapter can swap one for the other and compare. The training loop and the sampler take any model
whose ``forward(ids, state)`` returns ``(logits, state)``: chapter 4 also runs them on the fixed-window
:class:`~llmcourse.rnn.mlp.MLPLanguageModel`, whose state is the last few ids it read.

Truncated backpropagation through time (:func:`train_tbptt`): the training text is cut into
``batch_size`` long streams read side by side, ``block_size`` characters at a time. The hidden state is
carried from one chunk to the next — so the model sees context longer than a chunk — but *detached*,
so each backward pass runs through at most ``block_size`` steps. It runs on
:func:`llmcourse.training.train` (progress bar, evaluation, clipping, checkpoints); a checkpoint also
holds the carried state, so a resumed run continues the streams with the context the unbroken run had.
What it leaves out: layer normalisation and weight tying.

References: Williams & Peng (1990) for truncated BPTT; Karpathy, "The Unreasonable Effectiveness of
Recurrent Neural Networks" (2015) and char-rnn; Pascanu, Mikolov & Bengio (2013) for gradient clipping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..charlm import CharData, estimate_loss, lm_loss
from ..training import History, train
from .cells import Recurrent

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class CharRNN(nn.Module):
    """ids (B, T) -> logits (B, T, V) and the final recurrent state, for ``kind`` "rnn" or "lstm"."""

    def __init__(self, vocab_size: int, hidden_size: int, *, kind: str = "lstm", n_embd: int | None = None,
                 num_layers: int = 1, dropout: float = 0.0, hand_written: bool = False) -> None:
        super().__init__()
        if kind not in ("rnn", "lstm"):
            raise ValueError(f"kind must be 'rnn' or 'lstm', got {kind!r}")
        n_embd = n_embd or hidden_size
        self.kind, self.vocab_size, self.hidden_size, self.num_layers = kind, vocab_size, hidden_size, num_layers
        self.embed = nn.Embedding(vocab_size, n_embd)
        if hand_written:
            if dropout:
                raise ValueError("the hand-written core has no dropout between layers; use dropout=0")
            self.core = Recurrent(kind, n_embd, hidden_size, num_layers)
        else:
            torch_cls = nn.RNN if kind == "rnn" else nn.LSTM
            self.core = torch_cls(n_embd, hidden_size, num_layers, batch_first=True,
                                  dropout=dropout if num_layers > 1 else 0.0)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(f"expected int64 ids of shape (batch, time), got {ids.dtype} {tuple(ids.shape)}")
        return self.from_embeddings(self.embed(ids), state)  # (B, T, C) in

    def from_embeddings(self, emb: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """The model after its embedding layer: lets the gradient experiment differentiate w.r.t. inputs."""
        out, state = self.core(emb, state)  # (B, T, H)
        return self.head(self.drop(out)), state  # (B, T, V)


def detach_state(state: State | None) -> State | None:
    """Cut the graph behind a carried state: the next backward pass stops here (the "truncated" in TBPTT)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)


class Streams:
    """``batch_size`` parallel streams through ``ids``, read ``block_size`` ids per step.

    Stream ``b`` starts at ``b * (len(ids) // batch_size)``; chunk ``k`` of every stream is
    ``get(k)``, and chunk ``k + 1`` continues exactly where chunk ``k`` stopped, so a carried hidden
    state always belongs to the text just before the next chunk. After the last chunk it wraps round.
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, block_size: int) -> None:
        if ids.dim() != 1:
            raise ValueError(f"ids must be a 1-D tensor, got shape {tuple(ids.shape)}")
        length = (len(ids) - 1) // batch_size  # ids per stream, keeping one for the last target
        if length < block_size:
            raise ValueError(f"{len(ids)} ids make {batch_size} streams of {length} ids, shorter than "
                             f"block_size={block_size}: lower batch_size or block_size")
        self.n_chunks = length // block_size
        self.block_size = block_size
        starts = torch.arange(batch_size) * length
        self.index = (starts[:, None] + torch.arange(self.n_chunks * block_size + 1)).to(ids.device)  # (B, L+1)
        self.ids = ids

    def get(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Chunk ``step % n_chunks``: inputs and next-character targets, (B, T) each."""
        k = (step % self.n_chunks) * self.block_size
        window = self.ids[self.index[:, k:k + self.block_size + 1]]  # (B, T+1)
        return window[:, :-1], window[:, 1:]


class CarriedState:
    """The hidden state TBPTT carries from one chunk to the next, in the form a checkpoint stores.

    It remembers the stream layout it belongs to, so a checkpoint is not resumed with another
    ``batch_size`` or ``block_size`` (its state would belong to other text, or not fit at all).
    """

    def __init__(self, batch_size: int, block_size: int, device: torch.device) -> None:
        self.state: State | None = None  # (num_layers, B, H), or (h, c) for an LSTM
        self.layout = {"batch_size": batch_size, "block_size": block_size}
        self.device = device

    def state_dict(self) -> dict:
        return {"state": self.state, **self.layout}

    def load_state_dict(self, saved: dict) -> None:
        saved_layout = {key: saved[key] for key in self.layout}
        if saved_layout != self.layout:
            raise ValueError(f"its streams were cut with {saved_layout}, this run asks for {self.layout}")
        state = saved["state"]
        if isinstance(state, torch.Tensor):
            state = state.to(self.device)
        elif state is not None:
            state = tuple(s.to(self.device) for s in state)
        self.state = state


def train_tbptt(model: nn.Module, data: CharData, optimizer: torch.optim.Optimizer, steps: int, *,
                batch_size: int, block_size: int, grad_clip: float | None = 1.0, eval_every: int = 0,
                eval_batches: int = 20, eval_block_size: int | None = None,
                checkpoint_path: str | Path | None = None, checkpoint_every: int | None = None,
                on_eval: Callable[[], None] | None = None, progress: bool = True) -> History:
    """Train ``model`` with truncated BPTT on ``data.train``; validate with :func:`estimate_loss` on ``data.val``.

    ``model(ids, state)`` returns ``(logits, state)``, as :class:`CharRNN` and ``MLPLanguageModel`` do.

    The state is carried between chunks and detached after every step; it is reset to zeros when the
    streams wrap round to the start of the text. Checkpoints (every ``checkpoint_every`` steps, by
    default at each evaluation, and at the end) store it too, so a resumed run repeats the unbroken one.
    ``on_eval()``, if given, is called at each evaluation (eval mode, no gradients), after the validation
    loss: e.g. to score the training text on windows read the same way, to see overfitting as it grows.
    """
    streams = Streams(data.train, batch_size, block_size)
    carried = CarriedState(batch_size, block_size, data.device)

    def get_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if step % streams.n_chunks == 0:
            carried.state = None  # back at the start of the streams: the old context no longer precedes
        return streams.get(step)

    def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, state = m(x, carried.state)
        carried.state = detach_state(state)
        return lm_loss(logits, y)

    def eval_fn() -> float:
        val = estimate_loss(lambda x: model(x)[0], data.val, batch_size=batch_size,
                            block_size=eval_block_size or block_size, n_batches=eval_batches)
        if on_eval is not None:
            on_eval()
        return val

    return train(model, get_batch, loss_fn, optimizer, steps, eval_fn=eval_fn, eval_every=eval_every,
                 grad_clip=grad_clip, checkpoint_path=checkpoint_path,
                 checkpoint_every=eval_every if checkpoint_every is None else checkpoint_every,
                 extra_state=carried, progress=progress)


def sample_next(logits: torch.Tensor, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one id per row of ``logits`` (B, V) from softmax(logits / temperature); 0 means argmax.

    Dividing the logits by a temperature below 1 sharpens the distribution (safer, more repetitive
    text), above 1 flattens it (more surprising, more mistakes).
    """
    if logits.dim() != 2:
        raise ValueError(f"expected logits of shape (batch, vocab), got {tuple(logits.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,)
    probs = F.softmax(logits.float() / temperature, dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (B,)


@torch.no_grad()
def sample(model: nn.Module, prompt_ids: list[int], n_new: int, temperature: float = 1.0,
           seed: int | None = None) -> list[int]:
    """Continue ``prompt_ids`` by ``n_new`` ids, one at a time, carrying the recurrent state.

    The prompt is read in one call (its final state and last logits start the loop); each new id is
    fed back in. ``seed`` makes the draw repeatable (a CPU generator; the logits are moved to the CPU).
    """
    if not prompt_ids:
        raise ValueError("the prompt needs at least one id (e.g. the id of '\\n')")
    if n_new < 0:
        raise ValueError(f"n_new must be >= 0, got {n_new}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    logits, state = model(torch.tensor([prompt_ids], device=device))  # (1, T, V)
    out = list(prompt_ids)
    for _ in range(n_new):
        next_id = sample_next(logits[:, -1].cpu(), temperature, generator)  # (1,)
        out.append(int(next_id))
        logits, state = model(next_id.view(1, 1).to(device), state)  # (1, 1, V)
    model.train(was_training)
    return out
