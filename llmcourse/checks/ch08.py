"""Chapter 8's graded exercises: OpenAI's frequency and presence penalties (a warm-up), locally typical
sampling, a rolling KV cache (Mistral's ring buffer) for sliding-window attention, and stop strings in a token
stream.

The chapter builds greedy, temperature, top-k, top-p and min-p sampling, a repetition penalty (Hugging Face's
sign-aware form of CTRL's), beam search, stop conditions and a KV cache that grows to block_size; each exercise
asks for a sibling or an extension of those that it explains but does not write. Every case draws its inputs from
the run's trial, so they change from run to run. The expected answers come from the teacher's references
(``solutions/references/ch08.py``: the penalty's and the typical set's formulas in float64; for the rolling cache,
attention over the last ``window`` positions of the whole history in time order, and for its buffers the slot each
position belongs in; for the stop string a search of the whole text so far), live on the teacher's side and
replayed from the recording in a learner's check; known mistakes are computed on the same inputs, so a message can
name the one an answer makes. What stays here judges the learner's own answers: sample_typical's cases count how
often the learner's function draws each id and compare those frequencies with the recorded typical set.

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
                "float64 out, at float64 precision; float16 or bfloat16 logits stay float16 or bfloat16). An empty "
                "history (T = 0, the first step) penalises nothing.",
    args=("logits", "ids", "frequency_penalty", "presence_penalty"), points=1, timeout=10,
    exempt={"large magnitudes": "the penalties are subtracted from the logits: no exp, no softmax and no sum of "
                                "squares, so logits in the hundreds break nothing that small ones do (the cases' "
                                "logits of about ±6 already tell every named mistake apart)"},
    forbidden=[no_transformers("logits processors (its repetition penalty and sequence bias among them) are the "
                               "library's versions of this step")], hints={
        "index": "the counts are per row: one (V,) histogram for each row of ids, so a (B, V) tensor of counts.",
        "must match the size": "the counts need the logits' shape (B, V): count over the vocabulary, not over T.",
        "expected scalar type": "counts are integers: convert them to the logits' dtype before multiplying.",
    },
)


def check_penalty(t: Trial, batch: int, length: int, vocab: int, frequency: float, presence: float,
                  dtype: torch.dtype = torch.float32) -> None:
    """float64 logits are checked at float64 precision (1e-12), so penalties counted or multiplied in a tensor made
    by a default-dtype constructor (torch.zeros, torch.full: float32) show, though the result is float64."""
    logits = t.randn(batch, vocab, scale=2.0, dtype=dtype)  # (B, V)
    ids = t.randint(0, max(2, vocab // 3), (batch, length))  # (B, T): few distinct ids, so many repeats
    tolerance = {torch.float64: 1e-12, torch.float16: 2e-3, torch.bfloat16: 1e-2}.get(dtype, 1e-5)
    named = "" if dtype == torch.float32 else f"{str(dtype).replace('torch.', '')} "
    t.check_call(logits, ids, frequency, presence, reference="ch08.penalize_frequency_presence",
                 what=f"the penalised {named}logits",
                 mistakes="ch08.penalize_frequency_presence/mistakes", atol=tolerance, rtol=tolerance)


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


@penalize_frequency_presence.case("bfloat16 and float16 logits (a model run in half precision) stay in their dtype")
def _(t: Trial) -> None:
    for dtype in (torch.bfloat16, torch.float16):
        check_penalty(t, t.py.randint(2, 3), t.py.randint(8, 14), t.py.randint(9, 13), t.py.uniform(0.3, 0.9),
                      t.py.uniform(0.5, 1.2), dtype=dtype)


@penalize_frequency_presence.case("the first step: an empty history (B, 0) penalises nothing; then an empty batch")
def _(t: Trial) -> None:
    check_penalty(t, t.py.randint(2, 3), 0, t.py.randint(6, 9), t.py.uniform(0.3, 0.9), t.py.uniform(0.5, 1.2))
    check_penalty(t, 0, t.py.randint(3, 6), t.py.randint(6, 9), t.py.uniform(0.3, 0.9), t.py.uniform(0.5, 1.2))


# --- 2. sample_typical -----------------------------------------------------------------------------------------

sample_typical = exercise(
    "ch08.sample_typical", name="sample_typical",
    description="Locally typical sampling: per row of logits (B, V) (float32 or float64, or float16 / bfloat16 from a "
                "model run in half precision; an empty batch gives an empty (0,) tensor), rank the ids by how far "
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
    t.expect(freq, t.reference("ch08.sample_typical", rows, mass),
             f"how often each id is drawn for each of {n_rows} different rows ({DRAWS_PER_ROW} draws each)",
             mistakes=t.reference("ch08.sample_typical/mistakes", rows, mass), atol=_TOL, rtol=0)


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


def far_below(t: Trial, rows: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``rows`` with two ids of each row pushed ``low`` .. ``high`` below the row's largest logit: a gap within the
    row, where softmax(rows) underflows to 0 in the rows' dtype and log(0) = -inf makes 0 * log p nan (a constant
    shift of a whole row would change no probability)."""
    rows = rows.clone()
    for r in range(rows.size(0)):
        ids = torch.randperm(rows.size(1), generator=t.rng)[:2]
        rows[r, ids] = torch.tensor([rows[r].max().item() - t.py.uniform(low, high) for _ in ids], dtype=rows.dtype)
    return rows


@sample_typical.case("ids far below the top of their row (gaps of 120 to 300, float32): their probability is 0 in "
                     "float32, their log probability is not")
def _(t: Trial) -> None:
    check_typical(t, far_below(t, peaked_rows(t, 2, t.py.randint(6, 8)), 120.0, 300.0), t.py.uniform(0.55, 0.65))


@sample_typical.case("float16 logits (a model run in half precision) with ids 25 to 60 below the top of their row")
def _(t: Trial) -> None:
    check_typical(t, far_below(t, peaked_rows(t, 2, t.py.randint(6, 8), dtype=torch.float16), 25.0, 60.0),
                  t.py.uniform(0.55, 0.65))


@sample_typical.case("bfloat16 logits, and an empty batch (0, V): an empty (0,) tensor of int64 ids")
def _(t: Trial) -> None:
    check_typical(t, peaked_rows(t, 1, t.py.randint(5, 7), dtype=torch.bfloat16), t.py.uniform(0.45, 0.55))
    vocab = t.py.randint(5, 9)
    got = t.call(t.randn(0, vocab), t.py.uniform(0.5, 0.7), wire.GeneratorSpec(t.seed_for("empty"))).value
    check_ids(got, 0, vocab, what="the ids sampled for an empty batch")


@sample_typical.case("a batch of one row: (1,) int64 ids, from the typical set, over many calls")
def _(t: Trial) -> None:
    vocab, n_calls = t.py.randint(4, 6), 300
    logits = peaked_rows(t, 1, vocab)  # (1, V)
    mass = t.py.uniform(0.3, 0.5)
    gen = wire.GeneratorSpec(t.seed_for("one-row"))
    outcomes = t.run([Step((logits, mass, gen)) for _ in range(n_calls)], grad=False)
    ids = torch.cat([check_ids(o.value, 1, vocab) for o in outcomes])
    freq = torch.bincount(ids, minlength=vocab).double() / n_calls
    allowed = t.reference("ch08.sample_typical", logits, mass)[0] > 0
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
                "scaled by 1/sqrt(hd); return out (B, nh, 1, hd) of q's dtype. No concatenation and no copy of the "
                "buffers.",
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


def joined(stale: torch.Tensor, history: torch.Tensor, start: int) -> torch.Tensor:
    """The buffer (B, nh, W, hd) a run that stopped before position ``start`` left behind (an input): ``stale``
    (values from an earlier sequence) with positions max(0, start - W) .. start - 1 of ``history`` in their slots."""
    window = stale.size(-2)
    positions = torch.arange(max(0, start - window), start)
    buffer = stale.clone()
    buffer[..., positions % window, :] = history[..., positions, :]
    return buffer


def check_ring(t: Trial, batch: int, heads: int, window: int, head_dim: int, n_steps: int, start: int = 0,
               dtype: torch.dtype = torch.float32, q_scale: float = 1.5, atol: float = 1e-5,
               rtol: float = 1e-4) -> None:
    """``n_steps`` consecutive steps from position ``start`` in one run, the buffers shared by all of them.

    The buffers start as stale values from an earlier sequence (where no position of this one has reached yet) and,
    when ``start`` > 0, with positions start - W .. start - 1 already in their slots. Each step's output must equal
    attention over the last W positions of the full history, in time order; each step's buffers, the ring layout.
    """
    total = start + n_steps
    keys = t.randn(batch, heads, total, head_dim, scale=1.5, dtype=dtype)  # (B, nh, P, hd): every position
    values = t.randn(batch, heads, total, head_dim, dtype=dtype)
    queries = [t.randn(batch, heads, 1, head_dim, scale=q_scale, dtype=dtype) for _ in range(n_steps)]
    stale_k = t.randn(batch, heads, window, head_dim, scale=3.0, dtype=dtype)  # (B, nh, W, hd)
    stale_v = t.randn(batch, heads, window, head_dim, scale=3.0, dtype=dtype)
    k_init, v_init = joined(stale_k, keys, start), joined(stale_v, values, start)
    steps = [Step((queries[i], keys[..., p:p + 1, :], values[..., p:p + 1, :], wire.SharedSpec(k_init, "k_buf"),
                   wire.SharedSpec(v_init, "v_buf"), p)) for i, p in enumerate(range(start, total))]
    outcomes = t.run(steps, grad=False)
    expected = t.reference("ch08.rolling_kv_step", queries, keys, values, k_init, v_init, start)
    mistakes = t.reference("ch08.rolling_kv_step/mistakes", queries, keys, values, k_init, v_init, start)
    before = (k_init, v_init)
    for i, (outcome, pos) in enumerate(zip(outcomes, range(start, total), strict=True)):
        expected_buffers = (expected["k_buf"][i], expected["v_buf"][i])
        for which, name in ((0, "k_buf"), (1, "v_buf")):
            got = wire.strip_meta(outcome.args_after[3 + which])
            if (isinstance(got, torch.Tensor) and got.shape == before[which].shape and got.numel() > 0
                    and torch.equal(got, before[which])):
                raise CheckFailure(NOT_WRITTEN.format(name=name), "wrong")
            t.expect(got, expected_buffers[which], f"`{name}` after the step at pos={pos} (window W={window})",
                     mistakes={text: run.get(name, expected[name])[i] for text, run in mistakes.items()},
                     atol=0, rtol=0)
        t.expect(outcome.value, expected["out"][i],
                 f"the output at pos={pos} (window W={window})",
                 mistakes={text: run["out"][i] for text, run in mistakes.items()}, atol=atol, rtol=rtol)
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


@rolling_kv_step.case("scores in the hundreds (queries of magnitude ~60): exp of a score overflows float32, so the "
                      "softmax must subtract the row's largest score first")
def _(t: Trial) -> None:
    window = t.py.randint(4, 5)
    # float32 scores of several hundred carry rounding of ~1e-4, which the weights pass on to the output
    check_ring(t, t.py.randint(1, 2), 2, window, t.py.randint(4, 6), 2 * window, q_scale=60.0, atol=2e-3, rtol=2e-3)


@rolling_kv_step.case("float16 queries, keys, values and buffers (a model run in half precision): the output stays "
                      "float16")
def _(t: Trial) -> None:
    window = t.py.randint(3, 5)
    check_ring(t, t.py.randint(1, 2), 2, window, t.py.randint(4, 6), 2 * window + 1, dtype=torch.float16,
               atol=4e-3, rtol=4e-3)


@rolling_kv_step.case("an empty batch (every sequence finished): (0, nh, 1, hd) out, buffers of (0, nh, W, hd)")
def _(t: Trial) -> None:
    window = t.py.randint(3, 4)
    check_ring(t, 0, 2, window, t.py.randint(3, 5), window + 1)


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


def check_stream(t: Trial, pieces: list[str], stop: str) -> None:
    got = t.call(list(pieces), stop).value
    if not isinstance(got, (list, tuple)) or not all(isinstance(g, str) for g in got):
        raise CheckFailure(f"`stream_with_stop` should return a list of strings, one per piece read, but it returned "
                           f"{kind_of(got)}.", "type")
    t.expect(list(got), t.reference("ch08.stream_with_stop", pieces, stop), "the chunks shown after each piece",
             mistakes=t.reference("ch08.stream_with_stop/mistakes", pieces, stop))


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


@stream_with_stop.case("stop strings that begin by repeating themselves: 'abab' after 'aba', '\\n\\nUser:' after a "
                       "third newline, 'aab' after 'aaa'")
def _(t: Trial) -> None:
    filler = random_text(t, t.py.randint(3, 6), "cdexy ")
    check_stream(t, split_text(t, filler) + ["aba", "bab"] + split_text(t, random_text(t, 4)), "abab")
    check_stream(t, split_text(t, filler) + ["\n", "\n", "\n"] + split_text(t, "User:" + random_text(t, 4), 2),
                 "\n\nUser:")
    letter, last = t.py.choice("pq"), t.py.choice("rs")
    check_stream(t, split_text(t, filler + letter * 3 + last + random_text(t, 3), 2), letter * 2 + last)


@stream_with_stop.case("a beginning of the stop string held over three pieces (and an empty one) that turns out not "
                       "to match; an empty stream")
def _(t: Trial) -> None:
    stop = t.py.choice(["STOP", "<eos>", "\nEND"])
    false_start = [stop[0], "", stop[1], stop[2], "x" + random_text(t, 2)]
    check_stream(t, ["", *split_text(t, random_text(t, t.py.randint(3, 6)))] + false_start
                 + split_text(t, random_text(t, 3) + stop[:2]), stop)
    check_stream(t, split_text(t, random_text(t, 4)) + false_start + [stop[0], stop[1:], random_text(t, 3)], stop)
    check_stream(t, [], stop)
