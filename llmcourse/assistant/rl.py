"""Reinforcement learning with verifiable rewards: GRPO, and REINFORCE with a group baseline (chapter 10).

When a program can check an answer (a sum, a spelling), the model can learn from its own attempts: sample a group
of k answers to each prompt, score each with the checker, and make the better-than-average answers more likely.

    group = sample_group(model, prompt_ids, k=8, max_new_tokens=16, eos_id=end, generator=g)  # (k, P + n) ids
    text, ended = answer_text(group.responses()[0], tok.decode, [end])   # "81", True: the end token is not text
    rewards = [reward_fn(i, answer) for answer in group.responses()]                         # checker: 0 or 1
    advantages = group_advantages(rewards)                          # (P, k): minus the group's mean, over its std
    loss = policy_loss(logprobs, old_logprobs, reference_logprobs, advantages, mask, kl_coef=0.02)
    stats = rl_step(policy, reference, prompts, reward_fn, optimizer, k=8, max_new_tokens=16, generator=g)

The policy gradient (Williams 1992) raises log pi(answer) in proportion to how much better than expected the answer
scored. What "expected" means is the baseline: PPO learns a value network for it; GRPO (Shao et al. 2024) takes the
mean reward of the group of answers to the same prompt and divides by the group's standard deviation, so no second
network is needed. ``normalize_std=False`` keeps the mean only: REINFORCE with the group mean as baseline (as RLOO,
Ahmadian et al. 2024, up to its leave-one-out mean; Dr. GRPO, Liu et al. 2025, argues against the division, which
gives nearly-solved and nearly-failed prompts the largest weight). A group whose answers all score the same teaches
nothing: its advantages are 0. PPO's clipped ratio pi / pi_old (Schulman et al. 2017) matters only when several
updates reuse one batch of samples (``updates`` > 1); with one update the samples are on-policy and the ratio is 1.

A KL penalty to the frozen reference keeps the policy near the model it started from; GRPO puts it in the loss, per
token, with Schulman's (2020) k3 estimator, pi_ref / pi - log(pi_ref / pi) - 1: never negative, and as a *value*
unbiased for KL(pi || pi_ref) on tokens sampled from the current pi (not on reused samples, ``updates`` > 1), with
less variance than the plain log-ratio. As a *loss* it is something else: differentiated on samples from pi, its
expected gradient is the gradient of the reverse KL(pi_ref || pi), not of KL(pi || pi_ref) (Tang & Munos 2025).
Both pull the policy towards the reference; this is what GRPO does, and what this module does.

Sampling is chapter 8's :func:`llmcourse.gpt.generate` (KV cache, one batch of k rows per prompt); the token
log-probs are the DPO module's :func:`~llmcourse.assistant.preference.token_logprobs`. What it leaves out: a value
network (PPO proper), DAPO's dynamic sampling and clip-higher, asynchronous rollouts.

References: Shao et al. (2024), "DeepSeekMath", section 4.1 (GRPO); Williams (1992), REINFORCE; Schulman et al.
(2017), PPO; Schulman (2020), "Approximating KL Divergence" (k3); Yu et al. (2025), DAPO (token-level loss); Liu et
al. (2025), "Understanding R1-Zero-Like Training" (Dr. GRPO); Chen et al. (2021), Codex (pass@k); Lambert et al.
(2024), Tulu 3 (the name "RL with verifiable rewards"); Tang & Munos (2025), "On a few pitfalls in KL divergence
gradient estimation for RL" (what k3's gradient estimates).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.gpt import generate
from llmcourse.gpt.sampling import _int_at_least

from .preference import _check_own_weights, _check_temperature, token_logprobs

RewardFn = Callable[[int, torch.Tensor], float]


# --- sampling a group -----------------------------------------------------------------------------------------


@dataclass
class Completions:
    """k sampled continuations of one prompt.

    ``ids`` (k, P + n): the prompt then n new tokens (a row that ended early is padded with the end token);
    ``response_mask`` (k, P + n): True on each row's answer, from its first new token up to and including its first
    end token, False on the prompt and after the end. ``prompt_len`` is P.
    """

    ids: torch.Tensor
    response_mask: torch.Tensor
    prompt_len: int

    @property
    def lengths(self) -> torch.Tensor:
        """(k,) tokens in each answer (the end token counted)."""
        return self.response_mask.sum(dim=1)

    def responses(self) -> list[torch.Tensor]:
        """Each row's answer as a 1-D LongTensor: the masked tokens, the end token included when it was produced."""
        return [row[mask] for row, mask in zip(self.ids, self.response_mask, strict=True)]


def response_mask_from(new_ids: torch.Tensor, eos_id: int | None) -> torch.Tensor:
    """(k, n) new tokens -> (k, n) bool: True up to and including each row's first ``eos_id``, False after it.

    ``[5, 1, 1, 1]`` with eos 1 -> ``[True, True, False, False]``; without ``eos_id`` every token counts.
    """
    if eos_id is None:
        return torch.ones_like(new_ids, dtype=torch.bool)
    is_end = new_ids == eos_id  # (k, n)
    ends_before = is_end.long().cumsum(dim=1) - is_end.long()  # (k, n): end tokens strictly before each position
    return ends_before == 0


def answer_text(
    ids: torch.Tensor | Sequence[int], decode: Callable[[list[int]], str], stop_ids: Sequence[int]
) -> tuple[str, bool]:
    """An answer's ids -> (its text up to, not including, the first of ``stop_ids``; whether it reached one).

    ``[8, 1, END]`` -> ``("81", True)``; ``[8, 1, 1]`` (cut by ``max_new_tokens``) -> ``("811", False)``. Decoding the
    whole of :meth:`Completions.responses` would write the end token as text (``"81<|end|>"``) and no checker would
    ever say yes. A reward should give 0 to an answer that never ended: it was cut off, not finished.
    """
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"ids must be one answer, a 1-D tensor, got shape {tuple(ids.shape)}")
        ids = ids.tolist()
    if not callable(decode):
        raise TypeError(f"decode must be a function ids -> text (tokenizer.decode), got {decode!r}")
    stops = {int(i) for i in stop_ids}
    if not stops:
        raise ValueError("stop_ids must hold at least one id (the end token)")
    ids = [int(i) for i in ids]
    end = next((t for t, idx in enumerate(ids) if idx in stops), None)
    return decode(ids if end is None else ids[:end]), end is not None


def sample_group(
    model: nn.Module,
    prompt_ids: torch.Tensor,
    *,
    k: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
) -> Completions:
    """``k`` answers to one prompt (P,) or (1, P), sampled as one batch of k rows by chapter 8's :func:`generate`.

    Temperature 1 samples from the policy itself, which is what the policy gradient assumes: at another temperature
    the answers come from a different distribution than the one :func:`policy_loss` scores, and the gradient is
    biased. The model runs in eval mode (dropout off) and is put back as it was.
    """
    if not isinstance(prompt_ids, torch.Tensor) or not (
        prompt_ids.dim() == 1 or (prompt_ids.dim() == 2 and prompt_ids.size(0) == 1)
    ):
        got = tuple(prompt_ids.shape) if isinstance(prompt_ids, torch.Tensor) else type(prompt_ids).__name__
        raise ValueError(f"prompt_ids must be one prompt, shape (P,) or (1, P), got {got}")
    k = _int_at_least(k, "k", 1)
    max_new_tokens = _int_at_least(max_new_tokens, "max_new_tokens", 1)
    prompt = prompt_ids.reshape(1, -1)  # (1, P)
    device = next(model.parameters()).device
    ids = generate(
        model,
        prompt.to(device).expand(k, -1),  # (k, P): the same prompt k times
        max_new_tokens,
        temperature=temperature,
        generator=generator,
        eos_id=eos_id,
    )  # (k, P + n), n <= max_new_tokens (it stops once every row has ended)
    p = prompt.size(1)
    mask = F.pad(response_mask_from(ids[:, p:], eos_id), (p, 0))  # (k, P + n): False on the prompt
    return Completions(ids, mask, p)


# --- advantages, the loss, pass@k --------------------------------------------------------------------------------


def group_advantages(
    rewards: torch.Tensor | Sequence[Sequence[float]], *, normalize_std: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """(P, G) rewards, one row per prompt -> (P, G) advantages: reward minus its group's mean, / the group's std.

    GRPO divides by the std (``torch.std``'s unbiased one, as TRL's ``GRPOTrainer``), which puts every prompt's
    advantages on one scale; ``normalize_std=False`` is REINFORCE with the group mean as baseline. A group whose
    rewards are all equal gets 0 (0 / (0 + eps)). G >= 2: one answer alone has no baseline to beat.
    """
    rewards = torch.as_tensor(rewards)
    if rewards.dim() != 2 or rewards.size(0) == 0 or rewards.size(1) < 2:
        raise ValueError(
            f"rewards must have shape (P, G), P >= 1 prompts and G >= 2 answers each, got {tuple(rewards.shape)}"
        )
    if not rewards.is_floating_point():
        rewards = rewards.float()
    if not bool(torch.isfinite(rewards).all()):
        raise ValueError("rewards hold NaN or inf: a reward must be a finite number")
    if not (isinstance(eps, numbers.Real) and eps > 0):
        raise ValueError(f"eps must be > 0 (it keeps a group of equal rewards at 0, not 0/0), got {eps!r}")
    advantages = rewards - rewards.mean(dim=1, keepdim=True)  # (P, G)
    if normalize_std:
        advantages = advantages / (rewards.std(dim=1, keepdim=True) + eps)  # (P, G)
    return advantages


def kl_k3(logprobs: torch.Tensor, reference_logprobs: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimate of KL(pi || pi_ref) per sampled token: r - log r - 1 with r = pi_ref / pi, >= 0.

    Its mean over tokens drawn from pi (the current policy, not an older one) is the KL; it is 0 where the two agree
    and never negative, unlike the plain log-ratio log(pi / pi_ref), whose single-token values swing both ways. Its
    gradient is another matter: d k3 / d log pi = 1 - pi_ref / pi, whose mean over tokens from pi is the gradient of
    KL(pi_ref || pi), the reverse KL (Tang & Munos 2025). As a penalty in GRPO's loss it still pulls pi to pi_ref.
    """
    log_ratio = reference_logprobs - logprobs  # log(pi_ref / pi)
    return torch.exp(log_ratio) - log_ratio - 1


class PolicyLossOutput(NamedTuple):
    """The loss (a scalar with gradient), the mean k3 KL over the answer tokens and the share of tokens clipped."""

    loss: torch.Tensor
    kl: torch.Tensor
    clipped_fraction: torch.Tensor


def _check_policy_loss_args(
    logprobs: object,
    old_logprobs: object,
    reference_logprobs: object,
    advantages: object,
    mask: object,
    kl_coef: object,
    clip: object,
) -> None:
    """:func:`policy_loss`'s argument checks, each naming the argument, so the loss itself reads top to bottom."""
    if not isinstance(logprobs, torch.Tensor) or logprobs.dim() != 2:
        got = tuple(logprobs.shape) if isinstance(logprobs, torch.Tensor) else type(logprobs).__name__
        raise ValueError(f"logprobs must be a (N, T) tensor of token log-probs, got {got}")
    if reference_logprobs is None and kl_coef != 0:
        raise ValueError("reference_logprobs is needed when kl_coef != 0 (the KL penalty is to the reference)")
    for name, value in (("old_logprobs", old_logprobs), ("reference_logprobs", reference_logprobs)):
        if value is not None and (not isinstance(value, torch.Tensor) or value.shape != logprobs.shape):
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{name} must have the logprobs' shape {tuple(logprobs.shape)}, got {got}")
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != logprobs.shape:
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(
            f"mask must be a bool tensor of the logprobs' shape {tuple(logprobs.shape)} (True on the "
            f"answer tokens), got {got}"
        )
    if not bool(mask.any()):
        raise ValueError("mask marks no token: there is nothing to average the loss over")
    if not isinstance(advantages, torch.Tensor) or advantages.shape not in (logprobs.shape[:1], logprobs.shape):
        got = tuple(advantages.shape) if isinstance(advantages, torch.Tensor) else type(advantages).__name__
        raise ValueError(f"advantages must have shape ({logprobs.size(0)},) or {tuple(logprobs.shape)}, got {got}")
    if not (isinstance(kl_coef, numbers.Real) and math.isfinite(kl_coef) and kl_coef >= 0):
        raise ValueError(f"kl_coef must be a finite number >= 0, got {kl_coef!r}")
    if clip is not None and not (isinstance(clip, numbers.Real) and 0 < clip < 1):
        raise ValueError(f"clip must be None or in (0, 1) (PPO uses 0.2), got {clip!r}")


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor | None,
    reference_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    kl_coef: float,
    clip: float | None = None,
) -> PolicyLossOutput:
    """GRPO's per-token loss, -min(ratio * A, clip(ratio) * A) + kl_coef * k3, averaged over the answers' tokens.

    ``logprobs`` (N, T): the policy's log-prob of each token, with gradient; ``old_logprobs`` (N, T): the same under
    the policy that sampled them (None: on-policy, ``logprobs`` detached, ratio 1); ``reference_logprobs`` (N, T)
    (None only with ``kl_coef`` 0); ``advantages`` (N,) one per answer (every token of an answer shares it) or
    (N, T); ``mask`` (N, T) bool, True on the answer tokens. ``clip`` epsilon (PPO's 0.2) bounds the ratio. The
    penalty's gradient, on samples from pi, is on average the gradient of KL(pi_ref || pi) (:func:`kl_k3`).

    The normalisation is the token mean over every answer token of the batch (DAPO, Yu et al. 2025), not GRPO's
    mean per answer and then per group: dividing each answer by its own length gives a token of a long answer less
    weight than one of a short answer, so long wrong answers are punished less per token, and Liu et al. (2025) show
    that this lets wrong answers grow longer. Each token counts the same here. With ``kl_coef`` 0 and on-policy,
    d loss / d logprobs[i, t] = -A_i / (number of answer tokens in the batch).
    """
    _check_policy_loss_args(logprobs, old_logprobs, reference_logprobs, advantages, mask, kl_coef, clip)
    if old_logprobs is None:
        old_logprobs = logprobs.detach()
    n_tokens = mask.sum()
    adv = advantages.detach().to(logprobs.dtype)
    adv = adv[:, None] if adv.dim() == 1 else adv  # (N, 1) or (N, T)
    ratio = torch.exp(logprobs - old_logprobs.detach())  # (N, T): 1 on-policy, with the policy's gradient
    per_token = -ratio * adv  # (N, T)
    clipped = torch.zeros_like(mask)
    if clip is not None:
        bounded = -torch.clamp(ratio, 1 - clip, 1 + clip) * adv  # (N, T)
        clipped = bounded > per_token  # where the pessimistic (larger) loss is the clipped one
        per_token = torch.maximum(per_token, bounded)  # -min(ratio A, clip(ratio) A)
    kl = torch.zeros_like(logprobs)
    if reference_logprobs is not None:
        kl = kl_k3(logprobs, reference_logprobs.detach())  # (N, T)
        per_token = per_token + kl_coef * kl
    loss = (per_token * mask).sum() / n_tokens  # the token mean over the batch's answers (DAPO)
    with torch.no_grad():
        mean_kl = (kl * mask).sum() / n_tokens
        clipped_fraction = (clipped & mask).sum() / n_tokens
    return PolicyLossOutput(loss, mean_kl, clipped_fraction)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s (2021) unbiased pass@k from n samples of which c are correct: 1 - C(n - c, k) / C(n, k).

    The chance that at least one of k answers drawn without replacement from the n is correct. Computed as
    1 - prod_{i = n - c + 1}^{n} (1 - k / i), the paper's stable form: the binomials themselves overflow a float
    for n in the hundreds.
    """
    n = _int_at_least(n, "n", 1)
    c = _int_at_least(c, "c", 0)
    k = _int_at_least(k, "k", 1)
    if c > n:
        raise ValueError(f"c (correct samples) must be <= n={n}, got {c}")
    if k > n:
        raise ValueError(f"k must be <= n={n}: pass@k needs at least k samples, got k={k}")
    if n - c < k:
        return 1.0  # every draw of k contains a correct answer
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


# --- one GRPO step ----------------------------------------------------------------------------------------------


def _check_rl_step_args(
    policy: nn.Module,
    reference: nn.Module | None,
    prompts: object,
    reward_fn: object,
    k: object,
    max_new_tokens: object,
    temperature: object,
    kl_coef: float,
    updates: object,
    grad_clip: float | None,
) -> tuple[int, int, int, float]:
    """:func:`rl_step`'s argument checks, each naming the argument: (k, updates, max_new_tokens, temperature)."""
    if not isinstance(prompts, Sequence) or len(prompts) == 0:
        raise ValueError(f"prompts must be a non-empty sequence of 1-D token id tensors, got {type(prompts).__name__}")
    if not callable(reward_fn):
        raise ValueError(f"reward_fn must be a function (prompt_index, answer_ids) -> float, got {reward_fn!r}")
    if reference is None and kl_coef != 0:
        raise ValueError("reference is needed when kl_coef != 0 (the KL penalty is to the reference)")
    if reference is not None:
        _check_own_weights(policy, reference)
    k = _int_at_least(k, "k", 2)
    updates = _int_at_least(updates, "updates", 1)
    max_new_tokens = _int_at_least(max_new_tokens, "max_new_tokens", 1)
    temperature = _check_temperature(temperature)
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be None or > 0, got {grad_clip!r}")
    block_size = getattr(getattr(policy, "config", None), "block_size", None)
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, torch.Tensor) or prompt.dim() != 1 or prompt.numel() == 0:
            got = tuple(prompt.shape) if isinstance(prompt, torch.Tensor) else type(prompt).__name__
            raise ValueError(f"prompts[{i}] must be a non-empty 1-D tensor of token ids, got {got}")
        if block_size is not None and prompt.numel() + max_new_tokens - 1 > block_size:
            raise ValueError(
                f"prompts[{i}] ({prompt.numel()} tokens) + max_new_tokens={max_new_tokens} - 1 exceeds "
                f"block_size={block_size}: an answer must be scored in one window"
            )
    return k, updates, max_new_tokens, temperature


def rl_step(
    policy: nn.Module,
    reference: nn.Module | None,
    prompts: Sequence[torch.Tensor],
    reward_fn: RewardFn,
    optimizer: torch.optim.Optimizer,
    *,
    k: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    eos_id: int | None = None,
    kl_coef: float = 0.0,
    clip: float | None = 0.2,
    normalize_std: bool = True,
    updates: int = 1,
    grad_clip: float | None = 1.0,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """One GRPO step: sample ``k`` answers to each prompt, score them, compute advantages, update the policy.

    ``prompts``: 1-D LongTensors (P_i,); ``reward_fn(prompt_index, answer_ids) -> float`` scores one answer (the
    masked tokens of :meth:`Completions.responses`, the end token included when produced: read the text with
    :func:`answer_text`, and give 0 to an answer that never ended). The answers are sampled at ``temperature`` (> 0:
    at 0 all k answers would be the same and teach nothing) and every log-prob, the policy's, the old policy's and
    the reference's, is taken at that temperature, so the gradient is the one of the distribution sampled from
    (as TRL and verl do). ``reference`` may be None
    when ``kl_coef`` is 0 (a reference given with ``kl_coef`` 0 is still read, to report how far the policy has
    drifted). All the answers are scored in one right-padded batch; ``updates`` > 1 takes several gradient steps on
    the same samples, where ``clip`` bounds how far each may move (PPO). The models run in eval mode (dropout off, so
    the policy's log-probs are the ones it sampled with). Returns the step's numbers: ``reward`` (the mean over the
    samples, before the update), ``loss``, ``kl`` (mean k3 over the answer tokens; 0 without a reference) and
    ``clipped_fraction`` of the last update, ``length`` (mean answer tokens) and ``no_signal``, the share of prompts
    whose answers all scored the same (they give zero advantage: DAPO's dynamic sampling would draw again).
    """
    k, updates, max_new_tokens, temperature = _check_rl_step_args(
        policy, reference, prompts, reward_fn, k, max_new_tokens, temperature, kl_coef, updates, grad_clip
    )
    modes = policy.training, None if reference is None else reference.training
    policy.eval()
    if reference is not None:
        reference.eval()
    try:
        groups = [
            sample_group(
                policy,
                prompt,
                k=k,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                eos_id=eos_id,
                generator=generator,
            )
            for prompt in prompts
        ]
        rewards = torch.tensor(
            [[float(reward_fn(i, answer)) for answer in group.responses()] for i, group in enumerate(groups)]
        )  # (P, k)
        advantages = group_advantages(rewards, normalize_std=normalize_std)  # (P, k)
        length = max(group.ids.size(1) for group in groups)
        ids = torch.cat([F.pad(g.ids, (0, length - g.ids.size(1))) for g in groups])  # (P k, T): right padding
        mask = torch.cat([F.pad(g.response_mask, (0, length - g.ids.size(1))) for g in groups])  # (P k, T)
        device = ids.device
        advantages = advantages.flatten().to(device)  # (P k,): row r is prompt r // k
        with torch.no_grad():  # one update: on-policy, the ratio is 1 and old log-probs would be the same numbers
            old_logprobs = None  # (P k, T) with several updates: the sampling policy's, at the sampling temperature
            if updates > 1:
                old_logprobs = token_logprobs(policy, ids, temperature=temperature)
            reference_logprobs = None  # (P k, T): the reference at the same temperature (as verl and TRL)
            if reference is not None:
                reference_logprobs = token_logprobs(reference, ids, temperature=temperature)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for _ in range(updates):
            out = policy_loss(
                token_logprobs(policy, ids, temperature=temperature),
                old_logprobs,
                reference_logprobs,
                advantages,
                mask,
                kl_coef=kl_coef,
                clip=clip,
            )
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, grad_clip)
            optimizer.step()
    finally:
        policy.train(modes[0])
        if reference is not None:
            reference.train(modes[1])
    return {
        "reward": float(rewards.mean()),
        "loss": float(out.loss.detach()),
        "kl": float(out.kl),
        "length": float(mask.sum(dim=1).float().mean()),
        "clipped_fraction": float(out.clipped_fraction),
        "no_signal": float((rewards == rewards[:, :1]).all(dim=1).float().mean()),
    }


__all__ = [
    "Completions",
    "PolicyLossOutput",
    "RewardFn",
    "answer_text",
    "group_advantages",
    "kl_k3",
    "pass_at_k",
    "policy_loss",
    "response_mask_from",
    "rl_step",
    "sample_group",
]
