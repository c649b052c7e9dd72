"""The transformer block and the models made of it, built in chapter 6.

    from llmcourse.transformer import DecoderBlock, EncoderBlock, LayerNorm, Seq2SeqTransformer, ToyTask

    block = DecoderBlock(n_embd=64, n_head=4)                 # causal self-attention + GELU FFN, pre-LN
    y = block(x)                                              # (B, T, 64)
    enc = EncoderBlock(64, 4, norm_first=False)               # bidirectional, post-LN (Vaswani et al. 2017)
    model = Seq2SeqTransformer(VOCAB_SIZE, 64, 4, 2, 2, block_size=16)
    src, pad, tgt_in, tgt_out = ToyTask("reverse").seq2seq_batch(32, torch.Generator().manual_seed(0))

Modules, small to large: :mod:`.norms` (LayerNorm, RMSNorm), :mod:`.feedforward` (the GELU FFN),
:mod:`.blocks` (encoder and decoder blocks, pre- or post-LN), :mod:`.depth` (gradient flow against depth),
:mod:`.seq2seq` (encoder-decoder and decoder-only models, the toy task, greedy decoding), :mod:`.counting`
(parameter counts by formula). Attention itself is chapter 5's :mod:`llmcourse.attention`.

:mod:`.climb` (the staged climb from a bigram to a GPT on tiny shakespeare, and its ablations) is imported on its
own, ``from llmcourse.transformer.climb import climb_results``: it trains with chapter 7's :mod:`llmcourse.gpt`,
which is itself built on this package.
"""

from .blocks import BlockStack, DecoderBlock, EncoderBlock
from .counting import (
    attention_params,
    count_parameters,
    decoder_block_params,
    decoder_only_params,
    encoder_block_params,
    feedforward_params,
    norm_params,
)
from .depth import ffn_gradient_norms, gradient_norms_vs_depth, layer_gradient_norms, xavier_init_
from .feedforward import FeedForward
from .norms import LayerNorm, RMSNorm, make_norm
from .seq2seq import (
    BOS,
    EOS,
    PAD,
    SEP,
    VOCAB_SIZE,
    DecoderOnlyTransformer,
    Seq2SeqTransformer,
    ToyTask,
    decoder_only_loss,
    exact_match,
    greedy_decode,
    seq2seq_loss,
    to_text,
)

__all__ = [
    "BOS",
    "EOS",
    "PAD",
    "SEP",
    "VOCAB_SIZE",
    "BlockStack",
    "DecoderBlock",
    "DecoderOnlyTransformer",
    "EncoderBlock",
    "FeedForward",
    "LayerNorm",
    "RMSNorm",
    "Seq2SeqTransformer",
    "ToyTask",
    "attention_params",
    "count_parameters",
    "decoder_block_params",
    "decoder_only_loss",
    "decoder_only_params",
    "encoder_block_params",
    "exact_match",
    "feedforward_params",
    "ffn_gradient_norms",
    "gradient_norms_vs_depth",
    "greedy_decode",
    "layer_gradient_norms",
    "make_norm",
    "norm_params",
    "seq2seq_loss",
    "to_text",
    "xavier_init_",
]
