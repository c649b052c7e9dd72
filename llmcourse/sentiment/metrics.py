"""Accuracy and binary F1, the two numbers of chapter 9's table (checked against scikit-learn in the tests)."""

from __future__ import annotations

import torch


def _as_labels(predictions: torch.Tensor | list[int], labels: torch.Tensor | list[int]) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
    predictions, labels = torch.as_tensor(predictions).flatten(), torch.as_tensor(labels).flatten()
    if predictions.shape != labels.shape or predictions.numel() == 0:
        raise ValueError(f"predictions and labels must be non-empty and of one length, got {predictions.numel()} "
                         f"and {labels.numel()}")
    return predictions.cpu(), labels.cpu()


def accuracy(predictions: torch.Tensor | list[int], labels: torch.Tensor | list[int]) -> float:
    """The fraction of predictions equal to their label."""
    predictions, labels = _as_labels(predictions, labels)
    return (predictions == labels).float().mean().item()


def f1_score(predictions: torch.Tensor | list[int], labels: torch.Tensor | list[int]) -> float:
    """Binary F1 with label 1 (positive) as the positive class: 2TP / (2TP + FP + FN), the harmonic mean of
    precision and recall; 0.0 when there is no positive prediction and no positive label (scikit-learn's value)."""
    predictions, labels = _as_labels(predictions, labels)
    tp = ((predictions == 1) & (labels == 1)).sum().item()
    fp = ((predictions == 1) & (labels != 1)).sum().item()
    fn = ((predictions != 1) & (labels == 1)).sum().item()
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
