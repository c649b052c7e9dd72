"""Chapter 6's hidden cases: sizes and values the public cases leave out (two features, a huge eps, one expert
chosen of two, a model with one block on each side). Same checks as the public cases, new inputs."""

from __future__ import annotations

from llmcourse.grading.ch06 import check_count, check_ln_backward, check_moe, check_swiglu
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


@hidden_case("ch06.encoder_decoder_params", "one block per side, one head, a vocabulary of one token")
def _(t: Trial) -> None:
    check_count(t, 1, t.py.randint(2, 6), 1, 1, 1, t.py.randint(1, 4), t.py.randint(1, 8), t.py.choice((True, False)),
                t.py.choice((True, False)))


@hidden_case("ch06.encoder_decoder_params", "an encoder without decoder depth to spare: 12 + 1 blocks, untied")
def _(t: Trial) -> None:
    check_count(t, 30522, 768, 12, 12, 1, 512, 3072, False, False)


@hidden_case("ch06.moe_feedforward", "one of two experts for every position")
def _(t: Trial) -> None:
    check_moe(t, (t.py.randint(3, 6),), t.py.randint(2, 4), t.py.randint(3, 5), 2, 1)


@hidden_case("ch06.moe_feedforward", "every expert kept (k = E): a dense softmax mixture")
def _(t: Trial) -> None:
    experts = t.py.randint(3, 4)
    check_moe(t, (2, t.py.randint(2, 4)), t.py.randint(3, 5), t.py.randint(2, 4), experts, experts)
