"""Chapter 7's graded exercises: the warmup-stable-decay schedule, AdamW parameter groups with their own learning
rate for the embeddings, the training FLOPs per token of a GPT by formula, and a next-token loss that ignores
padding and smooths its labels.

The chapter writes warm-up + cosine, two AdamW groups (decay on >= 2-D parameters) and the plain next-token loss;
each exercise asks for a sibling or an extension. The references: the schedule and the groups written out here
from their definitions; the FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode`` over a forward and
backward pass of the package's ``GPT`` built on the ``meta`` device (shapes only, so GPT-2 sizes cost nothing),
with attention run by PyTorch's math kernel so its matrix products are counted too; and the loss is PyTorch's
``F.cross_entropy`` with ``ignore_index`` and ``label_smoothing`` on the learner's own tensors (gradients compared).
Every case draws its inputs from the run's trial, and each known mistake is computed on the same inputs.

Those references would answer for the learner, so the learner's call may not use them: the FLOPs exercise refuses
``torch.utils.flop_counter`` and the ``llmcourse`` package (its ``GPT`` counted on the meta device, or this module's
own reference), and the loss exercise refuses PyTorch's cross-entropy and negative log-likelihood losses (their
``ignore_index`` and ``label_smoothing`` are the exercise) (:class:`~llmcourse.grading.core.Forbidden`).
"""

from __future__ import annotations

import math
import pkgutil
from typing import Any

import torch
import torch.nn.functional as F

from ..grading.core import CheckFailure, Forbidden, Step, Trial, exercise
from ..grading.expect import kind_of, mistake_values

# --- 1. wsd_lr ------------------------------------------------------------------------------------------

wsd_lr = exercise(
    "ch07.wsd_lr", name="wsd_lr",
    description="The warmup-stable-decay learning rate of step `step` (0-based): linear warm-up to max_lr over "
                "warmup_steps steps (max_lr * (step + 1) / warmup_steps), max_lr until step max_steps - "
                "decay_steps, then a straight line down to min_lr, reached at step max_steps, and min_lr after.",
    args=("step", "max_lr", "min_lr", "warmup_steps", "decay_steps", "max_steps"), points=1, timeout=20,
)


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


def check_wsd(t: Trial, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int, max_steps: int) -> None:
    """Every step from 0 to a few past max_steps, in one child process; compared as one list."""
    steps = list(range(max_steps + 3))
    args = [(s, max_lr, min_lr, warmup_steps, decay_steps, max_steps) for s in steps]
    got = [o.value for o in t.run([Step(a) for a in args])]
    expected = [wsd_reference(*a) for a in args]
    per_step = [wsd_mistakes(*a) for a in args]
    mistakes = {d: [m.get(d, math.nan) for m in per_step] for d in per_step[0]}
    t.expect(got, expected, f"the learning rates of steps 0 to {steps[-1]} (warmup_steps={warmup_steps}, "
             f"decay_steps={decay_steps}, max_steps={max_steps})", mistakes=mistakes, atol=1e-12, rtol=1e-9)


@wsd_lr.case("every step of a run with warm-up, a long stable phase and a short decay")
def _(t: Trial) -> None:
    max_steps = t.py.randint(30, 45)
    check_wsd(t, t.py.uniform(1e-3, 3e-3), t.py.uniform(1e-5, 1e-4), t.py.randint(4, 8), t.py.randint(5, 9), max_steps)


@wsd_lr.case("every step when the decay is half the run and min_lr is 0")
def _(t: Trial) -> None:
    max_steps = 2 * t.py.randint(8, 12)
    check_wsd(t, t.py.uniform(0.1, 1.0), 0.0, t.py.randint(1, 3), max_steps // 2, max_steps)


@wsd_lr.case("every step with a one-step warm-up and a one-step decay")
def _(t: Trial) -> None:
    check_wsd(t, t.py.uniform(5e-4, 5e-3), t.py.uniform(1e-6, 1e-5), 1, 1, t.py.randint(6, 12))


# --- 2. embedding_param_groups ---------------------------------------------------------------------------

embedding_param_groups = exercise(
    "ch07.embedding_param_groups", name="embedding_param_groups",
    description="AdamW groups for a GPT's named parameters, as names: the embedding tables (names starting with "
                "'embed.') at embedding_lr without weight decay; every other parameter with two or more dimensions "
                "at lr with weight_decay; biases and norm parameters (one dimension) at lr without decay. Returns a "
                "list of dicts {'names': [...], 'lr': float, 'weight_decay': float}; every name in exactly one.",
    args=("named_parameters", "lr", "embedding_lr", "weight_decay"), points=2, timeout=10,
)
_EMBED = "embed."


def _named_shapes(t: Trial, n_layer: int, n_embd: int, vocab_size: int, block_size: int, bias: bool,
                  tie: bool) -> list[tuple[str, tuple[int, ...]]]:
    """The names and shapes of the package's GPT of these sizes, in its own order (a tied matrix once)."""
    from llmcourse.gpt import GPT, GPTConfig

    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=1, n_embd=n_embd,
                              bias=bias, tie_embeddings=tie))
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


def groups_reference(named: list[tuple[str, tuple[int, ...]]], lr: float, embedding_lr: float,
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


def _as_assignment(got: Any, names: list[str]) -> dict[str, list[float]]:
    """The learner's groups as name -> [lr, weight_decay], after checking their structure (in words)."""
    if not isinstance(got, (list, tuple)):
        raise CheckFailure(f"`embedding_param_groups` should return a list of dicts, but it returned {kind_of(got)}.",
                           "type")
    seen: dict[str, list[float]] = {}
    for i, group in enumerate(got):
        if not isinstance(group, dict) or set(group) != {"names", "lr", "weight_decay"}:
            raise CheckFailure(f"group {i} should be a dict with exactly the keys 'names', 'lr' and 'weight_decay', "
                               f"but it is {kind_of(group)}" + (f" with keys {sorted(map(str, group))}"
                                                                 if isinstance(group, dict) else "") + ".", "type")
        if not isinstance(group["names"], (list, tuple)) or not all(isinstance(n, str) for n in group["names"]):
            raise CheckFailure(f"group {i}'s 'names' should be a list of parameter names (strings).", "type")
        for key in ("lr", "weight_decay"):
            value = group[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CheckFailure(f"group {i}'s {key!r} should be a Python float, but it is {kind_of(value)}.",
                                   "type")
        for name in group["names"]:
            if name not in names:
                raise CheckFailure(f"group {i} names {name!r}, which is not one of the parameters you were given.")
            if name in seen:
                raise CheckFailure(f"the parameter {name!r} is in two groups: AdamW refuses a parameter that appears "
                                   "in more than one group, so give each exactly one.")
            seen[name] = [float(group["lr"]), float(group["weight_decay"])]
    missing = [n for n in names if n not in seen]
    if missing:
        raise CheckFailure(f"{len(missing)} parameter{'s are' if len(missing) > 1 else ' is'} in no group (e.g. "
                           f"{missing[0]!r}): a parameter left out of every group is never trained.")
    return seen


def check_groups(t: Trial, n_layer: int, n_embd: int, vocab_size: int, block_size: int, bias: bool, tie: bool,
                 shuffle: bool = False) -> None:
    named = _named_shapes(t, n_layer, n_embd, vocab_size, block_size, bias, tie)
    if shuffle:
        t.py.shuffle(named)
    params = [(name, t.randn(*shape, scale=0.02)) for name, shape in named]
    lr, embedding_lr = t.py.uniform(1e-4, 1e-3), t.py.uniform(2e-3, 1e-2)
    weight_decay = t.py.uniform(0.01, 0.2)
    got = _as_assignment(t.call(params, lr, embedding_lr, weight_decay).value, [n for n, _ in named])
    expected = groups_reference(named, lr, embedding_lr, weight_decay)
    mistakes = {
        "decayed the embedding tables: this recipe gives them their own learning rate and no weight decay":
            groups_reference(named, lr, embedding_lr, weight_decay, "decay_tables"),
        "decayed the biases and LayerNorm parameters: parameters of one dimension are not decayed":
            groups_reference(named, lr, embedding_lr, weight_decay, "decay_all"),
        "put the untied output head (lm_head) with the embedding tables: only the names starting with 'embed.' "
        "are tables; an untied head is a matrix like the others":
            groups_reference(named, lr, embedding_lr, weight_decay, "by_shape"),
        "gave embedding_lr to the token table only: the position table (embed.pos_emb) is an embedding table too":
            groups_reference(named, lr, embedding_lr, weight_decay, "token_only"),
        "kept the chapter's two groups: the embedding tables need their own group at embedding_lr":
            groups_reference(named, lr, embedding_lr, weight_decay, "nanogpt"),
    }
    t.expect(got, expected, "the (lr, weight_decay) of each parameter", mistakes=mistakes, atol=1e-12, rtol=1e-9)


@embedding_param_groups.case("a tied GPT of two blocks with biases, in the model's own order")
def _(t: Trial) -> None:
    check_groups(t, 2, t.py.choice((8, 12)), t.py.randint(20, 40), t.py.randint(8, 16), True, True)


@embedding_param_groups.case("an untied GPT without biases (its output head is a matrix of its own)")
def _(t: Trial) -> None:
    check_groups(t, t.py.randint(1, 2), 8, t.py.randint(10, 20), 6, False, False)


@embedding_param_groups.case("an untied GPT with biases, its parameters in shuffled order")
def _(t: Trial) -> None:
    check_groups(t, 3, 4, t.py.randint(5, 9), t.py.randint(3, 5), True, False, shuffle=True)


# --- 3. training_flops_per_token -------------------------------------------------------------------------


def _course_modules() -> list[str]:
    """The ``llmcourse`` package's modules a learner could count with: all but the grading engine, whose own code
    (``runner``, ``wire``, ...) runs around every call, so ruling out ``llmcourse`` whole would refuse every answer;
    the chapters' checks (``llmcourse.checks``) are ruled out with the rest."""
    import llmcourse

    return [f"llmcourse.{info.name}" for info in pkgutil.iter_modules(llmcourse.__path__) if info.name != "grading"]


FLOPS_FORBIDDEN = (
    Forbidden(module="torch.utils.flop_counter",
              why="FlopCounterMode counts the FLOPs of a pass it watches, so it would do the counting for you: derive "
                  "the count from the sizes, product by product, with plain arithmetic."),
    *(Forbidden(module=name, why="the course's package holds the finished GPT (a pass through it, even on the meta "
                                 "device, is a measurement, not a formula) and the grader's own reference: write the "
                                 "count from the sizes, with plain arithmetic.")
      for name in _course_modules()),
    Forbidden(device="meta", why="a model built on the meta device and measured is a measurement, not a formula: "
                                 "derive the count from the sizes, product by product, with plain arithmetic."),
)

training_flops_per_token = exercise(
    "ch07.training_flops_per_token", name="training_flops_per_token",
    description="The floating-point operations of the matrix products in one training step (forward and backward) "
                "of llmcourse.gpt.GPT(GPTConfig(vocab_size, block_size, n_layer, n_head, n_embd)), per token of a "
                "batch of full-length sequences, as a Python int, by formula (FlopCounterMode and the llmcourse "
                "package are refused). A product of (m, k) by (k, n) costs 2 m k n; attention's scores and weighted "
                "sum are counted over all T x T pairs.",
    args=("vocab_size", "block_size", "n_layer", "n_head", "n_embd"), points=1, timeout=10,
    forbidden=FLOPS_FORBIDDEN,
)


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


def check_flops(t: Trial, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
    t.check_call(vocab_size, block_size, n_layer, n_head, n_embd, reference=flops_reference,
                 what=f"the FLOPs per token (vocab_size={vocab_size}, block_size={block_size}, n_layer={n_layer}, "
                      f"n_embd={n_embd})", mistakes=flops_mistakes)


@training_flops_per_token.case("a small character GPT")
def _(t: Trial) -> None:
    n_head = t.py.choice((2, 4))
    check_flops(t, 65, t.py.choice((32, 64, 128)), t.py.randint(2, 4), n_head, n_head * t.py.randint(4, 8))


@training_flops_per_token.case("GPT-2 small and GPT-2 medium's sizes")
def _(t: Trial) -> None:
    if t.py.random() < 0.5:
        check_flops(t, 50257, 1024, 12, 12, 768)
    else:
        check_flops(t, 50257, 1024, 24, 16, 1024)


@training_flops_per_token.case("one block, one head, a context longer than the width")
def _(t: Trial) -> None:
    check_flops(t, t.py.randint(100, 600), t.py.randint(40, 90), 1, 1, t.py.randint(3, 9))


# --- 4. padded_lm_loss --------------------------------------------------------------------------------------

_WRITE_THE_LOSS = ("write the loss from log-probabilities (log_softmax) yourself: pick each target's log-probability, "
                   "mix in the smoothing's share, leave out the padding, and average over the targets that count.")
LOSS_FORBIDDEN = (
    *(Forbidden(path, why="PyTorch's cross-entropy skips the padding for you (ignore_index) and smooths the labels "
                          "for you (label_smoothing), which is this exercise: " + _WRITE_THE_LOSS)
      for path in ("torch.nn.functional.cross_entropy", "torch._C._nn.cross_entropy_loss")),
    *(Forbidden(path, why="PyTorch's negative log-likelihood loss skips the padding for you (ignore_index) and "
                          "averages over the rest, which is half of this exercise: " + _WRITE_THE_LOSS)
      for path in ("torch.nn.functional.nll_loss", "torch._C._nn.nll_loss", "torch._C._nn.nll_loss_nd",
                   "torch._C._nn.nll_loss2d")),
)

padded_lm_loss = exercise(
    "ch07.padded_lm_loss", name="padded_lm_loss",
    description="The next-token loss of a batch of right-padded sequences: logits (B, T, V) are the model's output "
                "on ids (B, T); position t predicts ids[:, t + 1]; targets equal to pad_id are not scored; with label "
                "smoothing eps the target keeps 1 - eps of its probability on the right token and spreads eps evenly "
                "over the whole vocabulary, the right token included; the mean over the scored targets, a 0-d "
                "tensor of the logits' dtype (float64 logits give a float64 loss), written from log_softmax "
                "(PyTorch's cross-entropy and NLL losses are refused).",
    args=("logits", "ids", "pad_id", "smoothing"), points=2, timeout=10, grad=True, forbidden=LOSS_FORBIDDEN,
)


def padded_reference(logits: torch.Tensor, ids: torch.Tensor, pad_id: int, smoothing: float) -> torch.Tensor:
    v = logits.size(-1)
    return F.cross_entropy(logits[:, :-1].reshape(-1, v), ids[:, 1:].reshape(-1), ignore_index=pad_id,
                           label_smoothing=smoothing)


def _smoothed(log_probs: torch.Tensor, targets: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Per position: -(1 - eps) log p[target] - eps mean_v log p[v]. (N, V), (N,) -> (N,)."""
    nll = -log_probs.gather(-1, targets[:, None]).squeeze(-1)
    return (1 - smoothing) * nll - smoothing * log_probs.mean(-1)


def padded_mistakes(logits: torch.Tensor, ids: torch.Tensor, pad_id: int, smoothing: float) -> dict[str, Any]:
    v = logits.size(-1)
    lp = F.log_softmax(logits.double(), -1)  # (B, T, V)

    def loss(pred: torch.Tensor, tgt: torch.Tensor, eps: float = smoothing, mask: str = "ignore",
             per_row: bool = False, other: bool = False) -> torch.Tensor:
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
            rows = (each * keep).view(tgt.shape).sum(1) / keep.view(tgt.shape).sum(1).clamp(min=1)
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
        "left out the label smoothing": lambda: loss(lp[:, :-1], ids[:, 1:], eps=0.0),
        "spread eps over the V - 1 wrong tokens only: the smoothed target puts eps / V on every token, the right one "
        "included": lambda: loss(lp[:, :-1], ids[:, 1:], other=True),
    })


def check_padded(t: Trial, batch: int, length: int, vocab: int, pad_id: int, smoothing: float,
                 lengths: list[int] | None = None, dtype: torch.dtype = torch.float32) -> None:
    """float64 logits are checked at float64 precision (1e-10), so a softened target or a mask built with a
    default-dtype constructor (torch.full, torch.zeros: float32) shows in the loss and its gradient."""
    logits = t.randn(batch, length, vocab, scale=2.0, dtype=dtype)  # (B, T, V)
    ids = t.randint(0, vocab, (batch, length))  # (B, T)
    ids = torch.where(ids == pad_id, (ids + 1) % vocab, ids)  # real tokens are never the pad id
    lengths = lengths or [t.py.randint(2, length) for _ in range(batch)]
    for row, n in enumerate(lengths):
        ids[row, n:] = pad_id  # right padding
    tolerance = 1e-10 if dtype == torch.float64 else None
    t.check_call(logits, ids, pad_id, smoothing, reference=padded_reference,
                 what="the float64 loss" if tolerance else "the loss", mistakes=padded_mistakes,
                 **({"atol": tolerance, "rtol": tolerance} if tolerance else {}))


@padded_lm_loss.case("a batch of sequences of different lengths, padded at the end, with label smoothing")
def _(t: Trial) -> None:
    length = t.py.randint(6, 9)
    check_padded(t, 3, length, t.py.randint(5, 11), 0, t.py.uniform(0.05, 0.2),
                 lengths=[length, t.py.randint(2, 4), t.py.randint(4, length - 1)])


@padded_lm_loss.case("one sequence (B = 1), a pad id at the top of the vocabulary, no smoothing")
def _(t: Trial) -> None:
    vocab = t.py.randint(4, 7)
    check_padded(t, 1, t.py.randint(7, 12), vocab, vocab - 1, 0.0)


@padded_lm_loss.case("strong smoothing, a pad id in the middle of the vocabulary, more positions than tokens; "
                     "float64 logits: a float64 loss at float64 precision")
def _(t: Trial) -> None:
    vocab = t.py.randint(3, 5)
    check_padded(t, t.py.randint(2, 4), t.py.randint(9, 14), vocab, vocab // 2, t.py.uniform(0.3, 0.6),
                 dtype=torch.float64)
