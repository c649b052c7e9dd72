"""A GPT in the GPT-2 layout, built from chapters 5 and 6's parts, and a KV cache for decoding (chapters 7 and 8).

    x = wte(ids) + wpe(0..T-1)                    # (B, T, C): token + learned position embeddings, then dropout
    x = x + attn(ln_1(x))                          # pre-LN causal self-attention  } n_layer blocks; the residual
    x = x + mlp(ln_2(x))                           # pre-LN MLP, tanh-GELU         } stream is never normalised
    logits = ln_f(x) @ wte.T                       # (B, T, V): final LayerNorm, output head tied to the embedding

:class:`GPT` is chapter 6's :class:`~llmcourse.transformer.DecoderOnlyTransformer`, not a second model: chapter
5's :class:`~llmcourse.attention.TokenAndPositionEmbedding` and :class:`~llmcourse.attention.MultiHeadAttention`
(``F.scaled_dot_product_attention`` underneath), chapter 6's pre-LN :class:`~llmcourse.transformer.DecoderBlock`
with the tanh approximation of GELU that GPT-2 uses (Hugging Face's ``"gelu_new"``), a final LayerNorm and a head
tied to the token embedding. What this file adds is GPT-2's configuration and initialisation, and the KV cache.
A block's submodules are ``ln_attn``, ``attn``, ``ln_ffn``, ``ffn`` (GPT-2's ``ln_1``, ``attn``, ``ln_2``,
``mlp``; :mod:`llmcourse.gpt.hf` maps the names). Dropout sits where GPT-2 and nanoGPT put it: after the
embeddings, on the attention weights, and at the end of each residual branch.

Initialisation is GPT-2's: every weight N(0, 0.02^2), biases zero, LayerNorms (1, 0), and the two projections that
write into the residual stream (``attn.out_proj``, ``ffn.proj``) N(0, (0.02 / sqrt(2 n_layer))^2), so the
stream's variance does not grow with depth (Radford et al. 2019, section 2.3). :mod:`llmcourse.gpt.hf` checks
the model against Hugging Face's ``GPT2LMHeadModel`` weight for weight, logit for logit.

A :class:`KVCache` (chapter 8) keeps every layer's keys and values of the positions already read, so that
decoding one more token costs one position's work instead of the whole context's:

    cache = model.new_cache(batch_size=B)                 # empty; allocated on first use, block_size positions
    logits = model(prompt, cache=cache)                   # (B, T, V): reads the prompt, stores its K and V
    logits = model(next_id, cache=cache)                  # (B, 1, V): position T attends to 0..T from the cache

Each new position's keys and values are written into the cache first and then attended over, so a query sees
itself; the logits equal a full recomputation's up to float rounding (chapter 8's tests compare the tokens).
The cache holds 2 * n_layer * n_embd numbers per position per sequence (K and V, n_head * head_dim = n_embd
each). Sampling and decoding loops are in :mod:`llmcourse.gpt.sampling`. What this file leaves out: loading
OpenAI's checkpoint files directly (go through Hugging Face: :func:`llmcourse.gpt.hf.load_hf`).

References: Radford et al. (2019), GPT-2; Radford et al. (2018), GPT; Karpathy's nanoGPT ``model.py``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from llmcourse.transformer import DecoderOnlyTransformer, LayerNorm

from .config import GPTConfig, gpt_param_count


class KVCache:
    """Every layer's keys and values for the positions read so far: (n_layer, B, n_head, length, head_dim) each.

    Room for ``max_len`` positions (default: block_size) is allocated on the first :meth:`update`, in the dtype
    and on the device of the keys it is given (bf16 under autocast, float32 otherwise). ``length`` counts the
    positions stored; :class:`GPT` advances it after the last layer has written.
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int | None = None) -> None:
        max_len = config.block_size if max_len is None else max_len
        if batch_size < 1 or not 1 <= max_len <= config.block_size:
            raise ValueError(f"need batch_size >= 1 and 1 <= max_len <= block_size={config.block_size}, "
                             f"got batch_size={batch_size}, max_len={max_len}")
        self.config, self.batch_size, self.max_len = config, batch_size, max_len
        self.length = 0
        self.k: torch.Tensor | None = None  # (n_layer, B, nh, max_len, hd)
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.length

    @staticmethod
    def bytes_per_token(config: GPTConfig, dtype: torch.dtype = torch.float32) -> int:
        """2 (K and V) * n_layer * n_embd * bytes per element: what one more position of one sequence costs."""
        return 2 * config.n_layer * config.n_embd * torch.empty((), dtype=dtype).element_size()

    def nbytes(self) -> int:
        """Bytes the cache's two tensors hold (0 before the first update)."""
        return 0 if self.k is None else 2 * self.k.numel() * self.k.element_size()

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store layer ``layer``'s keys and values of t new positions (B, nh, t, hd); return all of them so far."""
        c = self.config
        want = (self.batch_size, c.n_head, k.size(-2), c.n_embd // c.n_head)
        if tuple(k.shape) != want or k.shape != v.shape:
            raise ValueError(f"keys and values must have shape {want}, got {tuple(k.shape)} and {tuple(v.shape)}")
        end = self.length + k.size(-2)
        if end > self.max_len:
            raise ValueError(f"the cache holds {self.max_len} positions; {self.length} are stored and "
                             f"{k.size(-2)} more do not fit")
        if self.k is None:
            shape = (c.n_layer, self.batch_size, c.n_head, self.max_len, c.n_embd // c.n_head)
            self.k = torch.zeros(shape, dtype=k.dtype, device=k.device)
            self.v = torch.zeros(shape, dtype=v.dtype, device=v.device)
        self.k[layer, :, :, self.length:end] = k
        self.v[layer, :, :, self.length:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]  # (B, nh, S, hd) views, S = end


class GPT(DecoderOnlyTransformer):
    """ids (B, T) -> logits (B, T, vocab_size); position t sees ids 0..t only. GPT-2's sizes, init and GELU."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__(config.vocab_size, config.n_embd, config.n_head, config.n_layer, config.block_size,
                         dropout=config.dropout, bias=config.bias, tie_embeddings=config.tie_embeddings,
                         approximate="tanh")
        self.config = config
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2's initialisation (see the module docstring); draws from torch's global generator."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                std = residual_std if name.endswith(("attn.out_proj", "ffn.proj")) else 0.02
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, LayerNorm):
                nn.init.ones_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.embed.pos_emb.weight, mean=0.0, std=0.02)  # a LearnedPositions table, not an Embedding

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Distinct parameters (a tied matrix once); ``non_embedding`` leaves out the position table."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.pos_emb.weight.numel() if non_embedding else n

    def expected_num_parameters(self, non_embedding: bool = False) -> int:
        """:func:`~llmcourse.gpt.config.gpt_param_count` for this model's config."""
        return gpt_param_count(self.config, non_embedding=non_embedding)

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """An empty :class:`KVCache` for ``batch_size`` sequences of up to ``max_len`` (block_size) positions."""
        return KVCache(self.config, batch_size, max_len)

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """ids (B, T) int64 -> logits (B, T, vocab_size); T <= block_size.

        With ``cache``, ``ids`` are the positions that follow the cached ones (their keys and values are added
        to the cache), and the logits are the ones a full pass over all the positions would give for them.
        """
        if cache is not None:
            if ids.dim() == 2 and ids.size(0) != cache.batch_size:
                raise ValueError(f"the cache is for {cache.batch_size} sequences, ids has {ids.size(0)} rows")
            if ids.dim() == 2 and cache.length + ids.size(1) > cache.max_len:
                raise ValueError(f"{cache.length} cached positions + {ids.size(1)} new ones exceed the cache's "
                                 f"{cache.max_len} (block_size={self.config.block_size}): start a new cache")
        return super().forward(ids, cache)
