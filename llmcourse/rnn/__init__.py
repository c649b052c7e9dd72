"""Recurrent language models, built in chapter 4: the baselines that attention replaced.

    from llmcourse.charlm import load_char_data
    from llmcourse.rnn import BigramModel, CharRNN, MLPLanguageModel, sample, train_tbptt

    data = load_char_data()                                    # tiny shakespeare, fixed 90/10 split
    floor = BigramModel(data.vocab_size).fit(data.train)       # the count-based floor
    window = MLPLanguageModel(data.vocab_size, context=8, n_embd=24, hidden_size=256)  # Bengio et al. (2003)
    model = CharRNN(data.vocab_size, 256, kind="lstm")         # nn.LSTM core; hand_written=True for ours
    history = train_tbptt(model, data, torch.optim.Adam(model.parameters(), 2e-3), 1000,
                          batch_size=32, block_size=64)
    print(data.tokenizer.decode(sample(model, data.tokenizer.encode("\\n"), 200, temperature=0.8)))

Modules, small to large: :mod:`.bigram` (counting), :mod:`.mlp` (a fixed window of characters through an
MLP), :mod:`.cells` (the RNN and LSTM cells by hand), :mod:`.models` (the recurrent language model,
truncated BPTT, sampling), :mod:`.gradients` (the vanishing-gradient and clipping experiments),
:mod:`.timing` (our loop vs PyTorch's kernels, for the chapter and ``benchmarks/rnn.py`` alike).
The data, split and loss live in :mod:`llmcourse.charlm`, shared with chapter 7.
"""

from .bigram import BigramModel, bigram_counts
from .cells import LSTMCell, Recurrent, RNNCell, lstm_step, rnn_step
from .gradients import input_gradient_norms, safe_norm, train_recording_grad_norms
from .mlp import MLPLanguageModel
from .models import CarriedState, CharRNN, Streams, detach_state, sample, sample_next, train_tbptt
from .timing import Timing, compare_with_torch, forward_backward_seconds

__all__ = [
    "BigramModel",
    "CarriedState",
    "CharRNN",
    "LSTMCell",
    "MLPLanguageModel",
    "RNNCell",
    "Recurrent",
    "Streams",
    "Timing",
    "bigram_counts",
    "compare_with_torch",
    "detach_state",
    "forward_backward_seconds",
    "input_gradient_norms",
    "lstm_step",
    "rnn_step",
    "safe_norm",
    "sample",
    "sample_next",
    "train_recording_grad_norms",
    "train_tbptt",
]
