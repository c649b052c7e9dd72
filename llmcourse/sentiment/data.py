"""rt-polarity (Pang & Lee 2005) and the one fixed train/validation/test split every model of chapter 9 is scored on.

The split is made once, by :func:`stratified_split` with a seeded generator, and committed as row indices in
``split.json`` beside this file, with the sha256 of the files it indexes: the numbers in the chapter's table are then
comparable across models, runs and machines, and a different copy of the data is refused instead of silently
re-indexed. Rows are numbered as :func:`load_rt_polarity` returns them: the 5,331 negative sentences in file order,
then the 5,331 positive ones.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import torch

from llmcourse import data

SPLIT_FILE = Path(__file__).with_name("split.json")
PARTS = ("train", "validation", "test")
FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_SEED = 9  # chapter 9
LABELS = ("negative", "positive")  # label 0, label 1
FILES = ("rt-polarity.neg", "rt-polarity.pos")  # in label order


def load_rt_polarity() -> tuple[list[str], list[int]]:
    """The 10,662 sentences and their labels (0 negative, 1 positive): negatives first, each file in its order.

    The course's copy (see ``llmcourse.data``) is UTF-8 without a byte-order mark or carriage returns, with 26
    distinct non-ASCII characters (é, á, –, …, ½, ...), so read it as UTF-8, not ASCII. Its text is already
    lowercased and tokenized: punctuation stands apart (``" conan "``, ``j . r . r .``) while ``'s`` and ``n't``
    stay on their word. Four lines keep a capital (É, Ú); they are among a few reviews written in Portuguese.
    10,306 of the lines end with a space; each sentence is returned stripped of surrounding whitespace and
    otherwise unchanged.
    """
    texts: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(FILES):
        lines = data.path(name).read_text(encoding="utf-8").splitlines()
        texts += [line.strip() for line in lines]
        labels += [label] * len(lines)
    return texts, labels


def stratified_split(labels: list[int] | torch.Tensor, *, fractions: tuple[float, ...] = FRACTIONS,
                     seed: int = SPLIT_SEED) -> dict[str, list[int]]:
    """Row indices of each part: every class is shuffled with ``seed`` and cut by ``fractions``, so each part holds
    every class in the same proportion (to within one row per class). Validation and test get the rounded share,
    train the rest; the indices of each part are sorted."""
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.numel() == 0 or labels.dtype.is_floating_point:
        raise ValueError(f"labels must be a non-empty 1-D sequence of integers, got shape {tuple(labels.shape)}")
    if len(fractions) != len(PARTS) or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions must be {len(PARTS)} positive numbers summing to 1, got {fractions}")
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[int]] = {name: [] for name in PARTS}
    for cls in torch.unique(labels).tolist():  # sorted: the draw order does not depend on the data's order
        rows = torch.nonzero(labels == cls).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)].tolist()
        sizes = [round(f * len(rows)) for f in fractions[1:]]
        cut = len(rows) - sum(sizes)
        parts[PARTS[0]] += rows[:cut]
        for name, size in zip(PARTS[1:], sizes, strict=True):
            parts[name] += rows[cut:cut + size]
            cut += size
    return {name: sorted(rows) for name, rows in parts.items()}


@cache
def _committed_split() -> dict:
    return json.loads(SPLIT_FILE.read_text(encoding="utf-8"))


def committed_split() -> dict[str, list[int]]:
    """The committed split's row indices, checked to be disjoint and to cover every row exactly once."""
    record = _committed_split()
    parts = {name: list(record["indices"][name]) for name in PARTS}
    every = sorted(i for rows in parts.values() for i in rows)
    if every != list(range(record["rows"])):
        raise ValueError(f"{SPLIT_FILE} is corrupt: its parts do not cover rows 0..{record['rows'] - 1} once each")
    return parts


def check_split_matches_data() -> None:
    """Refuse to apply the split to data other than the files it was made from (their sha256 is in split.json)."""
    recorded = _committed_split()["sha256"]
    for name in FILES:
        if recorded.get(name) != data.get(name).sha256:
            raise ValueError(f"{SPLIT_FILE} was made from {name} with sha256 {recorded.get(name)}, but the registered "
                             f"file is {data.get(name).sha256}: remake the split (make_split_record) for this data")


def apply_split(texts: list[str], labels: list[int], split: dict[str, list[int]]) -> dict[str, tuple[list[str],
                                                                                                 list[int]]]:
    """``{part: (texts, labels)}`` for the row indices of each part."""
    if len(texts) != len(labels):
        raise ValueError(f"texts and labels differ in length: {len(texts)} and {len(labels)}")
    top = max((max(rows) for rows in split.values() if rows), default=-1)
    if top >= len(texts):
        raise ValueError(f"split indexes row {top}, but there are only {len(texts)} texts")
    return {name: ([texts[i] for i in rows], [labels[i] for i in rows]) for name, rows in split.items()}


def split_rt_polarity() -> dict[str, tuple[list[str], list[int]]]:
    """rt-polarity cut by the committed split: ``{"train": (texts, labels), "validation": ..., "test": ...}``."""
    check_split_matches_data()
    texts, labels = load_rt_polarity()
    return apply_split(texts, labels, committed_split())


def make_split_record(labels: list[int]) -> dict:
    """What ``split.json`` holds, made from the labels of the registered files (how the committed file was made)."""
    return {"dataset": list(FILES), "sha256": {name: data.get(name).sha256 for name in FILES}, "rows": len(labels),
            "seed": SPLIT_SEED, "fractions": list(FRACTIONS), "made_by": "llmcourse.sentiment.data.stratified_split",
            "indices": stratified_split(labels)}
