"""An encoder-decoder transformer and a decoder-only one, on a toy sequence task (chapter 6).

    encoder-decoder:  memory = Encoder(src)                       # (B, S, C), bidirectional
                      logits = Decoder(tgt_in, memory)            # (B, T, V), causal + cross-attention
    decoder-only:     logits = Decoder(src SEP tgt)               # one causal sequence, loss on the tgt part

The task (:class:`ToyTask`) maps a string of digits to another: ``"reverse"`` (``3141 -> 1413``) or
``"sort"`` (``3141 -> 1134``), of random lengths between ``min_len`` and ``max_len``. Both models learn it in
a few hundred steps, a minute or less on a CPU; the encoder-decoder's cross-attention then shows which source
position each output looked at (an anti-diagonal for reversal). :func:`greedy_decode` generates an answer one
token at a time, feeding back the most likely token; :func:`exact_match` scores whole answers.

Token ids: 0 PAD, 1 BOS (start of the decoder's input), 2 EOS (end of an answer), 3 SEP (between question
and answer for the decoder-only model), then the digits 0-9 as ids 4-13.

What it leaves out: beam search and label smoothing; the decoder-only model reads a KV cache (chapter 8), the
encoder-decoder does not.

References: Vaswani et al. (2017) for the encoder-decoder; Radford et al. (2018) for decoder-only models;
Bahdanau, Cho & Bengio (2015) for attention maps as alignments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.attention import TokenAndPositionEmbedding

from .blocks import DecoderBlock, EncoderBlock, KVCacheLike
from .norms import make_norm

PAD, BOS, EOS, SEP, DIGIT0 = 0, 1, 2, 3, 4
VOCAB_SIZE = DIGIT0 + 10
IGNORE = -100  # F.cross_entropy's ignore_index: positions that are not scored


def _embed_check(ids: torch.Tensor, block_size: int, name: str) -> None:
    if ids.dim() != 2 or ids.dtype != torch.long:
        raise ValueError(f"{name} must be int64 token ids of shape (B, T), got {ids.dtype} {tuple(ids.shape)}")
    if ids.size(1) > block_size:
        raise ValueError(f"{name} has {ids.size(1)} positions, more than block_size={block_size}")


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder transformer: one token embedding shared by both sides (and, tied, by the output head)."""

    def __init__(self, vocab_size: int, n_embd: int, n_head: int, n_enc_layer: int, n_dec_layer: int,
                 block_size: int, *, d_ff: int | None = None, dropout: float = 0.0, norm_first: bool = True,
                 tie_embeddings: bool = True) -> None:
        super().__init__()
        self.block_size = block_size
        self.tok_emb = nn.Embedding(vocab_size, n_embd)
        self.enc_pos = nn.Embedding(block_size, n_embd)  # learned positions, one table per side
        self.dec_pos = nn.Embedding(block_size, n_embd)
        kw = dict(d_ff=d_ff, dropout=dropout, norm_first=norm_first)
        self.encoder = nn.ModuleList(EncoderBlock(n_embd, n_head, **kw) for _ in range(n_enc_layer))
        self.decoder = nn.ModuleList(DecoderBlock(n_embd, n_head, cross=True, **kw) for _ in range(n_dec_layer))
        # pre-LN never normalises the residual stream, so each side ends with a norm; post-LN already did
        self.enc_ln = make_norm("layer", n_embd) if norm_first else nn.Identity()
        self.dec_ln = make_norm("layer", n_embd) if norm_first else nn.Identity()
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self.drop = nn.Dropout(dropout)

    def encode(self, src: torch.Tensor, src_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """src (B, S) ids -> memory (B, S, C). ``src_padding_mask`` (B, S): True at padding."""
        _embed_check(src, self.block_size, "src")
        x = self.drop(self.tok_emb(src) + self.enc_pos(torch.arange(src.size(1), device=src.device)))  # (B, S, C)
        for block in self.encoder:
            x = block(x, src_padding_mask)
        return self.enc_ln(x)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_padding_mask: torch.Tensor | None = None, *,
               need_weights: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """tgt_in (B, T) ids, memory (B, S, C) -> logits (B, T, V) [, cross-attention weights per layer]."""
        _embed_check(tgt_in, self.block_size, "tgt_in")
        x = self.drop(self.tok_emb(tgt_in) + self.dec_pos(torch.arange(tgt_in.size(1), device=tgt_in.device)))
        maps = []
        for block in self.decoder:
            out = block(x, memory, memory_padding_mask=src_padding_mask, need_weights=need_weights)
            x, weights = out if need_weights else (out, None)
            maps.append(weights)  # (B, nh, T, S) or None
        logits = self.lm_head(self.dec_ln(x))  # (B, T, V)
        return (logits, maps) if need_weights else logits

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor,
                src_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if src.size(0) != tgt_in.size(0):
            raise ValueError(f"src {tuple(src.shape)} and tgt_in {tuple(tgt_in.shape)} must share the batch size")
        return self.decode(tgt_in, self.encode(src, src_padding_mask), src_padding_mask)


class DecoderOnlyTransformer(nn.Module):
    """GPT-style: token + position embeddings, causal blocks, a final norm and a (tied) head.

    The one decoder-only model of the package: chapter 7's :class:`llmcourse.gpt.GPT` is this model with GPT-2's
    sizes, initialisation and tanh GELU (``approximate="tanh"``), and chapter 8 reads it with a KV cache.
    ``residual=False``, ``norm="none"`` and ``ffn=False`` take a part out of every block (and ``norm="none"`` the
    final norm too): chapter 6's staged climb and ablations (:mod:`.climb`).
    """

    def __init__(self, vocab_size: int, n_embd: int, n_head: int, n_layer: int, block_size: int, *,
                 d_ff: int | None = None, dropout: float = 0.0, norm_first: bool = True,
                 tie_embeddings: bool = True, bias: bool = True, approximate: str = "none",
                 residual: bool = True, norm: str = "layer", ffn: bool = True) -> None:
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        self.embed = TokenAndPositionEmbedding(vocab_size, block_size, n_embd)  # chapter 5's, learned positions
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(DecoderBlock(n_embd, n_head, d_ff=d_ff, dropout=dropout, norm_first=norm_first,
                                                 residual=residual, norm=norm, bias=bias, approximate=approximate,
                                                 ffn=ffn) for _ in range(n_layer))
        self.ln_f = make_norm(norm, n_embd, bias) if norm_first else nn.Identity()
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_embeddings:
            self.lm_head.weight = self.embed.tok_emb.weight  # one (V, C) matrix reads tokens in and scores them out

    def check_ids(self, ids: torch.Tensor, start: int = 0) -> None:
        """Refuse ids the model cannot read, naming what is wrong (shape, dtype, length, range)."""
        check_token_ids(ids, self.vocab_size, block_size=self.block_size, start=start)

    def forward(self, ids: torch.Tensor, cache: KVCacheLike | None = None) -> torch.Tensor:
        """ids (B, T) -> logits (B, T, V); position t sees ids 0..t only.

        With ``cache`` (chapter 8), ``ids`` are the positions that follow the cached ones (their keys and values
        are added to the cache), and the logits are the ones a full pass over all the positions would give.
        """
        return self.lm_head(self.hidden_states(ids, cache))  # (B, T, V)

    def hidden_states(self, ids: torch.Tensor, cache: KVCacheLike | None = None) -> torch.Tensor:
        """ids (B, T) -> the final norm's output (B, T, C), what the LM head reads: a classifier's input (chapter 9)."""
        start = 0 if cache is None else cache.length
        self.check_ids(ids, start)
        x = self.drop(self.embed(ids, start))  # (B, T, C): positions start .. start + T - 1
        for layer, block in enumerate(self.blocks):
            x = block(x, cache=cache, layer=layer)  # (B, T, C)
        if cache is not None:
            cache.length += ids.size(1)
        return self.ln_f(x)  # (B, T, C)


def _compiling() -> bool:
    """Whether torch.compile is tracing this call (torch.compiler.is_compiling needs torch >= 2.3)."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling is not None and is_compiling())


def check_token_ids(ids: object, vocab_size: int | None, *, name: str = "ids", block_size: int | None = None,
                    start: int = 0) -> None:
    """Integer ids (B, T) with B, T >= 1, ``start + T <= block_size`` and each id in [0, vocab_size), else a
    ValueError naming ``name``. The one check of token ids: the decoder-only model and chapter 8's samplers use it."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype not in (torch.long, torch.int32):
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"{name} must be integer token ids of shape (B, T), got {got}")
    if ids.size(0) == 0:
        raise ValueError(f"{name} has no rows (B = 0, shape {tuple(ids.shape)}): give at least one sequence")
    if ids.size(1) == 0:
        raise ValueError(f"{name} has no positions (shape {tuple(ids.shape)}): (B, T) needs T >= 1, at least one token")
    if block_size is not None and start + ids.size(1) > block_size:
        raise ValueError(f"a sequence of {start + ids.size(1)} tokens is longer than block_size={block_size}: "
                         f"crop {name} to the last {block_size} tokens")
    if vocab_size is not None and not _compiling():  # one sync on a GPU; a compiled graph skips it
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(f"{name} must be token ids in [0, {vocab_size}), got ids from {low} to {high}")


# --- the toy task -----------------------------------------------------------------------------------------


@dataclass
class ToyTask:
    """Digit strings of ``min_len..max_len`` digits, mapped by ``kind`` ("reverse" or "sort")."""

    kind: str = "reverse"
    min_len: int = 3
    max_len: int = 8

    def __post_init__(self) -> None:
        if self.kind not in ("reverse", "sort"):
            raise ValueError(f"kind must be 'reverse' or 'sort', got {self.kind!r}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")

    @property
    def block_size(self) -> int:
        """Positions the decoder-only model needs: question, SEP, answer, EOS."""
        return 2 * self.max_len + 2

    def answer(self, digits: list[int]) -> list[int]:
        return digits[::-1] if self.kind == "reverse" else sorted(digits)

    def examples(self, n: int, generator: torch.Generator) -> list[tuple[list[int], list[int]]]:
        """n (question, answer) pairs of digit lists, drawn with ``generator``."""
        lengths = torch.randint(self.min_len, self.max_len + 1, (n,), generator=generator).tolist()
        digits = torch.randint(0, 10, (n, self.max_len), generator=generator).tolist()
        return [(row[:length], self.answer(row[:length])) for row, length in zip(digits, lengths, strict=True)]

    def seq2seq_batch(self, n: int, generator: torch.Generator,
                      device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
        """src (B, S), src_padding_mask (B, S), tgt_in (B, T) = BOS + answer, tgt_out (B, T) = answer + EOS."""
        return seq2seq_tensors(self.examples(n, generator), device)

    def decoder_only_batch(self, n: int, generator: torch.Generator,
                           device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, L) = question SEP answer (shifted inputs), targets (B, L): only the answer + EOS are scored."""
        return decoder_only_tensors(self.examples(n, generator), device)


def to_ids(digits: list[int]) -> list[int]:
    """Digits 0-9 -> their token ids."""
    return [DIGIT0 + d for d in digits]


def to_text(ids: list[int]) -> str:
    """Token ids as text: digits, and <s> </s> | _ for BOS, EOS, SEP, PAD."""
    names = {PAD: "_", BOS: "<s>", EOS: "</s>", SEP: "|"}
    return "".join(names.get(i, str(i - DIGIT0)) for i in ids)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


Pairs = list[tuple[list[int], list[int]]]


def seq2seq_tensors(pairs: Pairs, device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """(question, answer) pairs -> src (B, S), src_padding_mask (B, S), tgt_in (B, T), tgt_out (B, T)."""
    src = _pad([to_ids(q) for q, _ in pairs], PAD)  # (B, S)
    tgt_in = _pad([[BOS] + to_ids(a) for _, a in pairs], PAD)  # (B, T)
    tgt_out = _pad([to_ids(a) + [EOS] for _, a in pairs], IGNORE)  # (B, T): padding is not scored
    return src.to(device), (src == PAD).to(device), tgt_in.to(device), tgt_out.to(device)


def decoder_only_tensors(pairs: Pairs, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """(question, answer) pairs -> ids (B, L), targets (B, L) with only the answer and EOS scored."""
    seqs = [to_ids(q) + [SEP] + to_ids(a) + [EOS] for q, a in pairs]
    scored = [[IGNORE] * (len(q) + 1) + to_ids(a) + [EOS] for q, a in pairs]  # the question is given, not learned
    ids, targets = _pad(seqs, PAD), _pad(scored, IGNORE)
    return ids[:, :-1].to(device), targets[:, 1:].to(device)  # (B, L - 1) each: predict the next token


def seq2seq_loss(model: Seq2SeqTransformer, src: torch.Tensor, src_padding_mask: torch.Tensor,
                 tgt_in: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens and EOS (teacher forcing), in nats per token."""
    logits = model(src, tgt_in, src_padding_mask)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), tgt_out.flatten(), ignore_index=IGNORE)


def decoder_only_loss(model: DecoderOnlyTransformer, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens and EOS only, in nats per token."""
    logits = model(ids)  # (B, L, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)


def _next_logits(model: nn.Module, out: torch.Tensor, memory: torch.Tensor | None) -> torch.Tensor:
    """The logits (b, V) of the token after ``out`` (b, t)."""
    if memory is not None:
        return model.decode(out, memory)[:, -1]
    return model(out[:, -model.block_size:])[:, -1]


@torch.no_grad()
def greedy_decode(model: nn.Module, questions: list[list[int]], max_new: int) -> list[list[int]]:
    """Answer each question (a list of digits) with ``model``, always taking the most likely token; digits back.

    Works for both models: the encoder-decoder encodes the questions once and grows the decoder's input from
    BOS; the decoder-only model grows ``question SEP`` (questions of one length at a time, so no padding).
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    answers: list[list[int]] = [[] for _ in questions]
    by_length: dict[int, list[int]] = {}
    for i, q in enumerate(questions):
        by_length.setdefault(len(q), []).append(i)
    for rows in by_length.values():
        src = torch.tensor([to_ids(questions[i]) for i in rows], device=device)  # (b, S), no padding
        if isinstance(model, Seq2SeqTransformer):
            memory, out = model.encode(src), torch.full((len(rows), 1), BOS, device=device)
        else:
            memory, out = None, torch.cat([src, torch.full((len(rows), 1), SEP, device=device)], dim=1)
        start = out.size(1)
        for _ in range(max_new):
            out = torch.cat([out, _next_logits(model, out, memory).argmax(-1, keepdim=True)], dim=1)
            if bool((out[:, start:] == EOS).any(1).all()):
                break
        for row, generated in zip(rows, out[:, start:].tolist(), strict=True):
            cut = generated.index(EOS) if EOS in generated else len(generated)
            answers[row] = [t - DIGIT0 if t >= DIGIT0 else -1 for t in generated[:cut]]  # -1: not a digit
    model.train(was_training)
    return answers


def exact_match(model: nn.Module, task: ToyTask, n: int, generator: torch.Generator) -> float:
    """The fraction of ``n`` fresh questions whose greedy answer is exactly right."""
    pairs = task.examples(n, generator)
    got = greedy_decode(model, [q for q, _ in pairs], task.max_len + 1)
    return sum(g == a for g, (_, a) in zip(got, pairs, strict=True)) / n
