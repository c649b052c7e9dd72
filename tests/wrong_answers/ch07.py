"""Plausible wrong answers to chapter 7's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode  # imported before the check, as a learner's earlier cell would

from llmcourse.gpt import GPT, GPTConfig

from . import WrongAnswer

# --- wsd_lr ----------------------------------------------------------------------------------------------


def _wsd(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps, *, warm_from_zero=False, late=0, floor=None,
         cosine=False):
    if step < warmup_steps:
        return max_lr * (step if warm_from_zero else step + 1) / warmup_steps
    start = max_steps - decay_steps + late
    end = min_lr if floor is None else floor
    if step <= start:
        return max_lr
    progress = min(1.0, (step - start) / decay_steps)
    if cosine:
        return end + (max_lr - end) * 0.5 * (1 + math.cos(math.pi * progress))
    return max_lr + (end - max_lr) * progress


def wsd_warmup_from_zero(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps):
    return _wsd(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps, warm_from_zero=True)


def wsd_decay_late(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps):
    return _wsd(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps, late=1)


def wsd_to_zero(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps):
    return _wsd(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps, floor=0.0)


def wsd_cosine(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps):
    return _wsd(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps, cosine=True)


def wsd_no_stable(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= max_steps:
        return min_lr
    return max_lr + (min_lr - max_lr) * (step - warmup_steps) / (max_steps - warmup_steps)


def wsd_tensor(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps):
    return torch.tensor(_wsd(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps))


# --- embedding_param_groups ------------------------------------------------------------------------------


def _groups(named_parameters, lr, embedding_lr, weight_decay, *, table=None, decay_tables=False, decay_vectors=False):
    table = table or (lambda name, p: name.startswith("embed."))
    tables, matrices, vectors = [], [], []
    for name, p in named_parameters:
        if table(name, p):
            tables.append(name)
        elif p.dim() >= 2:
            matrices.append(name)
        else:
            vectors.append(name)
    return [{"names": tables, "lr": embedding_lr, "weight_decay": weight_decay if decay_tables else 0.0},
            {"names": matrices, "lr": lr, "weight_decay": weight_decay},
            {"names": vectors, "lr": lr, "weight_decay": weight_decay if decay_vectors else 0.0}]


def groups_decay_tables(named_parameters, lr, embedding_lr, weight_decay):
    return _groups(named_parameters, lr, embedding_lr, weight_decay, decay_tables=True)


def groups_decay_vectors(named_parameters, lr, embedding_lr, weight_decay):
    return _groups(named_parameters, lr, embedding_lr, weight_decay, decay_vectors=True)


def groups_head_as_table(named_parameters, lr, embedding_lr, weight_decay):  # "the head has the table's shape"
    return _groups(named_parameters, lr, embedding_lr, weight_decay,
                   table=lambda name, p: "emb" in name or name.startswith("lm_head"))


def groups_token_table_only(named_parameters, lr, embedding_lr, weight_decay):
    return _groups(named_parameters, lr, embedding_lr, weight_decay, table=lambda name, p: "tok_emb" in name)


def groups_tables_twice(named_parameters, lr, embedding_lr, weight_decay):
    groups = _groups(named_parameters, lr, embedding_lr, weight_decay)
    groups[1]["names"] = groups[1]["names"] + groups[0]["names"]  # "all matrices", the tables included
    return groups


def groups_bias_forgotten(named_parameters, lr, embedding_lr, weight_decay):
    groups = _groups(named_parameters, lr, embedding_lr, weight_decay)
    groups[2]["names"] = [n for n in groups[2]["names"] if not n.endswith(".bias")]  # "only the norms"
    return groups


def groups_tensors_not_names(named_parameters, lr, embedding_lr, weight_decay):
    groups = _groups(named_parameters, lr, embedding_lr, weight_decay)
    params = dict(named_parameters)
    return [{**g, "names": [params[n] for n in g["names"]]} for g in groups]


# --- training_flops_per_token ----------------------------------------------------------------------------


def _terms(vocab_size, block_size, n_layer, n_embd):
    return 12 * n_layer * n_embd**2, vocab_size * n_embd, 2 * n_layer * block_size * n_embd


def flops_forward_only(vocab_size, block_size, n_layer, n_head, n_embd):
    return 2 * sum(_terms(vocab_size, block_size, n_layer, n_embd))


def flops_no_attention(vocab_size, block_size, n_layer, n_head, n_embd):
    blocks, head, _ = _terms(vocab_size, block_size, n_layer, n_embd)
    return 6 * (blocks + head)


def flops_six_n(vocab_size, block_size, n_layer, n_head, n_embd):  # the tied GPT's parameters, counted by hand
    per_block = 12 * n_embd**2 + 13 * n_embd  # four projections and the MLP with their biases, two LayerNorms
    return 6 * (vocab_size * n_embd + block_size * n_embd + n_layer * per_block + 2 * n_embd)


def flops_counted_on_meta(vocab_size, block_size, n_layer, n_head, n_embd):  # the grader's own way, copied
    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                              n_embd=n_embd))
        ids = torch.zeros(1, block_size, dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH):
        x = model.drop(model.embed(ids))
        for block in model.blocks:
            x = block(x)
        model.lm_head(model.ln_f(x)).sum().backward()
    return int(counter.get_total_flops()) // block_size


def flops_grader_reference(vocab_size, block_size, n_layer, n_head, n_embd):  # the teacher's reference, where loaded
    from llmcourse.grading.references import REFERENCES, load_references

    load_references()
    return REFERENCES["ch07.training_flops_per_token"](vocab_size, block_size, n_layer, n_head, n_embd)


def flops_six_n_from_the_package(vocab_size, block_size, n_layer, n_head, n_embd):  # no counter, the package's GPT
    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                              n_embd=n_embd))
    return 6 * sum(p.numel() for p in model.parameters())


def flops_causal_half(vocab_size, block_size, n_layer, n_head, n_embd):
    blocks, head, attention = _terms(vocab_size, block_size, n_layer, n_embd)
    return 6 * (blocks + head) + 3 * attention


def flops_per_head(vocab_size, block_size, n_layer, n_head, n_embd):  # attention counted once per head
    blocks, head, attention = _terms(vocab_size, block_size, n_layer, n_embd)
    return 6 * (blocks + head + attention * n_head)


def flops_float(vocab_size, block_size, n_layer, n_head, n_embd):
    return float(6 * sum(_terms(vocab_size, block_size, n_layer, n_embd)))


# --- padded_lm_loss --------------------------------------------------------------------------------------


def _smoothed_loss(pred, targets, pad_id, smoothing, *, mean_over="kept"):
    v = pred.size(-1)
    log_probs = F.log_softmax(pred, dim=-1).reshape(-1, v)
    t = targets.reshape(-1)
    keep = t != pad_id
    nll = -log_probs.gather(-1, t[:, None]).squeeze(-1)
    each = (1 - smoothing) * nll - smoothing * log_probs.mean(-1)
    if mean_over == "all":
        return each.mean()
    if mean_over == "zeros":
        return (each * keep).sum() / len(each)
    return each[keep].mean()


def loss_no_shift(logits, ids, pad_id, smoothing):
    return _smoothed_loss(logits, ids, pad_id, smoothing)


def loss_wrong_shift(logits, ids, pad_id, smoothing):
    return _smoothed_loss(logits[:, 1:], ids[:, :-1], pad_id, smoothing)


def loss_averages_padding(logits, ids, pad_id, smoothing):
    return _smoothed_loss(logits[:, :-1], ids[:, 1:], pad_id, smoothing, mean_over="zeros")


def loss_scores_padding(logits, ids, pad_id, smoothing):
    return _smoothed_loss(logits[:, :-1], ids[:, 1:], pad_id, smoothing, mean_over="all")


def loss_mean_of_sequences(logits, ids, pad_id, smoothing):
    return torch.stack([_smoothed_loss(logits[b:b + 1, :-1], ids[b:b + 1, 1:], pad_id, smoothing)
                        for b in range(ids.size(0))]).mean()


def loss_no_smoothing(logits, ids, pad_id, smoothing):
    return _smoothed_loss(logits[:, :-1], ids[:, 1:], pad_id, 0.0)


def loss_cross_entropy_does_it(logits, ids, pad_id, smoothing):  # the grader's own reference, in one call
    v = logits.size(-1)
    return F.cross_entropy(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1), ignore_index=pad_id,
                           label_smoothing=smoothing)


def loss_module_does_it(logits, ids, pad_id, smoothing):
    v = logits.size(-1)
    loss = torch.nn.CrossEntropyLoss(ignore_index=pad_id, label_smoothing=smoothing)
    return loss(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1))


def loss_nll_skips_padding(logits, ids, pad_id, smoothing):  # nll_loss's ignore_index, the smoothing added by hand
    log_probs = F.log_softmax(logits[:, :-1], dim=-1)
    targets = ids[:, 1:]
    nll = F.nll_loss(log_probs.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=pad_id)
    return (1 - smoothing) * nll - smoothing * log_probs.mean(-1)[targets != pad_id].mean()


def loss_target_built_in_float32(logits, ids, pad_id, smoothing):
    # the softened target as a distribution, made with torch.full without dtype=: float32, so with float64 logits
    # the loss (float64 by promotion) carries the target's float32 rounding
    log_probs = F.log_softmax(logits[:, :-1], dim=-1)  # (B, T-1, V)
    targets = ids[:, 1:]
    v = logits.size(-1)
    q = torch.full(log_probs.shape, smoothing / v)  # float32 whatever the logits' dtype
    q = q.scatter(-1, targets.unsqueeze(-1), 1 - smoothing + smoothing / v)
    each = -(q * log_probs).sum(-1)
    keep = targets != pad_id
    return each[keep].sum() / keep.sum()


def loss_log_of_softmax(logits, ids, pad_id, smoothing):  # log(softmax): the small probabilities underflow to 0
    probs = torch.softmax(logits[:, :-1], dim=-1)
    log_probs = torch.log(probs)
    targets = ids[:, 1:]
    keep = targets != pad_id
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    each = (1 - smoothing) * nll - smoothing * log_probs.mean(-1)
    return each[keep].sum() / keep.sum()


def loss_exp_without_the_max(logits, ids, pad_id, smoothing):  # log-sum-exp written out, the max not subtracted
    pred = logits[:, :-1]
    log_probs = pred - pred.exp().sum(-1, keepdim=True).log()
    targets = ids[:, 1:]
    keep = targets != pad_id
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    each = (1 - smoothing) * nll - smoothing * log_probs.mean(-1)
    return each[keep].sum() / keep.sum()


def loss_float_mask(logits, ids, pad_id, smoothing):  # keep.float(): a float32 mask, fine in float32 and float64
    log_probs = F.log_softmax(logits[:, :-1], dim=-1)
    targets = ids[:, 1:]
    keep = (targets != pad_id).float()
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    each = (1 - smoothing) * nll - smoothing * log_probs.mean(-1)
    return (each * keep).sum() / keep.sum()


def loss_item(logits, ids, pad_id, smoothing):
    return _smoothed_loss(logits[:, :-1], ids[:, 1:], pad_id, smoothing).item()


WRONG_ANSWERS = {
    "ch07.wsd_lr": [
        WrongAnswer("warm-up off by one", wsd_warmup_from_zero, "warmed up from 0"),
        WrongAnswer("decay starts a step late", wsd_decay_late, "a step late"),
        WrongAnswer("decays to zero", wsd_to_zero, "decayed to 0"),
        WrongAnswer("cosine decay", wsd_cosine, "cosine"),
        WrongAnswer("no stable phase", wsd_no_stable, "stable phase"),
        WrongAnswer("a tensor, not a float", wsd_tensor, "Python float"),
    ],
    "ch07.embedding_param_groups": [
        WrongAnswer("tables decayed", groups_decay_tables, "decayed the embedding tables"),
        WrongAnswer("decay on biases and norms", groups_decay_vectors, "one dimension are not decayed"),
        WrongAnswer("untied head taken for a table", groups_head_as_table, "untied output head"),
        WrongAnswer("position table at the base lr", groups_token_table_only, "position table"),
        WrongAnswer("tables in two groups", groups_tables_twice, "in two groups"),
        WrongAnswer("biases in no group", groups_bias_forgotten, "in no group"),
        WrongAnswer("tensors instead of names", groups_tensors_not_names, "names"),
    ],
    "ch07.training_flops_per_token": [
        WrongAnswer("forward pass only", flops_forward_only, "forward pass only"),
        WrongAnswer("attention's products left out", flops_no_attention, "attention's own products"),
        WrongAnswer("6 x parameters", flops_six_n, "6 x all the parameters"),
        WrongAnswer("causal attention halved", flops_causal_half, "causal mask"),
        WrongAnswer("attention once per head", flops_per_head, "is wrong"),
        WrongAnswer("a float", flops_float, "Python int"),
        WrongAnswer("FlopCounterMode over the package's GPT on the meta device", flops_counted_on_meta,
                    "torch.utils.flop_counter"),
        WrongAnswer("the grader's reference called", flops_grader_reference, "which this exercise rules out"),
        WrongAnswer("6 x the package's GPT's parameters", flops_six_n_from_the_package,
                    "the course's package holds the finished GPT"),
    ],
    "ch07.padded_lm_loss": [
        WrongAnswer("no shift", loss_no_shift, "no shift"),
        WrongAnswer("shifted the wrong way", loss_wrong_shift, "the wrong way"),
        WrongAnswer("averaged over padding", loss_averages_padding, "averaged over the padding"),
        WrongAnswer("padding scored", loss_scores_padding, "scored the padding"),
        WrongAnswer("mean of per-sequence means", loss_mean_of_sequences, "each sequence first"),
        WrongAnswer("no label smoothing", loss_no_smoothing, "label smoothing"),
        WrongAnswer(".item() instead of a tensor", loss_item, "0-d tensor"),
        WrongAnswer("log(softmax(...)): small probabilities underflow to 0", loss_log_of_softmax, "NaN or infinity"),
        WrongAnswer("exp of the logits without the max subtracted", loss_exp_without_the_max, "NaN or infinity"),
        WrongAnswer("a float32 mask (keep.float()) turns a float16/bfloat16 loss into float32", loss_float_mask,
                    "float32 tensor, but should be"),
        WrongAnswer("softened target made with torch.full (float32) under float64 logits", loss_target_built_in_float32,
                    "the float64 loss is wrong"),
        WrongAnswer("F.cross_entropy with ignore_index and label_smoothing", loss_cross_entropy_does_it,
                    "torch.nn.functional.cross_entropy"),
        WrongAnswer("nn.CrossEntropyLoss does it", loss_module_does_it, "which this exercise rules out"),
        WrongAnswer("nll_loss skips the padding", loss_nll_skips_padding, "torch.nn.functional.nll_loss"),
    ],
}
