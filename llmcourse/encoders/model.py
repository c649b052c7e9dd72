"""A BERT-style encoder and its masked-LM head, built from chapter 6's post-LN encoder blocks (chapter 9).

    x = LayerNorm(tok_emb[ids] + pos_emb[0..T-1] + type_emb[0])     # (B, T, C), then dropout
    for block in blocks:  x = block(x, padding_mask)                 # post-LN EncoderBlock, exact GELU
    hidden = x                                                       # Encoder.forward returns this
    logits = LayerNorm(GELU(hidden W_t^T + b_t)) tok_emb^T + b_vocab  # MaskedLM: the head, tied to tok_emb

The layout is BERT's, parameter for parameter, so :mod:`.hf` maps it onto Hugging Face's ``BertForMaskedLM``:
one learned position table, one token-type row (every token is type 0: sentence pairs are an exercise), a
LayerNorm on the embeddings, post-LN blocks (``norm(x + f(x))``, as Vaswani et al. and BERT), and the MLM head's
transform (dense, GELU, LayerNorm) before a decoder that shares the token-embedding matrix and has its own bias.
Attention is bidirectional: every token sees every non-padding token, left and right. Initialisation is BERT's:
every weight N(0, 0.02), biases 0, LayerNorms 1 and 0, the ``[PAD]`` embedding row 0.

Differences from BERT, on purpose: LayerNorm eps is 1e-5 (chapter 6's LayerNorm) where BERT uses 1e-12 (the
outputs differ by about 1e-6 relative); there is no pooler (the tanh dense layer on ``[CLS]`` that BERT trains
for next-sentence prediction), and no next-sentence prediction (RoBERTa, Liu et al. 2019, dropped it without loss).

References: Devlin et al. (2019), "BERT", section 3 and figure 2; Hugging Face ``modeling_bert.py``
(``BertEmbeddings``, ``BertLMPredictionHead``); nanoGPT's ``model.py`` for the shape of this file.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.transformer import EncoderBlock, LayerNorm

from .masking import IGNORE_INDEX


@dataclass
class EncoderConfig:
    """The encoder's sizes. ``d_ff`` None means 4 * n_embd; ``pad_id`` is the ``[PAD]`` id (its row stays 0)."""

    vocab_size: int
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    d_ff: int | None = None
    dropout: float = 0.1
    pad_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.d_ff is not None and (not isinstance(self.d_ff, int) or self.d_ff < 1):
            raise ValueError(f"d_ff must be a positive int or None, got {self.d_ff!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.pad_id is not None and not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id must be an id below vocab_size ({self.vocab_size}), got {self.pad_id}")

    @property
    def ffn_size(self) -> int:
        return 4 * self.n_embd if self.d_ff is None else self.d_ff


def init_bert_(module: nn.Module) -> None:
    """BERT's initialisation of one module: N(0, 0.02) weights, zero biases, the padding row of an embedding 0."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()


class Encoder(nn.Module):
    """Embeddings + ``n_layer`` post-LN encoder blocks: ids (B, T) -> hidden states (B, T, C)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        c = config.n_embd
        self.tok_emb = nn.Embedding(config.vocab_size, c, padding_idx=config.pad_id)
        self.pos_emb = nn.Embedding(config.block_size, c)
        self.type_emb = nn.Embedding(1, c)  # BERT's segment embedding, one segment: a learned bias on every token
        self.ln_emb = LayerNorm(c)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(c, config.n_head, d_ff=config.ffn_size, dropout=config.dropout, norm_first=False)
            for _ in range(config.n_layer))
        self.apply(init_bert_)

    def check_inputs(self, ids: torch.Tensor, padding_mask: torch.Tensor | None) -> None:
        """One-line errors for ids and a padding mask this encoder cannot read."""
        cfg = self.config
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.dim() != 2:
            raise ValueError(f"ids must be a LongTensor of shape (B, T), got {getattr(ids, 'dtype', type(ids))} "
                             f"{tuple(getattr(ids, 'shape', ()))}")
        if ids.size(1) > cfg.block_size:
            raise ValueError(f"ids has {ids.size(1)} positions, more than block_size {cfg.block_size}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= cfg.vocab_size):
            raise ValueError(f"ids must lie in [0, {cfg.vocab_size}), got [{int(ids.min())}, {int(ids.max())}]")
        if padding_mask is not None and (padding_mask.dtype != torch.bool or padding_mask.shape != ids.shape):
            raise ValueError(f"padding_mask must be a BoolTensor of ids' shape {tuple(ids.shape)} (True at padding), "
                             f"got {padding_mask.dtype} {tuple(padding_mask.shape)}")

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (B, T, C); ``padding_mask`` (B, T) True at padding (None: no padding)."""
        self.check_inputs(ids, padding_mask)
        positions = torch.arange(ids.size(1), device=ids.device)
        x = self.tok_emb(ids) + self.pos_emb(positions) + self.type_emb.weight[0]  # (B, T, C)
        x = self.drop(self.ln_emb(x))
        for block in self.blocks:
            x = block(x, padding_mask)  # (B, T, C): every position sees every non-padding position
        return x

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class MaskedLM(nn.Module):
    """An :class:`Encoder` with BERT's MLM head; the decoder is the token-embedding matrix (tied) + a bias."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.transform = nn.Linear(config.n_embd, config.n_embd)
        self.act = nn.GELU()  # exact GELU, BERT's "gelu"
        self.ln_head = LayerNorm(config.n_embd)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        init_bert_(self.transform)

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits (..., V) from hidden states (..., C): transform, then the tied decoder."""
        h = self.ln_head(self.act(self.transform(hidden)))
        return F.linear(h, self.encoder.tok_emb.weight, self.bias)

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V) at every position."""
        return self.head(self.encoder(ids, padding_mask))

    def masked_loss(self, inputs: torch.Tensor, labels: torch.Tensor,
                    padding_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean cross-entropy, accuracy) over the chosen positions only (labels != -100).

        The head runs on those positions alone (about 15%), as BERT's own code gathers them: the (C x V)
        decoder is the costliest matrix of a small encoder, and the other positions add nothing to the loss.
        """
        if labels.shape != inputs.shape:
            raise ValueError(f"labels must have inputs' shape {tuple(inputs.shape)}, got {tuple(labels.shape)}")
        chosen = labels != IGNORE_INDEX  # (B, T)
        if not chosen.any():
            raise ValueError("labels choose no position (all -100): nothing to predict")
        logits = self.head(self.encoder(inputs, padding_mask)[chosen])  # (N, V) for the N chosen positions
        targets = labels[chosen]
        loss = F.cross_entropy(logits.float(), targets)
        accuracy = (logits.argmax(-1) == targets).float().mean()
        return loss, accuracy

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
