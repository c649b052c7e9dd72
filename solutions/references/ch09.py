"""Chapter 9's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch09.py compare with. All are written here; the chapter's package has none of these steps:

- ``whole_word_mask``: BERT's 80/10/10 recipe on whole words, drawing from the generator in the order the task
  states (one number per word to choose it, one per word for its fate, then a (B, T) tensor of random ids);
- ``masked_mean_pool``: the mean over the non-padding positions in float64, zeros for a row of padding only;
- ``encode_pair``: [CLS] a [SEP] b [SEP] with transformers' "longest_first" truncation (its Python tokenizers'
  ``truncate_sequences``: one token at a time from the end of the longer side, from the second on a tie), written
  here as that loop;
- ``lora_merge``: the LoRA product added to (or, to unmerge, taken from) the weight in float64, cast back to the
  weight's dtype;
- ``distill_grad``: the gradient of T^2 * batchmean KL(softmax(t/T) || softmax(s/T)) by autograd through
  F.kl_div in float64 (the formula the learner derives is checked against the loss itself, not against itself).

Known mistakes are computed on the same inputs, so a message can name the one an answer makes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.grading.references import reference

# --- 1. whole_word_mask -----------------------------------------------------------------------------------------


def _words(ids: torch.Tensor, word_starts: torch.Tensor, special_ids: list[int]) -> tuple[torch.Tensor, int]:
    """(B, T) int64: the index of each position's word in the batch (row by row, left to right), -1 at special
    positions; and the number of words."""
    special = torch.isin(ids, torch.tensor(list(special_ids), dtype=ids.dtype))
    word = (word_starts.reshape(-1).long().cumsum(0) - 1).reshape(ids.shape)
    return torch.where(special, -1, word), int(word_starts.sum())


def _mask_words(ids: torch.Tensor, word_starts: torch.Tensor, mask_id: int, vocab_size: int, special_ids: list[int],
                seed: int, mask_prob: float, *, per_token: bool = False, per_token_fate: bool = False,
                fates_of_chosen: bool = False,
                order: str = "mask-random-keep", labels: str = "chosen") -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(int(seed))
    word, n_words = _words(ids, word_starts, special_ids)
    in_word = word >= 0
    if per_token:  # every sub-token chosen and given its fate on its own
        chosen = in_word & (torch.rand(ids.shape, generator=gen) < mask_prob)
        fate = torch.rand(ids.shape, generator=gen)
    else:
        pick = torch.rand(n_words, generator=gen) < mask_prob
        n_fates = int(pick.sum()) if fates_of_chosen else n_words
        fates = torch.rand(ids.shape if per_token_fate else (n_fates,), generator=gen)
        if fates_of_chosen:  # the fates drawn for the chosen words only, in order
            full = torch.ones(n_words)
            full[pick] = fates
            fates = full
        safe = word.clamp(min=0)
        chosen = in_word & (pick[safe] if n_words else torch.zeros_like(in_word))
        fate = fates if per_token_fate else fates[safe] if n_words else torch.ones(ids.shape)
    random_ids = torch.randint(vocab_size, ids.shape, generator=gen)
    if order == "mask-random-keep":
        to_mask, to_random = fate < 0.8, (fate >= 0.8) & (fate < 0.9)
    else:  # "random-keep-mask": the three ranges taken in another order
        to_random, to_mask = fate < 0.1, fate >= 0.2
    inputs = ids.clone()
    inputs[chosen & to_mask] = mask_id
    inputs[chosen & to_random] = random_ids[chosen & to_random]
    if labels == "chosen":
        target = torch.where(chosen, ids, -100)
    elif labels == "masked":
        target = torch.where(chosen & to_mask, ids, -100)
    else:  # "changed": only where the input differs
        target = torch.where(chosen & (inputs != ids), ids, -100)
    return inputs, target


@reference("ch09.whole_word_mask")
def whole_word_mask_reference(ids: torch.Tensor, word_starts: torch.Tensor, mask_id: int, vocab_size: int,
                              special_ids: list[int], seed: int, mask_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
    return _mask_words(ids, word_starts, mask_id, vocab_size, special_ids, seed, mask_prob)


@reference("ch09.whole_word_mask/mistakes")
def whole_word_mask_mistakes(ids: torch.Tensor, word_starts: torch.Tensor, mask_id: int, vocab_size: int,
                             special_ids: list[int], seed: int, mask_prob: float) -> dict[str, Any]:
    args = (ids, word_starts, mask_id, vocab_size, special_ids, seed, mask_prob)
    return {
        "drew a fate only for each chosen word: the task draws one number per word of the batch, chosen or not, so "
        "the draws that follow stay in step": _mask_words(*args, fates_of_chosen=True),
        "took the three ranges of the fate in another order: [MASK] below 0.8, a random id from 0.8 up to 0.9, "
        "unchanged from 0.9": _mask_words(*args, order="random-keep-mask"),
        "labelled only the tokens replaced by [MASK]: the model is asked to predict every token of a chosen word, "
        "whatever its fate": _mask_words(*args, labels="masked"),
        "labelled only the tokens whose input changed: a chosen word kept as it was (or replaced by chance with its "
        "own id) is still predicted": _mask_words(*args, labels="changed"),
        "gave each sub-token its own fate: one number per word decides [MASK], random or unchanged for all its "
        "sub-tokens": _mask_words(*args, per_token_fate=True),
        "chose each sub-token on its own: choose words, then give every sub-token of a word its word's fate":
            _mask_words(*args, per_token=True),
    }


# --- 2. masked_mean_pool ----------------------------------------------------------------------------------------


def _pool(hidden: torch.Tensor, keep: torch.Tensor, divide_by: str = "count", empty: str = "zero") -> torch.Tensor:
    h = hidden.double()
    weights = keep.to(torch.float64).unsqueeze(-1)  # (B, T, 1)
    total = (h * weights).sum(1)  # (B, C)
    if divide_by == "T":
        return total / max(1, hidden.size(1))
    count = weights.sum(1)  # (B, 1)
    if empty == "nan":
        return total / count
    return total / count.clamp(min=1)


@reference("ch09.masked_mean_pool")
def masked_mean_pool_reference(hidden: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    return _pool(hidden, ~padding_mask).to(hidden.dtype)


@reference("ch09.masked_mean_pool/mistakes")
def masked_mean_pool_mistakes(hidden: torch.Tensor, padding_mask: torch.Tensor) -> dict[str, Any]:
    keep = ~padding_mask
    values = {
        "averaged over the padding too: the mean is over the positions where padding_mask is False":
            _pool(hidden, torch.ones_like(keep)),
        "divided by T, the padded length: divide each row's sum by its own number of real positions":
            _pool(hidden, keep, divide_by="T"),
        "averaged over the padding positions only: padding_mask is True at padding, so keep where it is False":
            _pool(hidden, padding_mask),
        "gave nan (0 / 0) for a row that is all padding: the task asks for zeros there": _pool(hidden, keep,
                                                                                               empty="nan"),
    }
    return {text: value.to(hidden.dtype) for text, value in values.items()}


# --- 3. encode_pair ---------------------------------------------------------------------------------------------


def _truncate(a: list[int], b: list[int], budget: int, rule: str = "longest_first") -> tuple[list[int], list[int]]:
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        if rule == "only_second":
            (b if b else a).pop()
        elif rule == "ties_from_first":
            (b if len(b) > len(a) else a).pop()
        elif rule == "from_the_front":
            (a if len(a) > len(b) else b).pop(0)
        else:  # longest_first: the longer side loses its last token, the second on a tie
            (a if len(a) > len(b) else b).pop()
    return a, b


def _encode_pairs(tokens_a: list[list[int]], tokens_b: list[list[int]], cls_id: int, sep_id: int, pad_id: int,
                  max_len: int, *, rule: str = "longest_first", specials: int = 3, first_sep_type: int = 0,
                  last_sep_type: int = 1, pad_type: str = "zero", pad_to: str = "longest",
                  mask_true_at: str = "padding") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows, types = [], []
    for a, b in zip(tokens_a, tokens_b, strict=True):
        a, b = _truncate(a, b, max(0, max_len - specials), rule)
        rows.append([cls_id, *a, sep_id, *b, sep_id])
        types.append([0] * (len(a) + 1) + [first_sep_type] + [1] * len(b) + [last_sep_type])
    width = max_len if pad_to == "max_len" else max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
    type_ids = torch.zeros((len(rows), width), dtype=torch.int64)
    padding = torch.ones((len(rows), width), dtype=torch.bool)
    for i, (row, kinds) in enumerate(zip(rows, types, strict=True)):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
        type_ids[i, :len(row)] = torch.tensor(kinds, dtype=torch.int64)
        padding[i, :len(row)] = False
        if pad_type == "last":
            type_ids[i, len(row):] = kinds[-1]
    return ids, type_ids, padding if mask_true_at == "padding" else ~padding


@reference("ch09.encode_pair")
def encode_pair_reference(tokens_a: list[list[int]], tokens_b: list[list[int]], cls_id: int, sep_id: int,
                          pad_id: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _encode_pairs(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len)


@reference("ch09.encode_pair/mistakes")
def encode_pair_mistakes(tokens_a: list[list[int]], tokens_b: list[list[int]], cls_id: int, sep_id: int, pad_id: int,
                         max_len: int) -> dict[str, Any]:
    args = (tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len)
    return {
        "truncated only the second text: longest_first takes a token from whichever side is longer":
            _encode_pairs(*args, rule="only_second"),
        "took a token from the first text on a tie: with equal lengths, longest_first takes it from the second":
            _encode_pairs(*args, rule="ties_from_first"),
        "cut tokens from the front: truncation keeps the start of each text and removes tokens from its end":
            _encode_pairs(*args, rule="from_the_front"),
        "left room for only two special tokens: [CLS], [SEP] and [SEP] are three, and max_len counts them all":
            _encode_pairs(*args, specials=2),
        "gave the separator after the first text type 1: it closes the first segment, so it is type 0":
            _encode_pairs(*args, first_sep_type=1),
        "gave the final separator type 0: it closes the second segment, so it is type 1":
            _encode_pairs(*args, last_sep_type=0),
        "continued the last segment's type id into the padding: padding positions have type 0":
            _encode_pairs(*args, pad_type="last"),
        "padded every row to max_len: pad only to the longest row of the batch": _encode_pairs(*args, pad_to="max_len"),
        "made the padding mask True at the real tokens: it is True at padding": _encode_pairs(*args,
                                                                                              mask_true_at="tokens"),
    }


# --- 4. lora_merge ----------------------------------------------------------------------------------------------


def _lora(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, scale: float, sign: float
          ) -> torch.Tensor:
    return (weight.double() + sign * scale * (lora_B.double() @ lora_A.double())).to(weight.dtype)


@reference("ch09.lora_merge")
def lora_merge_reference(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, alpha: float, r: int,
                         unmerge: bool) -> torch.Tensor:
    return _lora(weight, lora_A, lora_B, alpha / r, -1.0 if unmerge else 1.0)


@reference("ch09.lora_merge/mistakes")
def lora_merge_mistakes(weight: torch.Tensor, lora_A: torch.Tensor, lora_B: torch.Tensor, alpha: float, r: int,
                        unmerge: bool) -> dict[str, Any]:
    sign = -1.0 if unmerge else 1.0
    return {
        "left out the scale alpha / r: LoRA's update is scaled before it is added":
            _lora(weight, lora_A, lora_B, 1.0, sign),
        "scaled by alpha * r: the scale is alpha divided by the rank": _lora(weight, lora_A, lora_B, alpha * r, sign),
        "scaled by r / alpha: the scale is alpha divided by the rank": _lora(weight, lora_A, lora_B, r / alpha, sign),
        "scaled by alpha alone: divide it by the rank r": _lora(weight, lora_A, lora_B, alpha, sign),
        ("added the update where unmerge=True asks for the base weight back: unmerging takes the update away"
         if unmerge else "took the update away where a merge was asked for: merging adds it to the weight"):
            _lora(weight, lora_A, lora_B, alpha / r, -sign),
    }


# --- 5. distill_grad --------------------------------------------------------------------------------------------


def distillation_objective(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), summed over the classes, averaged over the rows (batchmean)."""
    log_p_student = F.log_softmax(student / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)
    return temperature**2 * F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)


@reference("ch09.distill_grad")
def distill_grad_reference(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
                           ) -> torch.Tensor:
    if student_logits.size(0) == 0:
        return torch.zeros_like(student_logits)
    student = student_logits.detach().double().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(distillation_objective(student, teacher_logits.double(), temperature), student)
    return grad.to(student_logits.dtype)


@reference("ch09.distill_grad/mistakes")
def distill_grad_mistakes(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float
                          ) -> dict[str, Any]:
    s, t, T = student_logits.double(), teacher_logits.double(), float(temperature)
    rows = max(1, s.size(0))
    diff = torch.softmax(s / T, dim=-1) - torch.softmax(t / T, dim=-1)
    values = {
        "left out the factor T^2 in front of the KL divergence": diff / (T * rows),
        "left out the 1/T the chain rule brings from s / T": T**2 * diff / rows,
        "took the student's softmax without the temperature: both distributions are softened by T":
            T * (torch.softmax(s, dim=-1) - torch.softmax(t / T, dim=-1)) / rows,
        "added the rows up: the loss is averaged over the batch, so each row's gradient is divided by B": T * diff,
        "has the sign the wrong way round: the gradient pushes the student's probabilities towards the teacher's, "
        "and is the student's minus the teacher's": -T * diff / rows,
    }
    return {text: value.to(student_logits.dtype) for text, value in values.items()}
