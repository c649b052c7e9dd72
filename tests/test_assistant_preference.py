"""Chapter 10's DPO: sequence log-probs against a token-by-token loop, the loss against the paper's formula written
independently (float64, -log(sigmoid)) and in closed form, pairs rendered by the chat template, a training step
against the loss and the KL computed apart, and a short training run against a frozen reference."""

import copy
import math

import pytest
import torch
from torch.distributions import Categorical, kl_divergence

from llmcourse.assistant.chat import ChatTokenizer
from llmcourse.assistant.preference import (
    PreferenceBatch,
    dpo_loss,
    preference_batch,
    sequence_logprobs,
    token_logprobs,
    train_dpo,
)
from llmcourse.gpt import GPT, GPTConfig
from llmcourse.tokenizers import CharTokenizer


def tiny_gpt(seed: int = 0, vocab_size: int = 11) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()


def padded_rows() -> tuple[torch.Tensor, torch.Tensor]:
    """Three prompt + response rows of different lengths, right-padded with junk ids the mask leaves out."""
    ids = torch.tensor(
        [
            [1, 2, 3, 4, 5, 6, 7, 8],  # prompt 1, 2, 3; response 4..8
            [9, 1, 5, 10, 7, 7, 7, 7],  # prompt 9, 1; response 5, 10; then padding
            [3, 3, 2, 8, 0, 0, 0, 0],  # prompt 3, 3, 2; response 8; then padding
        ]
    )
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[0, 3:] = True
    mask[1, 2:4] = True
    mask[2, 3] = True
    return ids, mask


def slow_sequence_logprob(model: GPT, ids: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """One forward pass per scored token, each on the prefix alone (no padding ever seen), summed in float64."""
    totals = []
    for row, row_mask in zip(ids, mask, strict=True):
        total = 0.0
        for t in row_mask.nonzero().flatten().tolist():
            logits = model(row[None, :t])[0, -1].double()  # (V,): the next token after the prefix 0..t-1
            total += float(torch.log_softmax(logits, dim=-1)[row[t]])
        totals.append(total)
    return totals


@torch.no_grad()
def test_sequence_logprobs_equal_a_token_by_token_loop_over_the_unpadded_prefixes():
    model = tiny_gpt()
    ids, mask = padded_rows()
    fast = sequence_logprobs(model, ids, mask)
    assert fast.shape == (3,)
    slow = torch.tensor(slow_sequence_logprob(model, ids, mask), dtype=torch.float64)
    torch.testing.assert_close(fast.double(), slow, atol=1e-5, rtol=0)


@torch.no_grad()
def test_token_logprobs_are_aligned_with_the_ids_and_zero_at_position_zero():
    model = tiny_gpt()
    ids, _ = padded_rows()
    logp = token_logprobs(model, ids)
    assert logp.shape == ids.shape and bool((logp[:, 0] == 0).all()) and bool((logp[:, 1:] < 0).all())
    expected = torch.log_softmax(model(ids[:1, :4])[0, -1], dim=-1)[ids[0, 4]]  # token 4 after the prefix 0..3
    torch.testing.assert_close(logp[0, 4], expected)


@torch.no_grad()
def test_token_logprobs_at_a_temperature_score_the_softmax_of_the_logits_over_it():
    model = tiny_gpt()
    ids, _ = padded_rows()
    logits = model(ids[:, :-1])  # (B, T - 1, V)
    for temperature in (0.5, 1.0, 2.0):
        expected = torch.log_softmax(logits / temperature, dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        torch.testing.assert_close(token_logprobs(model, ids, temperature=temperature)[:, 1:], expected)
    for temperature in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="temperature must be"):
            token_logprobs(model, ids, temperature=temperature)


@torch.no_grad()
def test_right_padding_does_not_change_a_rows_log_probability():
    model = tiny_gpt()
    ids, mask = padded_rows()
    alone = sequence_logprobs(model, ids[2:, :4], mask[2:, :4])  # the third row without its padding
    other_padding = ids[2:].clone()
    other_padding[0, 4:] = torch.tensor([10, 9, 8, 7])
    torch.testing.assert_close(sequence_logprobs(model, ids, mask)[2:], alone)
    torch.testing.assert_close(sequence_logprobs(model, other_padding, mask[2:]), alone)


def test_sequence_logprobs_carry_the_gradient_to_the_model():
    model = tiny_gpt()
    ids, mask = padded_rows()
    sequence_logprobs(model, ids, mask).sum().backward()
    assert model.embed.tok_emb.weight.grad is not None and model.embed.tok_emb.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ids, mask: (ids, mask.long()), "bool tensor"),
        (lambda ids, mask: (ids, mask[:, :-1]), "bool tensor of the ids' shape"),
        (lambda ids, mask: (ids, mask | (torch.arange(8) == 0)), "position 0"),
        (lambda ids, mask: (ids, mask & (torch.arange(3) != 1)[:, None]), r"no position in rows \[1\]"),
        (lambda ids, mask: (ids + 11, mask), r"token ids in \[0, 11\)"),
        (lambda ids, mask: (ids[:, :1], mask[:, :1]), "marks no position"),
    ],
)
def test_sequence_logprobs_refuse_bad_masks_and_ids_by_name(change, message):
    ids, mask = change(*padded_rows())
    with pytest.raises(ValueError, match=message):
        sequence_logprobs(tiny_gpt(), ids, mask)


# --- the loss ------------------------------------------------------------------------------------------------


def papers_loss(pc: list[float], pr: list[float], rc: list[float], rr: list[float], beta: float) -> float:
    """Rafailov et al. (2023), eq. 7, in plain Python floats: mean of -log(sigmoid(beta * (log-ratio difference)))."""
    terms = []
    for a, b, c, d in zip(pc, pr, rc, rr, strict=True):
        z = beta * (math.log(math.exp(a) / math.exp(c)) - math.log(math.exp(b) / math.exp(d)))
        terms.append(-math.log(1.0 / (1.0 + math.exp(-z))))
    return sum(terms) / len(terms)


def test_dpo_loss_equals_the_papers_formula_computed_another_way():
    pc, pr = [-12.5, -3.0, -7.25, -20.0], [-11.0, -9.5, -7.0, -15.0]
    rc, rr = [-12.0, -4.0, -8.0, -18.0], [-10.0, -9.0, -7.5, -16.5]
    for beta in (0.1, 0.5, 2.0):
        out = dpo_loss(*(torch.tensor(v) for v in (pc, pr, rc, rr)), beta=beta)
        assert float(out.loss) == pytest.approx(papers_loss(pc, pr, rc, rr, beta), rel=1e-6)
        expected_chosen = [beta * (a - c) for a, c in zip(pc, rc, strict=True)]
        expected_rejected = [beta * (b - d) for b, d in zip(pr, rr, strict=True)]
        assert out.chosen_rewards.tolist() == pytest.approx(expected_chosen, rel=1e-6)
        assert out.rejected_rewards.tolist() == pytest.approx(expected_rejected, rel=1e-6)


def test_a_policy_equal_to_its_reference_has_loss_log_2_and_zero_rewards():
    g = torch.Generator().manual_seed(0)
    chosen, rejected = -30 * torch.rand(16, generator=g), -30 * torch.rand(16, generator=g)
    out = dpo_loss(chosen, rejected, chosen.clone(), rejected.clone(), beta=0.3)
    assert float(out.loss) == pytest.approx(math.log(2), rel=1e-7)
    assert bool((out.chosen_rewards == 0).all()) and bool((out.rejected_rewards == 0).all())


def test_dpo_loss_gradient_is_the_papers_weighted_log_likelihood_difference():
    """Rafailov et al.'s gradient: -beta * sigmoid(r_rejected - r_chosen) / B on chosen, the opposite on rejected."""
    beta = 0.5
    pc = torch.tensor([-5.0, -8.0, -2.0], requires_grad=True)
    pr = torch.tensor([-6.0, -4.0, -9.0], requires_grad=True)
    rc, rr = torch.tensor([-5.5, -7.0, -3.0]), torch.tensor([-5.0, -5.0, -8.0])
    out = dpo_loss(pc, pr, rc, rr, beta=beta)
    out.loss.backward()
    weight = torch.sigmoid(out.rejected_rewards - out.chosen_rewards)  # larger where the model ranks the pair wrong
    torch.testing.assert_close(pc.grad, -beta * weight / 3)
    torch.testing.assert_close(pr.grad, beta * weight / 3)


def test_dpo_loss_treats_the_reference_as_a_fixed_target_and_stays_finite_for_any_margin():
    pc, pr = torch.tensor([-2000.0]), torch.tensor([-1.0])
    rc = torch.tensor([-1.0], requires_grad=True)
    out = dpo_loss(pc, pr, rc, torch.tensor([-1.0]), beta=1.0)  # margin -1999: sigmoid underflows to 0
    assert float(out.loss) == pytest.approx(1999.0) and math.isfinite(float(out.loss))
    assert not out.loss.requires_grad  # the reference's log-probs are detached, and nothing else has a gradient


@pytest.mark.parametrize(
    "args, beta, message",
    [
        ((torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(2)), 0.1, "reference_rejected has shape"),
        ((torch.zeros(3, 1), torch.zeros(3), torch.zeros(3), torch.zeros(3)), 0.1, "policy_chosen must be"),
        ((torch.zeros(0), torch.zeros(0), torch.zeros(0), torch.zeros(0)), 0.1, "non-empty"),
        ((torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.zeros(3)), 0.0, "beta must be"),
    ],
)
def test_dpo_loss_refuses_bad_input_by_name(args, beta, message):
    with pytest.raises(ValueError, match=message):
        dpo_loss(*args, beta=beta)


# --- pairs from conversations ----------------------------------------------------------------------------------


def test_a_preference_batch_scores_only_the_final_assistant_turn_of_each_rendered_conversation():
    tok = ChatTokenizer.from_base(CharTokenizer.from_chars("\n abcdefghilmnorstuwy?"))
    two_turns = [("user", "hi"), ("assistant", "hail"), ("user", "who?")]
    prompts = [two_turns, [("system", "be brief"), ("user", "a?")]]
    batch = preference_batch(prompts, ["me", "yes"], ["thee", ""], tok)
    for ids, mask, answers in (
        (batch.chosen_ids, batch.chosen_mask, ["me", "yes"]),
        (batch.rejected_ids, batch.rejected_mask, ["thee", ""]),
    ):
        assert ids.shape == mask.shape and ids.size(0) == 2 and mask.dtype == torch.bool
        for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
            rendered, _ = tok.render([*prompt, ("assistant", answer)])
            n = len(rendered)
            assert ids[row, :n].tolist() == rendered.tolist() and not bool(mask[row, n:].any())  # right padding
            scored = ids[row][mask[row]].tolist()
            assert scored == tok.encode_text(answer) + [tok.end_id]  # the answer and its end, nothing else
            assert tok.parse(ids[row, :n])[-1] == ("assistant", answer)
    hail = tok.encode_text("hail")
    first = batch.chosen_ids[0].tolist()
    start = next(i for i in range(len(first)) if first[i : i + 4] == hail)
    assert not bool(batch.chosen_mask[0, start : start + 5].any())  # the earlier assistant turn is context only
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16))
    assert sequence_logprobs(model, batch.chosen_ids, batch.chosen_mask).shape == (2,)  # a batch DPO can score


def test_a_preference_batch_refuses_prompts_that_do_not_end_with_a_user_turn_and_uneven_lists():
    tok = ChatTokenizer.from_base(CharTokenizer.from_chars("\n abhi"))
    with pytest.raises(ValueError, match="end with a user turn"):
        preference_batch([[("user", "hi"), ("assistant", "a")]], ["b"], ["a"], tok)
    with pytest.raises(ValueError, match="one entry per pair"):
        preference_batch([[("user", "hi")]], ["b", "a"], ["a"], tok)
    with pytest.raises(TypeError, match="ChatTokenizer"):
        preference_batch([[("user", "hi")]], ["b"], ["a"], CharTokenizer.from_chars("abhi"))


# --- training ------------------------------------------------------------------------------------------------


def toy_pairs(vocab_size: int = 11) -> list[PreferenceBatch]:
    """Prompts of 2-4 random ids; the chosen answer is always 5 5 6, the rejected one 7 8 (so T differs)."""
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(3):
        chosen, rejected, cm, rm = [], [], [], []
        for _ in range(4):
            prompt = torch.randint(0, vocab_size, (int(torch.randint(2, 5, (1,), generator=g)),), generator=g).tolist()
            chosen.append(prompt + [5, 5, 6] + [0] * (4 - len(prompt)))
            cm.append([False] * len(prompt) + [True] * 3 + [False] * (4 - len(prompt)))
            rejected.append(prompt + [7, 8] + [0] * (4 - len(prompt)))
            rm.append([False] * len(prompt) + [True] * 2 + [False] * (4 - len(prompt)))
        batches.append(
            PreferenceBatch(torch.tensor(chosen), torch.tensor(cm), torch.tensor(rejected), torch.tensor(rm))
        )
    return batches


def test_dpo_training_grows_the_margin_and_never_touches_the_reference():
    policy = tiny_gpt(seed=3).train()  # train() to see that DPO runs it in eval mode and puts the mode back
    reference = copy.deepcopy(policy)
    before = {name: p.clone() for name, p in reference.state_dict().items()}
    history = train_dpo(policy, reference, toy_pairs(), steps=25, lr=3e-3, beta=0.5, generator=torch.Generator())
    assert all(torch.equal(before[name], p) for name, p in reference.state_dict().items())
    assert len(history.loss) == len(history.kl) == 25
    assert history.loss[0] == pytest.approx(math.log(2), abs=1e-6)  # step 0: policy == reference
    assert history.margin[0] == pytest.approx(0.0, abs=1e-6) and history.kl[0] == pytest.approx(0.0, abs=1e-6)
    assert min(history.margin[-5:]) > 2.0 and history.accuracy[-1] == 1.0
    assert history.loss[-1] < 0.2 and min(history.kl[1:]) > 0
    assert history.rejected_logratio[-1] < 0  # the rejected answer has become less likely than under the reference
    assert policy.training and reference.training


def test_a_dpo_steps_loss_and_kl_are_the_ones_computed_apart_from_the_training_loop():
    policy = tiny_gpt(seed=3)
    reference = copy.deepcopy(policy)
    with torch.no_grad():  # a reference that differs, so the loss is not log 2 and the KL not 0 by construction
        g = torch.Generator().manual_seed(0)
        for p in reference.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    batch = toy_pairs()[0]  # chosen (4, 7) and rejected (4, 6): the loop pads them to one length
    with torch.no_grad():
        logps = [
            sequence_logprobs(model, ids, mask)
            for model in (policy, reference)
            for ids, mask in ((batch.chosen_ids, batch.chosen_mask), (batch.rejected_ids, batch.rejected_mask))
        ]  # policy chosen, policy rejected, reference chosen, reference rejected
        expected = dpo_loss(*logps, beta=0.5)
        rows, cols = batch.chosen_mask.nonzero(as_tuple=True)  # the chosen answers' tokens
        p_logits = policy(batch.chosen_ids)[rows, cols - 1]  # (N, V): position t - 1 predicts token t
        r_logits = reference(batch.chosen_ids)[rows, cols - 1]
        kl = kl_divergence(Categorical(logits=p_logits), Categorical(logits=r_logits)).mean()
    history = train_dpo(policy, reference, [batch], steps=1, lr=1e-3, beta=0.5, generator=torch.Generator())
    assert history.loss[0] == pytest.approx(float(expected.loss), rel=1e-5)
    assert abs(history.loss[0] - math.log(2)) > 1e-3  # the check would be empty at log 2
    assert history.margin[0] == pytest.approx(float((expected.chosen_rewards - expected.rejected_rewards).mean()))
    assert history.kl[0] == pytest.approx(float(kl), rel=1e-4) and history.kl[0] > 1e-3


def test_dpo_training_refuses_a_reference_that_shares_weights_with_the_policy():
    policy = tiny_gpt()
    shares = copy.deepcopy(policy)
    shares.lm_head = policy.lm_head
    with pytest.raises(ValueError, match="copy.deepcopy"):
        train_dpo(policy, shares, toy_pairs(), steps=1, lr=1e-3, beta=0.1, generator=torch.Generator())


def test_dpo_training_is_deterministic_given_the_generator():
    runs = []
    for _ in range(2):
        policy = tiny_gpt(seed=3)
        history = train_dpo(
            policy,
            copy.deepcopy(policy),
            toy_pairs(),
            steps=4,
            lr=1e-3,
            beta=0.1,
            generator=torch.Generator().manual_seed(7),
        )
        runs.append(history)
    assert runs[0] == runs[1]


def test_dpo_training_refuses_the_policy_as_its_own_reference_and_bad_batches():
    policy = tiny_gpt()
    with pytest.raises(ValueError, match="copy.deepcopy"):
        train_dpo(policy, policy, toy_pairs(), steps=1, lr=1e-3, beta=0.1, generator=torch.Generator())
    batch = toy_pairs()[0]
    broken = batch._replace(rejected_ids=batch.rejected_ids[:2], rejected_mask=batch.rejected_mask[:2])
    with pytest.raises(ValueError, match="4 chosen and 2 rejected"):
        train_dpo(policy, copy.deepcopy(policy), [broken], steps=1, lr=1e-3, beta=0.1, generator=torch.Generator())
    with pytest.raises(ValueError, match="steps must be"):
        train_dpo(policy, copy.deepcopy(policy), [batch], steps=0, lr=1e-3, beta=0.1, generator=torch.Generator())
