"""How much slower is our hand-written LSTM than torch.nn.LSTM? Forward + backward, same weights, same run.

Chapter 4 writes the LSTM cell by hand (llmcourse.rnn.cells) and runs it over time with a Python loop.
PyTorch's nn.LSTM computes the same numbers (checked in tests/test_rnn.py) with fused kernels: on a CPU,
oneDNN/ATen loops in C++ with the input projection for all time steps done as one matrix multiply; on an
NVIDIA GPU, cuDNN's persistent kernels. This script times one forward + backward pass (sum of outputs,
gradients of every weight and the input) of both, on inputs of shape (batch, T, hidden), and prints the
median time of each and the ratio ours / PyTorch, for a few sizes. The vanilla RNN is timed the same way.
Results are committed under benchmarks/results/ with the command that made them:

    python benchmarks/rnn.py > benchmarks/results/rnn_cpu.txt
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from llmcourse.device import best_device, environment_report
from llmcourse.rnn import Recurrent
from llmcourse.rnn.timing import time_forward_backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: llmcourse.device.best_device()")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else best_device()
    print(f"# {environment_report(device)}")
    print(f"# forward + backward of (batch, T, hidden) inputs, median of {args.repeats} after 2 warm-ups; "
          f"ratio = ours (Python loop over llmcourse.rnn cells) / torch.nn, same weights")
    print(f"{'kind':>5s} {'batch':>5s} {'T':>4s} {'hidden':>6s} | {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s} | "
          f"max |diff| of outputs")
    for kind, torch_cls in (("lstm", nn.LSTM), ("rnn", nn.RNN)):
        for batch, T, hidden in ((32, 64, 128), (32, 64, 256), (64, 128, 512)):
            torch.manual_seed(0)
            theirs = torch_cls(hidden, hidden, batch_first=True).to(device)
            ours = Recurrent(kind, hidden, hidden).to(device).load_torch(theirs)
            x = torch.randn(batch, T, hidden, device=device)
            with torch.no_grad():
                diff = (ours(x)[0] - theirs(x)[0]).abs().max().item()
            t_ours = time_forward_backward(ours, x, args.repeats)
            t_theirs = time_forward_backward(theirs, x, args.repeats)
            print(f"{kind:>5s} {batch:5d} {T:4d} {hidden:6d} | {t_ours * 1e3:9.2f} {t_theirs * 1e3:9.2f} "
                  f"{t_ours / t_theirs:6.2f} | {diff:.1e}")


if __name__ == "__main__":
    main()
