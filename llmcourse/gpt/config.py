"""The sizes of a GPT, under GPT-2's names, and its parameter count derived by formula (chapter 7).

    GPTConfig()                                  # GPT-2 small: 12 layers, 12 heads, 768 wide, 124M parameters
    GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=2, n_embd=64)   # a toy for a laptop

The names are the ones GPT-2's ``hparams.json``, Hugging Face's ``GPT2Config`` and nanoGPT use (``n_embd``,
not ``d_model``), so a number read in one place can be looked up in the others. :func:`gpt_param_count` derives
the count from the sizes; chapter 7's tests check it against ``sum(p.numel())`` of a built model, tied and
untied, with and without the position table.

References: Radford et al. (2019), "Language Models are Unsupervised Multitask Learners" (GPT-2), table 2;
Karpathy's nanoGPT ``GPTConfig`` and ``get_num_params``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GPTConfig:
    """The hyperparameters of :class:`~llmcourse.gpt.GPT`; the defaults are GPT-2 small's."""

    vocab_size: int = 50257  # GPT-2's BPE: 50,000 merges + 256 bytes + <|endoftext|> (nanoGPT pads to 50304 for speed)
    block_size: int = 1024  # the longest context, in tokens: the rows of the learned position table
    n_layer: int = 12  # transformer blocks in a row
    n_head: int = 12  # attention heads per block; each is n_embd // n_head = 64 wide
    n_embd: int = 768  # the width of the residual stream (d_model in Vaswani et al.)
    dropout: float = 0.0  # after the embeddings, on attention weights and on each residual branch (GPT-2 trained
    # with 0.1; 0.0 is right for a model that sees each token about once, as nanoGPT's pretraining does)
    bias: bool = True  # biases in the Linear layers and LayerNorms, as GPT-2 (False: a little faster and as good)
    tie_embeddings: bool = True  # the output head reuses the token embedding (Press & Wolf 2017), as GPT-2 does

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): each head gets "
                             f"n_embd // n_head channels")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


def parameter_breakdown(config: GPTConfig) -> dict[str, int]:
    """The parameters of ``GPT(config)`` by part, from the sizes alone (C wide, V tokens, T positions, L layers).

        token embedding      V C                 (the head shares it when tied)
        position table       T C
        blocks               L (12 C^2 + 13 C):  attention 4C^2 + 4C, MLP 8C^2 + 5C, two LayerNorms 4C
                             (without biases:    L (12 C^2 + 2 C))
        final LayerNorm      2 C                 (C without a bias)
        output head          0 when tied, else V C
    """
    c, b = config.n_embd, int(config.bias)
    norm = (1 + b) * c  # gain (and shift)
    attention = 4 * c * c + 4 * b * c  # q, k, v, out: C x C each
    mlp = 2 * c * 4 * c + b * (4 * c + c)  # C -> 4C -> C
    return {
        "token embedding": config.vocab_size * c,
        "position table": config.block_size * c,
        "blocks": config.n_layer * (attention + mlp + 2 * norm),
        "final LayerNorm": norm,
        "output head": 0 if config.tie_embeddings else config.vocab_size * c,
    }


def gpt_param_count(config: GPTConfig, *, non_embedding: bool = False) -> int:
    """The number of distinct parameters of ``GPT(config)``: the sum of :func:`parameter_breakdown`.

    ``non_embedding`` drops the position table only: a tied token embedding is also the output layer's weight,
    which does real work, so it stays (nanoGPT's ``get_num_params`` convention; Kaplan et al. 2020 drop both).
    """
    parts = parameter_breakdown(config)
    return sum(parts.values()) - (parts["position table"] if non_embedding else 0)
