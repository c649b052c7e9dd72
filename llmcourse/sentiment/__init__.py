"""Sentiment classification for chapter 9: rt-polarity, its fixed split, the bag-of-words baseline, one training loop.

    from llmcourse.sentiment import split_rt_polarity, BagOfWords, train_logistic_regression, train_classifier

    parts = split_rt_polarity()                      # {"train": (texts, labels), "validation": ..., "test": ...}
    bow = BagOfWords(min_count=2).fit(parts["train"][0])
    baseline = train_logistic_regression(bow.transform(parts["train"][0]), parts["train"][1], C=1.0)
    result = train_classifier(model, train, val, steps=500, batch_size=32, lr=1e-4, generator=g)  # encoded tensors
    classify = make_classify(model, encode)          # classify("a gorgeous film") -> ("positive", 0.93)

Modules: :mod:`.data` (the data and the committed split), :mod:`.bow` (the baseline), :mod:`.metrics`
(accuracy, F1), :mod:`.train` (the loop, evaluation, ``classify``).
"""

from .bow import BagOfWords, BowFeatures, LogisticRegression, train_logistic_regression, words
from .data import LABELS, apply_split, committed_split, load_rt_polarity, split_rt_polarity, stratified_split
from .metrics import accuracy, f1_score
from .train import ClassifierResult, evaluate, make_classify, predict_logits, train_classifier

SPLIT = committed_split()

__all__ = [
    "LABELS",
    "SPLIT",
    "BagOfWords",
    "BowFeatures",
    "ClassifierResult",
    "LogisticRegression",
    "accuracy",
    "apply_split",
    "committed_split",
    "evaluate",
    "f1_score",
    "load_rt_polarity",
    "make_classify",
    "predict_logits",
    "split_rt_polarity",
    "stratified_split",
    "train_classifier",
    "train_logistic_regression",
    "words",
]
