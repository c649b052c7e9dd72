"""Chapter 8's graded exercises: OpenAI's frequency and presence penalties (a warm-up), locally typical
sampling, one decoding step of a rolling (sliding-window) KV cache, and stop strings in a token stream.

The chapter builds greedy, temperature, top-k, top-p and min-p sampling, a repetition penalty (Hugging Face's
sign-aware form of CTRL's), beam search, stop conditions and a KV cache that grows to block_size; each exercise
asks for a sibling or an extension of those that it explains but does not write. Every case draws its inputs from
the run's trial, so they change from run to run. The references: the penalty's and the typical set's formulas in
float64; for the rolling cache ``F.scaled_dot_product_attention`` over the last ``window`` keys and values
(autograd through it for the gradients); for the stop string a search of the whole text so far, character by
character. Known mistakes are computed on the same inputs, so a message can name the one an answer makes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from . import wire
from .ch04 import check_ids
from .core import CheckFailure, Step, Trial, exercise
from .expect import kind_of

# --- 1. penalize_frequency_presence (warm-up) ------------------------------------------------------------------

penalize_frequency_presence = exercise(
    "ch08.penalize_frequency_presence", name="penalize_frequency_presence",
    description="OpenAI's penalties on logits (B, V) given the ids generated so far (B, T): subtract "
                "frequency_penalty times the number of times each id occurs in its row, and presence_penalty once "
                "for every id that occurs at all; return new logits (B, V).",
    args=("logits", "ids", "frequency_penalty", "presence_penalty"), points=1, timeout=10, hints={
        "index": "the counts are per row: one (V,) histogram for each row of ids, so a (B, V) tensor of counts.",
        "must match the size": "the counts need the logits' shape (B, V): count over the vocabulary, not over T.",
        "expected scalar type": "counts are integers: convert them to the logits' dtype before multiplying.",
    },
)


def counts_of(ids: torch.Tensor, vocab: int) -> torch.Tensor:
    """(B, V) float64: how often each id occurs in each row of ids (B, T)."""
    counts = torch.zeros(ids.size(0), vocab, dtype=torch.float64)
    return counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float64))


def penalty_reference(logits: torch.Tensor, ids: torch.Tensor, frequency: float, presence: float) -> torch.Tensor:
    counts = counts_of(ids, logits.size(-1))
    return (logits.double() - frequency * counts - presence * (counts > 0).double()).to(logits.dtype)


def penalty_mistakes(logits: torch.Tensor, ids: torch.Tensor, frequency: float, presence: float) -> dict[str, Any]:
    z, counts = logits.double(), counts_of(ids, logits.size(-1))
    seen = (counts > 0).double()
    batch_counts = counts.sum(0, keepdim=True).expand_as(counts)
    sign_aware = torch.where(counts > 0, torch.where(z > 0, z / (1 + frequency), z * (1 + frequency)), z)
    values = {
        "swapped the two penalties: the frequency penalty scales with the count, the presence penalty is paid once":
            z - presence * counts - frequency * seen,
        "counted each id once for the frequency penalty too: it grows with every repeat (count * penalty)":
            z - frequency * seen - presence * seen,
        "charged the presence penalty for every occurrence: it is paid once for an id that occurs at all":
            z - frequency * counts - presence * counts,
        "counted the ids over the whole batch: each row has its own history, so count per row":
            z - frequency * batch_counts - presence * (batch_counts > 0).double(),
        "added the penalties: a positive penalty lowers the logits of the ids already used":
            z + frequency * counts + presence * seen,
        "left out the presence penalty": z - frequency * counts,
        "left out the frequency penalty": z - presence * seen,
        "divided and multiplied as the chapter's repetition penalty (Hugging Face's rule) does: OpenAI's "
        "penalties are subtracted": sign_aware,
    }
    return {text: value.to(logits.dtype) for text, value in values.items()}


def check_penalty(t: Trial, batch: int, length: int, vocab: int, frequency: float, presence: float) -> None:
    logits = t.randn(batch, vocab, scale=2.0)  # (B, V)
    ids = t.randint(0, max(2, vocab // 3), (batch, length))  # (B, T): few distinct ids, so many repeats
    t.check_call(logits, ids, frequency, presence, reference=penalty_reference, what="the penalised logits",
                 mistakes=penalty_mistakes, atol=1e-5, rtol=1e-5)


@penalize_frequency_presence.case("a batch of rows with many repeated ids, both penalties positive")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(3, 5), t.py.randint(8, 14), t.py.randint(9, 13), t.py.uniform(0.3, 0.9),
                  t.py.uniform(0.8, 1.5))


@penalize_frequency_presence.case("a batch of one row, a longer history, a larger vocabulary")
def _(t: Trial) -> None:
    check_penalty(t, 1, t.py.randint(20, 30), t.py.randint(30, 40), t.py.uniform(0.1, 0.4), t.py.uniform(0.2, 0.6))


@penalize_frequency_presence.case("negative penalties (which encourage repeats), a short history")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(6, 8), -t.py.uniform(0.2, 0.6),
                  -t.py.uniform(0.7, 1.2))


# --- 2. sample_typical -----------------------------------------------------------------------------------------

sample_typical = exercise(
    "ch08.sample_typical", name="sample_typical",
    description="Locally typical sampling: per row of logits (B, V), rank the ids by how far their surprisal "
                "-log p is from the row's entropy H (closest first), keep ids in that order until their "
                "probabilities add up to typical_mass (the id that crosses it is kept), renormalise and draw one "
                "id with the given generator; return a (B,) tensor of int64 ids.",
    args=("logits", "typical_mass", "generator"), points=2, timeout=15, random=True, hints={
        "probability tensor contains": "torch.multinomial needs non-negative, finite probabilities: compute them "
                                       "with softmax (and log_softmax for the logs: log(softmax) of a tiny "
                                       "probability is -inf, and 0 * -inf is nan).",
        "invalid multinomial distribution": "torch.multinomial needs at least one id with a probability above 0 "
                                            "in every row: the most typical id is always kept.",
        "index": "sorting gives the ids in order of typicality: map the kept positions back to those ids "
                 "(scatter, or index with the sorting's indices) before drawing.",
    },
)
DRAWS_PER_ROW = 10_000
_TOL = 6 * math.sqrt(0.25 / DRAWS_PER_ROW)  # six standard errors of a frequency at worst


def typical_set(rows: torch.Tensor, mass: float, *, key: str = "typical", crossing: bool = True,
                entropy_base: float = math.e) -> torch.Tensor:
    """softmax(rows) restricted to its typical set and renormalised: (R, V) float64.

    ``key``: rank by |surprisal - H| (``typical``), by probability (``prob``, that is top-p; ranking by the signed
    difference -log p - H gives the same order) or farthest first (``far``); ``crossing``: keep the id that crosses
    the mass.
    """
    logp = torch.log_softmax(rows.double(), dim=-1)  # (R, V)
    probs = logp.exp()
    entropy = -(probs * logp).sum(-1, keepdim=True) / math.log(entropy_base)  # (R, 1)
    score = {"typical": (-logp - entropy).abs(), "prob": -probs, "far": -(-logp - entropy).abs()}[key]
    order = score.argsort(dim=-1)  # (R, V): the ids in the order they are considered
    walked = probs.gather(-1, order)
    before = walked.cumsum(-1) - walked
    keep_sorted = before < mass if crossing else walked.cumsum(-1) <= mass
    keep_sorted[:, 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)


def typical_mistakes(rows: torch.Tensor, mass: float) -> dict[str, torch.Tensor]:
    z = rows.double()
    return {
        "ranked the ids by probability (that is top-p; so does the signed difference -log p - H): typical sampling "
        "ranks them by |-log p - H|, the distance of their surprisal from the entropy":
            typical_set(rows, mass, key="prob"),
        "dropped the id that crosses typical_mass: keep ids while the mass before them is below it":
            typical_set(rows, mass, crossing=False),
        "kept the least typical ids first: sort the distances in increasing order": typical_set(rows, mass, key="far"),
        "measured the entropy in bits but the surprisal in nats: use the same logarithm for both":
            typical_set(rows, mass, entropy_base=2.0),
        "ignored typical_mass (sampled from the whole distribution)": torch.softmax(z, -1),
        "always took the most typical id instead of sampling":
            F.one_hot(typical_set(rows, 1e-9).argmax(-1), z.shape[-1]).double(),
    }


def check_typical(t: Trial, rows: torch.Tensor, mass: float) -> None:
    """Draw many ids for each distinct row (R, V), shuffled together; frequencies vs the typical set."""
    n_rows, vocab = rows.shape
    labels = torch.arange(n_rows).repeat(DRAWS_PER_ROW)[torch.randperm(n_rows * DRAWS_PER_ROW, generator=t.rng)]
    logits = rows[labels]  # (R * DRAWS_PER_ROW, V)
    got = t.call(logits, mass, wire.GeneratorSpec(t.seed_for("draws"))).value
    ids = check_ids(got, logits.shape[0], vocab)
    freq = torch.zeros(n_rows, vocab, dtype=torch.float64)
    freq.index_put_((labels, ids), torch.ones(len(ids), dtype=torch.float64), accumulate=True)
    freq /= DRAWS_PER_ROW
    t.expect(freq, typical_set(rows, mass),
             f"how often each id is drawn for each of {n_rows} different rows ({DRAWS_PER_ROW} draws each)",
             mistakes=typical_mistakes(rows, mass), atol=_TOL, rtol=0)


def peaked_rows(t: Trial, n_rows: int, vocab: int) -> torch.Tensor:
    """Rows with one likely id and a spread tail: the most likely id is often not the most typical one."""
    rows = t.randn(n_rows, vocab)
    rows[torch.arange(n_rows), torch.randint(vocab, (n_rows,), generator=t.rng)] += 1.5
    return rows


@sample_typical.case("ids follow the renormalised typical set row by row, a mass of about 0.6")
def _(t: Trial) -> None:
    check_typical(t, peaked_rows(t, 4, 8), t.py.uniform(0.52, 0.58))


@sample_typical.case("ids follow the typical set row by row for a wider mass and a larger vocabulary")
def _(t: Trial) -> None:
    check_typical(t, peaked_rows(t, 3, t.py.randint(9, 10)), t.py.uniform(0.62, 0.68))


@sample_typical.case("ids follow the typical set for logits far from 0 (beyond ±100)")
def _(t: Trial) -> None:
    rows = peaked_rows(t, 3, t.py.randint(6, 7))
    offsets = torch.tensor([t.py.choice((-1, 1)) * t.py.uniform(130.0, 200.0) for _ in range(3)])
    check_typical(t, rows + offsets[:, None], t.py.uniform(0.55, 0.65))


@sample_typical.case("a batch of one row: (1,) int64 ids, from the typical set, over many calls")
def _(t: Trial) -> None:
    vocab, n_calls = t.py.randint(4, 6), 300
    logits = peaked_rows(t, 1, vocab)  # (1, V)
    mass = t.py.uniform(0.3, 0.5)
    gen = wire.GeneratorSpec(t.seed_for("one-row"))
    outcomes = t.run([Step((logits, mass, gen)) for _ in range(n_calls)], grad=False)
    ids = torch.cat([check_ids(o.value, 1, vocab) for o in outcomes])
    freq = torch.bincount(ids, minlength=vocab).double() / n_calls
    allowed = typical_set(logits, mass)[0] > 0
    if bool((freq[~allowed] > 0).any()):
        raise CheckFailure("an id outside the typical set was drawn for a single row: keep only the ids closest to "
                           "the entropy, until their mass reaches typical_mass.", "wrong")


@sample_typical.generator_probe
def _(t: Trial, seed: int) -> tuple[Any, ...]:
    logits = torch.randn(16, 6, generator=torch.Generator().manual_seed(t.seed_for("probe")))
    return logits, 0.9, wire.GeneratorSpec(seed)


# --- 3. rolling_kv_step ----------------------------------------------------------------------------------------

rolling_kv_step = exercise(
    "ch08.rolling_kv_step", name="rolling_kv_step",
    description="One decoding step of sliding-window attention with a rolling KV cache: append the new key and "
                "value (B, nh, 1, hd) to the cache (B, nh, L, hd), oldest first, drop the oldest positions so at "
                "most `window` remain, attend the query (B, nh, 1, hd) over what remains (scaled by 1/sqrt(hd)); "
                "return (out (B, nh, 1, hd), new key cache, new value cache), leaving the inputs unchanged.",
    args=("q", "k_new", "v_new", "k_cache", "v_cache", "window"), points=2, timeout=10, grad=True, hints={
        "Sizes of tensors must match": "append along the positions (dimension -2, of length L), not along the "
                                       "batch or the head dimension.",
        "size of tensor a": "append along the positions (dimension -2): the cache is (B, nh, L, hd).",
        "cannot be multiplied": "the scores are q @ k^T with k transposed in its last two dimensions: "
                                "(B, nh, 1, hd) @ (B, nh, hd, S).",
    },
)


def rolling_reference(q: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor, k_cache: torch.Tensor,
                      v_cache: torch.Tensor, window: int) -> tuple[torch.Tensor, ...]:
    k = torch.cat((k_cache, k_new), dim=-2)[..., -window:, :]  # (B, nh, min(L + 1, W), hd)
    v = torch.cat((v_cache, v_new), dim=-2)[..., -window:, :]
    return F.scaled_dot_product_attention(q, k, v), k, v


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v


def rolling_mistakes(q: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor, k_cache: torch.Tensor,
                     v_cache: torch.Tensor, window: int) -> dict[str, tuple[torch.Tensor, ...]]:
    dtype = q.dtype
    q, k_new, v_new, k_cache, v_cache = (x.double() for x in (q, k_new, v_new, k_cache, v_cache))
    k_all, v_all = torch.cat((k_cache, k_new), -2), torch.cat((v_cache, v_new), -2)
    k, v = k_all[..., -window:, :], v_all[..., -window:, :]
    values: dict[str, tuple[torch.Tensor, ...]] = {
        "attended to the window plus one (trimmed the cache after attending): at most `window` positions may be "
        "attended, the newest included": (_attend(q, k_all, v_all), k, v),
        "dropped the newest positions instead of the oldest: keep the last `window` (the cache is oldest first)":
            (_attend(q, k_all[..., :window, :], v_all[..., :window, :]), k_all[..., :window, :],
             v_all[..., :window, :]),
        "did not scale the scores by 1/sqrt(head_dim)": (_attend(q, k, v, scale=1.0), k, v),
        "scaled the scores by 1/head_dim instead of 1/sqrt(head_dim)": (_attend(q, k, v, scale=1 / q.size(-1)), k, v),
    }
    if k_cache.size(-2) > 0:
        kc, vc = k_cache[..., -window:, :], v_cache[..., -window:, :]
        values["attended before appending the new key and value: a query must see its own position, so write it "
               "into the cache first"] = (_attend(q, kc, vc), k, v)
    return {text: tuple(x.to(dtype) for x in value) for text, value in values.items()}


def check_rolling(t: Trial, batch: int, heads: int, cached: int, head_dim: int, window: int,
                  dtype: torch.dtype = torch.float32) -> None:
    q = t.randn(batch, heads, 1, head_dim, scale=1.5, dtype=dtype)
    k_new, v_new = t.randn(batch, heads, 1, head_dim, dtype=dtype), t.randn(batch, heads, 1, head_dim, dtype=dtype)
    k_cache = t.randn(batch, heads, cached, head_dim, scale=1.5, dtype=dtype)
    v_cache = t.randn(batch, heads, cached, head_dim, dtype=dtype)
    t.check_call(q, k_new, v_new, k_cache, v_cache, window, reference=rolling_reference,
                 what="(out, new key cache, new value cache)", mistakes=rolling_mistakes, atol=1e-5, rtol=1e-4)


@rolling_kv_step.case("a full cache: the oldest position leaves, the new one enters, several heads")
def _(t: Trial) -> None:
    window = t.py.randint(3, 6)
    check_rolling(t, t.py.randint(2, 3), t.py.randint(2, 3), window, t.py.randint(4, 6), window)


@rolling_kv_step.case("a cache not yet full: nothing is dropped (batch of 1, one head)")
def _(t: Trial) -> None:
    window = t.py.randint(5, 8)
    check_rolling(t, 1, 1, t.py.randint(1, window - 2), t.py.randint(3, 5), window)


@rolling_kv_step.case("a cache that just fills up with this step, float64")
def _(t: Trial) -> None:
    window = t.py.randint(3, 5)
    check_rolling(t, t.py.randint(2, 3), t.py.randint(1, 3), window - 1, t.py.randint(2, 4), window,
                  dtype=torch.float64)


@rolling_kv_step.case("a window of one: only the newest position is attended")
def _(t: Trial) -> None:
    check_rolling(t, t.py.randint(1, 3), t.py.randint(2, 4), t.py.randint(1, 3), t.py.randint(3, 5), 1)


# --- 4. stream_with_stop ---------------------------------------------------------------------------------------

stream_with_stop = exercise(
    "ch08.stream_with_stop", name="stream_with_stop",
    description="Stream text pieces (the decoded text of successive tokens) until a stop string: after each piece, "
                "return the text that is safe to show now, holding back the longest end of the unshown text that "
                "could be the start of the stop string; when the stop string is complete, show the text before it "
                "and read no further; if the pieces run out first, show what was held back with the last piece. "
                "Return one string per piece read.",
    args=("pieces", "stop"), points=1, timeout=10, hints={
        "object is not iterable": "return a list of strings, one for each piece read.",
        "can only concatenate str": "pieces are strings: keep the unshown text as a string and add each piece to it.",
    },
)


def stream_reference(pieces: list[str], stop: str, *, hold: str = "prefix", find: str = "buffer",
                     flush: bool = True, include_stop: bool = False) -> list[str]:
    """The released chunks (the reference with ``hold="prefix"``, ``find="buffer"``; the rest name mistakes)."""
    out, pending = [], ""
    for piece in pieces:
        pending += piece
        where = pending.find(stop) if find == "buffer" else (piece.find(stop) if stop in piece else -1)
        if find == "piece" and where >= 0:
            where = len(pending) - len(piece) + where
        if where >= 0:
            out.append(pending[:where + (len(stop) if include_stop else 0)])
            return out
        if hold == "prefix":
            keep = next((n for n in range(min(len(stop) - 1, len(pending)), 0, -1)
                         if pending.endswith(stop[:n])), 0)
        elif hold == "always":
            keep = min(len(stop) - 1, len(pending))
        else:
            keep = 0
        out.append(pending[:len(pending) - keep])
        pending = pending[len(pending) - keep:]
    if flush and out:
        out[-1] += pending
    return out


def stream_unheld(pieces: list[str], stop: str) -> list[str]:
    """Searches all the text so far but shows everything at once: once the stop string is complete, the part of
    it already shown cannot be taken back (the mistake's chunks)."""
    out, text, shown = [], "", 0
    for piece in pieces:
        text += piece
        where = text.find(stop)
        if where >= 0:
            out.append(text[shown:where] if where > shown else "")
            return out
        out.append(text[shown:])
        shown = len(text)
    return out


def stream_mistakes(pieces: list[str], stop: str) -> dict[str, list[str]]:
    return {
        "looked for the stop string in each piece alone: it can be split over several tokens, so search the text "
        "not yet shown": stream_reference(pieces, stop, find="piece", hold="none"),
        "showed text that could be the start of the stop string: hold back the end of the text that matches a "
        "beginning of the stop string": stream_unheld(pieces, stop),
        "always held back len(stop) - 1 characters: hold back only an end that matches a beginning of the stop "
        "string, and show the rest at once": stream_reference(pieces, stop, hold="always"),
        "never showed the text held back when the pieces ran out: add it to the last chunk":
            stream_reference(pieces, stop, flush=False),
        "showed the stop string itself: the text ends before it": stream_reference(pieces, stop, include_stop=True),
    }


def check_stream(t: Trial, pieces: list[str], stop: str) -> None:
    got = t.call(list(pieces), stop).value
    if not isinstance(got, (list, tuple)) or not all(isinstance(g, str) for g in got):
        raise CheckFailure(f"`stream_with_stop` should return a list of strings, one per piece read, but it returned "
                           f"{kind_of(got)}.", "type")
    t.expect(list(got), stream_reference(pieces, stop), "the chunks shown after each piece",
             mistakes=stream_mistakes(pieces, stop))


def random_text(t: Trial, n: int, alphabet: str = "abcde ") -> str:
    return "".join(t.py.choice(alphabet) for _ in range(n))


def split_text(t: Trial, text: str, longest: int = 3) -> list[str]:
    """``text`` cut into pieces of 1..longest characters, as a tokenizer's tokens."""
    pieces, i = [], 0
    while i < len(text):
        n = t.py.randint(1, longest)
        pieces.append(text[i:i + n])
        i += n
    return pieces


def stop_stream(t: Trial, stop: str, before: int, after: int, decoys: int = 2) -> list[str]:
    """Pieces of text that holds false starts of ``stop`` (its beginnings), then ``stop`` itself, then more."""
    parts = [random_text(t, before)]
    for _ in range(decoys):
        parts += [stop[:t.py.randint(1, len(stop) - 1)], "x" + random_text(t, 3)]
    text = "".join(parts) + stop + random_text(t, after)
    return split_text(t, text)


@stream_with_stop.case("a stop string split over several pieces, after false starts of it")
def _(t: Trial) -> None:
    stop = t.py.choice(["\nEND", "###", "\n\n", "STOP"])
    check_stream(t, stop_stream(t, stop, t.py.randint(3, 8), t.py.randint(3, 6)), stop)


@stream_with_stop.case("pieces that run out before the stop string, ending with a start of it")
def _(t: Trial) -> None:
    stop = t.py.choice(["<eos>", "User:", "\n---"])
    text = random_text(t, t.py.randint(6, 12)) + stop[:1] + "y" + random_text(t, 3) + stop[:t.py.randint(1, 3)]
    check_stream(t, split_text(t, text), stop)


@stream_with_stop.case("a stop string inside one long piece, and a one-character stop")
def _(t: Trial) -> None:
    stop = t.py.choice(["ZZ", "QED"])
    check_stream(t, [random_text(t, 4), random_text(t, 2) + stop + random_text(t, 3), "more"], stop)
    check_stream(t, split_text(t, random_text(t, 10) + "!" + random_text(t, 5)), "!")
