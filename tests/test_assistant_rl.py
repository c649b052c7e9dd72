"""Chapter 10's RL with verifiable rewards: answer masks, group sampling through chapter 8's sampler, answers read
as text for a checker, GRPO's advantages, the policy loss's gradient and its k3 KL, pass@k against the binomial
formula, one GRPO step against the same step built by hand, and a toy run of GRPO."""

import copy
import math
from fractions import Fraction
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, kl_divergence

import llmcourse.assistant.rl as rl
from llmcourse.assistant.chat import ChatTokenizer
from llmcourse.assistant.rl import (
    answer_text,
    group_advantages,
    kl_k3,
    pass_at_k,
    policy_loss,
    response_mask_from,
    rl_step,
    sample_group,
)
from llmcourse.gpt import GPT, GPTConfig, generate
from llmcourse.tokenizers import CharTokenizer

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


class Scripted(nn.Module):
    """Writes ``script`` after a prompt of ``prompt_len`` ids, whatever the prompt: logit 30 on the scripted id."""

    def __init__(self, script: list[int], vocab_size: int, prompt_len: int) -> None:
        super().__init__()
        self.script, self.prompt_len = script, prompt_len
        self.config = SimpleNamespace(vocab_size=vocab_size, block_size=64)
        self.unused = nn.Parameter(torch.zeros(()))  # the sampler reads the device from a parameter

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*ids.shape, self.config.vocab_size)  # (B, T, V)
        for t in range(ids.size(1)):
            written = t + 1 - self.prompt_len  # answer tokens before the one position t predicts
            if 0 <= written < len(self.script):
                logits[:, t, self.script[written]] = 30.0
        return logits


def test_a_correct_sampled_answer_read_with_answer_text_scores_1_and_a_cut_off_one_scores_0():
    tok = ChatTokenizer.from_base(CharTokenizer.from_chars("\n ?Whatis"))
    prompt = tok.prompt_ids([("user", "What is 23+58?")])
    model = Scripted(tok.encode_text("81") + [tok.end_id], tok.vocab_size, prompt_len=len(prompt))

    def reward(prompt_index: int, answer: torch.Tensor) -> float:  # a checker as a chapter would write it
        text, ended = answer_text(answer, tok.decode, [tok.end_id])
        return float(ended and text == "81")

    g = torch.Generator().manual_seed(0)
    group = sample_group(model, prompt, k=3, max_new_tokens=6, eos_id=tok.end_id, generator=g)
    answers = group.responses()
    assert [tok.decode(a.tolist()) for a in answers] == ["81<|end|>"] * 3  # the whole answer is not the text
    assert [answer_text(a, tok.decode, [tok.end_id]) for a in answers] == [("81", True)] * 3
    assert [reward(0, a) for a in answers] == [1.0, 1.0, 1.0]
    cut = sample_group(model, prompt, k=2, max_new_tokens=2, eos_id=tok.end_id, generator=g).responses()
    assert [answer_text(a, tok.decode, [tok.end_id]) for a in cut] == [("81", False)] * 2  # right text, no end
    assert [reward(0, a) for a in cut] == [0.0, 0.0]
    assert answer_text([5, 1, 7, 1], lambda ids: ",".join(map(str, ids)), [7, 1]) == ("5", True)  # first stop wins
    with pytest.raises(ValueError, match="stop_ids"):
        answer_text([1, 2], tok.decode, [])


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


WANTED = (2, 1)  # prompt 0 wants an answer that starts with 2, prompt 1 one that starts with 1


def first_token_is_wanted(prompt_index: int, answer: torch.Tensor) -> float:
    return float(answer[0] == WANTED[prompt_index])


def toy_run(steps: int, seed: int = 0, **settings) -> tuple[list[dict[str, float]], GPT, GPT]:
    policy = tiny_gpt(seed)
    reference = copy.deepcopy(policy)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=2e-2, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    prompts = [torch.tensor([0]), torch.tensor([1, 0, 2])]  # different lengths: one right-padded batch
    history = [
        rl_step(
            policy,
            reference,
            prompts,
            first_token_is_wanted,
            optimizer,
            k=16,  # a group large enough that the prompt not yet solved keeps a signal
            max_new_tokens=4,
            eos_id=END,
            generator=generator,
            **settings,
        )
        for _ in range(steps)
    ]
    return history, policy, reference


def test_twenty_grpo_steps_teach_a_tiny_gpt_the_first_token_each_prompt_wants():
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


def perturbed_copy(model: GPT, scale: float = 0.3) -> GPT:
    """A reference that differs from the policy, so that the KL term and its gradient are not 0."""
    other = copy.deepcopy(model)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return other


def logprobs_by_hand(model: nn.Module, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, T) log softmax(logits / temperature) of each actual token, 0 at position 0, written out here."""
    logits = model(ids[:, :-1])  # (B, T - 1, V)
    picked = torch.log_softmax(logits / temperature, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]  # (B, T - 1)
    return F.pad(picked, (1, 0))


def test_one_grpo_step_is_exactly_the_sgd_step_of_the_loss_built_by_hand():
    policy, prompts = tiny_gpt(0), [torch.tensor([0]), torch.tensor([1, 0, 2])]  # right-padded: lengths differ
    temperature, kl_coef, lr = 1.3, 0.1, 0.5  # T != 1 and a KL term: both must reach the update
    reference = perturbed_copy(policy)
    generator = torch.Generator().manual_seed(4)
    state = generator.get_state()
    settings = dict(k=6, max_new_tokens=4, temperature=temperature, eos_id=END)

    hand = copy.deepcopy(policy).eval()
    generator.set_state(state)  # the very draws rl_step will make
    groups = [sample_group(hand, p, generator=generator, **settings) for p in prompts]
    rewards = torch.tensor([[first_token_is_wanted(i, a) for a in g.responses()] for i, g in enumerate(groups)])
    assert bool((rewards.std(1) > 0).all()), rewards  # every group has a signal to learn from
    advantages = (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-6)  # (2, k): GRPO
    length = max(g.ids.size(1) for g in groups)
    ids = torch.cat([F.pad(g.ids, (0, length - g.ids.size(1))) for g in groups])  # (2k, T)
    mask = torch.cat([F.pad(g.response_mask, (0, length - g.ids.size(1))) for g in groups])  # (2k, T)
    assert bool((mask.sum(1) < mask.sum(1).max()).any())  # some answers ended early: the mask matters
    logp = logprobs_by_hand(hand, ids, temperature)
    with torch.no_grad():
        ref = logprobs_by_hand(reference.eval(), ids, temperature)
    ratio = torch.exp(logp - logp.detach())  # 1, with the policy's gradient (one update: on-policy)
    k3 = torch.exp(ref - logp) - (ref - logp) - 1
    per_token = -ratio * advantages.reshape(-1, 1) + kl_coef * k3  # (2k, T): row r is prompt r // k
    per_token[mask].mean().backward()  # the token mean over every answer token of the batch
    expected = {name: p.detach() - lr * p.grad for name, p in hand.named_parameters()}

    optimizer = torch.optim.SGD(policy.parameters(), lr=lr)
    generator.set_state(state)
    stats = rl_step(
        policy,
        reference,
        prompts,
        first_token_is_wanted,
        optimizer,
        kl_coef=kl_coef,
        grad_clip=None,
        generator=generator,
        **settings,
    )
    assert stats["reward"] == pytest.approx(float(rewards.mean()))
    for name, p in policy.named_parameters():
        torch.testing.assert_close(p.detach(), expected[name], atol=1e-6, rtol=1e-5, msg=name)


def test_rl_step_scores_the_tokens_at_the_temperature_it_sampled_them_at(monkeypatch):
    policy = tiny_gpt(0)
    reference = perturbed_copy(policy)
    before = copy.deepcopy(policy).eval()
    seen: dict[str, torch.Tensor] = {}
    real_loss, real_logprobs = rl.policy_loss, rl.token_logprobs

    def recording_logprobs(model, ids, **kwargs):
        seen.setdefault("ids", ids)
        return real_logprobs(model, ids, **kwargs)

    def recording_loss(logprobs, old_logprobs, reference_logprobs, *args, **kwargs):
        if "logprobs" not in seen:  # the first update, before the policy has moved
            seen.update(logprobs=logprobs.detach(), old=old_logprobs, reference=reference_logprobs)
        return real_loss(logprobs, old_logprobs, reference_logprobs, *args, **kwargs)

    monkeypatch.setattr(rl, "token_logprobs", recording_logprobs)
    monkeypatch.setattr(rl, "policy_loss", recording_loss)
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    rl_step(
        policy,
        reference,
        [torch.tensor([1, 2])],
        first_token_is_wanted,
        optimizer,
        k=4,
        max_new_tokens=4,
        temperature=0.7,
        eos_id=END,
        kl_coef=0.1,
        updates=2,
        generator=torch.Generator().manual_seed(0),
    )
    with torch.no_grad():
        ids = seen["ids"]
        expected = logprobs_by_hand(before, ids, 0.7)
        torch.testing.assert_close(seen["logprobs"], expected)
        torch.testing.assert_close(seen["old"], expected)
        torch.testing.assert_close(seen["reference"], logprobs_by_hand(reference.eval(), ids, 0.7))
        assert not torch.allclose(expected, logprobs_by_hand(before, ids, 1.0))  # T = 1 would differ


def test_rl_step_refuses_what_it_cannot_do():
    policy = tiny_gpt()
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.1)
    common = dict(k=4, max_new_tokens=3)
    with pytest.raises(ValueError, match="reference is needed"):
        rl_step(policy, None, [torch.tensor([0])], first_token_is_wanted, optimizer, kl_coef=0.1, **common)
    with pytest.raises(ValueError, match="block_size=8"):
        rl_step(policy, None, [torch.arange(7) % 4], first_token_is_wanted, optimizer, **common)
    with pytest.raises(ValueError, match="k must be >= 2"):
        rl_step(policy, None, [torch.tensor([0])], first_token_is_wanted, optimizer, k=1, max_new_tokens=3)
    with pytest.raises(ValueError, match="prompts must be"):
        rl_step(policy, None, [], first_token_is_wanted, optimizer, **common)
    for temperature in (0.0, -1.0, float("inf")):  # at 0 all k answers are the same: no advantage, nothing learned
        with pytest.raises(ValueError, match="temperature must be"):
            rl_step(
                policy, None, [torch.tensor([0])], first_token_is_wanted, optimizer, temperature=temperature, **common
            )
    shares = copy.deepcopy(policy)
    shares.lm_head = policy.lm_head  # one shared parameter would move the reference with the policy
    for reference in (policy, shares):
        with pytest.raises(ValueError, match="copy.deepcopy"):
            rl_step(policy, reference, [torch.tensor([0])], first_token_is_wanted, optimizer, **common)
