"""Our GPT and Hugging Face's ``GPT2LMHeadModel``, weight for weight (chapter 7).

The two are the same network with different bookkeeping, and a state-dict mapping is all it takes to move
weights either way:

    ours (nn.Linear: y = x W^T + b, W (out, in))      Hugging Face (Conv1D: y = x W + b, W (in, out))
    embed.tok_emb.weight (V, C)                        transformer.wte.weight (V, C)
    embed.pos_emb.weight (T, C)                        transformer.wpe.weight (T, C)
    blocks.i.attn.{q,k,v}_proj.weight (C, C) x 3       transformer.h.i.attn.c_attn.weight (C, 3C): [q|k|v], transposed
    blocks.i.attn.out_proj.weight (C, C)               transformer.h.i.attn.c_proj.weight, transposed
    blocks.i.ffn.fc.weight (4C, C)                     transformer.h.i.mlp.c_fc.weight (C, 4C), transposed
    blocks.i.ffn.proj.weight (C, 4C)                   transformer.h.i.mlp.c_proj.weight (4C, C), transposed
    blocks.i.ln_attn / ln_ffn, ln_f                    transformer.h.i.ln_1 / ln_2, transformer.ln_f

GPT-2's activation is ``"gelu_new"``, the tanh approximation of GELU, which our MLP uses too; with dropout off,
chapter 7's tests find the two models' logits equal to 1e-4 in float32 both ways round. :func:`to_hf` builds a
``GPT2LMHeadModel`` from a ``GPT2Config`` (random weights, no download) and copies ours in; :func:`load_hf` does
the reverse, for any ``GPT2LMHeadModel``, including one you loaded with ``from_pretrained("gpt2")`` yourself.

``transformers`` is a dev extra, imported only when these functions run. GPT-2 always has biases, so a GPT with
``bias=False`` or an untied head has no Hugging Face twin here and is refused.

References: Radford et al. (2019), GPT-2; Hugging Face ``transformers`` ``modeling_gpt2.py``; nanoGPT's
``GPT.from_pretrained`` (which transposes the same four Conv1D weights).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from .config import GPTConfig
from .model import GPT

if TYPE_CHECKING:  # transformers is a dev extra
    from transformers import GPT2Config, GPT2LMHeadModel

_BUFFERS = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers older transformers versions keep in the state dict


def to_hf_config(config: GPTConfig) -> GPT2Config:
    """The ``GPT2Config`` of the same sizes (dropouts all ``config.dropout``; eps 1e-5; tanh GELU)."""
    from transformers import GPT2Config

    if not config.bias or not config.tie_embeddings:
        raise ValueError("GPT2LMHeadModel always has biases and a tied head: use bias=True, tie_embeddings=True")
    eot = config.vocab_size - 1  # GPT-2's <|endoftext|> is its last id, 50256
    return GPT2Config(vocab_size=config.vocab_size, n_positions=config.block_size, n_embd=config.n_embd,
                      n_layer=config.n_layer, n_head=config.n_head, n_inner=4 * config.n_embd,
                      activation_function="gelu_new", resid_pdrop=config.dropout, embd_pdrop=config.dropout,
                      attn_pdrop=config.dropout, layer_norm_epsilon=1e-5, tie_word_embeddings=True,
                      bos_token_id=eot, eos_token_id=eot)


def from_hf_config(hf_config: GPT2Config) -> GPTConfig:
    """Our config for a ``GPT2Config``; refuses settings our GPT does not have."""
    inner = hf_config.n_inner if hf_config.n_inner is not None else 4 * hf_config.n_embd
    problems = []
    if hf_config.activation_function != "gelu_new":
        problems.append(f"activation_function={hf_config.activation_function!r} (ours is 'gelu_new', tanh GELU)")
    if inner != 4 * hf_config.n_embd:
        problems.append(f"n_inner={inner} (ours is 4 * n_embd = {4 * hf_config.n_embd})")
    if abs(hf_config.layer_norm_epsilon - 1e-5) > 1e-12:
        problems.append(f"layer_norm_epsilon={hf_config.layer_norm_epsilon} (ours is 1e-5)")
    if getattr(hf_config, "scale_attn_by_inverse_layer_idx", False) or getattr(hf_config, "reorder_and_upcast_attn",
                                                                                False):
        problems.append("scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn (ours has neither)")
    if not getattr(hf_config, "scale_attn_weights", True):
        problems.append("scale_attn_weights=False (ours scales by 1/sqrt(head_dim))")
    if problems:
        raise ValueError("this GPT2Config has no twin in llmcourse.gpt: " + "; ".join(problems))
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions, n_layer=hf_config.n_layer,
                     n_head=hf_config.n_head, n_embd=hf_config.n_embd, dropout=float(hf_config.resid_pdrop),
                     bias=True, tie_embeddings=True)


_LINEARS = (("attn.out_proj", "attn.c_proj"), ("ffn.fc", "mlp.c_fc"), ("ffn.proj", "mlp.c_proj"))  # ours, HF's
_NORMS = (("ln_attn", "ln_1"), ("ln_ffn", "ln_2"))


def to_hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights under Hugging Face's names and layout (Conv1D weights transposed, q, k, v fused)."""
    sd = model.state_dict()
    out = {"transformer.wte.weight": sd["embed.tok_emb.weight"], "transformer.wpe.weight": sd["embed.pos_emb.weight"]}
    for i in range(model.config.n_layer):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        q, k, v = (sd[f"{ours}attn.{name}_proj.weight"] for name in "qkv")  # (C, C) each, (out, in)
        out[theirs + "attn.c_attn.weight"] = torch.cat((q, k, v), dim=0).t().contiguous()  # (C, 3C), (in, out)
        out[theirs + "attn.c_attn.bias"] = torch.cat([sd[f"{ours}attn.{name}_proj.bias"] for name in "qkv"])  # (3C,)
        for mine, hf in _LINEARS:
            out[f"{theirs}{hf}.weight"] = sd[f"{ours}{mine}.weight"].t().contiguous()
            out[f"{theirs}{hf}.bias"] = sd[f"{ours}{mine}.bias"]
        for mine, hf in _NORMS:
            for kind in ("weight", "bias"):
                out[f"{theirs}{hf}.{kind}"] = sd[f"{ours}{mine}.{kind}"]
    out["transformer.ln_f.weight"], out["transformer.ln_f.bias"] = sd["ln_f.weight"], sd["ln_f.bias"]
    out["lm_head.weight"] = sd["lm_head.weight"]  # the same tensor as wte: tied on both sides
    return out


def _hf_layers(sd: dict[str, Any]) -> int:
    """How many blocks a GPT-2 state dict holds (its ``transformer.h.i.`` prefixes)."""
    found = {int(key.split(".")[2]) for key in sd if key.startswith("transformer.h.")}
    return max(found) + 1 if found else 0


def from_hf_state_dict(hf_state: dict[str, Any], config: GPTConfig) -> dict[str, torch.Tensor]:
    """A ``GPT2LMHeadModel`` state dict under our names and layout (the inverse of :func:`to_hf_state_dict`).

    Weights that do not fit ``config`` are refused with a ValueError naming the tensor and both shapes, and a
    state dict with more or fewer blocks than ``config.n_layer`` is refused instead of silently dropping some.
    """
    sd = {key: value for key, value in hf_state.items() if not key.endswith(_BUFFERS)}
    c, n_layer = config.n_embd, _hf_layers(sd)
    if n_layer != config.n_layer:
        raise ValueError(f"the weights hold {n_layer} blocks (transformer.h.0 .. h.{n_layer - 1}) but the config "
                         f"says n_layer={config.n_layer}")
    with torch.device("meta"):  # the shapes our GPT expects, without allocating or initialising anything
        want = {key: tuple(t.shape) for key, t in GPT(config).state_dict().items()}

    def take(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key not in sd:
            raise ValueError(f"the weights have no {key}")
        if tuple(sd[key].shape) != shape:
            raise ValueError(f"{key} has shape {tuple(sd[key].shape)}, but the config (n_embd={c}, "
                             f"vocab_size={config.vocab_size}, block_size={config.block_size}) needs {shape}")
        return sd[key]

    out = {"embed.tok_emb.weight": take("transformer.wte.weight", want["embed.tok_emb.weight"]),
           "embed.pos_emb.weight": take("transformer.wpe.weight", want["embed.pos_emb.weight"])}
    for i in range(config.n_layer):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        weights = take(theirs + "attn.c_attn.weight", (c, 3 * c)).t().split(c, dim=0)  # 3 x (C, C), (out, in)
        biases = take(theirs + "attn.c_attn.bias", (3 * c,)).split(c)  # 3 x (C,)
        for name, w, b in zip("qkv", weights, biases, strict=True):
            out[f"{ours}attn.{name}_proj.weight"], out[f"{ours}attn.{name}_proj.bias"] = w.contiguous(), b
        for mine, hf in _LINEARS:
            conv1d = take(f"{theirs}{hf}.weight", want[f"{ours}{mine}.weight"][::-1])  # (in, out)
            out[f"{ours}{mine}.weight"] = conv1d.t().contiguous()  # (out, in)
            out[f"{ours}{mine}.bias"] = take(f"{theirs}{hf}.bias", want[f"{ours}{mine}.bias"])
        for mine, hf in _NORMS:
            for kind in ("weight", "bias"):
                out[f"{ours}{mine}.{kind}"] = take(f"{theirs}{hf}.{kind}", want[f"{ours}{mine}.{kind}"])
    out["ln_f.weight"] = take("transformer.ln_f.weight", want["ln_f.weight"])
    out["ln_f.bias"] = take("transformer.ln_f.bias", want["ln_f.bias"])
    head = "lm_head.weight" if "lm_head.weight" in sd else "transformer.wte.weight"  # tied: HF may leave it out
    out["lm_head.weight"] = take(head, want["lm_head.weight"])
    return out


@torch.no_grad()
def to_hf(model: GPT) -> GPT2LMHeadModel:
    """A ``GPT2LMHeadModel`` holding a copy of ``model``'s weights, in eval mode, on ``model``'s device."""
    from transformers import GPT2LMHeadModel

    hf_model = GPT2LMHeadModel(to_hf_config(model.config))
    state = to_hf_state_dict(model)
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.endswith(_BUFFERS)]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping incomplete: missing {missing}, unexpected {unexpected}")
    return hf_model.to(next(model.parameters()).device).eval()


@torch.no_grad()
def load_hf(hf_model: GPT2LMHeadModel) -> GPT:
    """Our :class:`~llmcourse.gpt.GPT` with a copy of a ``GPT2LMHeadModel``'s weights, in eval mode."""
    config = from_hf_config(hf_model.config)
    model = GPT(config)
    model.load_state_dict(from_hf_state_dict(hf_model.state_dict(), config))  # strict: every weight accounted for
    return model.to(next(hf_model.parameters()).device).eval()
