"""Plausible wrong answers to chapter 10's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- completion_targets ------------------------------------------------------------------------------------------


def _assistant_positions(ids, assistant_id, end_id, role_ids, *, role_token=False, closing_end=True):
    trained = torch.zeros(ids.shape, dtype=torch.bool)
    for b in range(ids.shape[0]):
        role = None
        for t in range(ids.shape[1]):
            token = int(ids[b, t])
            if role is None:
                if token in role_ids:
                    role = token
                    trained[b, t] = role_token and token == assistant_id
                continue
            trained[b, t] = role == assistant_id and (closing_end or token != end_id)
            if token == end_id:
                role = None
    return trained


def _shifted(ids, trained):
    return ids[:, :-1].clone(), torch.where(trained[:, 1:], ids[:, 1:], -100)


def targets_prompt_in_loss(ids, assistant_id, end_id, role_ids, pad_id):
    targets = ids[:, 1:].clone()
    targets[targets == pad_id] = -100  # a plain language-model loss: every real token trained
    return ids[:, :-1].clone(), targets


def targets_role_token_trained(ids, assistant_id, end_id, role_ids, pad_id):
    return _shifted(ids, _assistant_positions(ids, assistant_id, end_id, role_ids, role_token=True))


def targets_end_not_trained(ids, assistant_id, end_id, role_ids, pad_id):
    return _shifted(ids, _assistant_positions(ids, assistant_id, end_id, role_ids, closing_end=False))


def targets_mask_not_shifted(ids, assistant_id, end_id, role_ids, pad_id):
    trained = _assistant_positions(ids, assistant_id, end_id, role_ids)
    return ids[:, :-1].clone(), torch.where(trained[:, :-1], ids[:, 1:], -100)  # the inputs' mask on the targets


def targets_padding_trained(ids, assistant_id, end_id, role_ids, pad_id):
    # each position takes the role of the last role token at or before it: the last turn runs on into the padding
    is_role = torch.isin(ids, torch.tensor(role_ids))
    position = torch.arange(ids.shape[1]).expand(ids.shape)
    last_role = torch.where(is_role, position, -1).cummax(dim=1).values
    role = torch.where(last_role >= 0, ids.gather(1, last_role.clamp(min=0)), -1)
    trained = (role == assistant_id) & (ids != assistant_id)
    return _shifted(ids, trained)


def targets_pad_id_is_padding(ids, assistant_id, end_id, role_ids, pad_id):
    # the role of the last role token at or before each position, with the padding taken out by its id
    is_role = torch.isin(ids, torch.tensor(role_ids))
    position = torch.arange(ids.shape[1]).expand(ids.shape)
    last_role = torch.where(is_role, position, -1).cummax(dim=1).values
    role = torch.where(last_role >= 0, ids.gather(1, last_role.clamp(min=0)), -1)
    trained = (role == assistant_id) & (ids != assistant_id) & (ids != pad_id)
    return _shifted(ids, trained)


def targets_last_turn_only(ids, assistant_id, end_id, role_ids, pad_id):
    trained = torch.zeros(ids.shape, dtype=torch.bool)
    for b in range(ids.shape[0]):
        row = ids[b].tolist()
        if assistant_id not in row:
            continue
        start = len(row) - 1 - row[::-1].index(assistant_id)  # the last answer only, as DPO's batches score it
        end = row.index(end_id, start)
        trained[b, start + 1 : end + 1] = True
    return _shifted(ids, trained)


def targets_inputs_a_view(ids, assistant_id, end_id, role_ids, pad_id):
    trained = _assistant_positions(ids, assistant_id, end_id, role_ids)
    return ids[:, :-1], torch.where(trained[:, 1:], ids[:, 1:], -100)  # a slice of the caller's ids


def targets_in_place(ids, assistant_id, end_id, role_ids, pad_id):
    trained = _assistant_positions(ids, assistant_id, end_id, role_ids)
    inputs = ids[:, :-1].clone()
    ids[~trained] = -100  # the caller's ids overwritten
    return inputs, ids[:, 1:].clone()


def targets_int32(ids, assistant_id, end_id, role_ids, pad_id):
    inputs, targets = _shifted(ids, _assistant_positions(ids, assistant_id, end_id, role_ids))
    return inputs, targets.int()


# --- per_conversation_loss ---------------------------------------------------------------------------------------


def _token_losses(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").reshape(
        targets.shape
    )  # 0 at -100


def sft_token_mean(logits, targets):
    scored = targets != -100
    return _token_losses(logits, targets).sum() / scored.sum().clamp(min=1)


def sft_divides_by_t(logits, targets):
    return _token_losses(logits, targets).mean(dim=1).mean()  # -100 positions counted as losses of 0


def sft_nan_rows(logits, targets):
    scored = targets != -100
    return (_token_losses(logits, targets).sum(1) / scored.sum(1)).mean()  # 0 / 0 for a row with no target


def sft_empty_rows_as_zero(logits, targets):
    scored = targets != -100
    per_row = _token_losses(logits, targets).sum(1) / scored.sum(1).clamp(min=1)
    return per_row.sum() / max(1, len(per_row))  # every row in the mean, an empty one as 0


def sft_row_sums(logits, targets):
    scored = targets != -100
    has = scored.any(dim=1)
    per_row = _token_losses(logits, targets).sum(1)  # summed, not averaged
    return (per_row * has).sum() / has.sum().clamp(min=1)


def sft_where_after_dividing(logits, targets):
    scored = targets != -100
    log_probs = F.log_softmax(logits, dim=-1)
    nats = -log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * scored  # (B, T)
    count = scored.sum(1)
    per_row = nats.sum(1) / count  # nan in an empty row, and a nan gradient behind it (0 * nan)
    has = count > 0
    per_row = torch.where(has, per_row, torch.zeros_like(per_row))
    return per_row.sum() / has.sum().clamp(min=1)


def sft_naive_softmax(logits, targets):
    scored = targets != -100
    probs = logits.exp() / logits.exp().sum(-1, keepdim=True)  # overflows for logits of size 1e4
    picked = probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    nats = -picked.log() * scored
    count = scored.sum(1)
    per_row = nats.sum(1) / count.clamp(min=1)
    has = count > 0
    return (per_row * has).sum() / has.sum().clamp(min=1)


def sft_float32_counts(logits, targets):
    scored = (targets != -100).float()  # float32: a float64 loss comes back float32
    per_row = (_token_losses(logits, targets) * scored).sum(1) / scored.sum(1).clamp(min=1)
    has = (scored.sum(1) > 0).float()
    return ((per_row * has).sum() / has.sum().clamp(min=1)).to(torch.float32)


# --- ipo_loss ----------------------------------------------------------------------------------------------------


def _h(policy_chosen, policy_rejected, reference_chosen, reference_rejected):
    return (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)


def ipo_reference_not_detached(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = _h(policy_chosen, policy_rejected, reference_chosen, reference_rejected)  # the reference not detached
    return ((h - 1 / (2 * tau)) ** 2).mean()


def ipo_swapped(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = (policy_rejected - reference_rejected) - (policy_chosen - reference_chosen)
    return ((h - 1 / (2 * tau)) ** 2).mean()


def ipo_no_reference(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    return ((policy_chosen - policy_rejected - 1 / (2 * tau)) ** 2).mean()


def ipo_one_over_tau(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = _h(policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    return ((h - 1 / tau) ** 2).mean()


def ipo_precedence(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = _h(policy_chosen, policy_rejected, reference_chosen.detach(), reference_rejected.detach())
    return ((h - 1 / 2 * tau) ** 2).mean()  # (1 / 2) * tau: the margin tau / 2


def ipo_dpo_form(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = _h(policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    return -F.logsigmoid(tau * h).mean()


def ipo_summed(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = _h(policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    return ((h - 1 / (2 * tau)) ** 2).sum()


def ipo_item(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    h = _h(policy_chosen, policy_rejected, reference_chosen, reference_rejected)
    return ((h - 1 / (2 * tau)) ** 2).mean().item()


def ipo_in_place(policy_chosen, policy_rejected, reference_chosen, reference_rejected, tau):
    with torch.no_grad():
        reference_chosen -= reference_rejected  # the caller's tensor changed
    h = policy_chosen - policy_rejected - reference_chosen
    return ((h - 1 / (2 * tau)) ** 2).mean()


# --- rloo_advantages ---------------------------------------------------------------------------------------------


def rloo_group_mean(rewards):
    return rewards - rewards.mean(dim=1, keepdim=True)  # GRPO's baseline: the answer's own reward included


def rloo_whole_batch(rewards):
    return rewards - (rewards.sum() - rewards) / (rewards.numel() - 1)


def rloo_divided_by_std(rewards):
    k = rewards.shape[1]
    advantages = rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)
    return advantages / (rewards.std(dim=1, keepdim=True) + 1e-6)


def rloo_wrong_axis(rewards):
    g = rewards.shape[0]
    return rewards - (rewards.sum(dim=0, keepdim=True) - rewards) / (g - 1)


def rloo_over_k(rewards):
    k = rewards.shape[1]
    return rewards - (rewards.sum(dim=1, keepdim=True) - rewards) / k


def rloo_in_place(rewards):
    k = rewards.shape[1]
    rewards -= (rewards.sum(dim=1, keepdim=True) - rewards) / (k - 1)
    return rewards.clone()


def rloo_float32(rewards):
    r = rewards.float()  # float64 scores come back float32
    return r - (r.sum(dim=1, keepdim=True) - r) / (r.shape[1] - 1)


# --- token_kl ----------------------------------------------------------------------------------------------------


def _masked_mean(kl, mask):
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum().clamp(min=1)


def kl_reversed(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, -1), F.log_softmax(reference_logits, -1)
    return _masked_mean((log_q.exp() * (log_q - log_p)).sum(-1), mask)


def kl_raw_logits(policy_logits, reference_logits, mask):
    p = torch.softmax(policy_logits, -1)
    return _masked_mean((p * (policy_logits - reference_logits)).sum(-1), mask)  # logits taken for log-probabilities


def kl_unweighted_k3(policy_logits, reference_logits, mask):
    log_ratio = F.log_softmax(reference_logits, -1) - F.log_softmax(policy_logits, -1)
    return _masked_mean((log_ratio.exp() - log_ratio - 1).sum(-1), mask)


def kl_mask_ignored(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, -1), F.log_softmax(reference_logits, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def kl_summed_positions(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, -1), F.log_softmax(reference_logits, -1)
    return ((log_p.exp() * (log_p - log_q)).sum(-1) * mask).sum()


def kl_wrong_axis(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, 1), F.log_softmax(reference_logits, 1)  # over the positions
    return _masked_mean((log_p.exp() * (log_p - log_q)).sum(-1), mask)


def kl_mean_over_vocab(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, -1), F.log_softmax(reference_logits, -1)
    return _masked_mean((log_p.exp() * (log_p - log_q)).mean(-1), mask)


def kl_log_of_softmax(policy_logits, reference_logits, mask):
    p, q = torch.softmax(policy_logits, -1), torch.softmax(reference_logits, -1)
    return _masked_mean((p * (p.log() - q.log())).sum(-1), mask)  # 0 * log 0 = nan where softmax underflows


def kl_nan_on_empty_mask(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, -1), F.log_softmax(reference_logits, -1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1)
    return kl[mask].mean()  # the mean of nothing is nan


def kl_library(policy_logits, reference_logits, mask):
    kl = F.kl_div(
        F.log_softmax(reference_logits, -1), F.log_softmax(policy_logits, -1), reduction="none", log_target=True
    ).sum(-1)
    return _masked_mean(kl, mask)


def kl_reference_detached(policy_logits, reference_logits, mask):
    log_p, log_q = F.log_softmax(policy_logits, -1), F.log_softmax(reference_logits.detach(), -1)
    return _masked_mean((log_p.exp() * (log_p - log_q)).sum(-1), mask)


WRONG_ANSWERS = {
    "ch10.completion_targets": [
        WrongAnswer("the prompt left in the loss", targets_prompt_in_loss, "trained the prompt too"),
        WrongAnswer("the <|assistant|> role token trained", targets_role_token_trained, "role token"),
        WrongAnswer("the closing <|end|> not trained", targets_end_not_trained, "closes an assistant turn"),
        WrongAnswer("mask not shifted with the targets", targets_mask_not_shifted, "shifted with the targets"),
        WrongAnswer("the last turn runs on into the padding", targets_padding_trained, "trained the padding"),
        WrongAnswer("every pad_id taken for padding (pad_id = end_id)", targets_pad_id_is_padding, "took every pad_id"),
        WrongAnswer("only the last assistant turn", targets_last_turn_only, "every answer"),
        WrongAnswer("inputs a view of ids", targets_inputs_a_view, "shares memory"),
        WrongAnswer("ids overwritten in place", targets_in_place, "in place"),
        WrongAnswer("int32 targets", targets_int32, "int64"),
    ],
    "ch10.per_conversation_loss": [
        WrongAnswer("the chapter's token mean", sft_token_mean, "token mean"),
        WrongAnswer("divides each row by T", sft_divides_by_t, "divided each row by its length T"),
        WrongAnswer("NaN for a row with no target", sft_nan_rows, "gave NaN for a row"),
        WrongAnswer("a row with no target counted as 0", sft_empty_rows_as_zero, "as a loss of 0"),
        WrongAnswer("row sums instead of means", sft_row_sums, "added up each row's losses"),
        WrongAnswer("torch.where after dividing (nan gradient)", sft_where_after_dividing, "gradient"),
        WrongAnswer("softmax by hand, exp overflows", sft_naive_softmax, "NaN"),
        WrongAnswer("float32 counts under float64 logits", sft_float32_counts, "float64"),
    ],
    "ch10.ipo_loss": [
        WrongAnswer("chosen and rejected swapped", ipo_swapped, "swapped the chosen and the rejected"),
        WrongAnswer("the reference's log-probabilities not detached", ipo_reference_not_detached, "fixed target"),
        WrongAnswer("no reference model", ipo_no_reference, "left out the reference"),
        WrongAnswer("1/tau instead of 1/(2 tau)", ipo_one_over_tau, "aimed h at 1 / tau"),
        WrongAnswer("1 / 2 * tau (precedence: tau / 2)", ipo_precedence, "1 / 2 * tau"),
        WrongAnswer("DPO's logsigmoid form", ipo_dpo_form, "DPO's loss"),
        WrongAnswer("summed over the pairs", ipo_summed, "added up the pairs"),
        WrongAnswer("a Python float", ipo_item, "0-d tensor"),
        WrongAnswer("a reference tensor changed in place", ipo_in_place, "in place"),
    ],
    "ch10.rloo_advantages": [
        WrongAnswer("own reward in the baseline (GRPO's mean)", rloo_group_mean, "own reward"),
        WrongAnswer("baseline over all the prompts", rloo_whole_batch, "over all the prompts"),
        WrongAnswer("divided by the group's std", rloo_divided_by_std, "standard deviation"),
        WrongAnswer("the others along dim 0", rloo_wrong_axis, "wrong axis"),
        WrongAnswer("the others' sum over K", rloo_over_k, "K - 1"),
        WrongAnswer("rewards changed in place", rloo_in_place, "in place"),
        WrongAnswer("float32 under float64 rewards", rloo_float32, "float64"),
    ],
    "ch10.token_kl": [
        WrongAnswer("KL(reference || policy)", kl_reversed, "reversed"),
        WrongAnswer("raw logits as log-probabilities", kl_raw_logits, "raw logits"),
        WrongAnswer("k3 summed over the vocabulary, unweighted", kl_unweighted_k3, "k3"),
        WrongAnswer("mask ignored", kl_mask_ignored, "mask ignored"),
        WrongAnswer("summed over the positions", kl_summed_positions, "added up the masked positions"),
        WrongAnswer("softmax over the positions", kl_wrong_axis, "wrong dimension"),
        WrongAnswer("averaged over the vocabulary", kl_mean_over_vocab, "averaged over the vocabulary"),
        WrongAnswer("log of softmax (nan where it underflows)", kl_log_of_softmax, "NaN"),
        WrongAnswer("NaN for an empty mask", kl_nan_on_empty_mask, "no True position"),
        WrongAnswer("F.kl_div", kl_library, "kl_div"),
        WrongAnswer("reference logits detached", kl_reference_detached, "reference_logits"),
    ],
}
