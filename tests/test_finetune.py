"""Chapter 9's fine-tuning parts: LoRA against Hugging Face peft, heads and pooling, the GPT body, distillation."""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.attention import MultiHeadAttention
from llmcourse.finetune import (
    LoRALinear,
    SequenceClassifier,
    add_lora,
    body_head_param_groups,
    count_parameters,
    distillation_loss,
    freeze,
    gpt_body,
    lora_state_dict,
)
from llmcourse.gpt import GPT, GPTConfig
from llmcourse.transformer import EncoderBlock

peft = pytest.importorskip("peft")


def small_gpt(seed: int = 0, vocab_size: int = 23) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()


class TinyEncoder(nn.Module):
    """An embedding and one post-LN EncoderBlock: a body (ids, padding_mask) -> (B, T, C) for the head tests."""

    def __init__(self, vocab_size: int = 11, n_embd: int = 16) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, n_embd)
        self.block = EncoderBlock(n_embd, 2, norm_first=False)

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.block(self.emb(ids), padding_mask)


# --- LoRA ------------------------------------------------------------------------------------------------------


class OneLinear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def test_lora_linear_equals_peft_outputs_and_gradients():
    torch.manual_seed(0)
    base = OneLinear()
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(r=3, lora_alpha=6, target_modules=["proj"],
                                                                       lora_dropout=0.0))
    layer = theirs.base_model.model.proj
    with torch.no_grad():
        layer.lora_B["default"].weight.normal_()  # B = 0 would make the update, and the comparison, vacuous
    ours = LoRALinear(copy.deepcopy(base.proj), r=3, alpha=6)
    with torch.no_grad():
        ours.lora_A.copy_(layer.lora_A["default"].weight)
        ours.lora_B.copy_(layer.lora_B["default"].weight)
    x = torch.randn(2, 5, 6)
    weights = torch.randn(2, 5, 4)
    y_ours, y_theirs = ours(x), theirs(x)
    assert (y_ours - base.proj(x)).abs().max() > 0.1  # the update is really there
    torch.testing.assert_close(y_ours, y_theirs, atol=1e-6, rtol=0)
    (y_ours * weights).sum().backward()
    (y_theirs * weights).sum().backward()
    torch.testing.assert_close(ours.lora_A.grad, layer.lora_A["default"].weight.grad, atol=1e-6, rtol=0)
    torch.testing.assert_close(ours.lora_B.grad, layer.lora_B["default"].weight.grad, atol=1e-6, rtol=0)
    assert ours.base.weight.grad is None and ours.base.bias.grad is None  # the base is frozen


def test_lora_starts_as_the_base_layer_with_peft_default_init():
    torch.manual_seed(1)
    base = nn.Linear(64, 8)
    lora = LoRALinear(base, r=16, alpha=32)
    x = torch.randn(3, 64)
    torch.testing.assert_close(lora(x), base(x), atol=0, rtol=0)  # B = 0: exactly the pretrained layer
    assert lora.scaling == 2.0 and not base.weight.requires_grad
    bound = 1 / math.sqrt(64)  # Kaiming-uniform with a = sqrt(5) draws A from U(-1/sqrt(in), 1/sqrt(in))
    assert lora.lora_A.abs().max() <= bound and lora.lora_A.abs().max() > 0.9 * bound
    assert lora.lora_A.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def test_add_lora_on_a_gpt_equals_peft_and_counts_alike():
    ours = small_gpt()
    theirs = peft.get_peft_model(copy.deepcopy(ours), peft.LoraConfig(
        r=2, lora_alpha=4, target_modules=["q_proj", "k_proj", "v_proj", "out_proj"], lora_dropout=0.0))
    add_lora(ours, r=2, alpha=4)
    wrapped = {n: m for n, m in ours.named_modules() if isinstance(m, LoRALinear)}
    assert len(wrapped) == 2 * 4  # n_layer blocks x (q, k, v, out)
    peft_layers = dict(theirs.base_model.model.named_modules())
    with torch.no_grad():
        for name, mine in wrapped.items():
            peft_layers[name].lora_B["default"].weight.normal_(std=0.5)
            mine.lora_A.copy_(peft_layers[name].lora_A["default"].weight)
            mine.lora_B.copy_(peft_layers[name].lora_B["default"].weight)
    ids = torch.randint(0, 23, (2, 9))
    torch.testing.assert_close(ours(ids), theirs(ids), atol=1e-5, rtol=0)
    trainable, total = theirs.get_nb_trainable_parameters()
    assert count_parameters(ours) == (total, trainable)
    assert trainable == 2 * 4 * 2 * (16 + 16)  # layers x projections x r (in + out)


def test_add_lora_trains_only_the_adapters_and_named_modules():
    torch.manual_seed(2)
    clf = SequenceClassifier(TinyEncoder(), n_embd=16, n_classes=2)
    before = copy.deepcopy(clf.state_dict())
    add_lora(clf, r=2, alpha=2, targets=("q_proj", "v_proj"), trainable=("head",))
    names = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert names == {"body.block.attn.q_proj.lora_A", "body.block.attn.q_proj.lora_B", "body.block.attn.v_proj.lora_A",
                     "body.block.attn.v_proj.lora_B", "head.weight", "head.bias"}
    ids = torch.randint(0, 11, (8, 5))
    labels = (ids == 3).any(dim=1).long()
    opt = torch.optim.AdamW([p for p in clf.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(clf(ids), labels).backward()
        opt.step()
    after = clf.state_dict()
    for name, value in before.items():  # every pretrained weight unchanged, now under ".base"
        moved = name.replace("q_proj.", "q_proj.base.").replace("v_proj.", "v_proj.base.")
        if name.startswith("head."):
            assert not torch.equal(after[moved], value), name
        else:
            assert torch.equal(after[moved], value), name
    assert after["body.block.attn.q_proj.lora_B"].abs().max() > 0  # the adapters moved


def test_lora_state_dict_is_the_adapters_and_loads_back():
    model = add_lora(small_gpt(), r=2, alpha=4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_()
    adapters = lora_state_dict(model)
    assert len(adapters) == 2 * 4 * 2 and all(k.endswith((".lora_A", ".lora_B")) for k in adapters)
    fresh = add_lora(small_gpt(), r=2, alpha=4)  # the same base weights (seed 0), new adapters
    ids = torch.randint(0, 23, (1, 7))
    assert not torch.allclose(fresh(ids), model(ids))
    missing, unexpected = fresh.load_state_dict(adapters, strict=False)
    assert not unexpected and all(".lora_" not in k for k in missing)
    torch.testing.assert_close(fresh(ids), model(ids), atol=0, rtol=0)


@pytest.mark.parametrize(("kwargs", "word"), [
    ({"r": 0}, "r must"), ({"r": 2.0}, "r must"), ({"alpha": 0}, "alpha"), ({"targets": ("qkv",)}, "targets"),
    ({"targets": ()}, "targets"), ({"trainable": ("nope",)}, "trainable"), ({"trainable": "head"}, "trainable"),
    ({"dropout": 1.0}, "dropout"),
])
def test_add_lora_refuses_bad_arguments(kwargs, word):
    args = {"r": 2, "alpha": 4, **kwargs}
    with pytest.raises(ValueError, match=word):
        add_lora(small_gpt(), **args)


def test_add_lora_refuses_a_model_without_attention_and_a_second_call():
    with pytest.raises(ValueError, match="no MultiHeadAttention"):
        add_lora(nn.Sequential(nn.Linear(3, 3)), r=1, alpha=1)
    model = add_lora(MultiHeadAttention(8, 2), r=1, alpha=1)
    with pytest.raises(ValueError, match="twice"):
        add_lora(model, r=1, alpha=1)
    with pytest.raises(ValueError, match="base must"):
        LoRALinear(nn.Conv1d(2, 2, 1), r=1, alpha=1)


# --- heads and pooling -----------------------------------------------------------------------------------------


def test_gpt_body_is_the_hidden_state_before_the_tied_head_and_puts_the_head_back():
    gpt = small_gpt()
    head = gpt.lm_head
    ids = torch.randint(0, 23, (3, 10))
    hidden = gpt_body(gpt)(ids)
    assert hidden.shape == (3, 10, 16) and gpt.lm_head is head
    torch.testing.assert_close(hidden @ gpt.embed.tok_emb.weight.T, gpt(ids), atol=1e-5, rtol=0)
    torch.testing.assert_close(hidden.mean(-1), torch.zeros(3, 10), atol=1e-5, rtol=0)  # ln_f's output
    with pytest.raises(ValueError, match="ids must be token ids"):
        gpt_body(gpt)(torch.full((1, 3), 99))
    assert gpt.lm_head is head  # put back after an error too


def test_right_padding_does_not_change_a_causal_classifier_and_last_pooling_reads_the_last_token():
    gpt = small_gpt()
    torch.manual_seed(3)
    clf = SequenceClassifier(gpt_body(gpt), n_embd=16, n_classes=2, pooling="last").eval()
    rows = [torch.randint(1, 23, (n,)) for n in (4, 7, 2)]
    ids = torch.zeros(3, 7, dtype=torch.long)
    pad = torch.ones(3, 7, dtype=torch.bool)
    for i, row in enumerate(rows):
        ids[i, :len(row)], pad[i, :len(row)] = row, False
    batched = clf(ids, pad)
    alone = torch.cat([clf(row[None]) for row in rows])
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=0)
    # without the mask the classifier would read the padding at position T-1 instead
    assert not torch.allclose(clf(ids)[0], alone[0], atol=1e-3)
    with pytest.raises(ValueError, match="right padding"):
        clf(ids.flip(1), pad.flip(1))


def test_cls_pooling_reads_position_zero_and_a_function_can_pool():
    torch.manual_seed(4)
    body = TinyEncoder()
    ids = torch.randint(0, 11, (2, 6))
    pad = torch.tensor([[False] * 6, [False] * 3 + [True] * 3])
    clf = SequenceClassifier(body, n_embd=16, n_classes=3, pooling="cls")
    hidden = body(ids, pad)
    torch.testing.assert_close(clf(ids, pad), clf.head(hidden[:, 0]), atol=0, rtol=0)
    second = SequenceClassifier(body, n_embd=16, n_classes=3, pooling=lambda h, m: h[:, 1])
    second.head.load_state_dict(clf.head.state_dict())
    torch.testing.assert_close(second(ids, pad), clf.head(hidden[:, 1]), atol=0, rtol=0)


def test_classifier_refuses_bad_arguments():
    body = TinyEncoder()
    with pytest.raises(ValueError, match="pooling"):
        SequenceClassifier(body, 16, 2, pooling="mean")  # masked mean pooling is an exercise, not in the package
    with pytest.raises(ValueError, match="n_classes"):
        SequenceClassifier(body, 16, 1)
    with pytest.raises(ValueError, match="dropout"):
        SequenceClassifier(body, 16, 2, dropout=1.5)
    clf = SequenceClassifier(body, 16, 2, pooling="last")
    ids = torch.randint(0, 11, (2, 4))
    with pytest.raises(ValueError, match="padding_mask"):
        clf(ids, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="padding only"):
        clf(ids, torch.tensor([[False] * 4, [True] * 4]))
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        SequenceClassifier(body, 8, 2)(ids)


def test_freeze_and_body_head_param_groups():
    torch.manual_seed(5)
    clf = SequenceClassifier(gpt_body(small_gpt()), n_embd=16, n_classes=2)
    groups = body_head_param_groups(clf, body_lr=1e-4, head_lr=1e-2, weight_decay=0.1)
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(list(clf.parameters()))  # each once, the tied matrix too
    body_ids = {id(p) for p in clf.body.parameters()}
    for g in groups:
        assert g["lr"] == (1e-4 if id(g["params"][0]) in body_ids else 1e-2)
        assert all((p.dim() >= 2) == (g["weight_decay"] == 0.1) for p in g["params"])
    assert {(g["lr"], g["weight_decay"]) for g in groups} == {(1e-4, 0.1), (1e-4, 0.0), (1e-2, 0.1), (1e-2, 0.0)}
    torch.optim.AdamW(groups)  # AdamW accepts them
    assert freeze(clf.body) is clf.body
    total, trainable = count_parameters(clf)
    assert trainable == 16 * 2 + 2 and total == clf.body.gpt.num_parameters() + trainable
    assert [g["lr"] for g in body_head_param_groups(clf, 1e-4, 1e-2, 0.1)] == [1e-2, 1e-2]  # frozen body left out
    freeze(clf)
    with pytest.raises(ValueError, match="no trainable"):
        body_head_param_groups(clf, 1e-4, 1e-2, 0.1)
    with pytest.raises(ValueError, match="body_lr"):
        body_head_param_groups(clf, 0.0, 1e-2, 0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        body_head_param_groups(clf, 1e-4, 1e-2, -1.0)


# --- distillation ----------------------------------------------------------------------------------------------


def logits(seed: int, shape=(8, 5), scale: float = 2.0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


def test_distillation_loss_equals_a_hand_computation():
    s, t = logits(0), logits(1)
    labels = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    temperature, alpha = 3.0, 0.7
    p_s = torch.exp(s / temperature) / torch.exp(s / temperature).sum(-1, keepdim=True)
    p_t = torch.exp(t / temperature) / torch.exp(t / temperature).sum(-1, keepdim=True)
    kl = (p_t * (p_t.log() - p_s.log())).sum(-1).mean()
    ce = -(torch.exp(s) / torch.exp(s).sum(-1, keepdim=True)).log()[torch.arange(8), labels].mean()
    want = alpha * temperature**2 * kl + (1 - alpha) * ce
    torch.testing.assert_close(distillation_loss(s, t, labels, temperature, alpha), want, atol=1e-12, rtol=0)


def test_distillation_loss_limits_kl_and_cross_entropy():
    s, t = logits(2), logits(3)
    labels = torch.randint(0, 5, (8,), generator=torch.Generator().manual_seed(0))
    kl = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=t),
                                           torch.distributions.Categorical(logits=s)).mean()
    torch.testing.assert_close(distillation_loss(s, t, labels, 1.0, 1.0), kl, atol=1e-12, rtol=0)
    torch.testing.assert_close(distillation_loss(s, t, labels, 4.0, 0.0), F.cross_entropy(s, labels), atol=1e-12,
                               rtol=0)
    assert distillation_loss(s, s, labels, 2.0, 1.0).abs() < 1e-12  # a student equal to its teacher


def test_the_t_squared_factor_keeps_the_soft_gradient_the_same_size_at_every_temperature():
    s, t = logits(4), logits(5)
    labels = torch.zeros(8, dtype=torch.long)
    norms = []
    for temperature in (1.0, 2.0, 4.0, 8.0):
        student = s.clone().requires_grad_(True)
        teacher = t.clone().requires_grad_(True)
        distillation_loss(student, teacher, labels, temperature, alpha=1.0).backward()
        assert teacher.grad is None  # the teacher is a fixed target
        norms.append(student.grad.norm().item())
    assert max(norms) / min(norms) < 1.5  # measured 1.4 on these logits (std 2); 1 / T^2 alone would give ~40
    unscaled = [n / temperature**2 for n, temperature in zip(norms, (1.0, 2.0, 4.0, 8.0), strict=True)]
    assert max(unscaled) / min(unscaled) > 30  # without T^2 the soft term fades as T grows


@pytest.mark.parametrize(("change", "word"), [
    ({"temperature": 0.0}, "temperature"), ({"temperature": -1.0}, "temperature"), ({"alpha": 1.5}, "alpha"),
    ({"alpha": -0.1}, "alpha"), ({"teacher_logits": torch.zeros(8, 4)}, "teacher_logits"),
    ({"labels": torch.zeros(7, dtype=torch.long)}, "labels"), ({"labels": torch.zeros(8)}, "labels"),
])
def test_distillation_loss_refuses_bad_arguments(change, word):
    args = {"student_logits": torch.zeros(8, 5), "teacher_logits": torch.zeros(8, 5),
            "labels": torch.zeros(8, dtype=torch.long), "temperature": 2.0, "alpha": 0.5, **change}
    with pytest.raises(ValueError, match=word):
        distillation_loss(**args)
