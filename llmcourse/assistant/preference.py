"""Preference tuning by Direct Preference Optimization, DPO (chapter 10).

A preference pair is one prompt with two answers, one preferred ("chosen", y_w) and one not ("rejected", y_l).
RLHF (Ouyang et al. 2022) fits a reward model to such pairs and then maximises that reward by RL, held near the
starting model by a KL penalty. Rafailov et al. (2023) show that the best policy for that objective is known in
closed form, pi*(y|x) = pi_ref(y|x) exp(r(x, y) / beta) / Z(x), so the reward can be read off any policy,

    r(x, y) = beta * (log pi(y|x) - log pi_ref(y|x))  +  beta * log Z(x),

and fitting the Bradley-Terry model of the preferences with that reward (Z cancels in a difference) is one loss on
the policy itself, with no reward model and no sampling:

    loss = -log sigmoid( beta * [ (log pi(y_w|x) - log pi_ref(y_w|x)) - (log pi(y_l|x) - log pi_ref(y_l|x)) ] )

    batch = preference_batch(prompts, chosen, rejected, chat_tok)  # chat-rendered pairs; only the answers scored
    logp = sequence_logprobs(model, ids, response_mask)         # (B,): sum of log p(token | prefix) over the answer
    out = dpo_loss(pc, pr, rc, rr, beta=0.1)                      # out.loss, out.chosen_rewards, out.rejected_rewards
    history = train_dpo(policy, reference, batches, steps=100, lr=1e-4, beta=0.1, generator=g)

The reference is the model DPO starts from (after supervised fine-tuning), frozen. ``beta`` sets how far the policy
may move: a pair stops pulling (its gradient weight is sigmoid(-margin)) once the implicit reward margin is a few
units, that is once the log-ratios differ by a few times 1 / beta; a small beta lets the policy go further. The
implicit rewards ``beta * (log pi - log pi_ref)`` are what DPO trains; their margin and how often the chosen one
wins (the "accuracy") are the numbers to watch, with the policy's distance from the reference.

Token log-probabilities come from one forward pass: position t's logits score token t + 1. A ``response_mask``
(B, T), True on the answer's tokens, selects what is summed; the prompt and right padding are left out, and right
padding cannot change the real tokens' log-probabilities because attention is causal. Left padding would move the
learned positions, so sequences must start at position 0.

What it leaves out: the variants that change the loss (IPO, Azar et al. 2023; conservative DPO's label smoothing;
length-normalised SimPO, Meng et al. 2024), and TRL's ``DPOTrainer`` conveniences (reference log-probs computed
once before training, multi-GPU, gradient accumulation).

References: Rafailov et al. (2023), "Direct Preference Optimization: Your Language Model is Secretly a Reward Model";
Bradley & Terry (1952); Ouyang et al. (2022), InstructGPT; Christiano et al. (2017), "Deep RL from Human
Preferences"; Hugging Face TRL's ``DPOTrainer`` (its sigmoid loss is the one here).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.transformer.seq2seq import check_token_ids

from .chat import ChatTokenizer, Conversation


def _vocab_and_block(model: nn.Module) -> tuple[int | None, int | None]:
    config = getattr(model, "config", None)
    return getattr(config, "vocab_size", None), getattr(config, "block_size", None)


def _check_mask(mask: object, ids: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != ids.shape:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a bool tensor of the ids' shape {tuple(ids.shape)}, got {got}")
    if bool(mask[:, 0].any()):
        raise ValueError(f"{name} marks position 0, which no prefix predicts: a response follows at least one token")
    empty = (~mask.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"{name} marks no position in rows {empty[:8]}: every row needs a response to score")
    return mask.to(ids.device)


def _check_temperature(temperature: object) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"temperature must be a number > 0 (the one the tokens were sampled at), got {temperature!r}")
    if not math.isfinite(temperature):
        raise ValueError(f"temperature must be finite, got {temperature!r}")
    return float(temperature)


def next_token_logprobs(model: nn.Module, ids: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """log p(v | ids[:, :t+1]) for every position t < T - 1 and every id v: (B, T - 1, V), float32.

    The full distributions, for measuring how far a model moved (the KL over the vocabulary); one forward pass
    over ``ids[:, :-1]``, so T may be block_size + 1. ``temperature`` scores the distribution the tokens were
    sampled from, softmax(logits / T) (as TRL and verl do for RL): a policy gradient at T != 1 must use it.
    Gradients flow unless the caller turns them off.
    """
    temperature = _check_temperature(temperature)
    vocab, block = _vocab_and_block(model)
    check_token_ids(ids, vocab, name="ids")
    if ids.size(1) < 2:
        raise ValueError(f"ids must have at least 2 positions (a prefix and a token to score), got {tuple(ids.shape)}")
    if block is not None and ids.size(1) - 1 > block:
        raise ValueError(f"ids has {ids.size(1)} positions; scoring needs T - 1 <= block_size={block}")
    logits = model(ids[:, :-1])  # (B, T - 1, V): position t predicts token t + 1
    return F.log_softmax(logits.float() / temperature, dim=-1)  # (B, T - 1, V)


def _picked(logp: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(B, T - 1, V) distributions and their (B, T) ids -> (B, T): each actual token's log-prob, 0 at position 0."""
    picked = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T - 1): the log-prob of each actual next token
    return F.pad(picked, (1, 0))  # (B, T): a 0 in front for position 0


def _masked_sum(token_logp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T) token log-probs -> (B,): the sum over the positions ``mask`` marks (the answer's)."""
    return (token_logp * mask).sum(dim=1)


def token_logprobs(model: nn.Module, ids: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """log p(ids[:, t] | ids[:, :t]) for every position, aligned with ``ids``: (B, T), float32; position 0 is 0.

    Aligned with the ids so that one mask (B, T) serves the ids, these log-probabilities and the losses; position 0
    has no prefix, so it holds 0 and a mask must leave it out. Chapter 10's DPO and RL both score answers with it;
    ``temperature`` as in :func:`next_token_logprobs`.
    """
    return _picked(next_token_logprobs(model, ids, temperature=temperature), ids)  # (B, T)


def sequence_logprobs(model: nn.Module, ids: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """log p(response | prompt): the sum of the token log-probs over the positions ``response_mask`` marks, (B,).

    ``ids`` (B, T) are prompt + response + right padding; ``response_mask`` (B, T) is True on the response's tokens
    (never on position 0). The sum, not the mean: DPO compares the likelihoods of whole answers.
    """
    check_token_ids(ids, _vocab_and_block(model)[0], name="ids")
    mask = _check_mask(response_mask, ids, "response_mask")
    return _masked_sum(token_logprobs(model, ids), mask)  # (B,)


def _check_own_weights(policy: nn.Module, reference: nn.Module) -> None:
    """Refuse a reference that is the policy or shares a parameter with it: training would move the reference too.

    DPO and RL both hold the policy near a frozen reference, made with ``copy.deepcopy(policy)`` before training.
    """
    if policy is reference or {id(p) for p in policy.parameters()} & {id(p) for p in reference.parameters()}:
        raise ValueError(
            "policy and reference must be two models with their own weights: make the reference with "
            "copy.deepcopy(policy) before training"
        )


class DPOOutput(NamedTuple):
    """The mean loss (a scalar with gradient), and each pair's implicit rewards (B,), detached."""

    loss: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> DPOOutput:
    """Rafailov et al.'s loss, the mean over pairs of -log sigmoid(beta * (chosen log-ratio - rejected log-ratio)).

    Each argument is (B,) sequence log-probs (:func:`sequence_logprobs`). The rewards are beta * (policy -
    reference) per answer; the reference's log-probs are a fixed target and are detached. ``F.logsigmoid`` keeps
    the loss finite for any margin (log(sigmoid(x)) underflows to -inf for x below about -100 in float32).
    """
    tensors = {
        "policy_chosen": policy_chosen,
        "policy_rejected": policy_rejected,
        "reference_chosen": reference_chosen,
        "reference_rejected": reference_rejected,
    }
    for name, value in tensors.items():
        if not isinstance(value, torch.Tensor) or value.dim() != 1 or value.numel() == 0:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{name} must be a non-empty 1-D tensor of sequence log-probs (B,), got {got}")
        if value.shape != policy_chosen.shape:
            raise ValueError(f"{name} has shape {tuple(value.shape)}, policy_chosen {tuple(policy_chosen.shape)}")
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise ValueError(f"beta must be a number > 0, got {beta!r}")
    chosen_logratio = policy_chosen - reference_chosen.detach()  # (B,)
    rejected_logratio = policy_rejected - reference_rejected.detach()  # (B,)
    loss = -F.logsigmoid(beta * (chosen_logratio - rejected_logratio)).mean()
    return DPOOutput(loss, beta * chosen_logratio.detach(), beta * rejected_logratio.detach())


class PreferenceBatch(NamedTuple):
    """Pairs as padded ids and response masks: chosen (B, Tc) and rejected (B, Tr), row i the same prompt."""

    chosen_ids: torch.Tensor
    chosen_mask: torch.Tensor
    rejected_ids: torch.Tensor
    rejected_mask: torch.Tensor


def _pad_rows(rows: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (T_i,), mask (T_i,)) pairs -> ids (B, T) and mask (B, T), right-padded with id 0 and False."""
    length = max(ids.numel() for ids, _ in rows)
    ids = torch.stack([F.pad(ids, (0, length - ids.numel())) for ids, _ in rows])  # (B, T)
    mask = torch.stack([F.pad(mask, (0, length - mask.numel())) for _, mask in rows])  # (B, T)
    return ids, mask


def preference_batch(
    prompts: Sequence[Conversation], chosen: Sequence[str], rejected: Sequence[str], tokenizer: ChatTokenizer
) -> PreferenceBatch:
    """Pairs of answers to conversations, rendered by the chat template: a :class:`PreferenceBatch` for DPO.

    Each prompt is a conversation that ends with a user turn; ``chosen[i]`` and ``rejected[i]`` are two answers to
    it. Each is rendered as ``prompt + [("assistant", answer)]`` (:meth:`ChatTokenizer.render`) and only that final
    assistant turn is scored, its characters and its ``<|end|>``: the earlier assistant turns of the conversation
    are given context, the same under both answers, and are not what the pair compares. Rows are right-padded.
    """
    if not isinstance(tokenizer, ChatTokenizer):
        raise TypeError(f"tokenizer must be a ChatTokenizer (chapter 10's template), got {type(tokenizer).__name__}")
    for name, value in (("prompts", prompts), ("chosen", chosen), ("rejected", rejected)):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) == 0:
            raise ValueError(f"{name} must be a non-empty list, got {type(value).__name__}")
    if not len(prompts) == len(chosen) == len(rejected):
        raise ValueError(
            f"prompts, chosen and rejected must have one entry per pair, got {len(prompts)}, {len(chosen)} and "
            f"{len(rejected)}"
        )
    rows: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"chosen": [], "rejected": []}
    for i, prompt in enumerate(prompts):
        start = len(tokenizer.prompt_ids(prompt))  # the turns so far and <|assistant|>: never scored
        for name, answers in (("chosen", chosen), ("rejected", rejected)):
            if not isinstance(answers[i], str):
                raise TypeError(f"{name}[{i}] must be a string (an answer's text), got {type(answers[i]).__name__}")
            ids, _ = tokenizer.render([*prompt, ("assistant", answers[i])])  # (T,)
            mask = torch.arange(ids.numel()) >= start  # (T,): the final answer's characters and its <|end|>
            rows[name].append((ids, mask))
    return PreferenceBatch(*_pad_rows(rows["chosen"]), *_pad_rows(rows["rejected"]))


@dataclass
class DPOHistory:
    """What :func:`train_dpo` measured at each step, before that step's update (lists, one entry per step).

    ``margin``: mean chosen - rejected implicit reward; ``accuracy``: share of pairs whose chosen reward is the
    larger; ``chosen_logratio`` / ``rejected_logratio``: mean log pi - log pi_ref of the answers (watch both: only
    their difference is trained, so the chosen answer may become less likely too, if the rejected one falls
    faster); ``kl``: the exact KL(pi || pi_ref) over the vocabulary, averaged over the chosen answers' positions:
    how far the policy has moved where the data is.
    """

    loss: list[float] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    chosen_logratio: list[float] = field(default_factory=list)
    rejected_logratio: list[float] = field(default_factory=list)
    kl: list[float] = field(default_factory=list)


def _check_batch(batch: object, index: int) -> PreferenceBatch:
    if not isinstance(batch, tuple) or len(batch) != 4:
        raise ValueError(
            f"batches[{index}] must be a PreferenceBatch (chosen_ids, chosen_mask, rejected_ids, "
            f"rejected_mask), got {type(batch).__name__}"
        )
    batch = PreferenceBatch(*batch)
    for ids, mask, name in (
        (batch.chosen_ids, batch.chosen_mask, "chosen"),
        (batch.rejected_ids, batch.rejected_mask, "rejected"),
    ):
        check_token_ids(ids, None, name=f"batches[{index}].{name}_ids")
        _check_mask(mask, ids, f"batches[{index}].{name}_mask")
    if batch.chosen_ids.size(0) != batch.rejected_ids.size(0):
        raise ValueError(
            f"batches[{index}] has {batch.chosen_ids.size(0)} chosen and {batch.rejected_ids.size(0)} "
            f"rejected rows: one of each per pair"
        )
    return batch


def _pad_right(ids: torch.Tensor, mask: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    extra = length - ids.size(1)
    return F.pad(ids, (0, extra)), F.pad(mask, (0, extra))  # id 0 and False: right padding, never scored


def train_dpo(
    policy: nn.Module,
    reference: nn.Module,
    batches: Sequence[PreferenceBatch],
    *,
    steps: int,
    lr: float,
    beta: float,
    generator: torch.Generator,
    grad_clip: float | None = 1.0,
) -> DPOHistory:
    """Tune ``policy`` by DPO against the frozen ``reference``: each step one of ``batches``, drawn with ``generator``.

    AdamW without weight decay (decay would pull the pretrained weights towards 0, not towards the reference).
    Both models run in eval mode (dropout off), as TRL does by default: with dropout the policy and the reference
    would disagree at step 0 and the implicit rewards would be noise. The chosen and rejected answers go through
    each model in one padded batch. The reference is read under ``torch.no_grad`` and never updated.
    """
    _check_own_weights(policy, reference)
    if not isinstance(batches, Sequence) or len(batches) == 0:
        raise ValueError(f"batches must be a non-empty sequence of PreferenceBatch, got {type(batches).__name__}")
    checked = [_check_batch(batch, i) for i, batch in enumerate(batches)]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be None or > 0, got {grad_clip!r}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (it draws the batch of each step)")
    params = [p for p in policy.parameters() if p.requires_grad]
    if not params:
        raise ValueError("policy has no trainable parameters (everything is frozen)")
    device = params[0].device
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    history = DPOHistory()
    modes = policy.training, reference.training
    policy.eval()
    reference.eval()
    try:
        for _ in range(steps):
            index = int(torch.randint(len(checked), (1,), generator=generator, device=generator.device))
            batch = checked[index]
            n = batch.chosen_ids.size(0)
            length = max(batch.chosen_ids.size(1), batch.rejected_ids.size(1))
            chosen_ids, chosen_mask = _pad_right(batch.chosen_ids, batch.chosen_mask, length)
            rejected_ids, rejected_mask = _pad_right(batch.rejected_ids, batch.rejected_mask, length)
            ids = torch.cat((chosen_ids, rejected_ids)).to(device)  # (2B, T): chosen rows first
            mask = torch.cat((chosen_mask, rejected_mask)).to(device)  # (2B, T)
            policy_logp = next_token_logprobs(policy, ids)  # (2B, T - 1, V)
            with torch.no_grad():
                reference_logp = next_token_logprobs(reference, ids)  # (2B, T - 1, V)
            policy_seq = _masked_sum(_picked(policy_logp, ids), mask)  # (2B,): sequence_logprobs' own path
            reference_seq = _masked_sum(_picked(reference_logp, ids), mask)  # (2B,)
            out = dpo_loss(policy_seq[:n], policy_seq[n:], reference_seq[:n], reference_seq[n:], beta)
            with torch.no_grad():  # exact KL(pi || pi_ref) at each chosen answer position, then their mean
                kl = (policy_logp[:n].exp() * (policy_logp[:n] - reference_logp[:n])).sum(-1)  # (B, T - 1)
                scored = mask[:n, 1:]  # (B, T - 1): position t's distribution predicts token t + 1
                kl = (kl * scored).sum() / scored.sum()
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
            history.loss.append(float(out.loss.detach()))
            history.margin.append(float((out.chosen_rewards - out.rejected_rewards).mean()))
            history.accuracy.append(float((out.chosen_rewards > out.rejected_rewards).float().mean()))
            history.chosen_logratio.append(float(out.chosen_rewards.mean()) / beta)
            history.rejected_logratio.append(float(out.rejected_rewards.mean()) / beta)
            history.kl.append(float(kl))
    finally:
        policy.train(modes[0])
        reference.train(modes[1])
    return history


__all__ = [
    "DPOHistory",
    "DPOOutput",
    "PreferenceBatch",
    "dpo_loss",
    "next_token_logprobs",
    "preference_batch",
    "sequence_logprobs",
    "token_logprobs",
    "train_dpo",
]
