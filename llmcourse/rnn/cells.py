"""Recurrent cells written by hand: one vanilla RNN step and one LSTM step, with every gate spelled out.

Chapter 4 builds these and checks them against PyTorch: the parameters have the same names and shapes
as ``nn.RNNCell`` / ``nn.LSTMCell`` (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, gates stacked
in PyTorch's order input, forget, cell candidate, output), so ``cell.load_state_dict(torch_cell.state_dict())``
copies weights across and the outputs and gradients then agree to float32 rounding.

    RNN:   h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    LSTM:  i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
           i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
           c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

:class:`Recurrent` runs a stack of cells over a sequence, with the interface of ``nn.RNN`` / ``nn.LSTM``
(``batch_first=True``), and can copy their weights (:meth:`Recurrent.load_torch`). What it leaves out:
dropout between layers, bidirectionality, projections (``proj_size``) and packed sequences — and speed:
it loops over time steps in Python, where PyTorch's own kernels loop in C++ (``benchmarks/rnn.py``
measures the difference on a CPU).

References: Elman (1990); Hochreiter & Schmidhuber (1997); Gers, Schmidhuber & Cummins (2000) for the
forget gate; the ``nn.RNNCell`` / ``nn.LSTMCell`` documentation for the weight layout.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LSTMState = tuple[torch.Tensor, torch.Tensor]


def rnn_step(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> torch.Tensor:
    """One vanilla RNN step: the new hidden state mixes the input and the old state, squashed by tanh."""
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)  # (B, H)


def lstm_step(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor,
              weight_hh: torch.Tensor, bias_ih: torch.Tensor, bias_hh: torch.Tensor) -> LSTMState:
    """One LSTM step: gates decide what to forget from the cell ``c``, what to write, what to show in ``h``."""
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each, in PyTorch's order
    i = torch.sigmoid(i)  # input gate: how much of the candidate to write
    f = torch.sigmoid(f)  # forget gate: how much of the old cell to keep
    g = torch.tanh(g)  # the candidate values to write
    o = torch.sigmoid(o)  # output gate: how much of the cell to show
    c = f * c + i * g  # (B, H): the additive path that lets gradients survive many steps
    h = o * torch.tanh(c)  # (B, H)
    return h, c


def _check_step_input(x: torch.Tensor, input_size: int, what: str) -> None:
    if x.dim() != 2 or x.size(-1) != input_size:
        raise ValueError(f"{what} expects input of shape (batch, {input_size}), got {tuple(x.shape)}")


def _check_state(h: torch.Tensor, batch: int, hidden_size: int, what: str) -> None:
    if tuple(h.shape) != (batch, hidden_size):
        raise ValueError(f"{what}'s state should have shape ({batch}, {hidden_size}), got {tuple(h.shape)}")


class _CellBase(nn.Module):
    """Parameters laid out as in nn.RNNCell / nn.LSTMCell, initialised as PyTorch does: U(-1/√H, 1/√H)."""

    n_gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size and hidden_size must be >= 1, got {input_size} and {hidden_size}")
        self.input_size, self.hidden_size = input_size, hidden_size
        rows = self.n_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_CellBase):
    """``nn.RNNCell`` (tanh) by hand: ``cell(x (B, I), h (B, H)) -> h (B, H)``; ``h`` defaults to zeros."""

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        _check_step_input(x, self.input_size, "RNNCell")
        if h is None:
            h = x.new_zeros(x.size(0), self.hidden_size)
        _check_state(h, x.size(0), self.hidden_size, "RNNCell")
        return rnn_step(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(_CellBase):
    """``nn.LSTMCell`` by hand: ``cell(x (B, I), (h, c)) -> (h, c)``, each (B, H); the state defaults to zeros."""

    n_gates = 4

    def forward(self, x: torch.Tensor, state: LSTMState | None = None) -> LSTMState:
        _check_step_input(x, self.input_size, "LSTMCell")
        if state is None:
            zeros = x.new_zeros(x.size(0), self.hidden_size)
            state = (zeros, zeros)
        h, c = state
        _check_state(h, x.size(0), self.hidden_size, "LSTMCell")
        _check_state(c, x.size(0), self.hidden_size, "LSTMCell")
        return lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class Recurrent(nn.Module):
    """A stack of hand-written cells run over time, with the interface of nn.RNN / nn.LSTM (batch_first).

    ``forward(x (B, T, I), state) -> (out (B, T, H), state)``; the state is ``h`` (L, B, H) for ``"rnn"``
    and ``(h, c)`` for ``"lstm"``, exactly as PyTorch's modules take and return it.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1) -> None:
        super().__init__()
        if kind not in ("rnn", "lstm"):
            raise ValueError(f"kind must be 'rnn' or 'lstm', got {kind!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.kind, self.input_size, self.hidden_size, self.num_layers = kind, input_size, hidden_size, num_layers
        cell = RNNCell if kind == "rnn" else LSTMCell
        self.cells = nn.ModuleList(cell(input_size if k == 0 else hidden_size, hidden_size)
                                   for k in range(num_layers))

    def forward(self, x: torch.Tensor, state: torch.Tensor | LSTMState | None = None):
        if x.dim() != 3 or x.size(-1) != self.input_size:
            raise ValueError(f"expected input of shape (batch, time, {self.input_size}), got {tuple(x.shape)}")
        B, T, _ = x.shape
        L, H = self.num_layers, self.hidden_size
        if state is None:
            zeros = x.new_zeros(L, B, H)
            state = zeros if self.kind == "rnn" else (zeros, zeros)
        hs = [state] if self.kind == "rnn" else list(state)
        for s in hs:
            if tuple(s.shape) != (L, B, H):
                raise ValueError(f"state should have shape (num_layers, batch, hidden) = {(L, B, H)}, "
                                 f"got {tuple(s.shape)}")
        per_layer = [tuple(s[k] for s in hs) for k in range(L)]  # [(h,) or (h, c)] per layer, (B, H) each
        out = x
        for k, cell in enumerate(self.cells):
            layer_state = per_layer[k]
            outputs = []
            for t in range(T):
                if self.kind == "rnn":
                    layer_state = (cell(out[:, t], layer_state[0]),)
                else:
                    layer_state = cell(out[:, t], layer_state)
                outputs.append(layer_state[0])
            out = torch.stack(outputs, dim=1) if T else out.new_zeros(B, 0, H)  # (B, T, H)
            per_layer[k] = layer_state
        stacked = tuple(torch.stack([s[j] for s in per_layer]) for j in range(len(hs)))  # (L, B, H) each
        return out, (stacked[0] if self.kind == "rnn" else stacked)

    @torch.no_grad()
    def load_torch(self, module: nn.RNN | nn.LSTM) -> Recurrent:
        """Copy the weights of a PyTorch ``nn.RNN`` / ``nn.LSTM`` of the same size (``weight_ih_l0`` -> cells.0)."""
        expected = nn.RNN if self.kind == "rnn" else nn.LSTM
        if not isinstance(module, expected) or module.hidden_size != self.hidden_size \
                or module.num_layers != self.num_layers or module.input_size != self.input_size:
            raise ValueError(f"can only copy a {expected.__name__}({self.input_size}, {self.hidden_size}, "
                             f"num_layers={self.num_layers}), got {module}")
        if module.bidirectional or not module.bias or getattr(module, "proj_size", 0):
            raise ValueError("bidirectional, bias-free or projected modules are not supported")
        if self.kind == "rnn" and module.nonlinearity != "tanh":
            raise ValueError("only the tanh RNN is written by hand here")
        for k, cell in enumerate(self.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(module, f"{name}_l{k}"))
        return self
