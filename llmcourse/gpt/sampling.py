"""Decoding: from a model's next-token logits to text, and measuring the text and the model (chapter 8).

Every sampler is a small function of the logits of the next token, (B, V) -> (B, V), so they chain:

    logits = penalize_repetition(logits, ids, 1.3)   # ids already in the text made less likely (sign-aware, as HF)
    logits = logits / temperature                    # < 1 sharpens, > 1 flattens
    logits = top_k_filter(logits, 50)                # keep the 50 best scores
    logits = top_p_filter(logits, 0.9)               # keep the smallest set holding 90% of the mass
    logits = min_p_filter(logits, 0.05)              # keep ids at least 5% as likely as the best one
    next_id = torch.multinomial(softmax(logits), 1, generator=g)

A filter sets the scores it removes to -inf, so the softmax gives them probability 0 and renormalises the rest.
:func:`generate` runs that loop with a KV cache (``GPT.forward(ids, cache=...)``, :mod:`.model`) and stops at an
end token or ``max_new_tokens``; :func:`generate_text` also stops at a stop string; :func:`beam_search` keeps the
``beam_width`` most likely continuations instead of sampling one, with GNMT's length penalty and n-gram blocking;
:func:`perplexity` (:func:`token_nats`) scores held-out text, with or without a sliding window; :func:`distinct_n`
measures how varied a text is.

Every public function refuses bad input with a ValueError that names the argument, before any work: a batch of no
rows, a negative ``max_new_tokens``, a ``top_p`` out of range even where it would not be used (``temperature=0``,
``max_new_tokens=0``), an end id outside the vocabulary; and logits with NaN (a diverged model) are refused instead
of decoded into tokens.

References: Holtzman et al. (2020), nucleus sampling; Fan et al. (2018), top-k; Nguyen et al. (2024), min-p;
Keskar et al. (2019), CTRL, whose repetition penalty divides the logits of the ids already used; Hugging Face's
``RepetitionPenaltyLogitsProcessor`` (``generation/logits_process.py``), which divides positive logits and
multiplies negative ones (the rule used here), and the order of the processors; Wu et al. (2016), GNMT, the length
penalty ((5 + n) / 6)^alpha; Hugging Face's ``NoRepeatNGramLogitsProcessor`` (n-gram blocking after Paulus et al.
2017) and transformers 4's ``BeamSearchScorer`` (finished beams kept apart from the running ones; transformers 5
removed the class and does the same inside ``GenerationMixin._beam_search``); Li et al. (2016), distinct-n;
Pope et al. (2022), "Efficiently Scaling Transformer Inference" (the KV cache's memory).
"""

from __future__ import annotations

import itertools
import math
import numbers
import operator
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.tokenizers import Tokenizer
from llmcourse.transformer.seq2seq import check_token_ids

from .model import GPT

NEG_INF = float("-inf")

# --- checks: every public entry point refuses bad input by the argument's name ------------------------------------


def _int_at_least(value: object, name: str, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, else a ValueError naming ``name`` (bools and floats are refused)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # ints, NumPy ints, 0-d integer tensors; not 2.0
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def _finite(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_settings(*, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                   min_p: float | None = None, repetition_penalty: float = 1.0) -> None:
    """Refuse any sampling setting out of its range, whatever the others are (a bad top_p at temperature 0 too)."""
    if not _finite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None:
        _int_at_least(top_k, "top_k", 1)
    if top_p is not None and not (_finite(top_p) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] (None = off), got {top_p!r}")
    if min_p is not None and not (_finite(min_p) and 0 <= min_p <= 1):
        raise ValueError(f"min_p must be in [0, 1] (None = off), got {min_p!r}")
    if not _finite(repetition_penalty) or repetition_penalty <= 0:
        raise ValueError(f"repetition_penalty must be a finite number > 0 (1 = none), got {repetition_penalty!r}")


def _vocab_size(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "vocab_size", None) or getattr(model, "vocab_size", None)


def _block_size(model: nn.Module) -> int:
    return model.config.block_size if hasattr(model, "config") else model.block_size


def _check_ids(ids: object, vocab_size: int | None, name: str = "ids") -> None:
    """Integer ids of shape (B, T), B >= 1 and T >= 1, each in [0, vocab_size) when the size is known."""
    check_token_ids(ids, vocab_size, name=name)


def _check_eos(eos_id: object, vocab_size: int | None) -> int | None:
    if eos_id is None:
        return None
    eos_id = _int_at_least(eos_id, "eos_id", 0)
    if vocab_size is not None and eos_id >= vocab_size:
        raise ValueError(f"eos_id must be a token id in [0, {vocab_size}) (None = no end token), got {eos_id}")
    return eos_id


def _check_logits(logits: torch.Tensor, name: str = "logits") -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{name} must have shape (B, V), one row per sequence, got {got}")
    if torch.isnan(logits).any():
        rows = torch.isnan(logits).any(-1).nonzero().flatten().tolist()
        raise ValueError(f"{name} hold NaN (rows {rows[:8]}): there is no distribution to choose from")


def _check_model_logits(logits: torch.Tensor, where: str) -> None:
    """The model's logits (..., V): refuse NaN, +inf or a row with no finite score, by naming the model."""
    logits = logits.reshape(-1, logits.size(-1))  # (rows, V)
    bad = torch.isnan(logits).any(-1) | torch.isposinf(logits).any(-1) | ~torch.isfinite(logits).any(-1)  # (rows,)
    if bad.any():
        rows = bad.nonzero().flatten().tolist()
        raise ValueError(f"the model's logits {where} hold NaN or +inf, or no finite score, in rows {rows[:8]}: "
                         f"nothing to decode or score (are the model's weights finite? a diverged training run "
                         f"gives NaN)")


# --- the samplers: (B, V) -> (B, V) or (B,) ------------------------------------------------------------------------


def greedy(logits: torch.Tensor) -> torch.Tensor:
    """(B, V) -> (B,) the most likely id of each row (ties: the lowest id, as argmax)."""
    _check_logits(logits)
    return logits.argmax(dim=-1)


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep each row's ``k`` highest scores (and any tied with the k-th), -inf elsewhere: (B, V) -> (B, V)."""
    _check_logits(logits)
    k = _int_at_least(k, "top_k", 1)
    if k >= logits.size(-1):
        return logits
    kth = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1): the k-th highest score
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus: keep the most likely ids until their mass reaches ``p`` (the crossing id kept): (B, V) -> (B, V)."""
    _check_logits(logits)
    check_settings(top_p=p)
    probs = F.softmax(logits.float(), dim=-1)  # (B, V)
    sorted_probs, order = probs.sort(dim=-1, descending=True)  # (B, V): most likely first
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (B, V): 0 for the most likely id
    remove_sorted = mass_before >= p  # (B, V): the id that crosses p has mass_before < p, so it stays
    remove = remove_sorted.scatter(-1, order, remove_sorted)  # back to vocabulary order
    return logits.masked_fill(remove, NEG_INF)


def min_p_filter(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Keep ids whose probability is at least ``min_p`` times the row's largest: (B, V) -> (B, V)."""
    _check_logits(logits)
    check_settings(min_p=min_p)
    probs = F.softmax(logits.float(), dim=-1)  # (B, V)
    threshold = min_p * probs.max(dim=-1, keepdim=True).values  # (B, 1): scales with the model's confidence
    return logits.masked_fill(probs < threshold, NEG_INF)


def penalize_repetition(logits: torch.Tensor, ids: torch.Tensor, penalty: float) -> torch.Tensor:
    """The repetition penalty: the score of every id already in ``ids`` (B, T) is made less likely.

    CTRL (Keskar et al. 2019) divides those logits by ``penalty``; dividing a negative logit would raise it, so
    Hugging Face's ``RepetitionPenaltyLogitsProcessor`` -- the rule here -- divides a positive score and
    multiplies a negative one. Each id counts once however often it appeared; ``penalty`` 1 changes nothing.
    """
    _check_logits(logits)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.size(0) != logits.size(0):
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must have shape ({logits.size(0)}, T) for logits {tuple(logits.shape)}, got {got}")
    check_settings(repetition_penalty=penalty)
    seen = logits.gather(-1, ids)  # (B, T): the scores of the ids in the text
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(-1, ids, seen)  # the same value for each repeat of an id, so the order does not matter


def block_repeated_ngrams(logits: torch.Tensor, ids: torch.Tensor, n: int) -> torch.Tensor:
    """-inf for every id that would complete an ``n``-gram already in its row of ``ids`` (B, T): (B, V) -> (B, V).

    Hugging Face's ``no_repeat_ngram_size``: the last n - 1 ids of a row, followed by id j, must not be an n-gram
    the row already holds (prompt included). ``n`` = 1 forbids every id already used. ``[5, 7, 5]`` with n = 2
    forbids 7 next (``5 7`` is there).
    """
    _check_logits(logits)
    n = _int_at_least(n, "no_repeat_ngram_size", 1)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.size(0) != logits.size(0):
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must have shape ({logits.size(0)}, T) for logits {tuple(logits.shape)}, got {got}")
    if ids.size(1) < n:
        return logits  # no n-gram in the text yet
    grams = ids.unfold(1, n, 1)  # (B, G, n): every n-gram of each row, G = T - n + 1
    prefix = ids[:, ids.size(1) - (n - 1):]  # (B, n - 1): what the next id would extend
    match = (grams[:, :, :-1] == prefix[:, None, :]).all(-1)  # (B, G): n-grams that begin with that prefix
    hits = torch.zeros(logits.shape, dtype=torch.long, device=logits.device)
    hits.scatter_add_(1, grams[:, :, -1], match.long())  # (B, V): > 0 where id j completes a repeated n-gram
    return logits.masked_fill(hits > 0, NEG_INF)


def process_logits(logits: torch.Tensor, ids: torch.Tensor | None = None, *, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                   repetition_penalty: float = 1.0) -> torch.Tensor:
    """All the reshaping in Hugging Face's order: penalty, temperature, top-k, top-p, min-p. (B, V) -> (B, V)."""
    _check_logits(logits)
    check_settings(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                   repetition_penalty=repetition_penalty)
    if temperature == 0:
        raise ValueError("temperature must be > 0 here: temperature 0 is greedy, decided before (take the argmax)")
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


# --- the decoding loop ------------------------------------------------------------------------------------------


@torch.no_grad()
def next_token_logits(model: nn.Module, ids: torch.Tensor, use_cache: bool = True) -> Iterator[torch.Tensor]:
    """Yield the next token's logits (B, V) for ``ids``, then for ``ids`` + each id sent in (``.send((B,) ids)``).

    With ``use_cache`` (and a :class:`GPT`), the prompt is read once and each later step feeds one position; once
    the text is longer than block_size, every step re-reads the last block_size tokens (learned positions
    cannot slide), exactly as without the cache.
    """
    _check_ids(ids, _vocab_size(model))
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


def _sampled_ids(model: nn.Module, ids: torch.Tensor, generator: torch.Generator | None, use_cache: bool,
                 eos_id: int | None, temperature: float, top_k: int | None, top_p: float | None,
                 min_p: float | None, repetition_penalty: float) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (next ids (B,), rows done (B,)) step after step; the caller decides when to stop (settings checked)."""
    steps = next_token_logits(model, ids, use_cache)
    logits = next(steps)
    done = torch.zeros(ids.size(0), dtype=torch.bool, device=ids.device)  # (B,): rows that produced eos_id
    for step in itertools.count():
        _check_model_logits(logits, f"at step {step}")
        if eos_id is not None and eos_id >= logits.size(-1):
            raise ValueError(f"eos_id must be a token id in [0, {logits.size(-1)}), got {eos_id}")
        if temperature == 0:
            logits = logits if repetition_penalty == 1.0 else penalize_repetition(logits, ids, repetition_penalty)
            next_id = greedy(logits)  # (B,)
        else:
            probs = F.softmax(process_logits(logits, ids, temperature=temperature, top_k=top_k, top_p=top_p,
                                             min_p=min_p, repetition_penalty=repetition_penalty), dim=-1)
            next_id = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)
        if eos_id is not None:
            next_id = next_id.masked_fill(done, eos_id)  # a finished row pads with the end token
            done = done | (next_id == eos_id)
        ids = torch.cat((ids, next_id[:, None]), dim=1)  # (B, T + 1)
        yield next_id, done
        logits = steps.send(next_id)


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
    vocab = _vocab_size(model)
    _check_ids(ids, vocab)
    max_new_tokens = _int_at_least(max_new_tokens, "max_new_tokens", 0)
    check_settings(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                   repetition_penalty=repetition_penalty)
    eos_id = _check_eos(eos_id, vocab)
    if max_new_tokens == 0:
        return ids
    was_training = model.training
    model.eval()
    new: list[torch.Tensor] = []
    try:
        stream = _sampled_ids(model, ids, generator, use_cache, eos_id, temperature, top_k, top_p, min_p,
                              repetition_penalty)
        for next_id, done in stream:
            new.append(next_id)
            if len(new) == max_new_tokens or (eos_id is not None and bool(done.all())):
                break
    finally:
        model.train(was_training)
    return torch.cat((ids, torch.stack(new, dim=1)), dim=1)  # (B, T + n)


def stop_index(text: str, stops: list[str]) -> int | None:
    """Where the first of ``stops`` begins in ``text`` (the earliest, if several), or None."""
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


_SAMPLING_KEYS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty", "eos_id", "use_cache")


@torch.no_grad()
def generate_text(model: nn.Module, tokenizer: Tokenizer, prompt: str, max_new_tokens: int, *,
                  stop: str | list[str] | None = None, generator: torch.Generator | None = None,
                  **sampling: object) -> str:
    """The text that follows ``prompt``, one sequence, cut before the first stop string (which is not returned).

    The text is decoded after each token and searched for the stop strings, so a stop string split over
    several tokens is still found; ``sampling`` takes :func:`generate`'s settings (temperature, top_k, ...), and
    the tokens are :func:`generate`'s for the same generator.
    """
    unknown = sorted(set(sampling) - set(_SAMPLING_KEYS))
    if unknown:
        raise TypeError(f"generate_text got unknown settings {unknown}; it takes {', '.join(_SAMPLING_KEYS)}")
    max_new_tokens = _int_at_least(max_new_tokens, "max_new_tokens", 0)
    settings = {key: sampling[key] for key in ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")
                if key in sampling}
    check_settings(**settings)
    eos_id = _check_eos(sampling.get("eos_id"), _vocab_size(model))
    stops = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, (list, tuple)) or any(not isinstance(s, str) or not s for s in stops):
        raise ValueError(f"stop must be a non-empty string or a list of them (a stop string must not be empty), "
                         f"got {stop!r}")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
    device = next(model.parameters()).device
    ids = torch.tensor([tokenizer.encode(prompt)], dtype=torch.long, device=device)  # (1, T)
    _check_ids(ids, _vocab_size(model), name=f"the prompt's ids ({prompt[:20]!r})")
    if max_new_tokens == 0:
        return ""
    new: list[int] = []
    text = ""
    was_training = model.training
    model.eval()
    try:
        stream = _sampled_ids(model, ids, generator, bool(sampling.get("use_cache", True)), eos_id,
                              settings.get("temperature", 1.0), settings.get("top_k"), settings.get("top_p"),
                              settings.get("min_p"), settings.get("repetition_penalty", 1.0))
        for next_id, _ in stream:  # one token at a time, so the text can be checked after each
            new.append(int(next_id[0]))
            text = tokenizer.decode(new)
            cut = stop_index(text, list(stops))
            if cut is not None:
                return text[:cut]
            if len(new) == max_new_tokens or (eos_id is not None and new[-1] == eos_id):
                break
    finally:
        model.train(was_training)
    return text


# --- beam search ----------------------------------------------------------------------------------------------


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """Wu et al. (2016)'s length penalty ((5 + length) / 6)^alpha: a score is divided by it (1 for alpha = 0)."""
    return ((5 + length) / 6) ** alpha


@torch.no_grad()
def beam_search(model: nn.Module, ids: torch.Tensor, max_new_tokens: int, beam_width: int,
                eos_id: int | None = None, *, length_penalty: float = 0.0,
                no_repeat_ngram_size: int = 0) -> tuple[torch.Tensor, float]:
    """The continuation of ``ids`` (1, T) with the best score that beam search finds: ((1, T + n), its score).

    Each step extends each of the ``beam_width`` running beams by every id and keeps the ``beam_width`` best sums
    of log-probabilities. A candidate that ends with ``eos_id`` among the step's ``beam_width`` best is finished:
    it leaves the running beams (which are refilled from the next best candidates, as transformers 4's
    ``BeamSearchScorer`` did) and is scored by its total log-probability divided by GNMT's length penalty
    ``((5 + n) / 6) ** length_penalty`` (Wu et al. 2016), n its new tokens with the end token; the beams still
    running after ``max_new_tokens`` steps are finished at that length. The best finished continuation wins.
    Without an end token all beams have the same length and the penalty changes nothing; with one, 0 favours
    short endings (every token lowers the sum), larger values longer ones. The search stops early once no running
    beam can beat the best finished one, which gives the same result as running to the end.

    ``no_repeat_ngram_size`` n > 0 forbids any id that would repeat an n-gram of the text (prompt included;
    :func:`block_repeated_ngrams`); when no beam can go on without one, the beams end where they are.
    ``beam_width`` 1 without an end token or blocking is greedy decoding.
    """
    vocab = _vocab_size(model)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.size(0) != 1 or ids.size(1) == 0:
        got = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"beam search extends one sequence: ids must have shape (1, T) with T >= 1, got {got}")
    _check_ids(ids, vocab)
    max_new_tokens = _int_at_least(max_new_tokens, "max_new_tokens", 0)
    beam_width = _int_at_least(beam_width, "beam_width", 1)
    no_repeat_ngram_size = _int_at_least(no_repeat_ngram_size, "no_repeat_ngram_size", 0)
    if not _finite(length_penalty):
        raise ValueError(f"length_penalty must be a finite number (0 = none), got {length_penalty!r}")
    eos_id = _check_eos(eos_id, vocab)
    if max_new_tokens == 0:
        return ids, 0.0
    block_size = _block_size(model)

    def penalised(total: float, length: int) -> float:
        return total / gnmt_length_penalty(length, length_penalty)

    finished: list[tuple[float, torch.Tensor]] = []  # (score, (T + n,) ids), best first
    beams, sums = ids, [0.0]  # (W, T + step) running beams, their total log-probabilities (best first)
    was_training = model.training
    model.eval()
    try:
        for step in range(max_new_tokens):
            logits = model(beams[:, -block_size:])[:, -1, :].float()  # (W, V)
            _check_model_logits(logits, f"at step {step}")
            if eos_id is not None and eos_id >= logits.size(-1):
                raise ValueError(f"eos_id must be a token id in [0, {logits.size(-1)}), got {eos_id}")
            logp = F.log_softmax(logits, dim=-1)  # (W, V)
            if no_repeat_ngram_size:
                logp = block_repeated_ngrams(logp, beams, no_repeat_ngram_size)
            total = (torch.tensor(sums, device=logp.device)[:, None] + logp).flatten()  # (W * V,)
            scores, flat = total.topk(min(2 * beam_width, total.numel()))  # room for W that do not end
            running: list[tuple[int, int, float]] = []  # (beam, token, sum)
            for rank, (score, index) in enumerate(zip(scores.tolist(), flat.tolist(), strict=True)):
                if score == NEG_INF or len(running) == beam_width:
                    break
                beam, token = divmod(index, logp.size(-1))
                if token != eos_id:
                    running.append((beam, token, score))
                elif rank < beam_width:  # an end among the step's best W: a finished continuation
                    finished.append((penalised(score, step + 1), torch.cat((beams[beam], beams.new_tensor([token])))))
            finished = sorted(finished, key=lambda f: -f[0])[:beam_width]
            if not running:  # every continuation repeats an n-gram: the beams end here, unfinished
                finished += [(penalised(total, step), beam) for total, beam in zip(sums, beams, strict=True)]
                break
            index = torch.tensor([(beam, token) for beam, token, _ in running], device=beams.device)  # (W', 2)
            beams = torch.cat((beams[index[:, 0]], index[:, 1:]), dim=1)  # (W', T + step + 1)
            sums = [total for _, _, total in running]
            if finished and step + 1 < max_new_tokens:
                # a running beam's sum only falls: its best possible score is that sum over the largest penalty
                largest = max(gnmt_length_penalty(step + 2, length_penalty),
                              gnmt_length_penalty(max_new_tokens, length_penalty))
                if finished[0][0] >= sums[0] / largest:
                    break
        else:  # max_new_tokens steps: the running beams finish at that length
            finished += [(penalised(total, max_new_tokens), beam) for total, beam in zip(sums, beams, strict=True)]
    finally:
        model.train(was_training)
    score, best = max(finished, key=lambda f: f[0])
    return best[None], float(score)


# --- measuring: perplexity, distinct-n ----------------------------------------------------------------------------


@torch.no_grad()
def token_nats(model: nn.Module, ids: torch.Tensor, stride: int | None = None, batch_size: int = 32) -> torch.Tensor:
    """-ln p of every token of the 1-D stream ``ids`` after the first: (N - 1,) float64.

    Windows of block_size tokens start every ``stride`` tokens (default block_size: no overlap); each scores only
    the tokens the window before it did not, so every token is scored once. With the default, a token at
    position t of its window is predicted from t tokens; a smaller stride gives every token after the first
    window at least block_size - stride tokens of context, at block_size / stride times the work.
    """
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or len(ids) < 2 or ids.dtype not in (torch.long,
                                                                                                  torch.int32):
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids must be a 1-D stream of at least 2 integer token ids, got {got}")
    _check_ids(ids[None], _vocab_size(model))
    block_size = _block_size(model)
    stride = block_size if stride is None else _int_at_least(stride, "stride", 1)
    if stride > block_size:
        raise ValueError(f"stride must be <= block_size={block_size} (a larger one would skip tokens), got {stride}")
    batch_size = _int_at_least(batch_size, "batch_size", 1)
    spans, done, start = [], 0, 0  # (start, end, done): inputs start..end-1 predict tokens start+1..end
    while done < len(ids) - 1:
        end = min(start + block_size, len(ids) - 1)
        spans.append((start, end, done))  # tokens done+1..end are new to this window
        done, start = end, start + stride
    nats = torch.empty(len(ids) - 1, dtype=torch.float64, device=ids.device)
    was_training = model.training
    model.eval()
    try:
        full = [s for s in spans if s[1] - s[0] == block_size]
        offsets = torch.arange(block_size + 1, device=ids.device)
        for first in range(0, len(full), batch_size):
            group = full[first:first + batch_size]
            starts = torch.tensor([s for s, _, _ in group], device=ids.device)
            windows = ids[starts[:, None] + offsets]  # (b, block_size + 1)
            logits = model(windows[:, :-1]).float()  # (b, T, V)
            _check_model_logits(logits, f"of the windows starting at {group[0][0]}..{group[-1][0]}")
            window_nats = F.cross_entropy(logits.transpose(1, 2), windows[:, 1:], reduction="none")  # (b, T)
            for row, (s, end, before) in enumerate(group):
                nats[before:end] = window_nats[row, before - s:].double()
        for s, end, before in spans[len(full):]:  # the last window, when it is shorter
            window = ids[s:end + 1][None]  # (1, t + 1)
            logits = model(window[:, :-1]).float()
            _check_model_logits(logits, f"of the window starting at {s}")
            nats[before:end] = F.cross_entropy(logits[0], window[0, 1:], reduction="none")[before - s:].double()
    finally:
        model.train(was_training)
    return nats


def perplexity(model: nn.Module, ids: torch.Tensor, batch_size: int = 32,
               stride: int | None = None) -> tuple[float, float]:
    """(mean loss in nats per predicted token, perplexity = exp(loss)) of the 1-D token stream ``ids``.

    The windows are :func:`token_nats`'s: by default they do not overlap, so the first tokens of each window see
    little context (pessimistic); a ``stride`` below block_size slides the window and gives each prediction more.
    """
    nats = token_nats(model, ids, stride, batch_size)
    loss = float(nats.mean())
    return loss, math.exp(loss)


def distinct_n(texts: str | Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams, pooled over ``texts``: distinct-n (Li et al. 2016, who divided by
    the number of words instead; by the n-grams, 1.0 means no repeat for every n).

    Words are split at whitespace; 1.0 means no n-gram occurs twice. ``"a b a b"`` has the 2-grams ``a b``,
    ``b a``, ``a b``: distinct-2 = 2/3. Pooled over several texts it also falls when they repeat each other. Texts
    with no n-gram at all (only whitespace, or fewer than n words: what a barely trained model may write) score 0.0.
    """
    n = _int_at_least(n, "n", 1)
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must be a string or a non-empty list of strings, got {texts!r:.80}")
    grams = [tuple(words[i:i + n]) for words in (t.split() for t in texts) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


# --- timing the cache -------------------------------------------------------------------------------------------


@dataclass
class DecodeTiming:
    """Greedy decoding to a text of ``length`` tokens (a 1-token prompt and ``length - 1`` generated), with and
    without the KV cache (seconds: a median). ``T`` in the table is ``length``."""

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
    """Time :func:`generate` (greedy) from a 1-token prompt to a text of ``length`` tokens (``length - 1``
    generated), cached and recomputing.

    The two runs alternate, after one warm-up each; ``length`` <= block_size, so the cache is used all the way.
    """
    length = _int_at_least(length, "length", 2)
    if length > _block_size(model):
        raise ValueError(f"length must be in [2, block_size={_block_size(model)}], got {length}")
    batch_size = _int_at_least(batch_size, "batch_size", 1)
    repeats = _int_at_least(repeats, "repeats", 1)
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


__all__ = ["DecodeTiming", "beam_search", "block_repeated_ngrams", "check_settings", "distinct_n", "generate",
           "generate_text", "gnmt_length_penalty", "greedy", "min_p_filter", "next_token_logits",
           "penalize_repetition", "perplexity", "process_logits", "stop_index", "time_decoding",
           "token_nats", "top_k_filter", "top_p_filter"]
