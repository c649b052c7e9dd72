"""Fine-tuning a pretrained body for a task: heads and pooling, LoRA, distillation (chapter 9).

    from llmcourse.finetune import SequenceClassifier, add_lora, count_parameters, distillation_loss, gpt_body

    clf = SequenceClassifier(encoder, n_embd=128, n_classes=2, pooling="cls")        # an encoder's [CLS]
    clf = SequenceClassifier(gpt_body(gpt), n_embd=128, n_classes=2, pooling="last")  # a GPT's last real token
    freeze(clf.body)                                                                  # train the head only
    opt = torch.optim.AdamW(body_head_param_groups(clf, body_lr=1e-4, head_lr=1e-3, weight_decay=0.01))
    add_lora(clf, r=8, alpha=16, trainable=("head",))     # or: adapters on every attention's projections
    total, trainable = count_parameters(clf)
    loss = distillation_loss(student(ids), teacher(ids), labels, temperature=2.0, alpha=0.5)

Modules: :mod:`.heads` (the classifier, ``"cls"`` and ``"last"`` pooling, the GPT body, parameter groups),
:mod:`.lora` (Hu et al. 2021, checked against Hugging Face ``peft``), :mod:`.distill` (Hinton et al. 2015).
"""

from .distill import distillation_loss
from .heads import (
    GPTBody,
    SequenceClassifier,
    body_head_param_groups,
    freeze,
    gpt_body,
    last_positions,
    pool_cls,
    pool_last,
)
from .lora import PROJECTIONS, LoRALinear, add_lora, count_parameters, freeze_except, lora_state_dict

__all__ = [
    "GPTBody",
    "LoRALinear",
    "PROJECTIONS",
    "SequenceClassifier",
    "add_lora",
    "body_head_param_groups",
    "count_parameters",
    "distillation_loss",
    "freeze",
    "freeze_except",
    "gpt_body",
    "last_positions",
    "lora_state_dict",
    "pool_cls",
    "pool_last",
]
