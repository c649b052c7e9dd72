"""Plausible wrong answers to chapter 4's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import WrongAnswer

# --- rnn_step ----------------------------------------------------------------------------------


def rnn_sigmoid(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.sigmoid(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)


def rnn_no_tanh(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh


def rnn_no_memory(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih.T + bias_ih + bias_hh)


def rnn_no_transpose(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih + bias_ih + h @ weight_hh + bias_hh)


def rnn_hh_not_transposed(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh + bias_hh)  # square, so it always runs


def rnn_swapped_weights(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(h @ weight_ih.T + bias_ih + x @ weight_hh.T + bias_hh)


def rnn_no_biases(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih.T + h @ weight_hh.T)


def rnn_one_bias(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T)


def rnn_detached(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    with torch.no_grad():
        return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)


def rnn_numpy_tanh(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    z = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    return torch.from_numpy(np.tanh(z.detach().numpy()))


def rnn_weight_data(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih.data.T + bias_ih + h @ weight_hh.T + bias_hh)


def rnn_adds_biases_in_place(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    bias = bias_ih.add_(bias_hh)  # changes the caller's bias_ih
    return torch.tanh(x @ weight_ih.T + h @ weight_hh.T + bias)


def rnn_float64(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    z = x.double() @ weight_ih.double().T + bias_ih.double() + h.double() @ weight_hh.double().T + bias_hh.double()
    return torch.tanh(z)  # "more precise", but no longer the inputs' float32


def rnn_squeezed(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).squeeze()  # (H,) for a batch of 1


# --- lstm_step ---------------------------------------------------------------------------------


def _lstm(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, act_swap=False, forget_on_h=False, order="ifgo",
          no_input_gate=False, no_forget_gate=False, h_from=None):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    blocks = dict(zip(order, gates.chunk(4, dim=-1), strict=True))
    i, f, g, o = blocks["i"], blocks["f"], blocks["g"], blocks["o"]
    gate, cand = (torch.tanh, torch.sigmoid) if act_swap else (torch.sigmoid, torch.tanh)
    i, f, g, o = gate(i), gate(f), cand(g), gate(o)
    kept = h if forget_on_h else c
    c_new = (kept if no_forget_gate else f * kept) + (g if no_input_gate else i * g)
    if h_from == "no_tanh":
        return o * c_new, c_new
    if h_from == "old_c":
        return o * torch.tanh(c), c_new
    return o * torch.tanh(c_new), c_new


def lstm_swapped_activations(*args):
    return _lstm(*args, act_swap=True)


def lstm_forget_on_h(*args):
    return _lstm(*args, forget_on_h=True)


def lstm_keras_order(*args):
    return _lstm(*args, order="ifog")  # i, f, o, g: a common order in textbooks, not PyTorch's


def lstm_forget_first(*args):
    return _lstm(*args, order="figo")


def lstm_no_input_gate(*args):
    return _lstm(*args, no_input_gate=True)


def lstm_no_forget_gate(*args):
    return _lstm(*args, no_forget_gate=True)


def lstm_h_without_tanh(*args):
    return _lstm(*args, h_from="no_tanh")


def lstm_h_from_old_cell(*args):
    return _lstm(*args, h_from="old_c")


def lstm_returns_c_h(*args):
    h, c = _lstm(*args)
    return c, h


def lstm_returns_h_only(*args):
    return _lstm(*args)[0]


def lstm_swapped_weights(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm(x, h, c, weight_hh, weight_ih, bias_ih, bias_hh)  # runs only when input and hidden sizes agree


def lstm_no_biases(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm(x, h, c, weight_ih, weight_hh, torch.zeros_like(bias_ih), torch.zeros_like(bias_hh))


def lstm_chunk_default_dim(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4)  # splits the batch (dim 0), not the four gate blocks
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_hidden_size_from_x(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    n = x.shape[1]  # the input size, not the hidden size
    i, f, g, o = gates[:, :n], gates[:, n:2 * n], gates[:, 2 * n:3 * n], gates[:, 3 * n:]
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_cell_in_place(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    c.mul_(torch.sigmoid(f)).add_(torch.sigmoid(i) * torch.tanh(g))  # updates the caller's c
    return torch.sigmoid(o) * torch.tanh(c), c


def lstm_detached_gates(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    gates = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).detach()
    i, f, g, o = gates.chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new


def lstm_float64(*args):
    return _lstm(*(a.double() for a in args))


def lstm_squeezed(*args):
    h, c = _lstm(*args)
    return h.squeeze(), c.squeeze()  # (H,) each for a batch of 1


# --- lm_metrics --------------------------------------------------------------------------------


def _loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def metrics_perplexity_base2(logits, targets):
    loss = _loss(logits, targets)
    return loss, 2**loss, loss / math.log(2)


def metrics_perplexity_negative(logits, targets):
    loss = _loss(logits, targets)
    return loss, (-loss).exp(), loss / math.log(2)


def metrics_bits_times_ln2(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), loss * math.log(2)


def metrics_bits_unconverted(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), loss


def metrics_bits_ln10(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), loss / math.log(10)


def metrics_summed_loss(logits, targets):
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum")
    return loss, loss.exp(), loss / math.log(2)


def metrics_batch_mean_only(logits, targets):
    total = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum")
    loss = total / logits.size(0)  # per sequence, not per character
    return loss, loss.exp(), loss / math.log(2)


def metrics_perplexity_of_sum(logits, targets):
    loss = _loss(logits, targets)
    total = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum")
    return loss, total.exp(), loss / math.log(2)


def metrics_loss_in_bits(logits, targets):
    loss = -(logits.log_softmax(-1).gather(-1, targets[..., None]) / math.log(2)).mean()
    return loss, 2**loss, loss


def metrics_unflattened(logits, targets):
    loss = F.cross_entropy(logits, targets)  # needs (N, V) and (N,), or classes in dim 1
    return loss, loss.exp(), loss / math.log(2)


def metrics_log2_of_loss(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), torch.log2(loss)


def metrics_naive_log_softmax(logits, targets):
    probs = torch.softmax(logits, dim=-1)  # a probability below float32's range becomes 0, its log -inf
    loss = -torch.log(probs.gather(-1, targets[..., None])).mean()
    return loss, loss.exp(), loss / math.log(2)


def metrics_shifts_logits_in_place(logits, targets):
    logits -= logits.max(dim=-1, keepdim=True).values  # "for stability", but it changes the caller's logits
    loss = _loss(logits, targets)
    return loss, loss.exp(), loss / math.log(2)


def metrics_numpy_numbers(logits, targets):
    loss = _loss(logits, targets).detach().numpy()
    return loss, np.exp(loss), loss / np.log(2)


def metrics_per_character(logits, targets):
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
    return loss, loss.exp(), loss / math.log(2)  # one number per character, not their mean


def metrics_fixed_vocab(logits, targets):
    loss = F.cross_entropy(logits.reshape(-1, 65), targets.reshape(-1))  # tiny shakespeare's 65 characters only
    return loss, loss.exp(), loss / math.log(2)


# --- sample_next -------------------------------------------------------------------------------


def sample_temperature_after_softmax(logits, temperature, generator):
    probs = torch.softmax(logits, dim=-1) / temperature
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_ignores_temperature(logits, temperature, generator):
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_times_temperature(logits, temperature, generator):
    probs = torch.softmax(logits * temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_argmax(logits, temperature, generator):
    return (logits / temperature).argmax(dim=-1)


def sample_softmax_dim0(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=0)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_first_row_only(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs[0], logits.shape[0], replacement=True, generator=generator)


def sample_no_generator(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1).squeeze(-1)


def sample_reseeds(logits, temperature, generator):
    generator.manual_seed(0)  # the same ids on every call, whatever the seed
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_own_generator(logits, temperature, generator):
    mine = torch.Generator().manual_seed(1234)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=mine).squeeze(-1)


def sample_keeps_dim(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


def sample_squeezed(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze()  # shape () for a batch of 1


def sample_int32(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1).int()


def sample_float_ids(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1).float()


def sample_divides_in_place(logits, temperature, generator):
    logits /= temperature  # changes the caller's logits
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)


def sample_raw_logits(logits, temperature, generator):
    return torch.multinomial(logits / temperature, 1, generator=generator).squeeze(-1)


def sample_unnormalised_exp(logits, temperature, generator):
    weights = torch.exp(logits / temperature)  # multinomial normalises, but exp overflows for large logits
    return torch.multinomial(weights, 1, generator=generator).squeeze(-1)


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch04.rnn_step": [
        WrongAnswer("sigmoid instead of tanh", rnn_sigmoid, "sigmoid instead of tanh"),
        WrongAnswer("no tanh", rnn_no_tanh, "forgot the tanh"),
        WrongAnswer("no recurrent term", rnn_no_memory, "recurrent term"),
        WrongAnswer("weights not transposed", rnn_no_transpose, "transpos"),
        WrongAnswer("W_hh not transposed (square, so it runs)", rnn_hh_not_transposed, "W_hh without transposing"),
        WrongAnswer("weights swapped", rnn_swapped_weights, "swapped the two weight matrices"),
        WrongAnswer("no biases", rnn_no_biases, "forgot the biases"),
        WrongAnswer("bias_hh left out", rnn_one_bias, "left out bias_hh"),
        WrongAnswer("output detached from autograd", rnn_detached, "autograd"),
        WrongAnswer("tanh through NumPy", rnn_numpy_tanh, "cut off from autograd"),
        WrongAnswer("weight_ih used through .data", rnn_weight_data, "no gradient reaches `weight_ih`"),
        WrongAnswer("adds the biases in place", rnn_adds_biases_in_place, "in place"),
        WrongAnswer("computes in float64", rnn_float64, "float64"),
        WrongAnswer("squeezes the batch of 1 away", rnn_squeezed, "shape"),
    ],
    "ch04.lstm_step": [
        WrongAnswer("tanh and sigmoid swapped", lstm_swapped_activations, "swap tanh and sigmoid"),
        WrongAnswer("forget gate on h", lstm_forget_on_h, "forget gate to the wrong state"),
        WrongAnswer("gates read as i, f, o, g", lstm_keras_order, "order"),
        WrongAnswer("input and forget gates swapped", lstm_forget_first, "swap the input and forget gates"),
        WrongAnswer("no input gate", lstm_no_input_gate, "forgot the input gate"),
        WrongAnswer("no forget gate", lstm_no_forget_gate, "forgot the forget gate"),
        WrongAnswer("h without tanh", lstm_h_without_tanh, "forgot the tanh of the new cell"),
        WrongAnswer("h from the old cell", lstm_h_from_old_cell, "from the old cell"),
        WrongAnswer("returns (c, h)", lstm_returns_c_h, "swapped"),
        WrongAnswer("returns h only", lstm_returns_h_only, "(h_new, c_new)"),
        WrongAnswer("weights swapped", lstm_swapped_weights, "swapped the two weight matrices"),
        WrongAnswer("no biases", lstm_no_biases, "forgot the biases"),
        WrongAnswer("chunk without dim=-1", lstm_chunk_default_dim, "dim=-1"),
        WrongAnswer("hidden size taken from x", lstm_hidden_size_from_x, "hidden_size"),
        WrongAnswer("updates c in place", lstm_cell_in_place, "in place"),
        WrongAnswer("gates detached", lstm_detached_gates, "no gradient reaches"),
        WrongAnswer("computes in float64", lstm_float64, "float64"),
        WrongAnswer("squeezes the batch of 1 away", lstm_squeezed, "shape"),
    ],
    "ch04.lm_metrics": [
        WrongAnswer("perplexity as 2**loss", metrics_perplexity_base2, "not 2^loss"),
        WrongAnswer("perplexity as e**-loss", metrics_perplexity_negative, "e^(-loss)"),
        WrongAnswer("bits = loss * ln 2", metrics_bits_times_ln2, "instead of dividing"),
        WrongAnswer("bits not converted", metrics_bits_unconverted, "convert nats to bits"),
        WrongAnswer("bits = loss / ln 10", metrics_bits_ln10, "ln 10"),
        WrongAnswer("summed loss", metrics_summed_loss, "instead of averaging"),
        WrongAnswer("loss per sequence", metrics_batch_mean_only, "average over the batch only"),
        WrongAnswer("perplexity of the summed loss", metrics_perplexity_of_sum, "from the summed loss"),
        WrongAnswer("loss in bits", metrics_loss_in_bits, "instead of nats"),
        WrongAnswer("cross_entropy on (B, T, V)", metrics_unflattened, "flatten"),
        WrongAnswer("log2 of the loss", metrics_log2_of_loss, "log2 of the loss"),
        WrongAnswer("log of softmax (underflows)", metrics_naive_log_softmax, "NaN or infinity"),
        WrongAnswer("shifts the logits in place", metrics_shifts_logits_in_place, "in place"),
        WrongAnswer("NumPy numbers", metrics_numpy_numbers, "numpy"),
        WrongAnswer("one loss per character", metrics_per_character, "single number"),
        WrongAnswer("vocabulary fixed at 65", metrics_fixed_vocab, "fixed number"),
    ],
    "ch04.sample_next": [
        WrongAnswer("temperature after softmax", sample_temperature_after_softmax, "after the softmax"),
        WrongAnswer("ignores the temperature", sample_ignores_temperature, "ignored the temperature"),
        WrongAnswer("multiplies by temperature", sample_times_temperature, "multiply the logits"),
        WrongAnswer("argmax", sample_argmax, "argmax"),
        WrongAnswer("softmax over the batch", sample_softmax_dim0, "batch dimension"),
        WrongAnswer("draws every id from the first row", sample_first_row_only, "first row"),
        WrongAnswer("ignores the generator", sample_no_generator, "global random generator"),
        WrongAnswer("reseeds the generator", sample_reseeds, "different seeds"),
        WrongAnswer("seeds its own generator", sample_own_generator, "different seeds"),
        WrongAnswer("returns (B, 1)", sample_keeps_dim, "squeeze"),
        WrongAnswer("squeezes the batch of 1 away", sample_squeezed, "shape"),
        WrongAnswer("int32 ids", sample_int32, "int64"),
        WrongAnswer("float ids", sample_float_ids, "int64"),
        WrongAnswer("divides the logits in place", sample_divides_in_place, "in place"),
        WrongAnswer("samples from raw logits", sample_raw_logits, "softmax"),
        WrongAnswer("unnormalised exp (overflows)", sample_unnormalised_exp, "softmax"),
    ],
}
