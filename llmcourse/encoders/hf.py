"""Our masked LM and Hugging Face's ``BertForMaskedLM``, weight for weight (chapter 9).

    ours                                         Hugging Face BertForMaskedLM
    encoder.tok_emb / pos_emb / type_emb         bert.embeddings.word_ / position_ / token_type_embeddings
    encoder.ln_emb                               bert.embeddings.LayerNorm
    encoder.blocks.i.attn.{q,k,v}_proj           bert.encoder.layer.i.attention.self.{query,key,value}
    encoder.blocks.i.attn.out_proj               bert.encoder.layer.i.attention.output.dense
    encoder.blocks.i.ln_attn                     bert.encoder.layer.i.attention.output.LayerNorm
    encoder.blocks.i.ffn.fc / ffn.proj           bert.encoder.layer.i.intermediate.dense / output.dense
    encoder.blocks.i.ln_ffn                      bert.encoder.layer.i.output.LayerNorm
    transform, ln_head                           cls.predictions.transform.dense, .LayerNorm
    bias (the decoder is tok_emb, tied)          cls.predictions.bias (decoder.weight is word_embeddings, tied)

Both are post-LN with exact GELU and nn.Linear's (out, in) weights, so nothing is transposed. The one setting
that differs is LayerNorm's eps: ours is 1e-5, so :func:`to_hf_bert` builds its ``BertConfig`` with
``layer_norm_eps=1e-5`` and :func:`load_hf_bert` refuses another eps, as it refuses settings our encoder does not
have (another activation, relative positions, a decoder). Our padding mask is True at padding; Hugging Face's
``attention_mask`` is 1 where a token may be attended, so it is ``(~padding_mask).long()``. The tests check the
logits agree to 1e-4 in float32, both ways round, with padding.

``transformers`` is a dev extra, imported only when these functions run; nothing is downloaded (the config is
built, not fetched). A loaded BERT with two token types keeps only type 0's row (every token here is type 0).

References: Hugging Face ``transformers`` ``models/bert/modeling_bert.py``; Devlin et al. (2019).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .model import EncoderConfig, MaskedLM

if TYPE_CHECKING:  # transformers is a dev extra
    from transformers import BertConfig, BertForMaskedLM

EPS = 1e-5  # chapter 6's LayerNorm


def _names(n_layer: int) -> list[tuple[str, str]]:
    """(our state-dict key, Hugging Face's) for every tensor but the tied decoder weight."""
    pairs = [("encoder.tok_emb.weight", "bert.embeddings.word_embeddings.weight"),
             ("encoder.pos_emb.weight", "bert.embeddings.position_embeddings.weight"),
             ("encoder.ln_emb.weight", "bert.embeddings.LayerNorm.weight"),
             ("encoder.ln_emb.bias", "bert.embeddings.LayerNorm.bias"),
             ("transform.weight", "cls.predictions.transform.dense.weight"),
             ("transform.bias", "cls.predictions.transform.dense.bias"),
             ("ln_head.weight", "cls.predictions.transform.LayerNorm.weight"),
             ("ln_head.bias", "cls.predictions.transform.LayerNorm.bias"),
             ("bias", "cls.predictions.bias")]
    parts = [("attn.q_proj", "attention.self.query"), ("attn.k_proj", "attention.self.key"),
             ("attn.v_proj", "attention.self.value"), ("attn.out_proj", "attention.output.dense"),
             ("ln_attn", "attention.output.LayerNorm"), ("ffn.fc", "intermediate.dense"),
             ("ffn.proj", "output.dense"), ("ln_ffn", "output.LayerNorm")]
    for i in range(n_layer):
        for ours, theirs in parts:
            for kind in ("weight", "bias"):
                pairs.append((f"encoder.blocks.{i}.{ours}.{kind}", f"bert.encoder.layer.{i}.{theirs}.{kind}"))
    return pairs


def to_hf_config(config: EncoderConfig) -> BertConfig:
    """The ``BertConfig`` of the same sizes (one token type, exact GELU, eps 1e-5, no download)."""
    from transformers import BertConfig

    return BertConfig(vocab_size=config.vocab_size, hidden_size=config.n_embd, num_hidden_layers=config.n_layer,
                      num_attention_heads=config.n_head, intermediate_size=config.ffn_size, hidden_act="gelu",
                      hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
                      max_position_embeddings=config.block_size, type_vocab_size=1, layer_norm_eps=EPS,
                      pad_token_id=config.pad_id, tie_word_embeddings=True)


def from_hf_config(hf_config: BertConfig) -> EncoderConfig:
    """Our config for a ``BertConfig``; a ValueError lists the settings our encoder does not have."""
    problems = []
    if hf_config.hidden_act != "gelu":
        problems.append(f"hidden_act={hf_config.hidden_act!r} (ours is exact 'gelu')")
    if abs(hf_config.layer_norm_eps - EPS) > 1e-12:
        problems.append(f"layer_norm_eps={hf_config.layer_norm_eps} (ours is {EPS})")
    if getattr(hf_config, "position_embedding_type", "absolute") != "absolute":
        problems.append(f"position_embedding_type={hf_config.position_embedding_type!r} (ours is 'absolute')")
    if getattr(hf_config, "is_decoder", False):
        problems.append("is_decoder=True (ours is an encoder)")
    if problems:
        raise ValueError("hf_model's config has settings our encoder lacks: " + "; ".join(problems))
    if hf_config.hidden_dropout_prob != hf_config.attention_probs_dropout_prob:
        raise ValueError("hf_model's config has two dropout rates; ours has one: make them equal")
    return EncoderConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.max_position_embeddings,
                         n_layer=hf_config.num_hidden_layers, n_head=hf_config.num_attention_heads,
                         n_embd=hf_config.hidden_size, d_ff=hf_config.intermediate_size,
                         dropout=hf_config.hidden_dropout_prob, pad_id=hf_config.pad_token_id)


@torch.no_grad()
def to_hf_bert(model: MaskedLM) -> BertForMaskedLM:
    """A ``BertForMaskedLM`` (random init, then our weights copied in) that computes what ``model`` computes."""
    from transformers import BertForMaskedLM

    if not isinstance(model, MaskedLM):
        raise ValueError(f"model must be a MaskedLM, got {type(model).__name__}")
    hf = BertForMaskedLM(to_hf_config(model.config))
    ours, theirs = model.state_dict(), hf.state_dict()
    for mine, name in _names(model.config.n_layer):
        theirs[name].copy_(ours[mine])
    theirs["bert.embeddings.token_type_embeddings.weight"][0].copy_(ours["encoder.type_emb.weight"][0])
    hf.tie_weights()  # the decoder is the word-embedding matrix
    return hf.train(model.training)


@torch.no_grad()
def load_hf_bert(hf_model: BertForMaskedLM) -> MaskedLM:
    """Our :class:`MaskedLM` with ``hf_model``'s weights (its config checked by :func:`from_hf_config`)."""
    config = from_hf_config(hf_model.config)
    model = MaskedLM(config)
    ours, theirs = model.state_dict(), hf_model.state_dict()
    missing = [name for _, name in _names(config.n_layer) if name not in theirs]
    if missing:
        raise ValueError(f"hf_model lacks tensors a BertForMaskedLM has: {missing[:3]}")
    for mine, name in _names(config.n_layer):
        ours[mine].copy_(theirs[name])
    ours["encoder.type_emb.weight"][0].copy_(theirs["bert.embeddings.token_type_embeddings.weight"][0])
    decoder = hf_model.cls.predictions.decoder.weight
    if not torch.equal(decoder, theirs["bert.embeddings.word_embeddings.weight"]):
        raise ValueError("hf_model's decoder is not tied to its word embeddings; ours always is")
    return model.train(hf_model.training)
