"""Chapter 9's graded exercises: whole-word masking for BERT's masked LM, masked mean pooling (a warm-up), a batch of
sentence pairs encoded for an encoder, a LoRA update merged into (and taken out of) its weight, and the distillation
loss's gradient by hand.

The chapter builds BERT-style masking of single tokens, [CLS] text [SEP] batches with a padding mask, a classifier
that pools the first ([CLS]) or last position, LoRA as a layer beside a frozen one, and Hinton et al.'s distillation
loss (through autograd); each exercise asks for a sibling or an extension of those that it explains but does not
write. Every case draws its inputs from the run's trial, so they change from run to run. The expected answers come
from the teacher's references (``solutions/references/ch09.py``), live on the teacher's side and replayed from the
recording in a learner's check; known mistakes are computed on the same inputs, so a message can name the one an
answer makes.

whole_word_mask is graded exactly, not by statistics: its task states the order of its three draws from the
generator, so exactly one output is right for each seed, and every mistake (a word split, a label left out, a range
of the 80/10/10 taken in another order) shows on every case instead of only in frequencies over thousands of draws.
Before that comparison its cases check the rules an answer must keep whatever it draws (labels only on whole words of
ordinary tokens, inputs unchanged elsewhere), with the word spans the case itself built, so a learner who draws in
another order is told what is wrong in words.

Ruled out (:class:`~llmcourse.grading.core.Forbidden`): Hugging Face's ``transformers`` (its whole-word-mask
collator and its tokenizers' pair encoding do two of these tasks in one call) and ``tokenizers``; ``peft`` (its
``merge_and_unload``) and ``torch.addmm`` (the merge in one call); the course's own chapter-9 modules, whose encoders
and classifiers hold neighbours of these steps. The gradient is by hand (``no_autograd=True``). Masked mean pooling
is no one library call; it declares none.
"""

from __future__ import annotations

from typing import Any

import torch

from ..grading import wire
from ..grading.core import CheckFailure, Forbidden, Trial, exercise
from ..grading.expect import kind_of

NO_TRANSFORMERS = Forbidden(module="transformers", why="Hugging Face's transformers holds ready-made versions of this "
                                                       "step (data collators, tokenizers): write it yourself, with "
                                                       "torch and plain Python.")
NO_TOKENIZERS = Forbidden(module="tokenizers", why="Hugging Face's tokenizers library encodes pairs, truncates and "
                                                   "pads in one call: write the step yourself.")
NO_ENCODERS = Forbidden(module="llmcourse.encoders", why="the chapter's encoder package holds the chapter's own "
                                                         "masking and encoding; this exercise asks for its sibling, "
                                                         "written by you.")
NO_FINETUNE = Forbidden(module="llmcourse.finetune", why="the chapter's fine-tuning package holds the chapter's own "
                                                         "LoRA layer and classifier heads; this exercise asks for a "
                                                         "step written by you.")
INT_TOL = {"atol": 0, "rtol": 0}


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    return {torch.float64: {"atol": 1e-12, "rtol": 1e-10}, torch.float16: {"atol": 2e-3, "rtol": 2e-3},
            torch.bfloat16: {"atol": 1e-2, "rtol": 1e-2}}.get(dtype, {"atol": 1e-5, "rtol": 1e-4})


def tensors_of(got: Any, count: int, name: str, what: str) -> list[Any]:
    """The items of a tuple or list of ``count`` results, or a failure saying what came back instead."""
    if not isinstance(got, (tuple, list)) or len(got) != count:
        raise CheckFailure(f"`{name}` should return {what}, but it returned {kind_of(got)}.", "type")
    return list(got)


# --- 1. whole_word_mask ---------------------------------------------------------------------------------------

whole_word_mask = exercise(
    "ch09.whole_word_mask", name="whole_word_mask",
    description="BERT's masking on whole words: ids (B, T) int64, word_starts (B, T) bool (True at the first "
                "sub-token of each word; a word is its start and the positions after it up to the next start or "
                "special id); choose each word with probability mask_prob, then give all its sub-tokens one fate: "
                "[MASK] (mask_id), a random id, or unchanged. Draw from the generator, in this order: "
                "torch.rand(n_words) (a word is chosen when its number < mask_prob), torch.rand(n_words) (fate: "
                "< 0.8 [MASK], < 0.9 random, else unchanged), torch.randint(vocab_size, (B, T)) (the random ids), "
                "words counted row by row, left to right. Return (inputs, labels), both (B, T) int64: labels are the "
                "original ids at every position of a chosen word, -100 elsewhere; special ids are never chosen.",
    args=("ids", "word_starts", "mask_id", "vocab_size", "special_ids", "generator", "mask_prob"), points=2,
    timeout=10, random=True, forbidden=[NO_TRANSFORMERS, NO_ENCODERS], hints={
        "index": "a word's number is drawn once: map each position to the index of its word (a running count of "
                 "the word starts, row by row) and index the word's draws with it.",
        "out of bounds": "there are as many draws as words in the whole batch: count the starts of all rows "
                         "together, row by row.",
        "expected scalar type": "ids are int64: keep inputs and labels int64 (torch.where with -100, clone, index).",
    },
)


def word_batch(t: Trial, batch: int, length: int, vocab: int, specials: list[int], longest: int = 3,
               pair: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int, int]]]:
    """Rows [CLS] words [SEP] (or [CLS] words [SEP] words [SEP]) [PAD]..., each word 1..longest ordinary ids; the
    (B, T) ids, the (B, T) word starts and the spans (row, start, end) of the words, as the case built them."""
    pad, cls, sep = specials[0], specials[1], specials[2]
    ordinary = [i for i in range(vocab) if i not in specials]
    ids = torch.full((batch, length), pad, dtype=torch.int64)
    starts = torch.zeros(batch, length, dtype=torch.bool)
    spans = []
    for b in range(batch):
        room = t.py.randint(max(2, length // 2), length)  # the real length of this row, [CLS] and [SEP] included
        row, at = [cls], 1
        separators = {t.py.randint(3, room - 2)} if pair and room > 6 else set()
        while at < room - 1:
            if at in separators:
                row.append(sep)
                at += 1
                continue
            size = min(t.py.randint(1, longest), room - 1 - at, *(sep - at for sep in separators if sep > at))
            spans.append((b, at, at + size))
            starts[b, at] = True
            row += [t.py.choice(ordinary) for _ in range(size)]
            at += size
        row.append(sep)
        ids[b, :len(row)] = torch.tensor(row[:length], dtype=torch.int64)
    return ids, starts, spans


def check_rules(got: list[Any], ids: torch.Tensor, spans: list[tuple[int, int, int]], mask_id: int) -> None:
    """What every right answer keeps, whatever its draws: a message in words before the exact comparison."""
    for name, value in zip(("inputs", "labels"), got, strict=True):
        if not isinstance(value, torch.Tensor):
            raise CheckFailure(f"`{name}` should be a tensor, but it is {kind_of(value)}.", "type")
        if value.dtype != torch.int64 or tuple(value.shape) != tuple(ids.shape):
            raise CheckFailure(f"`{name}` should be an int64 tensor of the ids' shape {tuple(ids.shape)}, but it is "
                               f"{kind_of(value)}.", "type")
    inputs, labels = got
    in_word = torch.zeros(ids.shape, dtype=torch.bool)
    for b, start, end in spans:
        in_word[b, start:end] = True
        chosen = labels[b, start:end] != -100
        if bool(chosen.any()) and not bool(chosen.all()):
            raise CheckFailure("a word was split: some of its sub-tokens are labelled and others are not. A word is "
                               "chosen whole, and every sub-token of a chosen word is labelled.", "wrong")
    labelled = labels != -100
    if bool((labelled & ~in_word).any()):
        raise CheckFailure("a special or padding position was labelled (or chosen): only the words' ordinary "
                           "tokens are ever chosen; labels are -100 everywhere else.", "wrong")
    if bool((labelled & (labels != ids)).any()):
        raise CheckFailure("a label is not the original id at its position: labels hold what the model must "
                           "predict, the id before masking.", "wrong")
    if bool((~labelled & (inputs != ids)).any()):
        raise CheckFailure("an input changed at a position that was not chosen (its label is -100): only the "
                           "tokens of chosen words may change, and every token of a chosen word is labelled, "
                           "whatever its fate (replaced by [MASK], by a random id, or kept).", "wrong")


def every_fate_drawn(seed: int, n_words: int, mask_prob: float) -> bool:
    """Whether a generator seeded with ``seed`` gives the chosen words all three fates, in the task's draw order."""
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.rand(n_words, generator=generator) < mask_prob
    fate = torch.rand(n_words, generator=generator)[chosen]
    return bool((fate < 0.8).any() and ((fate >= 0.8) & (fate < 0.9)).any() and (fate >= 0.9).any())


def check_masking(t: Trial, batch: int, length: int, vocab: int, mask_prob: float, *, longest: int = 3,
                  specials_first: bool = False, pair: bool = False, all_fates: bool = False) -> None:
    """``all_fates``: draw the generator's seed until the chosen words get [MASK], random ids and kept ids alike, so
    a wrong branch of any fate shows in every run of the case, not in most."""
    specials = list(range(4)) if specials_first else list(range(vocab - 4, vocab))  # [PAD] [CLS] [SEP] [MASK]
    t.py.shuffle(specials)
    ids, starts, spans = word_batch(t, batch, length, vocab, specials, longest, pair)
    seed = t.seed_for(f"mask:{batch}:{length}")
    attempt = 0
    while all_fates and not every_fate_drawn(seed, len(spans), mask_prob):
        attempt += 1
        seed = t.seed_for(f"mask:{batch}:{length}:{attempt}")
    args = (ids, starts, specials[3], vocab, list(specials))
    # a name of its own: generator specs of one name are one object per run, and a call of an earlier case (with its
    # own generator) may run first in the same process
    got = tensors_of(t.call(*args, wire.GeneratorSpec(seed, f"mask {seed}"), mask_prob).value, 2, "whole_word_mask",
                     "a tuple (inputs, labels) of two (B, T) int64 tensors")
    check_rules(got, ids, spans, specials[3])
    expected = t.reference("ch09.whole_word_mask", *args, seed, mask_prob)
    mistakes = t.reference("ch09.whole_word_mask/mistakes", *args, seed, mask_prob)
    for k, name in enumerate(("the labels", "the masked inputs")):
        k = 1 - k  # labels first: a wrong choice of words shows there before its fates do
        t.expect(got[k], expected[k], f"{name} (mask_prob={mask_prob:g}, drawn in the order the task states)",
                 mistakes={text: value[k] for text, value in mistakes.items()}, **INT_TOL)


@whole_word_mask.case("a batch of sentences [CLS] ... [SEP] with padding, words of 1 to 3 sub-tokens, mask_prob "
                      "0.15 to 0.35")
def _(t: Trial) -> None:
    check_masking(t, t.py.randint(3, 5), t.py.randint(16, 24), t.py.randint(40, 60), t.py.uniform(0.15, 0.35))


@whole_word_mask.case("sentence pairs [CLS] a [SEP] b [SEP], long words (up to 5 sub-tokens), special ids at the "
                      "start of the vocabulary, mask_prob about 0.5")
def _(t: Trial) -> None:
    check_masking(t, t.py.randint(2, 4), t.py.randint(20, 30), t.py.randint(20, 30), t.py.uniform(0.45, 0.55),
                  longest=5, specials_first=True, pair=True)


@whole_word_mask.case("a batch of one row; mask_prob 1: every word is chosen, and gets each of the three fates")
def _(t: Trial) -> None:
    check_masking(t, 1, t.py.randint(25, 35), t.py.randint(30, 40), 1.0, all_fates=True)


@whole_word_mask.case("a small vocabulary (random ids often special or the original), many rows, mask_prob 0.6")
def _(t: Trial) -> None:
    check_masking(t, t.py.randint(6, 9), t.py.randint(8, 12), t.py.randint(8, 10), t.py.uniform(0.55, 0.65),
                  specials_first=True)


@whole_word_mask.case("mask_prob 0 (nothing chosen), then an empty batch (0, T)")
def _(t: Trial) -> None:
    check_masking(t, t.py.randint(2, 3), t.py.randint(10, 14), t.py.randint(20, 30), 0.0)
    check_masking(t, 0, t.py.randint(5, 9), t.py.randint(20, 30), t.py.uniform(0.2, 0.4))


@whole_word_mask.generator_probe
def _(t: Trial, seed: int) -> tuple[Any, ...]:
    specials = [60, 61, 62, 63]
    ids, starts, _ = word_batch(t, 4, 20, 64, specials)
    return ids, starts, 63, 64, specials, wire.GeneratorSpec(seed), 0.5


# --- 2. masked_mean_pool (warm-up) --------------------------------------------------------------------------------

masked_mean_pool = exercise(
    "ch09.masked_mean_pool", name="masked_mean_pool",
    description="The mean of hidden (B, T, C) over each row's real positions, where padding_mask (B, T) is False "
                "(True marks padding): a (B, C) tensor of hidden's dtype; a row that is all padding pools to zeros "
                "(and passes no gradient). Gradients flow to hidden.",
    args=("hidden", "padding_mask"), points=1, timeout=10, grad=True, forbidden=[NO_FINETUNE], hints={
        "must match the size": "the mask is (B, T) and hidden is (B, T, C): give the mask a last dimension of "
                               "size 1 (unsqueeze(-1)) so it broadcasts over the features.",
        "expected scalar type": "the mask is bool: convert it to hidden's dtype before multiplying.",
    },
)


def check_pool(t: Trial, batch: int, length: int, width: int, *, dtype: torch.dtype = torch.float32,
               scale: float = 1.0, layout: str = "right", empty_rows: int = 0) -> None:
    hidden = t.randn(batch, length, width, scale=scale, dtype=dtype) + t.py.uniform(-0.5, 0.5) * scale
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for b in range(batch):
        real = t.py.randint(1, length) if length else 0
        if layout == "right":
            mask[b, real:] = True
        elif layout == "left":
            mask[b, :length - real] = True
        else:  # padding anywhere (a packed batch, masked spans)
            mask[b] = torch.rand(length, generator=t.rng) < 0.4
            mask[b, t.py.randrange(length)] = False
    for b in range(min(empty_rows, batch)):
        mask[b] = True
    named = "" if dtype == torch.float32 else f" ({str(dtype).replace('torch.', '')})"
    t.check_call(hidden, mask, reference="ch09.masked_mean_pool", what=f"the pooled vectors{named}",
                 mistakes="ch09.masked_mean_pool/mistakes", **tolerance(dtype))


@masked_mean_pool.case("right-padded rows of different lengths (B, T, C)")
def _(t: Trial) -> None:
    check_pool(t, t.py.randint(3, 5), t.py.randint(6, 10), t.py.randint(4, 8))


@masked_mean_pool.case("padding on the left and padding anywhere in a row, float64")
def _(t: Trial) -> None:
    check_pool(t, t.py.randint(2, 4), t.py.randint(6, 9), t.py.randint(3, 5), dtype=torch.float64, layout="left")
    check_pool(t, t.py.randint(2, 4), t.py.randint(6, 9), t.py.randint(3, 5), dtype=torch.float64, layout="any")


@masked_mean_pool.case("a batch of one row, more features than positions")
def _(t: Trial) -> None:
    check_pool(t, 1, t.py.randint(3, 5), t.py.randint(12, 16))


@masked_mean_pool.case("a row that is all padding (zeros, no gradient), beside ordinary rows")
def _(t: Trial) -> None:
    check_pool(t, t.py.randint(3, 4), t.py.randint(5, 8), t.py.randint(3, 6), empty_rows=1)


@masked_mean_pool.case("hidden states in the hundreds (activations of an untrained deep model)")
def _(t: Trial) -> None:
    check_pool(t, t.py.randint(2, 4), t.py.randint(5, 9), t.py.randint(3, 6), scale=200.0, layout="any")


@masked_mean_pool.case("bfloat16 and float16 hidden states (a model run in half precision) stay in their dtype")
def _(t: Trial) -> None:
    for dtype in (torch.bfloat16, torch.float16):
        check_pool(t, t.py.randint(2, 4), t.py.randint(5, 9), t.py.randint(3, 6), dtype=dtype, empty_rows=1)


@masked_mean_pool.case("an empty batch (0, T, C), and rows of no positions (B, 0, C): zeros")
def _(t: Trial) -> None:
    check_pool(t, 0, t.py.randint(3, 6), t.py.randint(3, 5))
    check_pool(t, t.py.randint(2, 3), 0, t.py.randint(3, 5))


# --- 3. encode_pair ----------------------------------------------------------------------------------------------

encode_pair = exercise(
    "ch09.encode_pair", name="encode_pair",
    description="A batch of sentence pairs for an encoder: tokens_a and tokens_b are lists (one per pair) of lists of "
                "int ids; each row is [CLS] a [SEP] b [SEP], at most max_len ids (max_len >= 3), made to fit by "
                "'longest_first' truncation (one token at a time from the end of the longer text, from the second "
                "on a tie), padded with pad_id to the longest row. Return (input_ids, token_type_ids, padding_mask), "
                "each (B, L): int64, int64 (0 for [CLS], a and its [SEP]; 1 for b and the last [SEP]; 0 at padding) "
                "and bool (True at padding). An empty batch gives (0, 0) tensors.",
    args=("tokens_a", "tokens_b", "cls_id", "sep_id", "pad_id", "max_len"), points=2, timeout=10,
    forbidden=[NO_TRANSFORMERS, NO_TOKENIZERS, NO_ENCODERS], hints={
        "pop from empty list": "truncate only while the two texts together are longer than max_len leaves room "
                               "for: take from the longer one, which is never empty then.",
        "expected a sequence of integers": "each row of the result is a list of ints: unpack the token lists into "
                                           "it ([cls_id, *a, sep_id, ...]).",
    },
)


def token_lists(t: Trial, count: int, low: int, high: int, vocab: int = 50) -> list[list[int]]:
    return [[t.py.randrange(5, vocab) for _ in range(t.py.randint(low, high))] for _ in range(count)]


def check_pairs(t: Trial, tokens_a: list[list[int]], tokens_b: list[list[int]], max_len: int) -> None:
    cls_id, sep_id, pad_id = t.py.sample(range(5), 3)
    args = (tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len)
    got = tensors_of(t.call(*args).value, 3, "encode_pair",
                     "a tuple (input_ids, token_type_ids, padding_mask) of three (B, L) tensors")
    expected = t.reference("ch09.encode_pair", *args)
    mistakes = t.reference("ch09.encode_pair/mistakes", *args)
    for k, name in enumerate(("input_ids", "token_type_ids", "padding_mask")):
        t.expect(got[k], expected[k], f"`{name}` (max_len={max_len})",
                 mistakes={text: value[k] for text, value in mistakes.items()}, **INT_TOL)


@encode_pair.case("pairs of different lengths, some longer than max_len: longest_first truncation, padding")
def _(t: Trial) -> None:
    n = t.py.randint(3, 5)
    check_pairs(t, token_lists(t, n, 2, 14), token_lists(t, n, 2, 14), t.py.randint(14, 20))


@encode_pair.case("pairs of equal lengths cut by an odd number of tokens (the tie rule), and a long first text with "
                  "a short second")
def _(t: Trial) -> None:
    length = t.py.randint(6, 9)
    a, b = token_lists(t, 2, length, length), token_lists(t, 2, length, length)
    check_pairs(t, a + token_lists(t, 1, 20, 25), b + token_lists(t, 1, 1, 3), 2 * length + 3 - t.py.choice((1, 3)))


@encode_pair.case("one pair that fits, with room to spare; then a single pair that must be cut")
def _(t: Trial) -> None:
    check_pairs(t, token_lists(t, 1, 2, 5), token_lists(t, 1, 2, 5), t.py.randint(20, 30))
    check_pairs(t, token_lists(t, 1, 8, 12), token_lists(t, 1, 4, 6), t.py.randint(9, 12))


@encode_pair.case("empty texts on either side, and max_len 3: no room for any token of either text")
def _(t: Trial) -> None:
    check_pairs(t, [[], *token_lists(t, 2, 3, 6)], [*token_lists(t, 2, 3, 6), []], t.py.randint(8, 10))
    check_pairs(t, token_lists(t, 2, 1, 4), token_lists(t, 2, 1, 4), 3)


@encode_pair.case("an empty batch: (0, 0) tensors")
def _(t: Trial) -> None:
    check_pairs(t, [], [], t.py.randint(8, 16))


# --- 4. lora_merge -----------------------------------------------------------------------------------------------

lora_merge = exercise(
    "ch09.lora_merge", name="lora_merge",
    description="LoRA's update folded into its frozen weight: given weight (out, in), lora_A (r, in), lora_B (out, r), "
                "alpha and the rank r of a LoRALinear whose output is base(x) + (alpha / r) * x @ A.T @ B.T, return "
                "the weight (out, in) of a plain nn.Linear with the same output for every x (unmerge=False), or, "
                "given such a merged weight, the base weight back (unmerge=True); a new tensor of weight's dtype.",
    args=("weight", "lora_A", "lora_B", "alpha", "r", "unmerge"), points=1, timeout=10,
    forbidden=[Forbidden(module="peft", why="peft's merge_and_unload folds the update into the weight for you: write "
                                            "the update yourself."),
               *(Forbidden(path, why="addmm(weight, B, A, alpha=...) is the whole merge in one call: write the "
                                     "product, its scale and the sum yourself.")
                 for path in ("torch.addmm", "torch.Tensor.addmm", "torch.Tensor.addmm_")), NO_FINETUNE],
    hints={"cannot be multiplied": "the update has weight's shape (out, in): which of (out, r) and (r, in), in which "
                                   "order, multiply to that?"},
)


def check_merge(t: Trial, out: int, inp: int, rank: int, alpha: float, *, unmerge: bool = False,
                dtype: torch.dtype = torch.float32, adapter_dtype: torch.dtype | None = None,
                scale: float = 1.0) -> None:
    weight = t.randn(out, inp, scale=scale, dtype=dtype)
    lora_A = t.randn(rank, inp, scale=0.5, dtype=adapter_dtype or dtype)
    lora_B = t.randn(out, rank, scale=0.5, dtype=adapter_dtype or dtype)
    named = "" if dtype == torch.float32 else f" ({str(dtype).replace('torch.', '')})"
    t.check_call(weight, lora_A, lora_B, alpha, rank, unmerge, reference="ch09.lora_merge",
                 what=f"the {'unmerged' if unmerge else 'merged'} weight{named}", mistakes="ch09.lora_merge/mistakes",
                 **tolerance(dtype))


@lora_merge.case("a merge: a non-square weight, rank 2 to 4, alpha 8 to 16")
def _(t: Trial) -> None:
    check_merge(t, t.py.randint(5, 8), t.py.randint(9, 12), t.py.randint(2, 4), float(t.py.choice((8, 12, 16))))


@lora_merge.case("an unmerge (the base weight back from a merged one), float64")
def _(t: Trial) -> None:
    check_merge(t, t.py.randint(6, 9), t.py.randint(3, 5), t.py.randint(2, 3), t.py.uniform(2.0, 6.0), unmerge=True,
                dtype=torch.float64)


@lora_merge.case("rank 1 (lora_A is a single row), one output, alpha below r")
def _(t: Trial) -> None:
    check_merge(t, 1, t.py.randint(4, 7), 1, t.py.uniform(0.3, 0.8))
    check_merge(t, t.py.randint(3, 5), t.py.randint(4, 7), 4, t.py.uniform(1.0, 3.0), unmerge=True)


@lora_merge.case("a large weight (entries in the hundreds) and a large alpha")
def _(t: Trial) -> None:
    check_merge(t, t.py.randint(4, 6), t.py.randint(6, 9), 2, 64.0, scale=150.0, unmerge=t.py.random() < 0.5)


@lora_merge.case("a bfloat16 base weight with float32 adapters: the result is bfloat16; then all float16")
def _(t: Trial) -> None:
    check_merge(t, t.py.randint(4, 6), t.py.randint(6, 9), t.py.randint(2, 4), 16.0, dtype=torch.bfloat16,
                adapter_dtype=torch.float32)
    check_merge(t, t.py.randint(4, 6), t.py.randint(6, 9), t.py.randint(2, 4), 8.0, dtype=torch.float16,
                unmerge=True)


@lora_merge.case("a layer of no outputs (0, in)")
def _(t: Trial) -> None:
    check_merge(t, 0, t.py.randint(3, 6), 2, 4.0)


# --- 5. distill_grad ---------------------------------------------------------------------------------------------

distill_grad = exercise(
    "ch09.distill_grad", name="distill_grad",
    description="By hand, without autograd: the gradient with respect to student_logits (B, V) of the distillation "
                "term T^2 * KL(softmax(teacher_logits / T) || softmax(student_logits / T)), the KL summed over the "
                "V classes and averaged over the B rows (T = temperature > 0); a (B, V) tensor of the student's "
                "dtype (an empty batch: an empty (0, V) gradient).",
    args=("student_logits", "teacher_logits", "temperature"), points=2, timeout=10, no_autograd=True, hints={
        "must match the size": "both softmaxes are over the classes, the last dimension (dim=-1).",
    },
)


def check_distill(t: Trial, batch: int, vocab: int, temperature: float, *, dtype: torch.dtype = torch.float32,
                  scale: float = 2.0) -> None:
    student = t.randn(batch, vocab, scale=scale, dtype=dtype)
    teacher = t.randn(batch, vocab, scale=scale, dtype=dtype)
    tol = tolerance(dtype)
    if dtype == torch.float32:
        tol = {"atol": 1e-6, "rtol": 1e-4}
    named = "" if dtype == torch.float32 else f" ({str(dtype).replace('torch.', '')})"
    t.check_call(student, teacher, temperature, reference="ch09.distill_grad",
                 what=f"the gradient with respect to student_logits{named} (T={temperature:g})",
                 mistakes="ch09.distill_grad/mistakes", **tol)


@distill_grad.case("a batch of logits, temperature 2 to 4 (Hinton et al.'s softened targets)")
def _(t: Trial) -> None:
    check_distill(t, t.py.randint(3, 6), t.py.randint(5, 9), t.py.uniform(2.0, 4.0))


@distill_grad.case("temperature 1 and a temperature below 1 (sharper), float64")
def _(t: Trial) -> None:
    check_distill(t, t.py.randint(2, 4), t.py.randint(4, 7), 1.0, dtype=torch.float64)
    check_distill(t, t.py.randint(2, 4), t.py.randint(4, 7), t.py.uniform(0.4, 0.8), dtype=torch.float64)


@distill_grad.case("a batch of one row over many classes")
def _(t: Trial) -> None:
    check_distill(t, 1, t.py.randint(20, 40), t.py.uniform(1.5, 3.0))


@distill_grad.case("logits in the hundreds, temperature 1 to 2: exp overflows unless the row's largest is taken "
                   "out first")
def _(t: Trial) -> None:
    check_distill(t, t.py.randint(2, 4), t.py.randint(5, 8), t.py.uniform(1.0, 2.0), scale=300.0)


@distill_grad.case("bfloat16 and float16 logits (a model run in half precision): the gradient keeps their dtype")
def _(t: Trial) -> None:
    for dtype in (torch.bfloat16, torch.float16):
        check_distill(t, t.py.randint(2, 4), t.py.randint(5, 8), t.py.uniform(1.5, 3.0), dtype=dtype)


@distill_grad.case("an empty batch (0, V)")
def _(t: Trial) -> None:
    check_distill(t, 0, t.py.randint(4, 8), t.py.uniform(1.0, 3.0))
