"""Plausible wrong answers to chapter 9's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- whole_word_mask -------------------------------------------------------------------------------------------


def _word_of(ids, word_starts, special_ids):
    special = torch.isin(ids, torch.tensor(list(special_ids), dtype=ids.dtype))
    word = (word_starts.reshape(-1).long().cumsum(0) - 1).reshape(ids.shape)
    return word, special


def _apply(ids, chosen, fate, random_ids, mask_id, low=0.8, high=0.9):
    inputs = torch.where(chosen & (fate < low), mask_id, ids)
    inputs = torch.where(chosen & (fate >= low) & (fate < high), random_ids, inputs)
    return inputs, torch.where(chosen, ids, -100)


def _per_word(ids, word_starts, special_ids, generator, mask_prob, *, exclude_special=True, global_rng=False):
    word, special = _word_of(ids, word_starts, special_ids)
    n = int(word_starts.sum())
    draw = {} if global_rng else {"generator": generator}
    picks, fates = torch.rand(n, **draw) < mask_prob, torch.rand(n, **draw)
    at = word.clamp(min=0)
    chosen = picks[at] if n else torch.zeros_like(special)
    if exclude_special:
        chosen = chosen & ~special
    else:  # only the positions before a row's first word left out
        chosen = chosen & (word >= 0)
    return chosen, fates[at] if n else torch.ones(ids.shape), draw


def wwm_per_token(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    special = torch.isin(ids, torch.tensor(list(special_ids)))
    chosen = (torch.rand(ids.shape, generator=generator) < mask_prob) & ~special  # sub-tokens one at a time
    fate = torch.rand(ids.shape, generator=generator)
    return _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape, generator=generator), mask_id)


def wwm_fate_per_token(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    word, special = _word_of(ids, word_starts, special_ids)
    n = int(word_starts.sum())
    picks = torch.rand(n, generator=generator) < mask_prob
    fate = torch.rand(ids.shape, generator=generator)  # each sub-token its own fate
    chosen = (picks[word.clamp(min=0)] if n else torch.zeros_like(special)) & ~special
    return _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape, generator=generator), mask_id)


def wwm_fates_of_chosen_only(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    word, special = _word_of(ids, word_starts, special_ids)
    n = int(word_starts.sum())
    picks = torch.rand(n, generator=generator) < mask_prob
    fates = torch.ones(n)
    fates[picks] = torch.rand(int(picks.sum()), generator=generator)  # a fate only where a word was chosen
    at = word.clamp(min=0)
    chosen = (picks[at] if n else torch.zeros_like(special)) & ~special
    return _apply(ids, chosen, fates[at] if n else torch.ones(ids.shape),
                  torch.randint(vocab_size, ids.shape, generator=generator), mask_id)


def wwm_labels_at_mask_only(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob)
    inputs, _ = _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape, **draw), mask_id)
    return inputs, torch.where(chosen & (fate < 0.8), ids, -100)


def wwm_labels_everywhere(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob)
    inputs, _ = _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape, **draw), mask_id)
    return inputs, ids.clone()


def wwm_specials_join_words(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob, exclude_special=False)
    return _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape, **draw), mask_id)


def wwm_ranges_reordered(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob)
    random_ids = torch.randint(vocab_size, ids.shape, **draw)
    inputs = torch.where(chosen & (fate >= 0.2), mask_id, ids)  # random below 0.1, unchanged up to 0.2, [MASK] above
    inputs = torch.where(chosen & (fate < 0.1), random_ids, inputs)
    return inputs, torch.where(chosen, ids, -100)


def wwm_random_ids_without_specials(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob)
    return _apply(ids, chosen, fate, torch.randint(vocab_size - len(special_ids), ids.shape, **draw), mask_id)


def wwm_global_rng(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob, global_rng=True)
    return _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape), mask_id)


def wwm_in_place(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob)
    random_ids = torch.randint(vocab_size, ids.shape, **draw)
    labels = torch.where(chosen, ids, -100)
    ids[chosen & (fate < 0.8)] = mask_id  # the caller's ids changed
    ids[chosen & (fate >= 0.8) & (fate < 0.9)] = random_ids[chosen & (fate >= 0.8) & (fate < 0.9)]
    return ids.clone(), labels


def wwm_view(ids, word_starts, mask_id, vocab_size, special_ids, generator, mask_prob):
    word_starts.view(-1)  # needs contiguous memory
    chosen, fate, draw = _per_word(ids, word_starts, special_ids, generator, mask_prob)
    return _apply(ids, chosen, fate, torch.randint(vocab_size, ids.shape, **draw), mask_id)


# --- masked_mean_pool ------------------------------------------------------------------------------------------


def pool_with_padding(hidden, padding_mask):
    return hidden.mean(dim=1)


def pool_divides_by_t(hidden, padding_mask):
    keep = (~padding_mask).to(hidden.dtype).unsqueeze(-1)
    return (hidden * keep).sum(1) / max(1, hidden.size(1))


def pool_flipped_mask(hidden, padding_mask):
    keep = padding_mask.to(hidden.dtype).unsqueeze(-1)  # True taken as "keep"
    return (hidden * keep).sum(1) / keep.sum(1).clamp(min=1)


def pool_nan_on_empty(hidden, padding_mask):
    keep = (~padding_mask).to(hidden.dtype).unsqueeze(-1)
    return (hidden * keep).sum(1) / keep.sum(1)


def pool_where_after_dividing(hidden, padding_mask):
    keep = (~padding_mask).to(hidden.dtype).unsqueeze(-1)
    count = keep.sum(1)
    mean = (hidden * keep).sum(1) / count  # 0 / 0 in an empty row: nan, and its gradient is nan too
    return torch.where(count > 0, mean, torch.zeros_like(mean))


def pool_in_place(hidden, padding_mask):
    hidden.masked_fill_(padding_mask.unsqueeze(-1), 0.0)
    return hidden.sum(1) / (~padding_mask).sum(1, keepdim=True).clamp(min=1)


def pool_count_in_float32(hidden, padding_mask):
    keep = (~padding_mask).unsqueeze(-1)
    count = keep.float().sum(1).clamp(min=1)  # float32: a bfloat16 mean comes back float32
    return (hidden * keep).sum(1) / count


# --- encode_pair -----------------------------------------------------------------------------------------------


def _pairs(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len, *, cut=None, budget_of=3, types_of=None,
           pad_type=None, width_of=None, mask_true_at_tokens=False):
    rows, types = [], []
    for a, b in zip(tokens_a, tokens_b):
        a, b = list(a), list(b)
        while len(a) + len(b) > max_len - budget_of:
            (cut or (lambda a, b: (a if len(a) > len(b) else b).pop()))(a, b)
        rows.append([cls_id, *a, sep_id, *b, sep_id])
        types.append(types_of(a, b) if types_of else [0] * (len(a) + 2) + [1] * (len(b) + 1))
    width = width_of(rows) if width_of else max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    type_ids = torch.zeros(len(rows), width, dtype=torch.long)
    padding = torch.ones(len(rows), width, dtype=torch.bool)
    for i, (row, kinds) in enumerate(zip(rows, types)):
        ids[i, :len(row)] = torch.tensor(row)
        type_ids[i, :len(row)] = torch.tensor(kinds)
        padding[i, :len(row)] = False
        if pad_type is not None:
            type_ids[i, len(row):] = pad_type(kinds)
    return ids, type_ids, ~padding if mask_true_at_tokens else padding


def pair_only_second(*args):
    return _pairs(*args, cut=lambda a, b: (b if b else a).pop())


def pair_ties_from_first(*args):
    return _pairs(*args, cut=lambda a, b: (b if len(b) > len(a) else a).pop())


def pair_from_the_front(*args):
    return _pairs(*args, cut=lambda a, b: (a if len(a) > len(b) else b).pop(0))


def pair_two_specials(*args):
    return _pairs(*args, budget_of=2)


def pair_first_sep_type_one(*args):
    return _pairs(*args, types_of=lambda a, b: [0] * (len(a) + 1) + [1] * (len(b) + 2))


def pair_last_sep_type_zero(*args):
    return _pairs(*args, types_of=lambda a, b: [0] * (len(a) + 2) + [1] * len(b) + [0])


def pair_padding_continues_type(*args):
    return _pairs(*args, pad_type=lambda kinds: kinds[-1])


def pair_pads_to_max_len(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len):
    return _pairs(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len, width_of=lambda rows: max_len)


def pair_mask_polarity(*args):
    return _pairs(*args, mask_true_at_tokens=True)


def pair_truncates_the_inputs(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len):
    for a, b in zip(tokens_a, tokens_b):
        while len(a) + len(b) > max_len - 3:  # pops from the caller's own lists
            (a if len(a) > len(b) else b).pop()
    return _pairs(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len)


def pair_tensor_of_rows(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len):
    ids, type_ids, padding = _pairs(tokens_a, tokens_b, cls_id, sep_id, pad_id, max_len)
    rows = [row.tolist() for row in ids]
    return torch.tensor(rows, dtype=torch.long), type_ids, padding  # an empty batch gives shape (0,)


# --- lora_merge ------------------------------------------------------------------------------------------------


def _merged(weight, update, unmerge):
    return (weight - update if unmerge else weight + update).to(weight.dtype)


def merge_no_scale(weight, lora_A, lora_B, alpha, r, unmerge):
    return _merged(weight, lora_B @ lora_A, unmerge)


def merge_alpha_times_r(weight, lora_A, lora_B, alpha, r, unmerge):
    return _merged(weight, alpha * r * (lora_B @ lora_A), unmerge)


def merge_alpha_alone(weight, lora_A, lora_B, alpha, r, unmerge):
    return _merged(weight, alpha * (lora_B @ lora_A), unmerge)


def merge_swapped_product(weight, lora_A, lora_B, alpha, r, unmerge):
    return _merged(weight, (alpha / r) * (lora_A @ lora_B), unmerge)


def merge_transposed(weight, lora_A, lora_B, alpha, r, unmerge):
    return _merged(weight.T, (alpha / r) * (lora_A.T @ lora_B.T), unmerge)  # (in, out): x @ W' instead of x @ W'.T


def merge_in_place(weight, lora_A, lora_B, alpha, r, unmerge):
    weight.add_((-1 if unmerge else 1) * (alpha / r) * (lora_B @ lora_A).to(weight.dtype))
    return weight.clone()


def merge_adapter_dtype(weight, lora_A, lora_B, alpha, r, unmerge):
    update = (alpha / r) * (lora_B @ lora_A)
    return weight - update if unmerge else weight + update  # bfloat16 + float32 is float32


def merge_ignores_unmerge(weight, lora_A, lora_B, alpha, r, unmerge):
    return _merged(weight, (alpha / r) * (lora_B @ lora_A), False)


def merge_addmm(weight, lora_A, lora_B, alpha, r, unmerge):
    scale = (-1 if unmerge else 1) * alpha / r
    return torch.addmm(weight, lora_B.to(weight.dtype), lora_A.to(weight.dtype), alpha=scale)


# --- distill_grad ----------------------------------------------------------------------------------------------


def _soft(logits, temperature):
    return torch.softmax(logits / temperature, dim=-1)


def _rows(logits):
    return max(1, logits.size(0))


def distill_no_t_squared(student_logits, teacher_logits, temperature):
    diff = _soft(student_logits, temperature) - _soft(teacher_logits, temperature)
    return diff / (temperature * _rows(student_logits))


def distill_no_chain_rule(student_logits, teacher_logits, temperature):
    diff = _soft(student_logits, temperature) - _soft(teacher_logits, temperature)
    return temperature**2 * diff / _rows(student_logits)


def distill_student_not_softened(student_logits, teacher_logits, temperature):
    diff = torch.softmax(student_logits, dim=-1) - _soft(teacher_logits, temperature)
    return temperature * diff / _rows(student_logits)


def distill_summed(student_logits, teacher_logits, temperature):
    return temperature * (_soft(student_logits, temperature) - _soft(teacher_logits, temperature))


def distill_sign(student_logits, teacher_logits, temperature):
    diff = _soft(teacher_logits, temperature) - _soft(student_logits, temperature)
    return temperature * diff / _rows(student_logits)


def distill_naive_exp(student_logits, teacher_logits, temperature):
    def soft(z):
        e = torch.exp(z / temperature)  # no max taken out: inf / inf for logits in the hundreds
        return e / e.sum(-1, keepdim=True)

    return temperature * (soft(student_logits) - soft(teacher_logits)) / _rows(student_logits)


def distill_autograd(student_logits, teacher_logits, temperature):
    s = student_logits.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = temperature**2 * F.kl_div(F.log_softmax(s / temperature, -1), F.log_softmax(teacher_logits / temperature,
                                                                                          -1),
                                         reduction="batchmean", log_target=True)
        (grad,) = torch.autograd.grad(loss, s)
    return grad


def distill_in_float32(student_logits, teacher_logits, temperature):
    s, t = student_logits.float(), teacher_logits.float()  # float64 logits come back float32
    return temperature * (_soft(s, temperature) - _soft(t, temperature)) / _rows(s)


WRONG_ANSWERS = {
    "ch09.whole_word_mask": [
        WrongAnswer("sub-tokens chosen one at a time", wwm_per_token, "a word was split"),
        WrongAnswer("a fate per sub-token", wwm_fate_per_token, "its own fate"),
        WrongAnswer("fates drawn only for the chosen words", wwm_fates_of_chosen_only, "a fate only for each chosen"),
        WrongAnswer("labels only where [MASK] went", wwm_labels_at_mask_only, "replaced by [MASK]"),
        WrongAnswer("labels everywhere", wwm_labels_everywhere, "special or padding position"),
        WrongAnswer("special ids joined to the word before them", wwm_specials_join_words,
                    "special or padding position"),
        WrongAnswer("80/10/10 ranges in another order", wwm_ranges_reordered, "another order"),
        WrongAnswer("random ids only below the special ids", wwm_random_ids_without_specials, "the masked inputs"),
        WrongAnswer("global generator", wwm_global_rng, "global random generator"),
        WrongAnswer("ids masked in place", wwm_in_place, "in place"),
        WrongAnswer(".view on a non-contiguous input", wwm_view, "non-contiguous"),
    ],
    "ch09.masked_mean_pool": [
        WrongAnswer("padding in the mean", pool_with_padding, "averaged over the padding too"),
        WrongAnswer("divides by T", pool_divides_by_t, "divided by T"),
        WrongAnswer("mask polarity flipped", pool_flipped_mask, "padding positions only"),
        WrongAnswer("nan on an all-padding row", pool_nan_on_empty, "gave nan"),
        WrongAnswer("torch.where after dividing (nan gradient)", pool_where_after_dividing, "gradient"),
        WrongAnswer("padding zeroed in place", pool_in_place, "in place"),
        WrongAnswer("count in float32 under bfloat16", pool_count_in_float32, "should be bfloat16"),
    ],
    "ch09.encode_pair": [
        WrongAnswer("truncates only the second text", pair_only_second, "only the second text"),
        WrongAnswer("ties taken from the first text", pair_ties_from_first, "on a tie"),
        WrongAnswer("cuts from the front", pair_from_the_front, "from the front"),
        WrongAnswer("room for two special tokens", pair_two_specials, "only two special tokens"),
        WrongAnswer("first [SEP] of type 1", pair_first_sep_type_one, "separator after the first text"),
        WrongAnswer("last [SEP] of type 0", pair_last_sep_type_zero, "final separator"),
        WrongAnswer("padding continues the last type id", pair_padding_continues_type, "into the padding"),
        WrongAnswer("pads to max_len", pair_pads_to_max_len, "padded every row to max_len"),
        WrongAnswer("padding mask True at tokens", pair_mask_polarity, "True at the real tokens"),
        WrongAnswer("truncates the caller's lists", pair_truncates_the_inputs, "in place"),
        WrongAnswer("ids through a list of rows (shape (0,) for an empty batch)", pair_tensor_of_rows, "shape"),
    ],
    "ch09.lora_merge": [
        WrongAnswer("no scale", merge_no_scale, "left out the scale"),
        WrongAnswer("alpha * r", merge_alpha_times_r, "alpha * r"),
        WrongAnswer("alpha alone", merge_alpha_alone, "alpha alone"),
        WrongAnswer("A @ B", merge_swapped_product, "which of (out, r) and (r, in)"),
        WrongAnswer("transposed", merge_transposed, "shape"),
        WrongAnswer("weight changed in place", merge_in_place, "in place"),
        WrongAnswer("the adapters' dtype", merge_adapter_dtype, "should be bfloat16"),
        WrongAnswer("unmerge ignored", merge_ignores_unmerge, "unmerging takes the update away"),
        WrongAnswer("torch.addmm", merge_addmm, "addmm"),
    ],
    "ch09.distill_grad": [
        WrongAnswer("no T^2", distill_no_t_squared, "factor T^2"),
        WrongAnswer("no 1/T from the chain rule", distill_no_chain_rule, "chain rule"),
        WrongAnswer("student softmax without T", distill_student_not_softened, "without the temperature"),
        WrongAnswer("summed over the batch", distill_summed, "added the rows up"),
        WrongAnswer("sign flipped", distill_sign, "sign"),
        WrongAnswer("exp without the max taken out", distill_naive_exp, "student_logits"),
        WrongAnswer("autograd", distill_autograd, "called autograd"),
        WrongAnswer("float32 under float64 logits", distill_in_float32, "float64"),
    ],
}
