"""Chapter 8's graded exercises: OpenAI's frequency and presence penalties (a warm-up), locally typical
sampling, a rolling KV cache (Mistral's ring buffer) for sliding-window attention, and stop strings in a token
stream.

The chapter builds greedy, temperature, top-k, top-p and min-p sampling, a repetition penalty (Hugging Face's
sign-aware form of CTRL's), beam search, stop conditions and a KV cache that grows to block_size; each exercise
asks for a sibling or an extension of those that it explains but does not write. Every case draws its inputs from
the run's trial, so they change from run to run. The references: the penalty's and the typical set's formulas in
float64; for the rolling cache, attention over the last ``window`` positions of the whole history in time order
(the grader keeps every key and value), and for its buffers the slot each position belongs in; for the stop string
a search of the whole text so far, character by character. Known mistakes are computed on the same inputs (for
the rolling cache, by running each mistaken step over the same sequence of calls), so a message can name the one
an answer makes.

Hugging Face's transformers is installed beside the course and has ready-made pieces for these steps (its
``TypicalLogitsWarper`` did the typical-sampling exercise in one call), so every exercise here rules the library
out whole (:class:`~llmcourse.grading.core.Forbidden` with ``module=``). The rolling cache's point is that a step
writes one slot and copies nothing: its calls share two buffers (``wire.SharedSpec``) that must be written in
place, and ``torch.cat`` / ``torch.roll`` are refused.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ..grading import wire
from ..grading.core import CheckFailure, Forbidden, Step, Trial, exercise
from ..grading.expect import kind_of
from .ch04 import check_ids


def no_transformers(what: str) -> Forbidden:
    """The rule every exercise of this chapter carries: Hugging Face's transformers is installed beside the course
    (chapter 7 checks the GPT against it), and its generation code holds ready-made pieces for these steps."""
    return Forbidden(module="transformers", why=f"Hugging Face's {what}: write this step yourself, with torch "
                                                "and plain Python.")


# --- 1. penalize_frequency_presence (warm-up) ------------------------------------------------------------------

penalize_frequency_presence = exercise(
    "ch08.penalize_frequency_presence", name="penalize_frequency_presence",
    description="OpenAI's penalties on logits (B, V) given the ids generated so far (B, T): subtract "
                "frequency_penalty times the number of times each id occurs in its row, and presence_penalty once "
                "for every id that occurs at all; return new logits (B, V) of the logits' dtype (float64 in, "
                "float64 out, at float64 precision).",
    args=("logits", "ids", "frequency_penalty", "presence_penalty"), points=1, timeout=10,
    forbidden=[no_transformers("logits processors (its repetition penalty and sequence bias among them) are the "
                               "library's versions of this step")], hints={
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


def check_penalty(t: Trial, batch: int, length: int, vocab: int, frequency: float, presence: float,
                  dtype: torch.dtype = torch.float32) -> None:
    """float64 logits are checked at float64 precision (1e-12), so penalties counted or multiplied in a tensor made
    by a default-dtype constructor (torch.zeros, torch.full: float32) show, though the result is float64."""
    logits = t.randn(batch, vocab, scale=2.0, dtype=dtype)  # (B, V)
    ids = t.randint(0, max(2, vocab // 3), (batch, length))  # (B, T): few distinct ids, so many repeats
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    t.check_call(logits, ids, frequency, presence, reference=penalty_reference,
                 what=f"the penalised {'float64 ' if dtype == torch.float64 else ''}logits", mistakes=penalty_mistakes,
                 atol=tolerance, rtol=tolerance)


@penalize_frequency_presence.case("a batch of rows with many repeated ids, both penalties positive")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(3, 5), t.py.randint(8, 14), t.py.randint(9, 13), t.py.uniform(0.3, 0.9),
                  t.py.uniform(0.8, 1.5))


@penalize_frequency_presence.case("a batch of one row, a longer history, a larger vocabulary; float64 logits stay "
                                  "float64, at float64 precision")
def _(t: Trial) -> None:
    check_penalty(t, 1, t.py.randint(20, 30), t.py.randint(30, 40), t.py.uniform(0.1, 0.4), t.py.uniform(0.2, 0.6),
                  dtype=torch.float64)


@penalize_frequency_presence.case("negative penalties (which encourage repeats), a short history")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(2, 4), t.py.randint(2, 4), t.py.randint(6, 8), -t.py.uniform(0.2, 0.6),
                  -t.py.uniform(0.7, 1.2))


# --- 2. sample_typical -----------------------------------------------------------------------------------------

sample_typical = exercise(
    "ch08.sample_typical", name="sample_typical",
    description="Locally typical sampling: per row of logits (B, V) (float32 or float64), rank the ids by how far "
                "their surprisal -log p is from the row's entropy H (closest first), keep ids in that order until "
                "their probabilities add up to typical_mass (the id that crosses it is kept), renormalise and draw one "
                "id with the given generator; return a (B,) tensor of int64 ids.",
    args=("logits", "typical_mass", "generator"), points=2, timeout=15, random=True,
    forbidden=[no_transformers("TypicalLogitsWarper (like its top-k, top-p, min-p and repetition-penalty "
                               "processors) does the whole task in one call")], hints={
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


def peaked_rows(t: Trial, n_rows: int, vocab: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rows with one likely id and a spread tail: the most likely id is often not the most typical one."""
    rows = t.randn(n_rows, vocab, dtype=dtype)
    rows[torch.arange(n_rows), torch.randint(vocab, (n_rows,), generator=t.rng)] += 1.5
    return rows


@sample_typical.case("ids follow the renormalised typical set row by row, a mass of about 0.6")
def _(t: Trial) -> None:
    check_typical(t, peaked_rows(t, 4, 8), t.py.uniform(0.52, 0.58))


@sample_typical.case("ids follow the typical set row by row for a wider mass and a larger vocabulary, from float64 "
                     "logits")
def _(t: Trial) -> None:
    check_typical(t, peaked_rows(t, 3, t.py.randint(9, 10), dtype=torch.float64), t.py.uniform(0.62, 0.68))


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

_NO_COPY = ("a rolling buffer exists so that a step writes one slot and copies nothing: the buffers you are given are "
            "the cache, and they keep their shape and their slots from step to step. Attention does not need the "
            "slots in time order: ask yourself what a softmax-weighted sum over the slots would do if two slots (with "
            "their values) swapped places.")
ROLLING_FORBIDDEN = (
    *(Forbidden(f"torch.{name}", why=f"{name} builds a new tensor from the whole cache every token; " + _NO_COPY)
      for name in ("cat", "concat", "concatenate")),
    *(Forbidden(path, why="rolling the buffer back into time order copies all W positions every token; " + _NO_COPY)
      for path in ("torch.roll", "torch.Tensor.roll")),
    no_transformers("caches (its sliding-window cache among them) keep the buffer for you"),
)

rolling_kv_step = exercise(
    "ch08.rolling_kv_step", name="rolling_kv_step",
    description="One decoding step of sliding-window attention with Mistral's rolling buffer: k_buf and v_buf "
                "(B, nh, W, hd) hold the keys and values of the last W positions, position p in slot p % W (keys "
                "already carry their positions). Write k_new and v_new (B, nh, 1, hd) of position pos into slot "
                "pos % W of the buffers, in place; attend the query q (B, nh, 1, hd) over the slots that hold "
                "positions max(0, pos - W + 1) .. pos, masking the slots no position has reached yet, with scores "
                "scaled by 1/sqrt(hd); return out (B, nh, 1, hd). No concatenation and no copy of the buffers.",
    args=("q", "k_new", "v_new", "k_buf", "v_buf", "pos"), mutates=("k_buf", "v_buf"), points=2, timeout=15,
    forbidden=ROLLING_FORBIDDEN, hints={
        "out of bounds for dimension": "the buffer has W slots, 0 .. W - 1: once the window is full, a new position "
                                       "goes where the position W steps older was.",
        "expanded size of the tensor (0)": "the buffer has W slots, 0 .. W - 1: once the window is full, a new "
                                           "position goes where the position W steps older was.",
        "cannot be multiplied": "the scores are q @ k^T with k transposed in its last two dimensions: "
                                "(B, nh, 1, hd) @ (B, nh, hd, W).",
        "attn_mask": "the mask says, for each of the W slots, whether it holds a position of the window yet: one "
                     "row of W booleans, broadcast over the batch and the heads.",
    },
)
NOT_WRITTEN = ("`rolling_kv_step` left `{name}` as it was: the buffer is the cache, the only place the keys and values "
               "survive from one step to the next, so write the new position into it, in place, at its slot.")


def ring_layout(initial: torch.Tensor, history: torch.Tensor, pos: int) -> torch.Tensor:
    """The buffer after the step at ``pos``: slot s holds the latest position p <= pos with p % W == s, or, where no
    position has reached it yet, what ``initial`` held there. ``history`` (B, nh, P, hd) has every position."""
    window = initial.size(-2)
    buffer = initial.clone()
    for p in range(max(0, pos - window + 1), pos + 1):
        buffer[..., p % window, :] = history[..., p, :]
    return buffer


def window_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, pos: int, window: int,
                     scale: float | None = None) -> torch.Tensor:
    """The reference: the query of position ``pos`` over positions max(0, pos - W + 1) .. pos of the full history
    (B, nh, P, hd), in time order (float64, then the query's dtype)."""
    lo = max(0, pos - window + 1)
    k, v = keys[..., lo:pos + 1, :].double(), values[..., lo:pos + 1, :].double()
    return F.scaled_dot_product_attention(q.double(), k, v, scale=scale).to(q.dtype)


def _slots_attend(q: torch.Tensor, k_buf: torch.Tensor, v_buf: torch.Tensor, valid: torch.Tensor,
                  scale: float | None = None) -> torch.Tensor:
    """The query over the buffer's slots in slot order, the slots where ``valid`` (W,) is False masked."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q.double() @ k_buf.double().transpose(-2, -1) * scale).masked_fill(~valid, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v_buf.double()).to(q.dtype)


def ring_mistakes(q_steps: list[torch.Tensor], keys: torch.Tensor, values: torch.Tensor, k_init: torch.Tensor,
                  v_init: torch.Tensor, start: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Each named mistake's (out, k_buf, v_buf) after every step, by running it over the same steps."""
    window, hd = k_init.size(-2), q_steps[0].size(-1)
    slots = torch.arange(window)
    runs: dict[str, list[tuple[torch.Tensor, ...]]] = {}

    def run(description: str, step: Any, shift: bool = False) -> None:
        k_buf, v_buf, outs = k_init.clone(), v_init.clone(), []
        for i, q in enumerate(q_steps):
            pos = start + i
            k_new, v_new = keys[..., pos:pos + 1, :], values[..., pos:pos + 1, :]
            if shift:  # every slot moves one to the left, the newest goes last: W - 1 copies per token
                k_buf = torch.cat((k_buf[..., 1:, :], k_new), dim=-2)
                v_buf = torch.cat((v_buf[..., 1:, :], v_new), dim=-2)
                out = window_attention(q, keys, values, pos, window)
            else:
                out, k_buf, v_buf = step(q, k_new, v_new, k_buf, v_buf, pos)
            outs.append((out, k_buf.clone(), v_buf.clone()))
        runs[description] = outs

    def write(k_buf: torch.Tensor, v_buf: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor,
              pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        k_buf, v_buf = k_buf.clone(), v_buf.clone()
        k_buf[..., pos % window, :], v_buf[..., pos % window, :] = k_new[..., 0, :], v_new[..., 0, :]
        return k_buf, v_buf

    def unmasked(q, k_new, v_new, k_buf, v_buf, pos):
        k_buf, v_buf = write(k_buf, v_buf, k_new, v_new, pos)
        return _slots_attend(q, k_buf, v_buf, slots >= 0), k_buf, v_buf

    def attend_then_write(q, k_new, v_new, k_buf, v_buf, pos):
        out = _slots_attend(q, k_buf, v_buf, slots <= pos)  # slot pos % W still holds position pos - W
        return (out, *write(k_buf, v_buf, k_new, v_new, pos))

    def masks_itself(q, k_new, v_new, k_buf, v_buf, pos):
        k_buf, v_buf = write(k_buf, v_buf, k_new, v_new, pos)
        return _slots_attend(q, k_buf, v_buf, (slots < pos) | (pos >= window)), k_buf, v_buf

    def scaled(scale):
        def step(q, k_new, v_new, k_buf, v_buf, pos):
            k_buf, v_buf = write(k_buf, v_buf, k_new, v_new, pos)
            return _slots_attend(q, k_buf, v_buf, slots <= pos, scale), k_buf, v_buf
        return step

    run("attended over every slot while the buffer was filling: a slot no position has reached yet holds stale "
        "values, and must be masked (a score of -inf) until the window is full", unmasked)
    run("attended before writing the new key and value: the query saw positions pos - W .. pos - 1, a window one step "
        "too old that leaves out the query's own position", attend_then_write)
    run("masked the newest slot while the buffer was filling (slots < pos instead of <= pos): a query attends to its "
        "own position too", masks_itself)
    run("did not scale the scores by 1/sqrt(head_dim)", scaled(1.0))
    run("scaled the scores by 1/head_dim instead of 1/sqrt(head_dim)", scaled(1 / hd))
    run("moved every slot one place to make room for the newest at the end: that copies W - 1 positions every token. "
        "A rolling buffer writes one slot, pos % W, and leaves the others where they are", None, shift=True)
    return runs


def check_ring(t: Trial, batch: int, heads: int, window: int, head_dim: int, n_steps: int, start: int = 0,
               dtype: torch.dtype = torch.float32) -> None:
    """``n_steps`` consecutive steps from position ``start`` in one run, the buffers shared by all of them.

    The buffers start as stale values from an earlier sequence (where no position of this one has reached yet) and,
    when ``start`` > 0, with positions start - W .. start - 1 already in their slots. Each step's output must equal
    attention over the last W positions of the full history, in time order; each step's buffers, the ring layout.
    """
    total = start + n_steps
    keys = t.randn(batch, heads, total, head_dim, scale=1.5, dtype=dtype)  # (B, nh, P, hd): every position
    values = t.randn(batch, heads, total, head_dim, dtype=dtype)
    queries = [t.randn(batch, heads, 1, head_dim, scale=1.5, dtype=dtype) for _ in range(n_steps)]
    stale_k = t.randn(batch, heads, window, head_dim, scale=3.0, dtype=dtype)  # (B, nh, W, hd)
    stale_v = t.randn(batch, heads, window, head_dim, scale=3.0, dtype=dtype)
    k_init = ring_layout(stale_k, keys, start - 1) if start else stale_k
    v_init = ring_layout(stale_v, values, start - 1) if start else stale_v
    steps = [Step((queries[i], keys[..., p:p + 1, :], values[..., p:p + 1, :], wire.SharedSpec(k_init, "k_buf"),
                   wire.SharedSpec(v_init, "v_buf"), p)) for i, p in enumerate(range(start, total))]
    outcomes = t.run(steps, grad=False)
    mistakes = ring_mistakes(queries, keys, values, k_init, v_init, start)
    before = (k_init, v_init)
    for i, (outcome, pos) in enumerate(zip(outcomes, range(start, total), strict=True)):
        expected_buffers = (ring_layout(k_init, keys, pos), ring_layout(v_init, values, pos))
        for which, name in ((0, "k_buf"), (1, "v_buf")):
            got = wire.strip_meta(outcome.args_after[3 + which])
            if isinstance(got, torch.Tensor) and got.shape == before[which].shape and torch.equal(got, before[which]):
                raise CheckFailure(NOT_WRITTEN.format(name=name), "wrong")
            t.expect(got, expected_buffers[which], f"`{name}` after the step at pos={pos} (window W={window})",
                     mistakes={text: run[i][1 + which] for text, run in mistakes.items()}, atol=0, rtol=0)
        t.expect(outcome.value, window_attention(queries[i], keys, values, pos, window),
                 f"the output at pos={pos} (window W={window})",
                 mistakes={text: run[i][0] for text, run in mistakes.items()}, atol=1e-5, rtol=1e-4)
        before = expected_buffers


@rolling_kv_step.case("3W consecutive steps from an empty buffer: it fills, then wraps round twice (several heads)")
def _(t: Trial) -> None:
    window = t.py.randint(4, 6)
    check_ring(t, t.py.randint(2, 3), t.py.randint(2, 3), window, t.py.randint(4, 6), 3 * window)


@rolling_kv_step.case("a batch of one, one head, a window of one: each step attends only to itself")
def _(t: Trial) -> None:
    check_ring(t, 1, 1, 1, t.py.randint(3, 5), t.py.randint(4, 6))


@rolling_kv_step.case("a buffer that never fills in these steps (only its first slots hold positions), float64")
def _(t: Trial) -> None:
    window = t.py.randint(7, 9)
    check_ring(t, t.py.randint(1, 2), t.py.randint(2, 3), window, t.py.randint(2, 4), window - 2, dtype=torch.float64)


@rolling_kv_step.case("joining a long text at a position far past the window (the slots already hold its last W)")
def _(t: Trial) -> None:
    window = t.py.randint(3, 5)
    start = window * t.py.randint(8, 12) + t.py.randint(1, window - 1)  # not a multiple of W: the slot comes from pos
    check_ring(t, t.py.randint(1, 3), t.py.randint(1, 2), window, t.py.randint(3, 5), 2 * window + 1, start=start)


# --- 4. stream_with_stop ---------------------------------------------------------------------------------------

stream_with_stop = exercise(
    "ch08.stream_with_stop", name="stream_with_stop",
    description="Stream text pieces (the decoded text of successive tokens) until a stop string: after each piece, "
                "return the text that is safe to show now, holding back the longest end of the unshown text that "
                "could be the start of the stop string; when the stop string is complete, show the text before it "
                "and read no further; if the pieces run out first, show what was held back with the last piece. "
                "Return one string per piece read.",
    args=("pieces", "stop"), points=1, timeout=10,
    forbidden=[no_transformers("stop-string criteria and text streamers are the library's versions of this step")],
    hints={
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
