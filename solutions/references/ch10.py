"""Chapter 10's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch10.py compare with. All are written here; the chapter's package has none of these steps:

- ``completion_targets``: the template read as its definition states, turn by turn (a role token opens a turn, its
  ``<|end|>`` closes it), with a loop over each row's ids; the targets are the next ids where the next position is
  trained (the chapter's ``render`` builds the same mask while it writes the ids);
- ``per_conversation_loss``: cross-entropy from log-softmax in float64, averaged per row, then over the rows that
  have a scored target;
- ``ipo_loss``: Azar et al.'s eq. 17, (h - 1/(2 tau))^2 averaged over the pairs, in float64 (TRL's ``loss_type="ipo"``
  on sequence log-probabilities is the same formula);
- ``rloo_advantages``: each reward minus the mean of the others of its row, the others summed one by one in float64;
- ``token_kl``: sum_v p_v (log p_v - log q_v) from log-softmax in float64, averaged over the masked positions.

Known mistakes are computed on the same inputs, so a message can name the one an answer makes."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.grading.references import reference

# --- 1. completion_targets --------------------------------------------------------------------------------------


def _trained(
    ids: torch.Tensor,
    assistant_id: int,
    end_id: int,
    role_ids: list[int],
    *,
    role_token: bool = False,
    closing_end: bool = True,
    role_runs_on: bool = False,
    last_turn_only: bool = False,
) -> torch.Tensor:
    """(B, T) bool: True at the positions whose id is trained, the assistant's characters and closing <|end|>.

    ``role_runs_on``: each position takes the role of the last role token at or before it, so a turn runs on past its
    <|end|> into the padding; ``last_turn_only``: only the last assistant turn of each row."""
    roles = {int(r) for r in role_ids}
    trained = torch.zeros(ids.shape, dtype=torch.bool)
    for b, row in enumerate(ids.tolist()):
        role, spans = None, []  # the open turn's role token (None between turns); each assistant turn's positions
        for t, token in enumerate(row):
            if token in roles and (role is None or role_runs_on):
                role = token
                if role == assistant_id:
                    spans.append([t] if role_token else [])
                continue
            if role is None:  # padding after the last turn
                continue
            if role == assistant_id and (token != end_id or closing_end):
                spans[-1].append(t)
            if token == end_id and not role_runs_on:
                role = None
        for span in spans[-1:] if last_turn_only else spans:
            trained[b, span] = True
    return trained


def _pairs(ids: torch.Tensor, trained: torch.Tensor, *, shifted: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets): the target at position t is ids[t + 1], kept where that position (or, not shifted, position
    t itself) is trained."""
    keep = trained[:, 1:] if shifted else trained[:, :-1]
    return ids[:, :-1].clone(), torch.where(keep, ids[:, 1:], torch.full_like(ids[:, 1:], -100))


@reference("ch10.completion_targets")
def completion_targets_reference(
    ids: torch.Tensor, assistant_id: int, end_id: int, role_ids: list[int], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    return _pairs(ids, _trained(ids, assistant_id, end_id, role_ids))


@reference("ch10.completion_targets/mistakes")
def completion_targets_mistakes(
    ids: torch.Tensor, assistant_id: int, end_id: int, role_ids: list[int], pad_id: int
) -> dict[str, Any]:
    args = (ids, assistant_id, end_id, role_ids)
    return {
        "trained the prompt too: only the assistant's characters and the <|end|> closing its turns are targets; the "
        "user's and the system's turns (role token, text, <|end|>) get -100": _pairs(ids, ids != pad_id),
        "trained the <|assistant|> role token: it is given to the model (a prompt ends with it), "
        "never predicted": _pairs(ids, _trained(*args, role_token=True)),
        "left out the <|end|> that closes an assistant turn: the model must learn to stop, so that <|end|> is a "
        "target": _pairs(ids, _trained(*args, closing_end=False)),
        "kept the targets where the INPUT position is the assistant's: the target at position t is ids[t + 1], so "
        "the mask is shifted with the targets and read at position t + 1": _pairs(ids, _trained(*args), shifted=False),
        "took every pad_id for padding: here the padding is written with <|end|>'s own id, and an <|end|> that "
        "closes an answer is still trained; the padding is what follows a row's last turn": _pairs(
            ids, _trained(*args) & (ids != pad_id)
        ),
        "trained the padding after a conversation's last turn: a turn ends with its <|end|>, and the padding after "
        "it belongs to no turn": _pairs(ids, _trained(*args, role_runs_on=True)),
        "trained only the last assistant turn: in SFT every answer of a conversation is trained": _pairs(
            ids, _trained(*args, last_turn_only=True)
        ),
    }


# --- 2. per_conversation_loss -----------------------------------------------------------------------------------


def _sft_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    *,
    average: str = "rows",
    row: str = "mean",
    rows: str = "scored",
    guard: bool = True,
) -> torch.Tensor:
    """``average``: "rows" (each row's loss, then their mean) or "tokens" (every scored token of the batch alike);
    ``row``: "mean" over the row's scored targets, "over T" (divided by the row's length), "sum"; ``rows``: the mean
    over the "scored" rows, over "all" rows (an unscored row counts as 0 or, unguarded, NaN), or their "sum";
    ``guard``: an empty count divides by 1 instead of 0."""
    scored = targets != -100  # (B, T)
    log_probs = F.log_softmax(logits.double(), dim=-1)  # (B, T, V)
    nll = -log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * scored  # (B, T)
    low = 1 if guard else 0
    if average == "tokens":
        return (nll.sum() / scored.sum().clamp(min=low)).to(logits.dtype)
    count = scored.sum(dim=1)  # (B,)
    per_row = {
        "mean": nll.sum(dim=1) / count.clamp(min=low),
        "over T": nll.sum(dim=1) / max(1, targets.size(1)),
        "sum": nll.sum(dim=1),
    }[row]
    if rows == "all":  # every row in the mean, one with no scored target as 0 (unguarded: NaN)
        return (per_row.sum() / (max(1, len(per_row)) if guard else len(per_row))).to(logits.dtype)
    has = (count > 0).double()
    if rows == "sum":
        return (per_row.nan_to_num() * has).sum().to(logits.dtype)
    return ((per_row.nan_to_num() * has).sum() / has.sum().clamp(min=low)).to(logits.dtype)


@reference("ch10.per_conversation_loss")
def per_conversation_loss_reference(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return _sft_loss(logits, targets)


@reference("ch10.per_conversation_loss/mistakes")
def per_conversation_loss_mistakes(logits: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    return {
        "averaged over all the batch's scored tokens (the chapter's token mean), where every conversation counts "
        "once: average each row first, then the rows": _sft_loss(logits, targets, average="tokens"),
        "divided each row by its length T: the -100 positions count neither in a row's sum nor in the number it is "
        "divided by": _sft_loss(logits, targets, row="over T", rows="all"),
        "gave NaN for a row with no scored target (0 / 0): leave such a row out of the mean over rows": _sft_loss(
            logits, targets, rows="all", guard=False
        ),
        "counted a row with no scored target as a loss of 0: the mean is over the rows that have at "
        "least one": _sft_loss(logits, targets, rows="all"),
        "gave NaN for a batch with no scored target at all: the task asks for 0 there": _sft_loss(
            logits, targets, guard=False
        ),
        "added up each row's losses instead of averaging them: a row's loss is the mean over its scored "
        "targets": _sft_loss(logits, targets, row="sum"),
        "added up the rows' losses: the loss is their mean over the rows that have a scored target": _sft_loss(
            logits, targets, rows="sum"
        ),
    }


# --- 3. ipo_loss ------------------------------------------------------------------------------------------------


def _ipo(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    tau: float,
    *,
    with_reference: bool = True,
    swapped: bool = False,
    target: float | None = None,
    form: str = "squared",
    reduce: str = "mean",
) -> torch.Tensor:
    pc, pr = policy_chosen.double(), policy_rejected.double()
    rc, rr = reference_chosen.detach().double(), reference_rejected.detach().double()  # a fixed target
    h = (pc - rc) - (pr - rr) if with_reference else pc - pr  # (B,)
    if swapped:
        h = -h
    if form == "dpo":
        losses = -F.logsigmoid(tau * h)
    else:
        losses = (h - (1 / (2 * tau) if target is None else target)) ** 2  # (B,)
    return (losses.mean() if reduce == "mean" else losses.sum()).to(policy_chosen.dtype)


@reference("ch10.ipo_loss")
def ipo_loss_reference(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    return _ipo(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau)


@reference("ch10.ipo_loss/mistakes")
def ipo_loss_mistakes(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    tau: float,
) -> dict[str, Any]:
    args = (policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau)
    return {
        "swapped the chosen and the rejected answers: h is the chosen answer's log-ratio minus the rejected one's, "
        "and the loss pulls it up to 1 / (2 tau)": _ipo(*args, swapped=True),
        "left out the reference model: h compares each answer's policy log-probability with the reference's, "
        "log pi(y) - log pi_ref(y), before the chosen and rejected are compared": _ipo(*args, with_reference=False),
        "aimed h at 1 / tau: IPO's target margin is 1 / (2 tau)": _ipo(*args, target=1 / tau),
        "aimed h at tau / 2: in Python 1 / 2 * tau is (1 / 2) * tau; IPO's margin is 1 / (2 * tau)": _ipo(
            *args, target=tau / 2
        ),
        "aimed h at tau: IPO's target margin is 1 / (2 tau), so a small tau asks for a wide margin": _ipo(
            *args, target=tau
        ),
        "wrote DPO's loss, -log sigmoid(tau * h): IPO replaces it with the squared distance of h from 1 / (2 tau), "
        "which stops pulling once the margin is reached": _ipo(*args, form="dpo"),
        "added up the pairs' losses: the loss is their mean": _ipo(*args, reduce="sum"),
    }


# --- 4. rloo_advantages -----------------------------------------------------------------------------------------


def _others_mean(rewards: torch.Tensor, dim: int, divide_by: int | None = None) -> torch.Tensor:
    """The mean of the other entries along ``dim`` of each entry, summed one by one (``divide_by`` in place of the
    number of others; a single entry has none: 0 / 0)."""
    r = rewards.double().movedim(dim, -1)  # (..., K)
    k = r.size(-1)
    others = torch.zeros_like(r)
    for i in range(k):
        for j in range(k):
            if j != i:
                others[..., i] += r[..., j]
    return (others / (k - 1 if divide_by is None else divide_by)).movedim(-1, dim)


def _rloo(rewards: torch.Tensor, *, baseline: str = "others", std: bool = False) -> torch.Tensor:
    r = rewards.double()
    if baseline == "others":
        base = _others_mean(r, 1)
    elif baseline == "group mean":
        base = r.mean(dim=1, keepdim=True)
    elif baseline == "batch":  # the others of the whole batch, every prompt's answers together
        base = _others_mean(r.reshape(1, -1), 1).reshape(r.shape)
    elif baseline == "column":  # the others of the same column: the other prompts' k-th answers
        base = _others_mean(r, 0)
    else:  # "over K": the others' sum divided by K
        base = _others_mean(r, 1, divide_by=r.size(1))
    advantages = r - base
    if std and r.numel():  # (an empty batch has no spread to divide by)
        advantages = advantages / (r.std(dim=1, keepdim=True) + 1e-6)
    return advantages.to(rewards.dtype)


@reference("ch10.rloo_advantages")
def rloo_advantages_reference(rewards: torch.Tensor) -> torch.Tensor:
    return _rloo(rewards)


@reference("ch10.rloo_advantages/mistakes")
def rloo_advantages_mistakes(rewards: torch.Tensor) -> dict[str, Any]:
    return {
        "kept each answer's own reward in its baseline (the group's mean, as the chapter's GRPO takes it): RLOO's "
        "baseline is the mean of the OTHER K - 1 rewards": _rloo(rewards, baseline="group mean"),
        "took the baseline over all the prompts together: each prompt's answers are compared only with the other "
        "answers to the same prompt (its row)": _rloo(rewards, baseline="batch"),
        "divided by the group's standard deviation, as GRPO does: RLOO's advantage is the reward minus the others' "
        "mean, not rescaled": _rloo(rewards, std=True),
        "took the others along the wrong axis (the other prompts' answers, dim 0): the K answers to one prompt are "
        "a row, dim 1": _rloo(rewards, baseline="column"),
        "divided the others' sum by K: they are K - 1 rewards": _rloo(rewards, baseline="over K"),
    }


# --- 5. token_kl ------------------------------------------------------------------------------------------------


def _kl(
    policy_logits: torch.Tensor,
    reference_logits: torch.Tensor,
    mask: torch.Tensor,
    *,
    reverse: bool = False,
    raw: bool = False,
    dim: int = -1,
    over_vocab: str = "sum",
    k3: bool = False,
    positions: str = "masked mean",
    guard: bool = True,
) -> torch.Tensor:
    # k3's exp(log q - log p) overflows where the logits are far apart: computed in the logits' own dtype, as an answer
    # would, so that its overflows fall where the answer's do
    a, b = (policy_logits, reference_logits) if k3 else (policy_logits.double(), reference_logits.double())
    if reverse:
        a, b = b, a
    log_p, log_q = F.log_softmax(a, dim=dim), F.log_softmax(b, dim=dim)  # (B, T, V)
    if raw:  # the logits themselves taken for log-probabilities
        terms = log_p.exp() * (a - b)
    elif k3:  # the chapter's per-token estimate, at every token of the vocabulary, unweighted
        log_ratio = log_q - log_p
        terms = log_ratio.exp() - log_ratio - 1
    else:
        terms = log_p.exp() * (log_p - log_q)
    kl = terms.sum(dim=-1) if over_vocab == "sum" else terms.mean(dim=-1)  # (B, T)
    m = mask.to(kl.dtype)
    if positions == "all":
        return (kl.sum() / max(1, kl.numel())).to(policy_logits.dtype)
    if positions == "sum":
        return (kl * m).sum().to(policy_logits.dtype)
    return ((kl * m).sum() / m.sum().clamp(min=1 if guard else 0)).to(policy_logits.dtype)


@reference("ch10.token_kl")
def token_kl_reference(policy_logits: torch.Tensor, reference_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return _kl(policy_logits, reference_logits, mask)


@reference("ch10.token_kl/mistakes")
def token_kl_mistakes(
    policy_logits: torch.Tensor, reference_logits: torch.Tensor, mask: torch.Tensor
) -> dict[str, Any]:
    args = (policy_logits, reference_logits, mask)
    return {
        "computed the reversed KL(reference || policy): KL(p || q) weights log(p / q) by the policy's own "
        "probabilities p": _kl(*args, reverse=True),
        "took the raw logits for log-probabilities: a logit is a log-probability only up to its row's log-sum-exp; "
        "use log_softmax for both": _kl(*args, raw=True),
        "summed the chapter's k3 estimate over the whole vocabulary without weighting each token by the policy's "
        "probability: k3 estimates the KL from tokens sampled from the policy, and the exact sum weights every "
        "token by p": _kl(*args, k3=True),
        "averaged over every position, the mask ignored: only the positions where mask is True count": _kl(
            *args, positions="all"
        ),
        "added up the masked positions' KL: the result is their mean": _kl(*args, positions="sum"),
        "gave NaN for a mask with no True position (0 / 0): the task asks for 0 there": _kl(*args, guard=False),
        "took the softmax along the wrong dimension (over the positions): each position's distribution is over the "
        "vocabulary, the last dimension": _kl(*args, dim=1),
        "averaged over the vocabulary: the KL at a position is a sum over the vocabulary's tokens": _kl(
            *args, over_vocab="mean"
        ),
    }
