"""Plausible wrong answers to chapter 4's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- masked_lm_metrics -------------------------------------------------------------------------


def _per_char(logits, targets):
    batch, length, vocab = logits.shape
    return F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), reduction="none").reshape(batch, length)


def _mask(lengths, length, extra=0):
    return torch.arange(length)[None, :] < (lengths[:, None] + extra)


def _metrics(loss):
    return loss, loss.exp(), loss / math.log(2)


def masked_counts_padding(logits, targets, lengths):
    return _metrics(_per_char(logits, targets).mean())


def masked_row_means(logits, targets, lengths):
    per_char, mask = _per_char(logits, targets), _mask(lengths, targets.shape[1])
    return _metrics(((per_char * mask).sum(1) / mask.sum(1)).mean())


def masked_divides_by_bt(logits, targets, lengths):
    per_char, mask = _per_char(logits, targets), _mask(lengths, targets.shape[1])
    return _metrics((per_char * mask).sum() / targets.numel())


def masked_off_by_one(logits, targets, lengths):
    per_char, mask = _per_char(logits, targets), _mask(lengths, targets.shape[1], extra=1)
    return _metrics(per_char[mask].mean())


def masked_sums(logits, targets, lengths):
    per_char, mask = _per_char(logits, targets), _mask(lengths, targets.shape[1])
    return _metrics(per_char[mask].sum())


def masked_perplexity_base2(logits, targets, lengths):
    loss = _per_char(logits, targets)[_mask(lengths, targets.shape[1])].mean()
    return loss, 2**loss, loss / math.log(2)


def masked_bits_times_ln2(logits, targets, lengths):
    loss = _per_char(logits, targets)[_mask(lengths, targets.shape[1])].mean()
    return loss, loss.exp(), loss * math.log(2)


def masked_ignore_index_zero(logits, targets, lengths):
    padded = targets.masked_fill(~_mask(lengths, targets.shape[1]), 0)  # "pad with 0, then ignore 0"
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), padded.reshape(-1), ignore_index=0)
    return _metrics(loss)  # also drops the real characters whose id is 0


def masked_fills_targets_in_place(logits, targets, lengths):
    targets[~_mask(lengths, targets.shape[1])] = -100  # changes the caller's targets
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return _metrics(loss)


def masked_longest_row(logits, targets, lengths):
    length = int(lengths.max())  # "T is the longest row": right only when some row is full
    per_char = _per_char(logits, targets)[:, :length]
    return _metrics(per_char.mean())


def masked_per_character(logits, targets, lengths):
    per_char = _per_char(logits, targets) * _mask(lengths, targets.shape[1])
    return _metrics(per_char)  # (B, T) tensors, not one number each


def masked_python_numbers(logits, targets, lengths):
    loss = _per_char(logits, targets)[_mask(lengths, targets.shape[1])].mean()
    return tuple(np.float32(v.item()) for v in _metrics(loss))  # NumPy scalars, not Python floats


# --- gru_step ----------------------------------------------------------------------------------


def _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, order="rzn", flip_z=False, bias_outside=False,
         reset_before=False, swap_act=False, biases=True):
    if not biases:
        bias_ih, bias_hh = torch.zeros_like(bias_ih), torch.zeros_like(bias_hh)
    gi = x @ weight_ih.T + bias_ih  # (B, 3H)
    gh = h @ weight_hh.T + bias_hh  # (B, 3H)
    blocks_i, blocks_h = dict(zip(order, gi.chunk(3, dim=-1))), dict(zip(order, gh.chunk(3, dim=-1)))
    gate, squash = (torch.tanh, torch.sigmoid) if swap_act else (torch.sigmoid, torch.tanh)
    r = gate(blocks_i["r"] + blocks_h["r"])
    z = gate(blocks_i["z"] + blocks_h["z"])
    hidden = h.shape[-1]
    if reset_before:
        recurrent = (r * h) @ weight_hh[2 * hidden:].T + bias_hh[2 * hidden:]
    elif bias_outside:
        recurrent = r * (h @ weight_hh[2 * hidden:].T) + bias_hh[2 * hidden:]
    else:
        recurrent = r * blocks_h["n"]
    n = squash(blocks_i["n"] + recurrent)
    return z * n + (1 - z) * h if flip_z else (1 - z) * n + z * h


def gru_zr_swapped(*args):
    return _gru(*args, order="zrn")


def gru_z_interchanged(*args):
    return _gru(*args, flip_z=True)


def gru_bias_outside_reset(*args):
    return _gru(*args, bias_outside=True)


def gru_reset_before_product(*args):
    return _gru(*args, reset_before=True)


def gru_swapped_activations(*args):
    return _gru(*args, swap_act=True)


def gru_no_biases(*args):
    return _gru(*args, biases=False)


def gru_one_pre_activation(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # the LSTM's habit: one sum for every block
    r, z, n = gates.chunk(3, dim=-1)
    r, z = torch.sigmoid(r), torch.sigmoid(z)
    n = torch.tanh(r * n)
    return (1 - z) * n + z * h


def gru_chunk_default_dim(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    gi, gh = x @ weight_ih.T + bias_ih, h @ weight_hh.T + bias_hh
    i_r, i_z, i_n = gi.chunk(3)  # splits the batch, not the three blocks
    h_r, h_z, h_n = gh.chunk(3)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


def gru_in_place(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    gi = x @ weight_ih.T + bias_ih
    gh = h @ weight_hh.T + bias_hh
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    with torch.no_grad():
        h.mul_(z).add_((1 - z) * n)  # updates the caller's state in place
    return h.clone()


def gru_float64(*args):
    return _gru(*(a.double() for a in args))


def gru_detached(*args):
    with torch.no_grad():
        return _gru(*args)


def gru_numpy_tanh(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    hidden = h.shape[-1]
    gi, gh = x @ weight_ih.T + bias_ih, h @ weight_hh.T + bias_hh
    r = torch.sigmoid(gi[:, :hidden] + gh[:, :hidden])
    z = torch.sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
    pre = (gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:]).detach().numpy()
    n = torch.from_numpy(np.tanh(pre))
    return (1 - z) * n + z * h


def gru_squeezed(*args):
    return _gru(*args).squeeze()  # (H,) for a batch of 1


# --- rnn_step_backward -------------------------------------------------------------------------


def _backward(grad_h_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, deriv="right", dh_transposed=False,
              bias_mean=False, dw_hh_transposed=False):
    h_new = torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)
    factor = {"right": 1 - h_new**2, "none": torch.ones_like(h_new), "old": 1 - h**2, "linear": 1 - h_new,
              "sigmoid": h_new * (1 - h_new)}[deriv]
    grad_a = grad_h_new * factor
    grad_bias = grad_a.mean(0) if bias_mean else grad_a.sum(0)
    dh = grad_a @ (weight_hh.T if dh_transposed else weight_hh)
    dw_hh = h.T @ grad_a if dw_hh_transposed else grad_a.T @ h
    return grad_a @ weight_ih, dh, grad_a.T @ x, dw_hh, grad_bias, grad_bias.clone()


def backward_by_autograd(grad_h_new, x, h, w_ih, w_hh, b_ih, b_hh):
    inputs = [t.detach().clone().requires_grad_(True) for t in (x, h, w_ih, w_hh, b_ih, b_hh)]
    h_new = torch.tanh(inputs[0] @ inputs[2].T + inputs[4] + inputs[1] @ inputs[3].T + inputs[5])
    return torch.autograd.grad(h_new, inputs, grad_h_new)


def backward_no_tanh_derivative(*args):
    return _backward(*args, deriv="none")


def backward_old_state_derivative(*args):
    return _backward(*args, deriv="old")


def backward_linear_derivative(*args):
    return _backward(*args, deriv="linear")


def backward_sigmoid_derivative(*args):
    return _backward(*args, deriv="sigmoid")


def backward_dh_transposed(*args):
    return _backward(*args, dh_transposed=True)


def backward_bias_mean(*args):
    return _backward(*args, bias_mean=True)


def backward_dw_hh_transposed(*args):
    return _backward(*args, dw_hh_transposed=True)


def _grad_a(grad_h_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return grad_h_new * (1 - torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh) ** 2)  # (B, H)


def backward_dx_transposed(*args):
    grads = list(_backward(*args))
    grads[0] = _grad_a(*args) @ args[3].T  # the forward's W_ih^T again: (B, H) @ (I, H) fails unless I == H
    return tuple(grads)


def backward_bias_not_summed(*args):
    grad_a = _grad_a(*args)
    return (*_backward(*args)[:4], grad_a, grad_a.clone())  # (B, H): one row per example, not (H,)


def backward_wrong_order(*args):
    dx, dh, dw_ih, dw_hh, db_ih, db_hh = _backward(*args)
    return dw_ih, dw_hh, dx, dh, db_ih, db_hh  # weights first


def backward_accumulates_into_input(grad_h_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    grad_h_new.mul_(1 - torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh) ** 2)  # reuses the input
    db = grad_h_new.sum(0)
    return grad_h_new @ weight_ih, grad_h_new @ weight_hh, grad_h_new.T @ x, grad_h_new.T @ h, db, db.clone()


def backward_float64(*args):
    return tuple(g.double() for g in _backward(*args))


def backward_squeezed(*args):
    return tuple(g.squeeze() for g in _backward(*args))  # (I,) and (H,) for a batch of 1


# --- sample_eta --------------------------------------------------------------------------------


def _eta(logits, temperature, epsilon, generator, *, bits=False, use_max=False, untempered_entropy=False,
         threshold=None, nan_entropy=False, fallback=True):
    log_probs = torch.log_softmax(logits / temperature, -1)  # (B, V)
    probs = log_probs.exp()
    if untempered_entropy:
        log_probs = torch.log_softmax(logits, -1)
    if nan_entropy:
        entropy = -(probs * probs.log()).sum(-1, keepdim=True)  # 0 * log 0 = nan where a probability is 0
    else:
        entropy = -(log_probs.exp() * log_probs).sum(-1, keepdim=True)  # (B, 1)
    if bits:
        entropy = entropy / math.log(2)
    scaled = math.sqrt(epsilon) * torch.exp(-entropy)
    eps = torch.full_like(scaled, epsilon)
    eta = torch.maximum(eps, scaled) if use_max else torch.minimum(eps, scaled)
    if threshold is not None:
        eta = torch.full_like(eta, threshold)
    keep = probs > eta
    if fallback:
        keep |= F.one_hot(probs.argmax(-1), probs.shape[-1]).bool() & ~keep.any(-1, keepdim=True)
    return torch.multinomial(probs * keep, 1, generator=generator).squeeze(-1)


def eta_entropy_in_bits(*args):
    return _eta(*args, bits=True)


def eta_max_not_min(*args):
    return _eta(*args, use_max=True)


def eta_untempered_entropy(*args):
    return _eta(*args, untempered_entropy=True)


def eta_epsilon_sampling(logits, temperature, epsilon, generator):
    return _eta(logits, temperature, epsilon, generator, threshold=epsilon)


def eta_nan_entropy(*args):
    return _eta(*args, nan_entropy=True, fallback=False)


def eta_power_after_softmax(logits, temperature, epsilon, generator):
    probs = torch.softmax(logits, -1) ** (1 / temperature)  # not a distribution any more
    entropy = -torch.special.xlogy(probs, probs).sum(-1, keepdim=True)
    eta = torch.minimum(torch.full_like(entropy, epsilon), math.sqrt(epsilon) * torch.exp(-entropy))
    keep = probs > eta
    keep |= F.one_hot(probs.argmax(-1), probs.shape[-1]).bool() & ~keep.any(-1, keepdim=True)
    return torch.multinomial(probs * keep, 1, generator=generator).squeeze(-1)


def eta_no_truncation(logits, temperature, epsilon, generator):
    return torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator).squeeze(-1)


def eta_ignores_temperature(logits, temperature, epsilon, generator):
    return _eta(logits, 1.0, epsilon, generator)


def eta_times_temperature(logits, temperature, epsilon, generator):
    return _eta(logits, 1 / temperature, epsilon, generator)


def eta_argmax(logits, temperature, epsilon, generator):
    return logits.argmax(-1)


def eta_global_rng(logits, temperature, epsilon, generator):
    return _eta(logits, temperature, epsilon, None)


def eta_reseeds(logits, temperature, epsilon, generator):
    generator.manual_seed(0)
    return _eta(logits, temperature, epsilon, generator)


def eta_keeps_dim(*args):
    return _eta(*args)[:, None]


def eta_squeezed(*args):
    return _eta(*args)[:, None].squeeze()  # () for a batch of 1


def eta_int32(*args):
    return _eta(*args).int()


def eta_divides_in_place(logits, temperature, epsilon, generator):
    logits /= temperature  # changes the caller's logits
    return _eta(logits, 1.0, epsilon, generator)


def eta_raw_exp(logits, temperature, epsilon, generator):
    weights = (logits / temperature).exp()  # overflows to inf for large logits
    probs = weights / weights.sum(-1, keepdim=True)
    entropy = -torch.special.xlogy(probs, probs).sum(-1, keepdim=True)
    eta = torch.minimum(torch.full_like(entropy, epsilon), math.sqrt(epsilon) * torch.exp(-entropy))
    return torch.multinomial(probs * (probs > eta), 1, generator=generator).squeeze(-1)


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch04.masked_lm_metrics": [
        WrongAnswer("averages over the padding too", masked_counts_padding, "over the padding"),
        WrongAnswer("mean of the rows' means", masked_row_means, "each row first"),
        WrongAnswer("masked sum divided by B * T", masked_divides_by_bt, "B * T"),
        WrongAnswer("one padded position too many (t <= length)", masked_off_by_one, "one padded position"),
        WrongAnswer("sums instead of averaging", masked_sums, "instead of averaging"),
        WrongAnswer("perplexity as 2^loss", masked_perplexity_base2, "2^loss"),
        WrongAnswer("bits as loss * ln 2", masked_bits_times_ln2, "multiplied by ln 2"),
        WrongAnswer("pads with id 0 and ignores id 0", masked_ignore_index_zero, "treated id 0 as padding"),
        WrongAnswer("writes -100 into the caller's targets", masked_fills_targets_in_place, "in place"),
        WrongAnswer("averages over every position up to the longest row", masked_longest_row, "over the padding"),
        WrongAnswer("returns per-character tensors", masked_per_character, "every real character"),
        WrongAnswer("returns NumPy scalars", masked_python_numbers, "single number"),
    ],
    "ch04.gru_step": [
        WrongAnswer("reset and update gates swapped", gru_zr_swapped, "swapped the reset and update gates"),
        WrongAnswer("z and 1 - z interchanged", gru_z_interchanged, "interchanged z and 1 - z"),
        WrongAnswer("b_hn outside the reset gate", gru_bias_outside_reset, "added b_hn outside the reset gate"),
        WrongAnswer("reset applied to h before W_hn (the paper's variant)", gru_reset_before_product,
                    "before the product"),
        WrongAnswer("sigmoid and tanh swapped", gru_swapped_activations, "swapped sigmoid and tanh"),
        WrongAnswer("no biases", gru_no_biases, "forgot the biases"),
        WrongAnswer("one pre-activation for all three blocks (LSTM habit)", gru_one_pre_activation,
                    "before splitting them"),
        WrongAnswer("chunk without dim=-1", gru_chunk_default_dim, "blocks"),
        WrongAnswer("updates h in place", gru_in_place, "in place"),
        WrongAnswer("computes in float64", gru_float64, "float64"),
        WrongAnswer("output detached from autograd", gru_detached, "autograd"),
        WrongAnswer("tanh through NumPy", gru_numpy_tanh, "autograd"),
        WrongAnswer("squeezes the batch of 1 away", gru_squeezed, "shape"),
    ],
    "ch04.rnn_step_backward": [
        WrongAnswer("autograd instead of by hand", backward_by_autograd, "called autograd"),
        WrongAnswer("no tanh derivative", backward_no_tanh_derivative, "forgot the tanh's derivative"),
        WrongAnswer("derivative from the old state", backward_old_state_derivative, "used the old state"),
        WrongAnswer("1 - h_new instead of 1 - h_new^2", backward_linear_derivative, "1 - h_new instead"),
        WrongAnswer("sigmoid's derivative", backward_sigmoid_derivative, "sigmoid's derivative"),
        WrongAnswer("dh through W_hh^T (square, so it runs)", backward_dh_transposed, "weight_hh transposed"),
        WrongAnswer("bias gradients averaged over the batch", backward_bias_mean, "averaged the bias gradients"),
        WrongAnswer("dW_hh transposed (square, so it runs)", backward_dw_hh_transposed, "dL/dweight_hh as h^T da"),
        WrongAnswer("dx through W_ih^T", backward_dx_transposed, "shape"),
        WrongAnswer("bias gradients not summed over the batch", backward_bias_not_summed, "shape"),
        WrongAnswer("returns the gradients in the wrong order", backward_wrong_order, "dL/dx"),
        WrongAnswer("multiplies grad_h_new in place", backward_accumulates_into_input, "in place"),
        WrongAnswer("returns float64", backward_float64, "float64"),
        WrongAnswer("squeezes the batch of 1 away", backward_squeezed, "shape"),
    ],
    "ch04.sample_eta": [
        WrongAnswer("entropy in bits", eta_entropy_in_bits, "in bits"),
        WrongAnswer("max instead of min", eta_max_not_min, "the larger of epsilon"),
        WrongAnswer("entropy of the un-tempered distribution", eta_untempered_entropy,
                    "entropy before applying the temperature"),
        WrongAnswer("epsilon itself as the threshold (epsilon sampling)", eta_epsilon_sampling, "epsilon sampling"),
        WrongAnswer("p * log(p): nan entropy on a confident row, nothing kept", eta_nan_entropy, "log_softmax"),
        WrongAnswer("softmax(logits) ** (1/T), not renormalised", eta_power_after_softmax, "power 1/T"),
        WrongAnswer("no truncation", eta_no_truncation, "ignored eta"),
        WrongAnswer("ignores the temperature", eta_ignores_temperature, "ignored the temperature"),
        WrongAnswer("multiplies by the temperature", eta_times_temperature, "multiplied the logits"),
        WrongAnswer("argmax", eta_argmax, "argmax"),
        WrongAnswer("uses the global RNG", eta_global_rng, "global random generator"),
        WrongAnswer("reseeds the given generator", eta_reseeds, "generator"),
        WrongAnswer("returns (B, 1)", eta_keeps_dim, "squeeze"),
        WrongAnswer("squeezes the batch of 1 away", eta_squeezed, "shape"),
        WrongAnswer("returns int32 ids", eta_int32, "int64"),
        WrongAnswer("divides the caller's logits in place", eta_divides_in_place, "in place"),
        WrongAnswer("exp without the softmax's shift", eta_raw_exp, "softmax"),
    ],
}
