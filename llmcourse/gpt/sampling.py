"""Decoding: from a model's next-token logits to text (chapter 8).

Every sampler is a small function of the logits of the next token, (B, V) -> (B, V), so they chain:

    logits = penalize_repetition(logits, ids, 1.3)   # CTRL's penalty on the ids already in the text
    logits = logits / temperature                    # < 1 sharpens, > 1 flattens
    logits = top_k_filter(logits, 50)                # keep the 50 best scores
    logits = top_p_filter(logits, 0.9)               # keep the smallest set holding 90% of the mass
    logits = min_p_filter(logits, 0.05)              # keep ids at least 5% as likely as the best one
    next_id = torch.multinomial(softmax(logits), 1, generator=g)

A filter sets the scores it removes to -inf, so the softmax gives them probability 0 and renormalises the rest.
:func:`generate` runs that loop with a KV cache (``GPT.forward(ids, cache=...)``, :mod:`.model`) and stops at an
end token or ``max_new_tokens``; :func:`generate_text` also stops at a stop string; :func:`beam_search` keeps the
``beam_width`` most likely continuations instead of sampling one; :func:`perplexity` scores held-out text.

References: Holtzman et al. (2020), nucleus sampling; Fan et al. (2018), top-k; Nguyen et al. (2024), min-p;
Keskar et al. (2019), CTRL (the repetition penalty); Hugging Face ``generation/logits_process.py`` for the
order of the processors; Pope et al. (2022), "Efficiently Scaling Transformer Inference" (the KV cache's memory).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.tokenizers import Tokenizer

from .model import GPT

NEG_INF = float("-inf")


def _check_logits(logits: torch.Tensor) -> None:
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, V), one row per sequence, got {tuple(logits.shape)}")


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """(B, V) -> (B,) the most likely id of each row (ties: the lowest id, as argmax)."""
    _check_logits(logits)
    return logits.argmax(dim=-1)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep each row's ``k`` highest scores (and any tied with the k-th), -inf elsewhere: (B, V) -> (B, V)."""
    _check_logits(logits)
    if k < 1:
        raise ValueError(f"top_k must be >= 1, got {k}")
    if k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1): the k-th highest score
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the most likely ids until their mass reaches ``p`` (the crossing id kept): (B, V) -> (B, V)."""
    _check_logits(logits)
    if not 0 < p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
    probs = F.softmax(logits.float(), dim=-1)  # (B, V)
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (B, V): most likely first
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V): 0 for the most likely id
    remove_sorted = mass_before >= p  # (B, V): the id that crosses p has mass_before < p, so it stays
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, NEG_INF)


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Keep ids whose probability is at least ``min_p`` times the row's largest: (B, V) -> (B, V)."""
    _check_logits(logits)
    if not 0 <= min_p <= 1:
        raise ValueError(f"min_p must be in [0, 1], got {min_p}")
    probs = F.softmax(logits.float(), dim=-1)  # (B, V)
    threshold = min_p * probs.max(dim=-1, keepdim=True).values  # (B, 1): scales with the model's confidence
    return logits.masked_fill(probs < threshold, NEG_INF)


def penalize_repetition(logits: torch.Tensor, ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's repetition penalty: the score of every id already in ``ids`` (B, T) is made less likely.

    A positive score is divided by ``penalty``, a negative one multiplied by it (dividing a negative score would
    raise it); each id counts once however often it appeared. ``penalty`` 1 changes nothing.
    """
    _check_logits(logits)
    if ids.dim() != 2 or ids.size(0) != logits.size(0):
        raise ValueError(f"ids must have shape ({logits.size(0)}, T) for logits {tuple(logits.shape)}, "
                         f"got {tuple(ids.shape)}")
    if penalty <= 0:
        raise ValueError(f"the repetition penalty must be > 0 (1 = none), got {penalty}")
    seen = logits.gather(-1, ids)  # (B, T): the scores of the ids in the text
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, ids, seen)  # the same value for each repeat of an id, so the order does not matter


def process_logits(logits: torch.Tensor, ids: torch.Tensor | None = None, *, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                   repetition_penalty: float = 1.0) -> torch.Tensor:
    """All the reshaping in Hugging Face's order: penalty, temperature, top-k, top-p, min-p. (B, V) -> (B, V)."""
    _check_logits(logits)
    if temperature <= 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number > 0 here (0 = greedy is decided before), "
                         f"got {temperature}")
    logits = logits.float()
    if repetition_penalty != 1.0 and ids is not None:
        logits = penalize_repetition(logits, ids, repetition_penalty)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    if min_p is not None:
        logits = min_p_filter(logits, min_p)
    return logits


def _check_settings(ids: torch.Tensor, max_new_tokens: int, temperature: float, top_k: int | None) -> None:
    if ids.dim() != 2 or ids.size(1) == 0:
        raise ValueError(f"ids must have shape (B, T) with T >= 1, got {tuple(ids.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be None or >= 1, got {top_k}")


def _block_size(model: nn.Module) -> int:
    return model.config.block_size if hasattr(model, "config") else model.block_size


@torch.no_grad()
def next_token_logits(model: nn.Module, ids: torch.Tensor, use_cache: bool = True) -> Iterator[torch.Tensor]:
    """Yield the next token's logits (B, V) for ``ids``, then for ``ids`` + each id sent in (``.send((B,) ids)``).

    With ``use_cache`` (and a :class:`GPT`), the prompt is read once and each later step feeds one position; once
    the text is longer than block_size, every step re-reads the last block_size tokens (learned positions
    cannot slide), exactly as without the cache.
    """
    block_size = _block_size(model)
    cached = use_cache and isinstance(model, GPT) and ids.size(1) <= block_size
    cache = model.new_cache(ids.size(0)) if cached else None
    logits = model(ids[:, -block_size:], cache=cache) if cached else model(ids[:, -block_size:])
    while True:
        next_id = yield logits[:, -1, :].float()  # (B, V)
        ids = torch.cat((ids, next_id[:, None]), dim=1)  # (B, T + 1)
        if cache is not None and ids.size(1) <= block_size:
            logits = model(ids[:, -1:], cache=cache)  # (B, 1, V): one position's work
        else:
            cache = None
            logits = model(ids[:, -block_size:])  # (B, T', V): the whole window again


@torch.no_grad()
def generate(model: nn.Module, ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
             top_k: int | None = None, generator: torch.Generator | None = None, *, top_p: float | None = None,
             min_p: float | None = None, repetition_penalty: float = 1.0, eos_id: int | None = None,
             use_cache: bool = True) -> torch.Tensor:
    """Extend ``ids`` (B, T) by up to ``max_new_tokens`` tokens: returns (B, T + n), n <= max_new_tokens.

    Each step takes the next token's logits, reshapes them (:func:`process_logits`) and samples with
    ``generator`` (on the model's device; None: torch's global one); temperature 0 is greedy (the argmax). With
    ``eos_id``, a row that has produced it keeps producing it (padding), and the loop stops when every row has.
    ``use_cache`` changes the speed, not the tokens. The model runs in eval mode and is put back as it was.
    """
    _check_settings(ids, max_new_tokens, temperature, top_k)
    if max_new_tokens == 0:
        return ids
    was_training = model.training
    model.eval()
    try:
        steps = next_token_logits(model, ids, use_cache)
        logits = next(steps)
        done = torch.zeros(ids.size(0), dtype=torch.bool, device=ids.device)  # (B,): rows that ended
        for step in range(max_new_tokens):
            if temperature == 0:
                next_id = greedy(process_logits(logits, ids, repetition_penalty=repetition_penalty))  # (B,)
            else:
                probs = F.softmax(process_logits(logits, ids, temperature=temperature, top_k=top_k, top_p=top_p,
                                                 min_p=min_p, repetition_penalty=repetition_penalty), dim=-1)
                next_id = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)
            if eos_id is not None:
                next_id = next_id.masked_fill(done, eos_id)
                done = done | (next_id == eos_id)
            ids = torch.cat((ids, next_id[:, None]), dim=1)  # (B, T + 1)
            if step + 1 == max_new_tokens or (eos_id is not None and bool(done.all())):
                break
            logits = steps.send(next_id)
    finally:
        model.train(was_training)
    return ids


def stop_index(text: str, stops: list[str]) -> int | None:
    """Where the first of ``stops`` begins in ``text`` (the earliest, if several), or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


@torch.no_grad()
def generate_text(model: nn.Module, tokenizer: Tokenizer, prompt: str, max_new_tokens: int, *,
                  stop: str | list[str] | None = None, generator: torch.Generator | None = None,
                  **sampling: object) -> str:
    """The text that follows ``prompt``, one sequence, cut before the first stop string (which is not returned).

    The text is decoded after each token and searched for the stop strings, so a stop string split over
    several tokens is still found; ``sampling`` takes :func:`generate`'s settings (temperature, top_k, ...).
    """
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if any(not s for s in stops):
        raise ValueError("a stop string must not be empty")
    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)  # (1, T)
    new: list[int] = []
    text = ""
    was_training = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):  # one token per call, so the text can be checked after each
            ids = generate(model, ids, 1, generator=generator, **sampling)
            new.append(int(ids[0, -1]))
            text = tokenizer.decode(new)
            cut = stop_index(text, stops)
            if cut is not None:
                return text[:cut]
            if sampling.get("eos_id") is not None and new[-1] == sampling["eos_id"]:
                break
    finally:
        model.train(was_training)
    return text


@torch.no_grad()
def beam_search(model: nn.Module, ids: torch.Tensor, max_new_tokens: int, beam_width: int,
                eos_id: int | None = None) -> tuple[torch.Tensor, float]:
    """The continuation of ``ids`` (1, T) with the highest total log-probability that beam search finds.

    Keeps ``beam_width`` partial continuations; each step extends every one by every id and keeps the
    ``beam_width`` best sums of log-probabilities. A beam that produced ``eos_id`` is finished: it can only be
    extended by ``eos_id`` again, at no cost, so it competes with its score. Returns ((1, T + n), its score);
    ``beam_width`` 1 is greedy decoding.
    """
    if ids.dim() != 2 or ids.size(0) != 1 or ids.size(1) == 0:
        raise ValueError(f"beam search extends one sequence: ids must have shape (1, T), got {tuple(ids.shape)}")
    if beam_width < 1 or max_new_tokens < 0:
        raise ValueError(f"need beam_width >= 1 and max_new_tokens >= 0, got {beam_width} and {max_new_tokens}")
    block_size = _block_size(model)
    was_training = model.training
    model.eval()
    try:
        beams, scores = ids, torch.zeros(1, device=ids.device)  # (W, T), (W,)
        for _ in range(max_new_tokens):
            logp = F.log_softmax(model(beams[:, -block_size:])[:, -1, :].float(), dim=-1)  # (W, V)
            if eos_id is not None and beams.size(1) > ids.size(1):
                finished = beams[:, -1] == eos_id  # (W,): these beams ended; they may only add eos, for free
                frozen = torch.full_like(logp, NEG_INF)
                frozen[:, eos_id] = 0.0
                logp = torch.where(finished[:, None], frozen, logp)
            total = (scores[:, None] + logp).flatten()  # (W * V,): every beam extended by every id
            scores, flat = torch.topk(total, min(beam_width, total.numel()))  # (W',) best first
            beam, token = flat // logp.size(-1), flat % logp.size(-1)
            beams = torch.cat((beams[beam], token[:, None]), dim=1)  # (W', T + 1)
    finally:
        model.train(was_training)
    best = beams[:1]
    if eos_id is not None:
        new = best[0, ids.size(1):]
        ends = (new == eos_id).nonzero()
        if len(ends):
            best = best[:, :ids.size(1) + int(ends[0]) + 1]  # up to and with the first end token
    return best, float(scores[0])


@torch.no_grad()
def perplexity(model: nn.Module, ids: torch.Tensor, batch_size: int = 32) -> tuple[float, float]:
    """(mean loss in nats per predicted token, perplexity = exp(loss)) of the 1-D token stream ``ids``.

    The stream is cut into windows of block_size + 1 tokens that overlap by one (so every token after the first
    is predicted exactly once, each from the start of its window: the first tokens of a window see little
    context; a sliding window with a stride sees more, at more cost). The last window may be shorter.
    """
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"ids must be a 1-D token stream of at least 2 tokens, got shape {tuple(ids.shape)}")
    block_size = _block_size(model)
    was_training = model.training
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=ids.device), 0
    try:
        starts = list(range(0, len(ids) - 1, block_size))
        full = [s for s in starts if s + block_size + 1 <= len(ids)]
        offsets = torch.arange(block_size + 1, device=ids.device)
        for first in range(0, len(full), batch_size):
            windows = ids[torch.tensor(full[first:first + batch_size], device=ids.device)[:, None] + offsets]
            logits = model(windows[:, :-1])  # (b, T, V)
            total += F.cross_entropy(logits.flatten(0, 1).float(), windows[:, 1:].flatten(), reduction="sum").double()
            count += windows[:, 1:].numel()
        for s in starts[len(full):]:  # the tail, shorter than a window
            window = ids[s:][None]  # (1, t + 1)
            logits = model(window[:, :-1])
            total += F.cross_entropy(logits[0].float(), window[0, 1:], reduction="sum").double()
            count += window.size(1) - 1
    finally:
        model.train(was_training)
    loss = float(total) / count
    return loss, math.exp(loss)


@dataclass
class DecodeTiming:
    """Greedy decoding of ``length`` tokens from one, with and without the KV cache (seconds: a median)."""

    length: int
    cached_s: float
    full_s: float
    same_tokens: bool

    @property
    def speedup(self) -> float:
        return self.full_s / self.cached_s

    HEADER = "     T | cached ms | recompute ms | speed-up | same tokens"

    def row(self) -> str:
        return (f"{self.length:6d} | {self.cached_s * 1e3:9.1f} | {self.full_s * 1e3:12.1f} | {self.speedup:7.2f}x | "
                f"{self.same_tokens}")


def time_decoding(model: nn.Module, length: int, batch_size: int = 1, repeats: int = 3) -> DecodeTiming:
    """Time :func:`generate` (greedy) from a 1-token prompt to ``length`` tokens, cached and recomputing.

    The two runs alternate, after one warm-up each; ``length`` <= block_size, so the cache is used all the way.
    """
    if not 2 <= length <= _block_size(model):
        raise ValueError(f"length must be in [2, block_size={_block_size(model)}], got {length}")
    device = next(model.parameters()).device
    prompt = torch.zeros(batch_size, 1, dtype=torch.long, device=device)  # (B, 1)
    times: dict[bool, list[float]] = {True: [], False: []}
    out: dict[bool, torch.Tensor] = {}
    for i in range(repeats + 1):
        for use_cache in (True, False):
            began = time.perf_counter()
            out[use_cache] = generate(model, prompt, length - 1, temperature=0.0, use_cache=use_cache)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i:  # the first round warms up
                times[use_cache].append(time.perf_counter() - began)
    return DecodeTiming(length, statistics.median(times[True]), statistics.median(times[False]),
                        bool(torch.equal(out[True], out[False])))


__all__ = ["DecodeTiming", "beam_search", "generate", "generate_text", "greedy", "min_p_filter", "next_token_logits",
           "penalize_repetition", "perplexity", "process_logits", "stop_index", "time_decoding", "top_k_filter",
           "top_p_filter"]
