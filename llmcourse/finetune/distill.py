"""Knowledge distillation: a small student learns from a big teacher's softened probabilities (chapter 9).

    loss = alpha * T^2 * KL( softmax(teacher / T) || softmax(student / T) )  +  (1 - alpha) * CE(student, labels)

Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural Network". A hard label says only which class
is right; the teacher's probabilities also say how wrong each other class is ("dark knowledge"). At T = 1 those
small probabilities are nearly zero and teach little; dividing the logits by a temperature T > 1 softens both
distributions so that the student is pulled towards the teacher's whole ranking.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s loss, a scalar: ``alpha`` of the softened KL term (times T^2), ``1 - alpha`` of cross-entropy.

    ``student_logits`` and ``teacher_logits`` (B, K), ``labels`` (B,) class ids. The teacher is a fixed target: its
    logits are detached. Both terms are means over the batch (the KL is summed over classes).

    Why T^2: dividing the logits by T makes the softened probabilities flatter and the soft term's gradients
    smaller, by about 1/T^2 for large T (Hinton et al., section 2.1, derive it). Multiplying by T^2 keeps the soft
    term's pull about the same at every temperature, so changing T does not silently re-weight it against the
    hard-label term.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if student_logits.dim() != 2 or student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student_logits and teacher_logits must have the same shape (B, K), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    if labels.shape != student_logits.shape[:1] or labels.dtype != torch.long:
        raise ValueError(f"labels must be class ids of shape ({student_logits.size(0)},) (int64), got "
                         f"{labels.dtype} {tuple(labels.shape)}")
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)  # (B, K)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)  # (B, K)
    # KL(p_t || p_s) = sum_k p_t (log p_t - log p_s), averaged over the batch ("batchmean")
    soft = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, labels)
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard
