"""Chapter 10's RL with verifiable rewards: answer masks, group sampling through chapter 8's sampler, GRPO's
advantages, the policy loss's gradient and its k3 KL, pass@k against the binomial formula, and a toy run of GRPO."""

import copy
import math
from fractions import Fraction

import pytest
import torch
from torch.distributions import Categorical, kl_divergence

from llmcourse.assistant.rl import (
    group_advantages,
    kl_k3,
    pass_at_k,
    policy_loss,
    response_mask_from,
    rl_step,
    sample_group,
)
from llmcourse.gpt import GPT, GPTConfig, generate

END = 3  # the toy vocabulary's end token


def tiny_gpt(seed: int = 0, vocab_size: int = 4) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=8, n_layer=1, n_head=2, n_embd=16))


def mask_by_loop(row: list[int], eos_id: int) -> list[bool]:
    out, ended = [], False
    for token in row:
        out.append(not ended)
        ended = ended or token == eos_id
    return out


# --- sampling ------------------------------------------------------------------------------------------------


def test_the_response_mask_runs_up_to_and_including_the_first_end_token():
    new = torch.tensor([[5, 1, 1, 1], [1, 5, 5, 1], [5, 5, 5, 5]])
    expected = [[True, True, False, False], [True, False, False, False], [True, True, True, True]]
    assert response_mask_from(new, eos_id=1).tolist() == expected
    assert bool(response_mask_from(new, eos_id=None).all())
    g = torch.Generator().manual_seed(0)
    for _ in range(20):  # random rows against the loop
        new = torch.randint(0, 3, (4, 7), generator=g)
        assert response_mask_from(new, 2).tolist() == [mask_by_loop(row, 2) for row in new.tolist()]


def test_a_group_is_the_prompt_then_k_masked_answers_drawn_by_chapter_8s_sampler():
    model = tiny_gpt()
    prompt = torch.tensor([0, 1])
    group = sample_group(model, prompt, k=16, max_new_tokens=5, eos_id=END, generator=torch.Generator().manual_seed(3))
    ids, mask = group.ids, group.response_mask
    assert group.prompt_len == 2 and ids.shape == mask.shape and ids.size(0) == 16 and ids.size(1) <= 7
    assert bool((ids[:, :2] == prompt).all()) and not bool(mask[:, :2].any())
    assert mask[:, 2:].tolist() == [mask_by_loop(row, END) for row in ids[:, 2:].tolist()]
    assert bool(((ids == END) & mask).sum(1).le(1).all())  # at most one end token inside an answer
    assert 0 < int((group.lengths < ids.size(1) - 2).sum()) < 16  # some answers ended early, some did not
    assert [len(r) for r in group.responses()] == group.lengths.tolist()
    same = generate(model, prompt[None].expand(16, -1), 5, generator=torch.Generator().manual_seed(3), eos_id=END)
    assert torch.equal(ids, same)  # the very tokens of generate(): one sampler in the package


def test_sampling_a_group_is_deterministic_given_the_generator_and_refuses_bad_prompts():
    model = tiny_gpt()
    a, b = (
        sample_group(model, torch.tensor([2]), k=4, max_new_tokens=4, generator=torch.Generator().manual_seed(1))
        for _ in range(2)
    )
    assert torch.equal(a.ids, b.ids) and bool(a.response_mask[:, 1:].all())  # no end token: all new tokens count
    with pytest.raises(ValueError, match="one prompt"):
        sample_group(model, torch.zeros(2, 3, dtype=torch.long), k=2, max_new_tokens=2)
    with pytest.raises(ValueError, match="k must be"):
        sample_group(model, torch.tensor([1]), k=0, max_new_tokens=2)


# --- advantages ----------------------------------------------------------------------------------------------


def test_group_advantages_subtract_the_groups_mean_and_divide_by_its_std():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 3.0]])
    grpo = group_advantages(rewards)
    std = math.sqrt(1 / 3)  # unbiased std of 1, 0, 0, 1
    torch.testing.assert_close(grpo[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / (std + 1e-6))
    assert bool((grpo[1] == 0).all())  # all equal: no signal, exactly 0
    torch.testing.assert_close(grpo.sum(1), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(grpo[[0, 2]].std(1), torch.ones(2), atol=1e-5, rtol=0)
    reinforce = group_advantages(rewards, normalize_std=False)
    torch.testing.assert_close(reinforce[2], torch.tensor([-0.75, -0.75, -0.75, 2.25]))
    assert bool((reinforce[1] == 0).all())


@pytest.mark.parametrize(
    "rewards, message",
    [
        (torch.ones(4), r"shape \(P, G\)"),
        (torch.ones(3, 1), "G >= 2"),
        (torch.tensor([[1.0, float("nan")]]), "NaN"),
    ],
)
def test_group_advantages_refuse_bad_rewards(rewards, message):
    with pytest.raises(ValueError, match=message):
        group_advantages(rewards)


# --- the loss ------------------------------------------------------------------------------------------------


def test_the_k3_estimate_averages_to_the_exact_kl_and_is_never_negative():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        p = torch.softmax(2 * torch.randn(7, generator=g, dtype=torch.float64), 0)
        q = torch.softmax(2 * torch.randn(7, generator=g, dtype=torch.float64), 0)
        k3 = kl_k3(p.log(), q.log())  # (7,): one value per token x, as if x had been sampled from p
        assert bool((k3 >= 0).all())
        torch.testing.assert_close((p * k3).sum(), kl_divergence(Categorical(p), Categorical(q)))


def hand_made() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    logprobs = torch.tensor(
        [[0.0, -1.0, -0.5, -2.0, -0.1], [0.0, -0.3, -0.7, -0.2, -1.5], [0.0, -2.5, -0.4, -0.9, -0.6]],
        requires_grad=True,
    )
    mask = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 1, 0, 0, 0]], dtype=torch.bool)  # 7 answer tokens
    advantages = torch.tensor([1.5, -0.5, 0.25])
    return logprobs, mask, advantages


def test_on_policy_without_kl_the_gradient_is_minus_the_advantage_over_the_token_count():
    logprobs, mask, advantages = hand_made()
    out = policy_loss(logprobs, None, None, advantages, mask, kl_coef=0.0)
    out.loss.backward()
    expected = torch.where(mask, -advantages[:, None] / 7, torch.zeros(()))
    torch.testing.assert_close(logprobs.grad, expected)
    assert float(out.loss.detach()) == pytest.approx(-(1.5 * 3 - 0.5 * 3 + 0.25 * 1) / 7)
    assert float(out.clipped_fraction) == 0.0


def test_the_kl_term_pulls_each_token_towards_the_reference():
    logprobs, mask, _ = hand_made()
    reference = logprobs.detach() + torch.linspace(-1, 1, 15).reshape(3, 5)
    out = policy_loss(logprobs, None, reference, torch.zeros(3), mask, kl_coef=0.1)
    out.loss.backward()
    # d k3 / d logprob = 1 - pi_ref / pi: positive where the policy is above the reference, negative below
    expected = torch.where(mask, 0.1 * (1 - torch.exp(reference - logprobs.detach())) / 7, torch.zeros(()))
    torch.testing.assert_close(logprobs.grad, expected)
    expected_kl = (kl_k3(logprobs.detach(), reference) * mask).sum() / 7
    torch.testing.assert_close(out.kl, expected_kl)
    assert float(out.loss.detach()) == pytest.approx(0.1 * float(expected_kl))


def test_clipping_stops_the_gradient_only_where_the_ratio_left_the_trust_region_in_the_advantages_direction():
    logprobs = torch.zeros(1, 5, requires_grad=True)
    mask = torch.tensor([[False, True, True, True, True]])
    old = torch.log(torch.tensor([[1.0, 1 / 1.5, 1 / 0.5, 1 / 1.1, 1 / 0.5]]))  # ratios 1, 1.5, 0.5, 1.1, 0.5
    advantages = torch.tensor([[0.0, 1.0, 1.0, 1.0, -1.0]])  # per token
    out = policy_loss(logprobs, old, None, advantages, mask, kl_coef=0.0, clip=0.2)
    out.loss.backward()
    # 1.5 with A > 0: clipped (no further push up); 0.5 with A > 0: kept (the unclipped loss is the larger);
    # 1.1: inside; 0.5 with A < 0: clipped (no further push down)
    torch.testing.assert_close(logprobs.grad, torch.tensor([[0.0, 0.0, -0.5 / 4, -1.1 / 4, 0.0]]))
    assert float(out.clipped_fraction) == pytest.approx(2 / 4)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(mask=torch.ones(3, 5)), "bool tensor"),
        (dict(mask=torch.zeros(3, 5, dtype=torch.bool)), "marks no token"),
        (dict(advantages=torch.ones(4)), "advantages must have shape"),
        (dict(old_logprobs=torch.zeros(3, 4)), "old_logprobs must have"),
        (dict(kl_coef=0.1), "reference_logprobs is needed"),
        (dict(kl_coef=-1.0, reference_logprobs=torch.zeros(3, 5)), "kl_coef must be"),
        (dict(clip=1.5), "clip must be"),
    ],
)
def test_policy_loss_refuses_bad_input_by_name(change, message):
    logprobs, mask, advantages = hand_made()
    args = dict(
        logprobs=logprobs,
        old_logprobs=None,
        reference_logprobs=None,
        advantages=advantages,
        mask=mask,
        kl_coef=0.0,
        clip=None,
    )
    args.update(change)
    with pytest.raises(ValueError, match=message):
        policy_loss(**args)


# --- pass@k --------------------------------------------------------------------------------------------------


def test_pass_at_k_equals_one_minus_the_binomial_ratio():
    for n in range(1, 26):
        for c in range(n + 1):
            for k in range(1, n + 1):
                direct = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(direct, rel=1e-12, abs=1e-12), (n, c, k)
    for n, c, k in [(500, 3, 100), (1000, 1, 1), (1000, 999, 10), (800, 40, 400)]:  # binomials far beyond floats
        exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
        assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-10)
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3) and pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 6, 5) == 1.0


@pytest.mark.parametrize(
    "n, c, k, message",
    [
        (5, 2, 6, "k must be <= n=5"),
        (5, 6, 1, "c .* must be <= n=5"),
        (0, 0, 1, "n must be >= 1"),
        (5, 1, 0, "k must"),
        (5, -1, 1, "c must be >= 0"),
        (5.0, 1, 1, "n must be an integer"),
    ],
)
def test_pass_at_k_refuses_impossible_counts(n, c, k, message):
    with pytest.raises(ValueError, match=message):
        pass_at_k(n, c, k)


# --- a GRPO run ----------------------------------------------------------------------------------------------


def first_token_is_2(prompt_index: int, answer: torch.Tensor) -> float:
    return float(answer[0] == 2)


def toy_run(steps: int, seed: int = 0, **settings) -> tuple[list[dict[str, float]], GPT, GPT]:
    policy = tiny_gpt(seed)
    reference = copy.deepcopy(policy)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-2, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    prompts = [torch.tensor([0]), torch.tensor([1, 0, 2])]  # different lengths: one right-padded batch
    history = [
        rl_step(
            policy,
            reference,
            prompts,
            first_token_is_2,
            optimizer,
            k=8,
            max_new_tokens=4,
            eos_id=END,
            generator=generator,
            **settings,
        )
        for _ in range(steps)
    ]
    return history, policy, reference


def test_twenty_grpo_steps_teach_a_tiny_gpt_to_answer_2_first():
    history, policy, reference = toy_run(20, kl_coef=0.01)
    rewards = [h["reward"] for h in history]
    assert sum(rewards[:3]) / 3 < 0.5 and sum(rewards[-5:]) / 5 > 0.9, rewards
    assert all(h["kl"] >= 0 for h in history) and max(h["kl"] for h in history[1:]) > 0
    assert all(1 <= h["length"] <= 4 for h in history)
    assert history[-1]["no_signal"] > 0  # solved prompts: every answer scores 1, no advantage left
    before = tiny_gpt(0).state_dict()
    assert all(torch.equal(before[name], p) for name, p in reference.state_dict().items())  # frozen
    assert not all(torch.equal(before[name], p) for name, p in policy.state_dict().items())


def test_grpo_is_deterministic_given_the_generator_and_clips_when_samples_are_reused():
    first, _, _ = toy_run(4, updates=3, clip=0.2)
    second, _, _ = toy_run(4, updates=3, clip=0.2)
    assert first == second
    assert first[0]["clipped_fraction"] > 0  # after the first of 3 updates the ratio has left [0.8, 1.2] somewhere


def test_rl_step_refuses_what_it_cannot_do():
    policy = tiny_gpt()
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    common = dict(k=4, max_new_tokens=3)
    with pytest.raises(ValueError, match="reference is needed"):
        rl_step(policy, None, [torch.tensor([0])], first_token_is_2, optimizer, kl_coef=0.1, **common)
    with pytest.raises(ValueError, match="block_size=8"):
        rl_step(policy, None, [torch.arange(7) % 4], first_token_is_2, optimizer, **common)
    with pytest.raises(ValueError, match="k must be >= 2"):
        rl_step(policy, None, [torch.tensor([0])], first_token_is_2, optimizer, k=1, max_new_tokens=3)
    with pytest.raises(ValueError, match="prompts must be"):
        rl_step(policy, None, [], first_token_is_2, optimizer, **common)
