"""Chapter 9's hidden cases: sizes and values the public cases leave out (one-token words only and a mask_prob of 1
on many rows, every row of a pool all padding, pairs that both need cutting to nothing but one token, a rank as large
as the layer, a temperature of 10 on many classes). Same checks as the public cases, new inputs."""

from __future__ import annotations

import torch

from llmcourse.checks.ch09 import check_distill, check_masking, check_merge, check_pairs, check_pool, token_lists
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch09.whole_word_mask", "words of one sub-token each (whole-word masking is then token masking), "
                                     "mask_prob 1, many rows")
def _(t: Trial) -> None:
    check_masking(t, t.py.randint(8, 12), t.py.randint(6, 9), t.py.randint(30, 50), 1.0, longest=1)


@hidden_case("ch09.whole_word_mask", "long rows of long words, a low mask_prob")
def _(t: Trial) -> None:
    check_masking(t, 2, t.py.randint(60, 80), t.py.randint(80, 120), t.py.uniform(0.08, 0.12), longest=6, pair=True)


@hidden_case("ch09.masked_mean_pool", "every row all padding: zeros throughout")
def _(t: Trial) -> None:
    batch = t.py.randint(2, 4)
    check_pool(t, batch, t.py.randint(3, 6), t.py.randint(3, 5), empty_rows=batch)


@hidden_case("ch09.masked_mean_pool", "a long padded batch in float64")
def _(t: Trial) -> None:
    check_pool(t, t.py.randint(4, 6), t.py.randint(30, 40), t.py.randint(6, 10), dtype=torch.float64, layout="any")


@hidden_case("ch09.encode_pair", "room for one text token only: the longer text keeps it, the second on a tie")
def _(t: Trial) -> None:
    check_pairs(t, token_lists(t, 3, 2, 6), token_lists(t, 3, 2, 6), 4)


@hidden_case("ch09.encode_pair", "many pairs, both texts long, a wide max_len")
def _(t: Trial) -> None:
    n = t.py.randint(6, 10)
    check_pairs(t, token_lists(t, n, 20, 40), token_lists(t, n, 20, 40), t.py.randint(40, 60))


@hidden_case("ch09.lora_merge", "a rank as large as the layer's smaller side, in float64")
def _(t: Trial) -> None:
    check_merge(t, 6, 4, 4, t.py.uniform(4.0, 10.0), dtype=torch.float64, unmerge=t.py.random() < 0.5)


@hidden_case("ch09.distill_grad", "a temperature of 10 over many classes")
def _(t: Trial) -> None:
    check_distill(t, t.py.randint(3, 5), t.py.randint(50, 80), 10.0)
