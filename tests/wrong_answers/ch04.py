"""Plausible wrong answers to chapter 4's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

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


def rnn_swapped_weights(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.tanh(h @ weight_ih.T + bias_ih + x @ weight_hh.T + bias_hh)


def rnn_detached(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    with torch.no_grad():
        return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)


# --- lstm_step ---------------------------------------------------------------------------------


def _lstm(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, act_swap=False, forget_on_h=False, order="ifgo",
          no_input_gate=False, h_from=None):
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    blocks = dict(zip(order, gates.chunk(4, dim=-1), strict=True))
    i, f, g, o = blocks["i"], blocks["f"], blocks["g"], blocks["o"]
    gate, cand = (torch.tanh, torch.sigmoid) if act_swap else (torch.sigmoid, torch.tanh)
    i, f, g, o = gate(i), gate(f), cand(g), gate(o)
    c_new = f * (h if forget_on_h else c) + (g if no_input_gate else i * g)
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


def lstm_h_without_tanh(*args):
    return _lstm(*args, h_from="no_tanh")


def lstm_h_from_old_cell(*args):
    return _lstm(*args, h_from="old_c")


def lstm_returns_c_h(*args):
    h, c = _lstm(*args)
    return c, h


def lstm_returns_h_only(*args):
    return _lstm(*args)[0]


# --- lm_metrics --------------------------------------------------------------------------------


def _loss(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


def metrics_perplexity_base2(logits, targets):
    loss = _loss(logits, targets)
    return loss, 2**loss, loss / math.log(2)


def metrics_bits_times_ln2(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), loss * math.log(2)


def metrics_bits_unconverted(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), loss


def metrics_summed_loss(logits, targets):
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="sum")
    return loss, loss.exp(), loss / math.log(2)


def metrics_loss_in_bits(logits, targets):
    loss = -(logits.log_softmax(-1).gather(-1, targets[..., None]) / math.log(2)).mean()
    return loss, 2**loss, loss


def metrics_unflattened(logits, targets):
    loss = F.cross_entropy(logits, targets)  # needs (N, V) and (N,), or classes in dim 1
    return loss, loss.exp(), loss / math.log(2)


def metrics_log2_of_loss(logits, targets):
    loss = _loss(logits, targets)
    return loss, loss.exp(), torch.log2(loss)


# --- sample_next -------------------------------------------------------------------------------


def sample_temperature_after_softmax(logits, temperature, generator):
    probs = torch.softmax(logits, dim=-1) / temperature
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_times_temperature(logits, temperature, generator):
    probs = torch.softmax(logits * temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_argmax(logits, temperature, generator):
    return (logits / temperature).argmax(dim=-1)


def sample_softmax_dim0(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=0)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample_no_generator(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1).squeeze(-1)


def sample_keeps_dim(logits, temperature, generator):
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


def sample_raw_logits(logits, temperature, generator):
    return torch.multinomial(logits / temperature, 1, generator=generator).squeeze(-1)


WRONG_ANSWERS: dict[str, list[WrongAnswer]] = {
    "ch04.rnn_step": [
        WrongAnswer("sigmoid instead of tanh", rnn_sigmoid, "sigmoid instead of tanh"),
        WrongAnswer("no tanh", rnn_no_tanh, "forgot the tanh"),
        WrongAnswer("no recurrent term", rnn_no_memory, "recurrent term"),
        WrongAnswer("weights not transposed", rnn_no_transpose, "transpos"),
        WrongAnswer("weights swapped", rnn_swapped_weights, "swapped the two weight matrices"),
        WrongAnswer("output detached from autograd", rnn_detached, "autograd"),
    ],
    "ch04.lstm_step": [
        WrongAnswer("tanh and sigmoid swapped", lstm_swapped_activations, "swap tanh and sigmoid"),
        WrongAnswer("forget gate on h", lstm_forget_on_h, "forget gate to the wrong state"),
        WrongAnswer("gates read as i, f, o, g", lstm_keras_order, "order"),
        WrongAnswer("input and forget gates swapped", lstm_forget_first, "swap the input and forget gates"),
        WrongAnswer("no input gate", lstm_no_input_gate, "forgot the input gate"),
        WrongAnswer("h without tanh", lstm_h_without_tanh, "forgot the tanh of the new cell"),
        WrongAnswer("h from the old cell", lstm_h_from_old_cell, "from the old cell"),
        WrongAnswer("returns (c, h)", lstm_returns_c_h, "swapped"),
        WrongAnswer("returns h only", lstm_returns_h_only, "(h_new, c_new)"),
    ],
    "ch04.lm_metrics": [
        WrongAnswer("perplexity as 2**loss", metrics_perplexity_base2, "not 2^loss"),
        WrongAnswer("bits = loss * ln 2", metrics_bits_times_ln2, "instead of dividing"),
        WrongAnswer("bits not converted", metrics_bits_unconverted, "convert nats to bits"),
        WrongAnswer("summed loss", metrics_summed_loss, "instead of averaging"),
        WrongAnswer("loss in bits", metrics_loss_in_bits, "instead of nats"),
        WrongAnswer("cross_entropy on (B, T, V)", metrics_unflattened, "flatten"),
        WrongAnswer("log2 of the loss", metrics_log2_of_loss, "log2 of the loss"),
    ],
    "ch04.sample_next": [
        WrongAnswer("temperature after softmax", sample_temperature_after_softmax, "after the softmax"),
        WrongAnswer("multiplies by temperature", sample_times_temperature, "multiply the logits"),
        WrongAnswer("argmax", sample_argmax, "argmax"),
        WrongAnswer("softmax over the batch", sample_softmax_dim0, "batch dimension"),
        WrongAnswer("ignores the generator", sample_no_generator, "generator=generator"),
        WrongAnswer("returns (B, 1)", sample_keeps_dim, "squeeze"),
        WrongAnswer("samples from raw logits", sample_raw_logits, "softmax"),
    ],
}
