"""Skip-gram with negative sampling (SGNS): the word2vec model, its loss and a trainer.

For a center word c and a word o seen in its window, skip-gram wants ``u_o · v_c`` large; negative
sampling turns "predict o out of the whole vocabulary" into k+1 yes/no questions: is o a real context
word (yes), and are k words drawn from the noise distribution real context words (no)?

    loss(c, o) = -log σ(u_o · v_c) - Σ_{j=1..k} log σ(-u_{n_j} · v_c)

``v`` are the *input* (center) vectors, ``u`` the *output* (context) vectors: two tables, as in word2vec.
The input vectors are the embeddings one keeps.

The trainer follows word2vec's recipe: input vectors start uniform in ±0.5/dim, output vectors at zero,
plain SGD on the *summed* loss of a batch (each pair gets the full step, as in word2vec's one-pair-at-a-time
updates), with the learning rate decaying linearly from ``lr`` to ``lr * 1e-4`` over all words of all epochs.
The SGD step is :meth:`SkipGramNS.sgd_step`: the gradient written out by hand (the derivative of
``-log σ(x)`` is ``σ(x) - 1``) and added to only the rows a batch touches with ``index_add_``. It is the
same update as autograd + ``torch.optim.SGD`` on sparse embeddings (the tests check it), about twice as
fast on a CPU. ``optimizer="adam"`` trains with autograd and ``torch.optim.SparseAdam`` on the mean loss.

What it leaves out: the hierarchical softmax, CBOW, and word2vec's lock-free multithreading (Hogwild):
we update a batch of a few thousand pairs at once instead.

References: Mikolov et al. (2013) "Distributed Representations of Words and Phrases and their
Compositionality"; Goldberg & Levy (2014) "word2vec Explained"; the word2vec C code and gensim's word2vec_inner.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm  # plain text: it shows in saved notebooks and the book, where a widget bar would not

from ..device import cpu_threads as threads_for_cpu  # the argument of train_sgns has the plain name
from .corpus import NoiseSampler, Vocab, batches, keep_probability


def sgns_loss(v_center: torch.Tensor, u_context: torch.Tensor, u_negatives: torch.Tensor) -> torch.Tensor:
    """The negative-sampling loss of each pair.

    v_center (B, D), u_context (B, D), u_negatives (B, K, D) -> (B,):
    ``-log σ(u_o·v_c) - Σ_k log σ(-u_k·v_c)``, with ``logsigmoid`` for numerical safety.
    """
    positive = (u_context * v_center).sum(-1)  # (B,)
    negative = torch.bmm(u_negatives, v_center.unsqueeze(-1)).squeeze(-1)  # (B, K, D) @ (B, D, 1) -> (B, K)
    return -F.logsigmoid(positive) - F.logsigmoid(-negative).sum(-1)


class SkipGramNS(nn.Module):
    """Two embedding tables: ``inp`` for center words (the vectors we keep), ``out`` for context words."""

    def __init__(self, vocab_size: int, dim: int, sparse: bool = True) -> None:
        super().__init__()
        if vocab_size < 1 or dim < 1:
            raise ValueError(f"vocab_size and dim must be positive, got {vocab_size} and {dim}")
        self.inp = nn.Embedding(vocab_size, dim, sparse=sparse)
        self.out = nn.Embedding(vocab_size, dim, sparse=sparse)
        with torch.no_grad():  # word2vec's initialisation
            self.inp.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.out.weight.zero_()

    def forward(self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """centers (B,), contexts (B,), negatives (B, K) word ids -> loss per pair (B,)."""
        return sgns_loss(self.inp(centers), self.out(contexts), self.out(negatives))

    @torch.no_grad()
    def sgd_step(self, centers: torch.Tensor, contexts: torch.Tensor, negatives: torch.Tensor,
                 lr: float) -> torch.Tensor:
        """One SGD step on the summed loss of a batch, gradient by hand; returns the loss per pair (B,).

        With s_0 = u_o·v_c (label 1) and s_j = u_{n_j}·v_c (label 0), dloss/ds_j = σ(s_j) - label_j, so
        v_c -= lr Σ_j (σ(s_j) - label_j) u_j and u_j -= lr (σ(s_j) - label_j) v_c.
        """
        W_in, W_out = self.inp.weight, self.out.weight
        targets = torch.cat([contexts.unsqueeze(1), negatives], 1)  # (B, 1 + K)
        v = W_in[centers]  # (B, D)
        u = W_out[targets]  # (B, 1 + K, D)
        scores = (u * v.unsqueeze(1)).sum(-1)  # (B, 1 + K)
        sig = torch.sigmoid(scores)
        err = sig.clone()
        err[:, 0] -= 1  # σ(s) - label
        loss = -torch.log(sig[:, 0].clamp_min(1e-7)) - torch.log((1 - sig[:, 1:]).clamp_min(1e-7)).sum(-1)
        err *= lr
        grad_v = torch.bmm(err.unsqueeze(1), u).squeeze(1)  # (B, 1, 1 + K) @ (B, 1 + K, D) -> (B, D)
        grad_u = err.unsqueeze(-1) * v.unsqueeze(1)  # (B, 1 + K, D)
        W_in.index_add_(0, centers, grad_v, alpha=-1)
        W_out.index_add_(0, targets.flatten(), grad_u.reshape(-1, grad_u.shape[-1]), alpha=-1)
        return loss

    @property
    def vectors(self) -> torch.Tensor:
        """The word vectors, (V, D), detached on the CPU."""
        return self.inp.weight.detach().cpu()


@dataclass
class TrainResult:
    model: SkipGramNS
    losses: list[float] = field(default_factory=list)  # mean loss per pair, one value per ``log_every`` batches
    words: list[int] = field(default_factory=list)  # corpus words processed at each loss value
    seconds: float = 0.0
    words_per_second: float = 0.0  # corpus words (before subsampling) x epochs / seconds
    cache_file: Path | None = None  # where train_sgns_cached stored or found this run (.cache)
    cached: bool = False  # True: read from cache_file, not trained in this process (seconds: the original run's)


def train_sgns(ids: torch.Tensor, vocab: Vocab, *, dim: int = 100, window: int = 5, negative: int = 5,
               epochs: int = 5, sample: float = 1e-4, lr: float = 0.025, batch_size: int = 4096,
               optimizer: str = "sgd", device: torch.device | str = "cpu", seed: int = 0,
               chunk_words: int = 1_000_000, log_every: int = 100, progress: bool = True,
               cpu_threads: int | None = 1) -> TrainResult:
    """Train skip-gram with negative sampling on the word ids ``ids`` (from ``vocab.encode``).

    On a CPU it runs on ``cpu_threads`` threads (None: torch's setting). One is the default: each step is a
    few small, memory-bound gathers and scatters that gain little from more threads, and on a busy two-core
    machine a second thread waiting for its core made training 10-25x slower.
    """
    with threads_for_cpu(cpu_threads if torch.device(device).type == "cpu" else None):
        return _train(ids, vocab, dim, window, negative, epochs, sample, lr, batch_size, optimizer,
                      torch.device(device), seed, chunk_words, log_every, progress)


def _train(ids: torch.Tensor, vocab: Vocab, dim: int, window: int, negative: int, epochs: int, sample: float,
           lr: float, batch_size: int, optimizer: str, device: torch.device, seed: int, chunk_words: int,
           log_every: int, progress: bool) -> TrainResult:
    if ids.dim() != 1 or ids.numel() < 2:
        raise ValueError(f"ids must be a 1-D tensor of at least 2 word ids, got shape {tuple(ids.shape)}")
    if int(ids.max()) >= len(vocab) or int(ids.min()) < 0:
        raise ValueError("ids contains ids outside the vocabulary; encode the text with vocab.encode")
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    model = SkipGramNS(len(vocab), dim).to(device)
    ids = ids.to(device)
    keep = keep_probability(vocab.counts, sample).float().to(device)
    noise = NoiseSampler(vocab.counts, device=device)
    opt = torch.optim.SparseAdam(model.parameters(), lr=lr) if optimizer == "adam" else None
    total = ids.numel() * epochs
    result = TrainResult(model)
    # The loss is summed on the device and read back only every log_every batches: reading it after each
    # batch would make a GPU wait for every step. float64, so the sum is the one Python floats would give.
    running, seen = torch.zeros((), dtype=torch.float64, device=device), 0
    start = time.perf_counter()
    with tqdm(total=total, unit="word", unit_scale=True, desc="SGNS", disable=not progress) as bar:
        for epoch in range(epochs):
            done_before = epoch * ids.numel()
            last = 0
            for step, (c, o, words) in enumerate(batches(ids, window, batch_size, keep, chunk_words, gen)):
                frac = (done_before + words) / total
                rate = lr * max(1e-4, 1.0 - frac)  # linear decay, as word2vec
                negatives = noise((c.numel(), negative), gen)  # (B, K)
                if opt is None:
                    losses = model.sgd_step(c, o, negatives, rate)  # (B,)
                else:
                    for group in opt.param_groups:
                        group["lr"] = rate
                    losses = model(c, o, negatives)  # (B,)
                    opt.zero_grad(set_to_none=True)
                    losses.mean().backward()
                    opt.step()
                running += losses.detach().sum()
                seen += c.numel()
                if (step + 1) % log_every == 0:
                    result.losses.append(running.item() / seen)
                    result.words.append(done_before + words)
                    running, seen = running.zero_(), 0
                    bar.set_postfix(loss=f"{result.losses[-1]:.3f}", lr=f"{rate:.4f}")
                bar.update(words - last)
                last = words
    if seen:
        result.losses.append(running.item() / seen)
        result.words.append(total)
    result.seconds = time.perf_counter() - start
    result.words_per_second = total / result.seconds
    return result
