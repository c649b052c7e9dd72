"""Chapter 10's graded exercises: the training targets of rendered multi-turn conversations, an SFT loss in which
every conversation counts once, IPO's preference loss, REINFORCE leave-one-out advantages, and the exact KL
divergence between two models' next-token distributions.

The chapter builds the chat template ``<|user|> text <|end|><|assistant|> text <|end|>`` with its loss mask (True on
the assistant's characters and the ``<|end|>`` closing its turn, never on a role token) while it renders, supervised
fine-tuning with the mean cross-entropy over all trained tokens of a batch, DPO's loss from four sequence
log-probabilities, GRPO's group-normalised advantages and Schulman's k3 estimate of the KL per sampled token; each
exercise asks for a sibling of those that it explains but does not write. Every case draws its inputs from the run's
trial, so they change from run to run. The expected answers come from the teacher's references
(``solutions/references/ch10.py``: the template read turn by turn, the losses and the KL in float64, the baseline of
the other samples summed by a loop), live on the teacher's side and replayed from the recording in a learner's check;
known mistakes are computed on the same inputs, so a message can name the one an answer makes.

Ruled out (:class:`~llmcourse.grading.core.Forbidden`): the course's own ``llmcourse.assistant`` (its ``sft_batch``,
``dpo_loss``, ``group_advantages`` and ``kl_k3`` are the chapter's neighbours of these steps), Hugging Face's
``transformers`` and ``trl`` (their trainers hold IPO, RLOO and the KL), ``torch.distributions`` (a KL between two
categorical distributions in one call) and PyTorch's ``kl_div``. PyTorch's cross-entropy is allowed: the SFT
exercise is about how its per-token values are averaged, not about computing them.
"""

from __future__ import annotations

from typing import Any

import torch

from ..grading.core import CheckFailure, Forbidden, Trial, exercise
from ..grading.expect import kind_of

NO_ASSISTANT = Forbidden(
    module="llmcourse.assistant",
    why="the chapter's assistant package holds the chapter's own template, SFT batches, DPO loss, group advantages "
    "and KL estimate; this exercise asks for a sibling of them, written by you.",
)
NO_TRANSFORMERS = Forbidden(
    module="transformers",
    why="Hugging Face's transformers holds ready-made versions of these steps (chat templates, data collators, "
    "losses): write this one yourself, with torch and plain Python.",
)
NO_TRL = Forbidden(
    module="trl",
    why="Hugging Face's TRL holds ready-made trainers and losses for SFT, DPO, IPO and "
    "RLOO: write this step yourself, with torch.",
)
COMMON = (NO_ASSISTANT, NO_TRANSFORMERS, NO_TRL)
INT_TOL = {"atol": 0, "rtol": 0}
LOW = (torch.float16, torch.bfloat16)


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    return {
        torch.float64: {"atol": 1e-10, "rtol": 1e-10},
        torch.float16: {"atol": 2e-3, "rtol": 2e-3},
        torch.bfloat16: {"atol": 1e-2, "rtol": 1e-2},
    }.get(dtype, {"atol": 1e-5, "rtol": 1e-4})


def named(dtype: torch.dtype) -> str:
    """`` (float64)`` after a result's name, nothing for float32."""
    return "" if dtype == torch.float32 else f" ({str(dtype).replace('torch.', '')})"


def tensors_of(got: Any, count: int, name: str, what: str) -> list[Any]:
    """The items of a tuple or list of ``count`` results, or a failure saying what came back instead."""
    if not isinstance(got, (tuple, list)) or len(got) != count:
        raise CheckFailure(f"`{name}` should return {what}, but it returned {kind_of(got)}.", "type")
    return list(got)


# --- 1. completion_targets -------------------------------------------------------------------------------------

completion_targets = exercise(
    "ch10.completion_targets",
    name="completion_targets",
    description="The next-token pairs of rendered, right-padded conversations: ids (B, T) int64 in the chapter's "
    "template (every turn is its role token, its text, <|end|>, and complete: no row ends with a bare role token; "
    "role_ids lists the three role tokens' ids, "
    "assistant_id among them; after a row's last turn comes padding, pad_id, which may be end_id itself); return "
    "(inputs, targets), two new (B, T - 1) int64 tensors: inputs = ids[:, :-1] and targets = ids[:, 1:], with -100 "
    "wherever the target is not one of the assistant's characters or the <|end|> that closes an assistant turn "
    "(every assistant turn of a conversation, none of the others).",
    args=("ids", "assistant_id", "end_id", "role_ids", "pad_id"),
    points=2,
    timeout=10,
    forbidden=COMMON,
    hints={
        "object has no attribute": "role_ids is a plain Python list of ints: test membership with `in`, or make a "
        "tensor of it (torch.tensor(role_ids)) for torch.isin.",
        "expected scalar type": "ids are int64: keep inputs and targets int64 (torch.where with -100, clone, index).",
    },
)

ROLES = ("system", "user", "assistant")


def random_turns(
    t: Trial,
    pairs: int,
    *,
    system: bool = False,
    ends_with_user: bool = False,
    longest: int = 6,
    empty_answer: bool = False,
) -> list[tuple[str, int]]:
    """A conversation as (role, text length) turns: an optional system turn, ``pairs`` exchanges of a user and the
    assistant, and a last user turn still waiting for its answer if ``ends_with_user``."""
    roles = (["system"] if system else []) + ["user", "assistant"] * pairs + (["user"] if ends_with_user else [])
    turns = [(role, t.py.randint(1, longest)) for role in roles]
    answers = [i for i, (role, _) in enumerate(turns) if role == "assistant"]
    if empty_answer and answers:
        turns[t.py.choice(answers)] = ("assistant", 0)
    return turns


def chat_ids(
    t: Trial,
    conversations: list[list[tuple[str, int]]],
    vocab: int,
    *,
    at_top: bool = True,
    extra: int = 0,
    width: int | None = None,
    pad_is_end: bool = False,
) -> tuple[torch.Tensor, dict[str, int]]:
    """The conversations rendered in the template with random characters and right-padded: (B, T) int64 ids, and the
    special ids by name (system, user, assistant, end, pad): the vocabulary's last five, or five anywhere in it;
    ``pad_is_end``: the padding written with <|end|>'s id, as the chapter's sft_batch pads its rows."""
    specials = list(range(vocab - 5, vocab)) if at_top else t.py.sample(range(vocab), 5)
    t.py.shuffle(specials)
    special = dict(zip((*ROLES, "end", "pad"), specials, strict=True))
    if pad_is_end:
        special["pad"] = special["end"]
    chars = [i for i in range(vocab) if i not in specials]
    rows = []
    for turns in conversations:
        row: list[int] = []
        for role, length in turns:
            row += [special[role], *(t.py.choice(chars) for _ in range(length)), special["end"]]
        rows.append(row)
    width = max((len(row) for row in rows), default=0) + extra if width is None else width
    ids = torch.full((len(rows), width), special["pad"], dtype=torch.int64)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return ids, special


def check_targets(
    t: Trial,
    conversations: list[list[tuple[str, int]]],
    vocab: int,
    *,
    at_top: bool = True,
    extra: int = 0,
    width: int | None = None,
    pad_is_end: bool = False,
) -> None:
    ids, special = chat_ids(t, conversations, vocab, at_top=at_top, extra=extra, width=width, pad_is_end=pad_is_end)
    args = (ids, special["assistant"], special["end"], [special[role] for role in ROLES], special["pad"])
    got = tensors_of(
        t.call(*args).value, 2, "completion_targets", "a tuple (inputs, targets) of two (B, T - 1) int64 tensors"
    )
    expected = t.reference("ch10.completion_targets", *args)
    mistakes = t.reference("ch10.completion_targets/mistakes", *args)
    for k, name in enumerate(("inputs", "targets")):
        t.expect(
            got[k], expected[k], f"`{name}`", mistakes={text: value[k] for text, value in mistakes.items()}, **INT_TOL
        )


@completion_targets.case(
    "multi-turn conversations (one to three exchanges, a system turn in some), right-padded; "
    "the special ids at the top of the vocabulary"
)
def _(t: Trial) -> None:
    conversations = [random_turns(t, t.py.randint(1, 3), system=t.py.random() < 0.5) for _ in range(t.py.randint(3, 5))]
    check_targets(t, conversations, t.py.randint(30, 60))


@completion_targets.case("one conversation (B = 1) of four exchanges, one of the answers empty (<|assistant|><|end|>)")
def _(t: Trial) -> None:
    check_targets(t, [random_turns(t, 4, system=True, empty_answer=True)], t.py.randint(20, 40))


@completion_targets.case(
    "a prompt with no answer yet and conversations that end with the user's turn, beside "
    "ordinary rows; the special ids anywhere in the vocabulary"
)
def _(t: Trial) -> None:
    conversations = [
        random_turns(t, 0, system=t.py.random() < 0.5, ends_with_user=True),
        random_turns(t, t.py.randint(1, 2), ends_with_user=True),
        random_turns(t, t.py.randint(1, 3), system=True),
    ]
    t.py.shuffle(conversations)
    check_targets(t, conversations, t.py.randint(25, 50), at_top=False)


@completion_targets.case(
    "long answers, the batch padded past its longest row (as to block_size + 1) with <|end|>'s own id, as the "
    "chapter's sft_batch pads"
)
def _(t: Trial) -> None:
    conversations = [random_turns(t, t.py.randint(1, 2), longest=20) for _ in range(t.py.randint(2, 4))]
    conversations.append(random_turns(t, 1, ends_with_user=True))  # a prompt too: the padding follows a user's turn
    t.py.shuffle(conversations)
    check_targets(
        t, conversations, t.py.randint(40, 80), extra=t.py.randint(3, 8), at_top=t.py.random() < 0.5, pad_is_end=True
    )


@completion_targets.case("rows that fill the batch's width exactly (no padding anywhere), then an empty batch (0, T)")
def _(t: Trial) -> None:
    length = t.py.randint(12, 20)
    conversations = []
    for _ in range(t.py.randint(2, 4)):
        asked = t.py.randint(1, length - 5)
        conversations.append([("user", asked), ("assistant", length - 4 - asked)])  # two turns of 2 specials each
    check_targets(t, conversations, t.py.randint(20, 40), at_top=False)
    check_targets(t, [], t.py.randint(20, 40), width=t.py.randint(5, 10))


# --- 2. per_conversation_loss ----------------------------------------------------------------------------------

per_conversation_loss = exercise(
    "ch10.per_conversation_loss",
    name="per_conversation_loss",
    description="An SFT loss in which every conversation counts once: logits (B, T, V) float and targets (B, T) "
    "int64, already shifted (logits[:, t] predicts targets[:, t]), -100 where nothing is scored; per "
    "row, the mean cross-entropy over its scored targets; then the mean of those over the rows that "
    "have at least one (a row with none is left out; a batch with no scored target at all gives 0). A "
    "0-d tensor of the logits' dtype; gradients flow to logits.",
    args=("logits", "targets"),
    points=1,
    timeout=10,
    grad=True,
    forbidden=COMMON,
    hints={
        "out of bounds": "-100 is not an index into the vocabulary: replace it (by 0, say) before gathering or "
        "use cross-entropy's ignore_index, and leave those positions out of every count.",
        "Expected target size": "F.cross_entropy takes the classes in dimension 1: flatten (B, T, V) logits to "
        "(B * T, V) and the targets to (B * T,), then shape the per-token losses back.",
    },
)


def scored_targets(t: Trial, batch: int, length: int, vocab: int, counts: list[int] | None = None) -> torch.Tensor:
    """(B, T) targets: in each row a run of scored ids (an answer) after -100s (its prompt), -100 after it."""
    targets = torch.full((batch, length), -100, dtype=torch.int64)
    for b in range(batch):
        count = counts[b] if counts is not None else t.py.randint(1, length)
        start = t.py.randint(0, length - count)
        targets[b, start : start + count] = t.randint(0, vocab, (count,))
    return targets


def check_sft_loss(
    t: Trial,
    batch: int,
    length: int,
    vocab: int,
    *,
    counts: list[int] | None = None,
    dtype: torch.dtype = torch.float32,
    scale: float = 2.0,
) -> None:
    logits = t.randn(batch, length, vocab, scale=scale, dtype=dtype)  # (B, T, V)
    targets = scored_targets(t, batch, length, vocab, counts)
    tol = tolerance(dtype)
    t.check_call(
        logits,
        targets,
        reference="ch10.per_conversation_loss",
        what=f"the loss{named(dtype)}",
        mistakes="ch10.per_conversation_loss/mistakes",
        **tol,
    )


@per_conversation_loss.case("answers of very different lengths: a long one beside short ones (B, T, V)")
def _(t: Trial) -> None:
    length = t.py.randint(12, 16)
    check_sft_loss(t, 3, length, t.py.randint(6, 10), counts=[length - t.py.randint(0, 2), 1, t.py.randint(2, 3)])


@per_conversation_loss.case("float64 logits, a row with no scored target among ordinary rows")
def _(t: Trial) -> None:
    length = t.py.randint(6, 10)
    counts = [t.py.randint(1, length), 0, t.py.randint(1, length), t.py.randint(1, 3)]
    t.py.shuffle(counts)
    check_sft_loss(t, 4, length, t.py.randint(5, 8), counts=counts, dtype=torch.float64)


@per_conversation_loss.case("one conversation (B = 1), more positions than vocabulary entries")
def _(t: Trial) -> None:
    check_sft_loss(t, 1, t.py.randint(12, 18), t.py.randint(4, 8))


@per_conversation_loss.case("logits of size 1e4 (an exp overflows: the log-probabilities must come from log-softmax)")
def _(t: Trial) -> None:
    length = t.py.randint(5, 8)
    check_sft_loss(t, 3, length, t.py.randint(6, 10), counts=[length, 0, t.py.randint(1, 3)], scale=1e4)


@per_conversation_loss.case("float16 and bfloat16 logits (a model run in half precision): the loss in their dtype")
def _(t: Trial) -> None:
    for dtype in LOW:
        length = t.py.randint(6, 10)
        check_sft_loss(t, 3, length, t.py.randint(6, 10), counts=[length, 0, t.py.randint(1, 3)], dtype=dtype)


@per_conversation_loss.case("no row with a scored target (the loss is 0), then an empty batch (0, T, V)")
def _(t: Trial) -> None:
    batch = t.py.randint(2, 3)
    check_sft_loss(t, batch, t.py.randint(4, 7), t.py.randint(5, 8), counts=[0] * batch)
    check_sft_loss(t, 0, t.py.randint(4, 7), t.py.randint(5, 8), counts=[])


# --- 3. ipo_loss -----------------------------------------------------------------------------------------------

ipo_loss = exercise(
    "ch10.ipo_loss",
    name="ipo_loss",
    description="IPO's loss (Azar et al. 2023, eq. 17) from four (B,) tensors of sequence log-probabilities: with "
    "h = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected) for each pair, the "
    "mean over the pairs of (h - 1 / (2 tau))^2, tau > 0. A 0-d tensor of the inputs' dtype; gradients "
    "flow to the policy's log-probabilities (the reference's are a fixed target).",
    args=("policy_chosen", "policy_rejected", "reference_chosen", "reference_rejected", "tau"),
    points=1,
    timeout=10,
    grad=True,
    forbidden=COMMON,
    exempt={
        "empty": "the loss is the mean over the pairs, and a batch of no pairs has none (0/0, which the chapter's "
        "dpo_loss refuses as well); a single pair is tested instead"
    },
)


def check_ipo(
    t: Trial,
    batch: int,
    tau: float,
    *,
    dtype: torch.dtype = torch.float32,
    scale: float = 30.0,
    drift: float = 2.0,
    same: bool = False,
    atol: float | None = None,
) -> None:
    """Sequence log-probabilities of about -scale (negative, as log-probabilities are), the policy within about
    ``drift`` nats of the reference (or equal to it)."""
    reference = [-(t.randn(batch, dtype=torch.float64).abs() + 0.2) * scale for _ in range(2)]
    policy = [r + (0.0 if same else drift) * t.randn(batch, dtype=torch.float64) for r in reference]
    args = [x.to(dtype) for x in (*policy, *reference)]
    tol = tolerance(dtype)
    if atol is not None:
        tol["atol"] = atol
    t.check_call(
        *args,
        tau,
        reference="ch10.ipo_loss",
        what=f"the loss{named(dtype)} (tau={tau:g})",
        mistakes="ch10.ipo_loss/mistakes",
        grad_atol=tol["atol"],
        **tol,
    )


@ipo_loss.case("a batch of preference pairs, tau 0.1 to 0.5")
def _(t: Trial) -> None:
    check_ipo(t, t.py.randint(3, 6), t.py.uniform(0.1, 0.5))


@ipo_loss.case("float64 log-probabilities; a large tau (1000: the target margin 1 / (2 tau) is almost 0)")
def _(t: Trial) -> None:
    check_ipo(t, t.py.randint(3, 5), t.py.uniform(0.05, 0.3), dtype=torch.float64)
    check_ipo(t, t.py.randint(3, 5), 1000.0, dtype=torch.float64)


@ipo_loss.case("a single pair (B = 1), and a policy equal to its reference (every h is 0)")
def _(t: Trial) -> None:
    check_ipo(t, 1, t.py.uniform(0.2, 1.0))
    check_ipo(t, t.py.randint(2, 4), t.py.uniform(0.1, 0.5), same=True)


@ipo_loss.case("long answers: sequence log-probabilities in the hundreds, the policy far from the reference")
def _(t: Trial) -> None:
    check_ipo(t, t.py.randint(3, 6), t.py.uniform(0.05, 0.2), scale=300.0, drift=8.0, atol=2e-3)


@ipo_loss.case("float16 and bfloat16 log-probabilities: the loss in their dtype")
def _(t: Trial) -> None:
    for dtype in LOW:
        check_ipo(t, t.py.randint(3, 5), t.py.uniform(0.2, 0.5), dtype=dtype, scale=10.0, drift=1.0)


# --- 4. rloo_advantages ----------------------------------------------------------------------------------------

rloo_advantages = exercise(
    "ch10.rloo_advantages",
    name="rloo_advantages",
    description="REINFORCE leave-one-out advantages (Kool et al. 2019; Ahmadian et al. 2024): rewards (G, K) float, "
    "one row per prompt and K >= 2 sampled answers to it; each answer's reward minus the mean of the "
    "OTHER K - 1 rewards of its row. A new (G, K) tensor of the rewards' dtype.",
    args=("rewards",),
    points=1,
    timeout=10,
    forbidden=COMMON,
    hints={
        "must match the size": "a prompt's answers are a row, dim 1: keep that dimension in the row's sum "
        "(keepdim=True) so it lines up with the (G, K) rewards.",
    },
)


def check_rloo(
    t: Trial,
    groups: int,
    samples: int,
    *,
    dtype: torch.dtype = torch.float32,
    kind: str = "binary",
    scale: float = 1.0,
    equal_rows: int = 0,
) -> None:
    if kind == "binary":  # a checker's verdicts, 0 or 1
        rewards = (torch.rand(groups, samples, generator=t.rng, dtype=torch.float64) < t.py.uniform(0.2, 0.8)).double()
    else:  # a reward model's scores, any real number, about `scale` in size
        rewards = t.randn(groups, samples, scale=scale, dtype=torch.float64) + t.py.uniform(-1, 1) * scale
    for g in range(min(equal_rows, groups)):
        rewards[g] = rewards[g, 0]
    rewards = rewards.to(dtype)
    tol = tolerance(dtype)
    if dtype not in LOW:  # the sum of a row, rounded in the rewards' dtype, sets the error of a careful answer
        largest = float(rewards.abs().max()) if rewards.numel() else 0.0
        tol["atol"] = max(tol["atol"], 8 * samples * torch.finfo(dtype).eps * largest)
    t.check_call(
        rewards,
        reference="ch10.rloo_advantages",
        what=f"the advantages{named(dtype)} (K={samples})",
        mistakes="ch10.rloo_advantages/mistakes",
        **tol,
    )


@rloo_advantages.case("binary rewards (a checker's verdicts), several prompts of 4 to 8 answers each")
def _(t: Trial) -> None:
    check_rloo(t, t.py.randint(3, 5), t.py.randint(4, 8), equal_rows=1)


@rloo_advantages.case("float64 scores of a reward model; K = 2 answers per prompt")
def _(t: Trial) -> None:
    check_rloo(t, t.py.randint(3, 6), t.py.randint(3, 6), dtype=torch.float64, kind="scores", scale=2.0)
    check_rloo(t, t.py.randint(3, 6), 2, dtype=torch.float64, kind="scores")


@rloo_advantages.case("one prompt (G = 1) of many answers; a prompt whose answers all scored the same")
def _(t: Trial) -> None:
    check_rloo(t, 1, t.py.randint(6, 12), kind="scores")
    check_rloo(t, t.py.randint(2, 3), t.py.randint(3, 5), equal_rows=2)


@rloo_advantages.case("scores in the thousands (a raw reward, not normalised)")
def _(t: Trial) -> None:
    check_rloo(t, t.py.randint(2, 4), t.py.randint(5, 8), kind="scores", scale=3000.0)


@rloo_advantages.case("bfloat16 and float16 scores (a reward model run in half precision) stay in their dtype")
def _(t: Trial) -> None:
    for dtype in (torch.bfloat16, torch.float16):
        check_rloo(t, t.py.randint(2, 4), t.py.randint(3, 6), dtype=dtype, kind="scores")


@rloo_advantages.case("an empty batch (0 prompts, K answers each)")
def _(t: Trial) -> None:
    check_rloo(t, 0, t.py.randint(2, 6))


# --- 5. token_kl -----------------------------------------------------------------------------------------------

token_kl = exercise(
    "ch10.token_kl",
    name="token_kl",
    description="The exact KL(policy || reference) of the next-token distributions, per position summed over the "
    "vocabulary: policy_logits and reference_logits (B, T, V) float, each a softmax over V away from "
    "its distribution; mask (B, T) bool; the mean of the per-position KL over the positions where mask "
    "is True (none: 0). A 0-d tensor of the logits' dtype; gradients flow to both logits.",
    args=("policy_logits", "reference_logits", "mask"),
    points=1,
    timeout=10,
    grad=True,
    forbidden=[
        *COMMON,
        Forbidden(
            module="torch.distributions",
            why="torch.distributions computes the KL between two categorical distributions in one call: write "
            "the sum over the vocabulary yourself.",
        ),
        *(
            Forbidden(
                path,
                why="PyTorch's kl_div computes the divergence's terms for you (and takes its arguments in the "
                "reverse order of the KL it names): write them yourself, from log-softmax.",
            )
            for path in ("torch.nn.functional.kl_div", "torch.kl_div")
        ),
    ],
    hints={
        "must match the size": "both distributions are over the vocabulary, the last dimension (dim=-1); the mask "
        "is (B, T), one value per position.",
        "expected scalar type": "the mask is bool: convert it to the logits' dtype before multiplying.",
    },
)


def check_kl(
    t: Trial,
    batch: int,
    length: int,
    vocab: int,
    *,
    dtype: torch.dtype = torch.float32,
    scale: float = 2.0,
    same: bool = False,
    empty_mask: bool = False,
) -> None:
    policy = t.randn(batch, length, vocab, scale=scale, dtype=dtype)  # (B, T, V)
    reference = policy.clone() if same else t.randn(batch, length, vocab, scale=scale, dtype=dtype)
    mask = torch.rand(batch, length, generator=t.rng) < 0.6  # (B, T): the answer's tokens
    if batch and length and not empty_mask:
        mask[t.py.randrange(batch), t.py.randrange(length)] = True
    if empty_mask:
        mask[:] = False
    tol = tolerance(dtype)
    if scale > 100 and dtype == torch.float32:  # log-probabilities of size 1e4 round to about 1e-3 in float32
        tol["atol"] = 1e-7 * scale
    t.check_call(
        policy,
        reference,
        mask,
        reference="ch10.token_kl",
        what=f"the mean KL{named(dtype)}",
        mistakes="ch10.token_kl/mistakes",
        **tol,
    )


@token_kl.case("a policy and a reference over a small vocabulary (B, T, V), a mask of the answer's tokens")
def _(t: Trial) -> None:
    check_kl(t, t.py.randint(2, 4), t.py.randint(5, 9), t.py.randint(6, 12))


@token_kl.case("float64 logits; identical logits (a KL of 0)")
def _(t: Trial) -> None:
    check_kl(t, t.py.randint(2, 4), t.py.randint(4, 7), t.py.randint(5, 9), dtype=torch.float64)
    check_kl(t, t.py.randint(2, 3), t.py.randint(4, 7), t.py.randint(5, 9), dtype=torch.float64, same=True)


@token_kl.case("one row (B = 1) over a vocabulary larger than its positions")
def _(t: Trial) -> None:
    check_kl(t, 1, t.py.randint(3, 6), t.py.randint(20, 40))


@token_kl.case("logits of size 1e4 (softmax underflows to exact zeros: log-probabilities from log-softmax)")
def _(t: Trial) -> None:
    check_kl(t, t.py.randint(2, 3), t.py.randint(4, 6), t.py.randint(5, 9), scale=1e4)


@token_kl.case("float16 and bfloat16 logits: the KL in their dtype")
def _(t: Trial) -> None:
    for dtype in LOW:
        check_kl(t, t.py.randint(2, 3), t.py.randint(4, 7), t.py.randint(6, 10), dtype=dtype)


@token_kl.case("a mask with no position (the mean is 0), then an empty batch (0, T, V)")
def _(t: Trial) -> None:
    check_kl(t, t.py.randint(2, 3), t.py.randint(3, 5), t.py.randint(4, 8), empty_mask=True)
    check_kl(t, 0, t.py.randint(3, 5), t.py.randint(4, 8))
