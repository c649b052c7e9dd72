"""Chapter 6's hidden cases: sizes and values the public cases leave out (two features, a huge eps, widths of
other models, one expert chosen of two, a model with one block on each side, one far beyond any memory). Same
checks as the public cases, new inputs."""

from __future__ import annotations

from llmcourse.checks.ch06 import check_count, check_ln_backward, check_moe, check_swiglu, check_width
from llmcourse.grading.core import Trial
from llmcourse.grading.hidden import hidden_case


@hidden_case("ch06.layer_norm_backward", "two features per position, with a large spread of scales")
def _(t: Trial) -> None:
    check_ln_backward(t, (t.py.randint(4, 8), 2), 1e-5, scale=t.py.uniform(2.0, 5.0))


@hidden_case("ch06.layer_norm_backward", "an eps as large as the variance, four leading dimensions")
def _(t: Trial) -> None:
    check_ln_backward(t, (2, 1, t.py.randint(2, 3), t.py.randint(4, 7)), t.py.uniform(0.5, 1.0), scale=0.8)


@hidden_case("ch06.swiglu_ffn", "one feature in, a wide hidden layer")
def _(t: Trial) -> None:
    check_swiglu(t, (t.py.randint(3, 6),), 1, t.py.randint(5, 9))


@hidden_case("ch06.swiglu_ffn", "a long sequence with a hidden layer of one unit")
def _(t: Trial) -> None:
    check_swiglu(t, (1, t.py.randint(10, 20)), t.py.randint(3, 5), 1)


@hidden_case("ch06.swiglu_width", "other widths and multiples: a width below its multiple, an odd multiple")
def _(t: Trial) -> None:
    check_width(t, t.py.choice((3, 5, 11, 2048, 3200, 6656)), t.py.choice((1, 3, 128, 256, 1024)))


@hidden_case("ch06.encoder_decoder_params", "one block per side, one head, a vocabulary of one token per side")
def _(t: Trial) -> None:
    check_count(t, 1, 1, t.py.randint(2, 6), 1, 1, 1, 1, t.py.randint(1, 8))


@hidden_case("ch06.encoder_decoder_params", "multi-query attention (one key/value head) at a size no laptop could "
                                            "build: 12288 wide, 96 + 96 blocks")
def _(t: Trial) -> None:
    check_count(t, 250000, 50257, 12288, 96, 1, 96, 96, 32768)


@hidden_case("ch06.moe_feedforward", "one of two experts for every position")
def _(t: Trial) -> None:
    check_moe(t, (t.py.randint(3, 6),), t.py.randint(2, 4), t.py.randint(3, 5), 2, 1)


@hidden_case("ch06.moe_feedforward", "every expert kept (k = E): a dense softmax mixture")
def _(t: Trial) -> None:
    experts = t.py.randint(3, 4)
    check_moe(t, (2, t.py.randint(2, 4)), t.py.randint(3, 5), t.py.randint(2, 4), experts, experts)
