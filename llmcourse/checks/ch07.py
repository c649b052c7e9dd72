"""Chapter 7's graded exercises: the warmup-stable-decay schedule, AdamW parameter groups with their own learning
rate for the embeddings, the training FLOPs per token of a GPT by formula, and a next-token loss that ignores
padding and smooths its labels.

The chapter writes warm-up + cosine, two AdamW groups (decay on >= 2-D parameters) and the plain next-token loss;
each exercise asks for a sibling or an extension. Every case draws its inputs from the run's trial. The expected
answers come from the teacher's references (``solutions/references/ch07.py``: the schedule and the groups written
out from their definitions, the FLOPs counted by PyTorch's ``FlopCounterMode`` over the package's ``GPT`` on the
``meta`` device, the loss by PyTorch's ``F.cross_entropy`` with ``ignore_index`` and ``label_smoothing``, gradients
compared), live on the teacher's side and replayed from the recording in a learner's check; known mistakes are
computed on the same inputs, so a message can name the one an answer makes.

Those ways of computing the answers would answer for the learner, so the learner's call may not use them: the FLOPs
exercise refuses ``torch.utils.flop_counter`` and the ``llmcourse`` package (its ``GPT`` counted on the meta device),
and the loss exercise refuses PyTorch's cross-entropy and negative log-likelihood losses (their ``ignore_index`` and
``label_smoothing`` are the exercise) (:class:`~llmcourse.grading.core.Forbidden`).
"""

from __future__ import annotations

import math
import pkgutil
from typing import Any

import torch

from ..grading.core import CheckFailure, Forbidden, Step, Trial, exercise
from ..grading.expect import kind_of

# --- 1. wsd_lr ------------------------------------------------------------------------------------------

wsd_lr = exercise(
    "ch07.wsd_lr", name="wsd_lr",
    description="The warmup-stable-decay learning rate of step `step` (0-based): linear warm-up to max_lr over "
                "warmup_steps steps (max_lr * (step + 1) / warmup_steps), max_lr until step max_steps - "
                "decay_steps, then a straight line down to min_lr, reached at step max_steps, and min_lr after.",
    args=("step", "max_lr", "min_lr", "warmup_steps", "decay_steps", "max_steps"), points=1, timeout=20,
)


def check_wsd(t: Trial, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int, max_steps: int) -> None:
    """Every step from 0 to a few past max_steps, in one child process; compared as one list."""
    steps = list(range(max_steps + 3))
    args = [(s, max_lr, min_lr, warmup_steps, decay_steps, max_steps) for s in steps]
    got = [o.value for o in t.run([Step(a) for a in args])]
    expected = [t.reference("ch07.wsd_lr", *a) for a in args]
    per_step = [t.reference("ch07.wsd_lr/mistakes", *a) for a in args]
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


@wsd_lr.case("every step with no warm-up at all (warmup_steps = 0: max_lr from step 0)")
def _(t: Trial) -> None:
    max_steps = t.py.randint(12, 20)
    check_wsd(t, t.py.uniform(1e-3, 1e-2), t.py.uniform(1e-5, 1e-4), 0, t.py.randint(3, 6), max_steps)


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
    exempt={"aliasing": "the answer is names and numbers, never a tensor: a parameter returned in place of its name "
                        "is wrong whatever memory it shares, and the structure check says so in words ('names' "
                        "should be a list of parameter names), where the aliasing rule would ask for a .clone()"},
)


def _named_shapes(t: Trial, n_layer: int, n_embd: int, vocab_size: int, block_size: int, bias: bool,
                  tie: bool) -> list[tuple[str, tuple[int, ...]]]:
    """The names and shapes of the package's GPT of these sizes, in its own order (a tied matrix once)."""
    from llmcourse.gpt import GPT, GPTConfig

    with torch.device("meta"):
        model = GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=1, n_embd=n_embd,
                              bias=bias, tie_embeddings=tie))
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


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
    expected = t.reference("ch07.embedding_param_groups", named, lr, embedding_lr, weight_decay)
    mistakes = t.reference("ch07.embedding_param_groups/mistakes", named, lr, embedding_lr, weight_decay)
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
                                 "device, is a measurement, not a formula): write the count from the sizes, with "
                                 "plain arithmetic.")
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


def check_flops(t: Trial, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int) -> None:
    t.check_call(vocab_size, block_size, n_layer, n_head, n_embd, reference="ch07.training_flops_per_token",
                 what=f"the FLOPs per token (vocab_size={vocab_size}, block_size={block_size}, n_layer={n_layer}, "
                      f"n_embd={n_embd})", mistakes="ch07.training_flops_per_token/mistakes")


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
    exempt={"empty": "the loss is the mean over the scored targets, and an empty batch (B = 0) or sequences of length "
                     "0 or 1 have none: the mean of nothing is 0/0, which the description gives no value for (NaN as "
                     "F.cross_entropy returns it, or 0 from a guarded denominator, are both conventions), so no case "
                     "asks for it; a row with nothing to score beside rows that have targets is tested instead"},
)


# Tolerances of a float16 or bfloat16 loss (and of its gradient), against the reference computed in float32 from the
# same low-precision logits and cast: a few of the dtype's rounding steps of the loss (about 2.5) and of the gradient.
_LOW_PRECISION = {torch.bfloat16: (2e-2, 1e-2, 2e-3), torch.float16: (2e-3, 2e-3, 4e-4)}  # atol, rtol, grad atol


def check_padded(t: Trial, batch: int, length: int, vocab: int, pad_id: int, smoothing: float,
                 lengths: list[int] | None = None, dtype: torch.dtype = torch.float32, scale: float = 2.0) -> None:
    """float64 logits are checked at float64 precision (1e-10), so a softened target or a mask built with a
    default-dtype constructor (torch.full, torch.zeros: float32) shows in the loss and its gradient; float16 and
    bfloat16 logits at their own precision, the loss in their dtype (such a float32 mask makes a float32 loss)."""
    logits = t.randn(batch, length, vocab, scale=scale, dtype=dtype)  # (B, T, V)
    ids = t.randint(0, vocab, (batch, length))  # (B, T)
    ids = torch.where(ids == pad_id, (ids + 1) % vocab, ids)  # real tokens are never the pad id
    lengths = lengths or [t.py.randint(2, length) for _ in range(batch)]
    for row, n in enumerate(lengths):
        ids[row, n:] = pad_id  # right padding
    if dtype in _LOW_PRECISION:
        atol, rtol, grad_atol = _LOW_PRECISION[dtype]
        t.check_call(logits, ids, pad_id, smoothing, reference="ch07.padded_lm_loss",
                     what=f"the {str(dtype).replace('torch.', '')} loss", mistakes="ch07.padded_lm_loss/mistakes",
                     atol=atol, rtol=rtol, grad_atol=grad_atol)
        return
    tolerance = 1e-10 if dtype == torch.float64 else None
    t.check_call(logits, ids, pad_id, smoothing, reference="ch07.padded_lm_loss",
                 what="the float64 loss" if tolerance else "the loss", mistakes="ch07.padded_lm_loss/mistakes",
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


@padded_lm_loss.case("logits in the hundreds, hundreds apart within each position's row (exp overflows and "
                     "softmax underflows to 0 in float32), with smoothing; one sequence of a single token (nothing to "
                     "score in its row)")
def _(t: Trial) -> None:
    length = t.py.randint(5, 8)
    check_padded(t, 3, length, t.py.randint(6, 10), t.py.randint(0, 2), t.py.uniform(0.05, 0.2),
                 lengths=[t.py.randint(2, length), 1, length], scale=t.py.uniform(100.0, 200.0))


@padded_lm_loss.case("float16 or bfloat16 logits (as a mixed-precision model gives them), no padding at all: the "
                     "loss in the logits' dtype")
def _(t: Trial) -> None:
    length = t.py.randint(5, 9)
    batch = t.py.randint(2, 4)
    check_padded(t, batch, length, t.py.randint(8, 16), t.py.randint(0, 3), t.py.uniform(0.0, 0.2),
                 lengths=[length] * batch, dtype=t.py.choice((torch.float16, torch.bfloat16)))
