"""Chapter 7's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch07.py compare with. The schedule and the groups are written out here from their definitions;
the FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over a forward and backward pass of the
package's ``GPT`` built on the ``meta`` device (shapes only, so GPT-2 sizes cost nothing), with attention run by
PyTorch's math kernel so its matrix products are counted too; and the loss is PyTorch's ``F.cross_entropy`` with
``ignore_index`` and ``label_smoothing`` (gradients compared). Each mistake function computes the known mistakes on
the same inputs, so a message can name the one an answer makes."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.grading.expect import mistake_values
from llmcourse.grading.references import reference

# --- 1. wsd_lr ------------------------------------------------------------------------------------------


@reference("ch07.wsd_lr")
def wsd_reference(step: int, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int,
                  max_steps: int) -> float:
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    decay_start = max_steps - decay_steps
    if step <= decay_start:
        return max_lr
    if step >= max_steps:
        return min_lr
    return max_lr + (min_lr - max_lr) * (step - decay_start) / decay_steps


@reference("ch07.wsd_lr/mistakes")
def wsd_mistakes(step: int, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int,
                 max_steps: int) -> dict[str, float]:
    decay_start = max_steps - decay_steps
    right = wsd_reference(step, max_lr, min_lr, warmup_steps, decay_steps, max_steps)
    in_warmup, in_decay = step < warmup_steps, decay_start < step < max_steps

    def warmup_from_zero() -> float:
        return max_lr * step / warmup_steps if in_warmup else right

    def decay_late() -> float:  # the line starts one step after decay_start and reaches min_lr one step late
        if in_warmup or step <= decay_start:
            return right
        return max_lr + (min_lr - max_lr) * min(1.0, (step - decay_start - 1) / decay_steps)

    def decay_early() -> float:  # the line starts at decay_start - 1
        if in_warmup or step < decay_start or step >= max_steps:
            return right
        return max_lr + (min_lr - max_lr) * (step - decay_start + 1) / decay_steps

    def to_zero() -> float:
        if step >= max_steps:
            return 0.0
        return max_lr * (1 - (step - decay_start) / decay_steps) if in_decay else right

    def cosine() -> float:
        if not in_decay:
            return right
        return min_lr + (max_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * (step - decay_start) / decay_steps))

    def no_stable() -> float:  # decays from the end of warm-up, as warm-up + linear decay would
        if in_warmup or step >= max_steps:
            return right
        return max_lr + (min_lr - max_lr) * (step - warmup_steps) / (max_steps - warmup_steps)

    return mistake_values({
        "warmed up from 0 (max_lr * step / warmup_steps): the chapter's warm-up already takes a small step at step 0, "
        "max_lr * (step + 1) / warmup_steps": warmup_from_zero,
        "started the decay a step late: the learning rate is max_lr at step max_steps - decay_steps and already "
        "lower at the next step, reaching min_lr exactly at max_steps": decay_late,
        "started the decay a step early: at step max_steps - decay_steps the learning rate is still max_lr":
            decay_early,
        "decayed to 0 instead of min_lr": to_zero,
        "decayed along a cosine: WSD's decay is a straight line from max_lr to min_lr": cosine,
        "left out the stable phase: the decay starts at max_steps - decay_steps, not at the end of warm-up":
            no_stable,
    })


# --- 2. embedding_param_groups ---------------------------------------------------------------------------

_EMBED = "embed."


def groups_variant(named: list[tuple[str, tuple[int, ...]]], lr: float, embedding_lr: float,
                   weight_decay: float, rule: str = "") -> dict[str, list[float]]:
    """name -> [lr, weight_decay] under the right rule, or under one known mistake (``rule``)."""
    out = {}
    for name, shape in named:
        is_table = name.startswith(_EMBED)
        if rule == "by_shape":  # the untied head taken for a table (it has the token table's shape)
            is_table = name.startswith((_EMBED, "lm_head"))
        if rule == "token_only":
            is_table = name.startswith(_EMBED + "tok_emb")
        if is_table:
            out[name] = [embedding_lr, weight_decay if rule == "decay_tables" else 0.0]
        elif len(shape) >= 2 or rule == "decay_all":
            out[name] = [lr, weight_decay]
        else:
            out[name] = [lr, weight_decay if rule == "decay_all" else 0.0]
        if rule == "nanogpt":  # the chapter's two groups, with no separate embedding learning rate
            out[name] = [lr, weight_decay if len(shape) >= 2 else 0.0]
    return out


@reference("ch07.embedding_param_groups")
def groups_reference(named: list[tuple[str, tuple[int, ...]]], lr: float, embedding_lr: float,
                     weight_decay: float) -> dict[str, list[float]]:
    """The expected groups as name -> [lr, weight_decay], from the parameters' names and shapes."""
    return groups_variant(named, lr, embedding_lr, weight_decay)


@reference("ch07.embedding_param_groups/mistakes")
def groups_mistakes(named: list[tuple[str, tuple[int, ...]]], lr: float, embedding_lr: float,
                    weight_decay: float) -> dict[str, dict[str, list[float]]]:
    return {
        "decayed the embedding tables: this recipe gives them their own learning rate and no weight decay":
            groups_variant(named, lr, embedding_lr, weight_decay, "decay_tables"),
        "decayed the biases and LayerNorm parameters: parameters of one dimension are not decayed":
            groups_variant(named, lr, embedding_lr, weight_decay, "decay_all"),
        "put the untied output head (lm_head) with the embedding tables: only the names starting with 'embed.' "
        "are tables; an untied head is a matrix like the others":
            groups_variant(named, lr, embedding_lr, weight_decay, "by_shape"),
        "gave embedding_lr to the token table only: the position table (embed.pos_emb) is an embedding table too":
            groups_variant(named, lr, embedding_lr, weight_decay, "token_only"),
        "kept the chapter's two groups: the embedding tables need their own group at embedding_lr":
            groups_variant(named, lr, embedding_lr, weight_decay, "nanogpt"),
    }


# --- 3. training_flops_per_token -------------------------------------------------------------------------


@reference("ch07.training_flops_per_token")
def flops_reference(vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> int:
    """Counted, not derived: FlopCounterMode over a forward and backward pass of the package's GPT (meta device)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    from llmcourse.gpt import GPT, GPTConfig

    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                              n_embd=n_embd))
        ids = torch.zeros(1, block_size, dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH):  # the math kernel: attention as matrix products the counter sees
        x = model.drop(model.embed(ids))  # layer by layer: GPT.forward reads the values of ids, and meta has none
        for block in model.blocks:
            x = block(x)
        model.lm_head(model.ln_f(x)).sum().backward()
    return int(counter.get_total_flops()) // block_size


@reference("ch07.training_flops_per_token/mistakes")
def flops_mistakes(vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> dict[str, int]:
    v, t, n, c = vocab_size, block_size, n_layer, n_embd
    blocks, head, attention = 12 * n * c * c, v * c, 2 * n * t * c  # multiply-adds per token, forward
    from llmcourse.gpt import GPTConfig, gpt_param_count

    params = gpt_param_count(GPTConfig(vocab_size=v, block_size=t, n_layer=n, n_head=n_head, n_embd=c))
    return {
        "counted the forward pass only: the backward pass costs twice the forward (a gradient for the input and one "
        "for the weights of every product)": 2 * (blocks + head + attention),
        "left out attention's own products (the scores q k^T and the weighted sum of v): they cost 12 n_layer "
        "block_size n_embd per token in a training step": 6 * (blocks + head),
        "left out the output head: the logits are a product with the (tied) token table, vocab_size x n_embd":
            6 * (blocks + attention),
        "used 6 x all the parameters: the embedding lookups are not products (the position table costs nothing), "
        "and attention adds its own": 6 * params,
        "halved attention for the causal mask: dense kernels compute every T x T score and mask afterwards":
            6 * (blocks + head) + 3 * attention,
        "counted one FLOP per multiply-add: a product of (m, k) by (k, n) is 2 m k n FLOPs": 3 * (blocks + head +
                                                                                                 attention),
    }


# --- 4. padded_lm_loss --------------------------------------------------------------------------------------


@reference("ch07.padded_lm_loss")
def padded_reference(logits: torch.Tensor, ids: torch.Tensor, pad_id: int, smoothing: float) -> torch.Tensor:
    """float16 and bfloat16 logits: computed in float32 from the same logits, the loss cast to their dtype."""
    v = logits.size(-1)
    low = logits.dtype in (torch.float16, torch.bfloat16)
    loss = F.cross_entropy((logits.float() if low else logits)[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1),
                           ignore_index=pad_id, label_smoothing=smoothing)
    return loss.to(logits.dtype)


def _smoothed(log_probs: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Per position: -(1 - eps) log p[target] - eps mean_v log p[v]. (N, V), (N,) -> (N,)."""
    nll = -log_probs.gather(-1, targets[:, None]).squeeze(-1)
    return (1 - smoothing) * nll - smoothing * log_probs.mean(-1)


@reference("ch07.padded_lm_loss/mistakes")
def padded_mistakes(logits: torch.Tensor, ids: torch.Tensor, pad_id: int, smoothing: float) -> dict[str, Any]:
    v = logits.size(-1)
    lp = F.log_softmax(logits.double(), -1)  # (B, T, V)

    def loss(pred: torch.Tensor, tgt: torch.Tensor, eps: float = smoothing, mask: str = "ignore",
             per_row: bool = False, other: bool = False, guard: bool = True) -> torch.Tensor:
        flat, target = pred.reshape(-1, v), tgt.reshape(-1)
        if other:  # eps spread over the V - 1 wrong tokens only
            nll = -flat.gather(-1, target[:, None]).squeeze(-1)
            rest = -(flat.sum(-1) + nll) / (v - 1)
            each = (1 - eps) * nll + eps * rest
        else:
            each = _smoothed(flat, target.clamp(0, v - 1), eps)
        keep = (target != pad_id).double()
        if mask == "none":
            return each.mean().to(logits.dtype)
        if mask == "zeros":
            return (each * keep).sum().div(len(each)).to(logits.dtype)
        if per_row:
            counts = keep.view(tgt.shape).sum(1)
            rows = (each * keep).view(tgt.shape).sum(1) / (counts.clamp(min=1) if guard else counts)
            return rows.mean().to(logits.dtype)
        return ((each * keep).sum() / keep.sum()).to(logits.dtype)

    return mistake_values({
        "scored every position against its own token (no shift): position t predicts the NEXT token, ids[:, t + 1]":
            lambda: loss(lp, ids),
        "shifted the wrong way: logits[:, :-1] (positions 0..T-2) predict ids[:, 1:]": lambda: loss(lp[:, 1:],
                                                                                                   ids[:, :-1]),
        "averaged over the padding too: padded targets count neither in the sum nor in the number you divide by":
            lambda: loss(lp[:, :-1], ids[:, 1:], mask="zeros"),
        "scored the padding targets: a target equal to pad_id is not a prediction to grade":
            lambda: loss(lp[:, :-1], ids[:, 1:], mask="none"),
        "averaged each sequence first, then the sequences: every scored target weighs the same, whatever its "
        "sequence's length": lambda: loss(lp[:, :-1], ids[:, 1:], per_row=True),
        "averaged each sequence first, then the sequences (a sequence with nothing to score gives 0/0, NaN): every "
        "scored target weighs the same, whatever its sequence's length":
            lambda: loss(lp[:, :-1], ids[:, 1:], per_row=True, guard=False),
        "left out the label smoothing": lambda: loss(lp[:, :-1], ids[:, 1:], eps=0.0),
        "spread eps over the V - 1 wrong tokens only: the smoothed target puts eps / V on every token, the right one "
        "included": lambda: loss(lp[:, :-1], ids[:, 1:], other=True),
    })
