"""Chapter 10's supervised fine-tuning, replies and task scoring (llmcourse.assistant.sft)."""

import re

import pytest
import torch
from torch import nn

from llmcourse.assistant import sft
from llmcourse.assistant.chat import ASSISTANT, END, USER, ChatTokenizer
from llmcourse.assistant.sft import (
    evaluate_tasks,
    few_shot_prompt,
    reply,
    sft_batch,
    stream_reply,
    train_sft,
)
from llmcourse.assistant.tasks import (
    Arithmetic,
    CountLetter,
    Example,
    Identity,
    ListOps,
    Task,
    TaskMixture,
    all_tasks,
)
from llmcourse.encoders import IGNORE_INDEX
from llmcourse.gpt import GPT, GPTConfig, char_data, generate


@pytest.fixture(scope="module")
def tok():
    return ChatTokenizer.from_base(char_data().tokenizer)


def tiny_gpt(tok: ChatTokenizer, seed: int = 0, block_size: int = 64) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=32))


class Bigram(nn.Module):
    """A stand-in model whose next token depends on the last one only: ``after[a] = b`` makes b follow a, and
    every other id is followed by ``default``. It lets a test script exactly what a reply contains."""

    def __init__(self, vocab_size: int, after: dict[int, int], default: int, block_size: int = 256) -> None:
        super().__init__()
        self.vocab_size, self.block_size = vocab_size, block_size
        table = torch.full((vocab_size,), default)
        for a, b in after.items():
            table[a] = b
        self.register_buffer("table", table)
        self.anchor = nn.Parameter(torch.zeros(()))  # a device to follow

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(self.table[ids], self.vocab_size).float() * 10 + self.anchor  # (B, T, V)


def scripted(tok: ChatTokenizer, text: str, then: str = END) -> Bigram:
    """A model that answers ``text`` (distinct characters) after ``<|assistant|>`` or a line break, then ``then``."""
    ids = [tok.special_tokens[ASSISTANT]] + [tok.stoi[ch] for ch in text]
    after = dict(zip(ids, ids[1:], strict=False))
    after[tok.stoi["\n"]] = ids[1]
    after[ids[-1]] = tok.special_tokens.get(then, tok.stoi.get(then))
    return Bigram(tok.vocab_size, after, default=tok.end_id)


# --- batches --------------------------------------------------------------------------------------------------------


def test_sft_batch_on_a_hand_made_example(tok):
    x, y = sft_batch([[("user", "hi"), ("assistant", "yo")], [("user", "a"), ("assistant", "b")]], tok, 16)
    u, a, e, c = tok.role_id("user"), tok.role_id("assistant"), tok.end_id, tok.stoi
    ignore = IGNORE_INDEX
    assert x.tolist() == [[u, c["h"], c["i"], e, a, c["y"], c["o"]], [u, c["a"], e, a, c["b"], e, e]]
    assert y.tolist() == [
        [ignore, ignore, ignore, ignore, c["y"], c["o"], e],
        [ignore, ignore, ignore, c["b"], e] + [ignore] * 2,
    ]
    assert x.dtype == y.dtype == torch.long


def test_the_number_of_trained_targets_equals_the_assistants_tokens_and_ends(tok):
    g = torch.Generator().manual_seed(0)
    conversations = [e.conversation for e in TaskMixture([Arithmetic(), ListOps(), Identity()]).draw(12, g)]
    conversations.append(
        [("system", "Be brief."), ("user", "hi"), ("assistant", "Hail."), ("user", "?"), ("assistant", "")]
    )
    x, y = sft_batch(conversations, tok, 128)
    trained = y != IGNORE_INDEX
    expected = sum(len(text) + 1 for c in conversations for role, text in c if role == "assistant")
    assert int(trained.sum()) == expected
    # shifted by one: a trained target is the next input, or the row's last token
    for row, conversation in enumerate(conversations):
        ids, mask = tok.render(conversation)
        assert torch.equal(x[row, : len(ids) - 1], ids[:-1])
        assert torch.equal(y[row, : len(ids) - 1][mask[1:]], ids[1:][mask[1:]])
        assert (y[row, len(ids) - 1 :] == IGNORE_INDEX).all() and (x[row, len(ids) - 1 :] == tok.end_id).all()
    assert x.size(1) == max(len(tok.render(c)[0]) for c in conversations) - 1


def test_sft_batch_refuses_what_it_cannot_train_on(tok):
    long = [("user", "a" * 30), ("assistant", "b")]
    with pytest.raises(ValueError, match=r"examples\[1\] renders to 35 ids; a row holds block_size \+ 1 = 33"):
        sft_batch([[("user", "a"), ("assistant", "b")], long], tok, 32)
    assert sft_batch([long], tok, 34)[0].shape == (1, 34)
    with pytest.raises(ValueError, match="no assistant turn"):
        sft_batch([[("user", "a")]], tok, 32)
    with pytest.raises(ValueError, match="non-empty list"):
        sft_batch([], tok, 32)
    with pytest.raises(TypeError, match="ChatTokenizer"):
        sft_batch([long], char_data().tokenizer, 32)


# --- training -------------------------------------------------------------------------------------------------------


def test_fine_tuning_learns_a_fixed_answer_format(tok):
    model = tiny_gpt(tok, block_size=32)
    g = torch.Generator().manual_seed(0)
    history = train_sft(model, ListOps(), tokenizer=tok, steps=60, batch_size=16, lr=1e-2, generator=g, progress=False)
    assert len(history.loss) == 60 and history.pretrain_loss == []
    assert history.loss == history.sft_loss  # no pretraining rows: the loss is the answers'
    start, end = history.loss[0], sum(history.loss[-10:]) / 10
    assert start > 4.0  # about ln(88): nothing known yet
    assert end < 0.4 * start, history.loss[::10]
    assert model.training


def test_two_runs_with_the_same_generator_are_equal(tok):
    pretrain = torch.tensor(tok.encode_text("To be, or not to be, that is the question. " * 20))

    def run() -> tuple[list[float], dict]:
        model = tiny_gpt(tok, seed=1)
        torch.manual_seed(123)  # the global generator is not what makes two runs equal
        g = torch.Generator().manual_seed(5)
        examples = Arithmetic().draw(10, torch.Generator().manual_seed(0))
        history = train_sft(
            model,
            examples,
            tokenizer=tok,
            steps=4,
            batch_size=4,
            lr=1e-3,
            generator=g,
            pretrain_ids=pretrain,
            mix=0.5,
            progress=False,
        )
        return history, model.state_dict()

    (first, weights), (second, weights_again) = run(), run()
    assert first == second
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
    assert len(first.pretrain_loss) == 4 and all(loss > 0 for loss in first.pretrain_loss)
    # the total weighs each part by its share of the rows (2 of 4), not by its number of targets
    for total, answers, pre in zip(first.loss, first.sft_loss, first.pretrain_loss, strict=True):
        assert total == pytest.approx(0.5 * answers + 0.5 * pre, rel=1e-6)


def test_pretrain_weight_sets_the_share_of_the_loss_the_pretraining_rows_get(tok):
    pretrain = torch.tensor(tok.encode_text("Now is the winter of our discontent made glorious summer. " * 10))

    def run(**mixing) -> tuple[object, dict]:
        model = tiny_gpt(tok, seed=4)
        g = torch.Generator().manual_seed(6)
        history = train_sft(model, Arithmetic(), tokenizer=tok, steps=3, batch_size=8, lr=1e-3, generator=g,
                            pretrain_ids=pretrain, progress=False, **mixing)
        return history, model.state_dict()

    history, _ = run(mix=0.25, pretrain_weight=0.1)
    for total, answers, pre in zip(history.loss, history.sft_loss, history.pretrain_loss, strict=True):
        assert total == pytest.approx(0.9 * answers + 0.1 * pre, rel=1e-6)
    assert run(mix=0.25)[0] == run(mix=0.25, pretrain_weight=0.25)[0]  # by default: the rows' share, 2 of 8
    # weight 0: the pretraining rows are in the batch, and the loss is the answers' mean alone
    zero, _ = run(mix=0.25, pretrain_weight=0.0)
    assert zero.loss[0] == pytest.approx(zero.sft_loss[0], rel=1e-6)
    model, g = tiny_gpt(tok), torch.Generator()
    settings = dict(tokenizer=tok, steps=1, batch_size=4, lr=1e-3, generator=g, progress=False)
    for bad in (-0.1, 1.5, True, "half"):
        with pytest.raises(ValueError, match="pretrain_weight must be a number in"):
            train_sft(model, Arithmetic(), **settings, pretrain_ids=pretrain, mix=0.5, pretrain_weight=bad)
    with pytest.raises(ValueError, match="pretrain_weight=0.3 needs pretraining rows"):
        train_sft(model, Arithmetic(), **settings, pretrain_weight=0.3)


def test_the_packages_headline_call_trains_on_all_tasks_as_their_equal_mixture(tok):
    def run(examples) -> list[float]:
        model = tiny_gpt(tok, seed=2, block_size=128)  # every task's examples fit in 128 ids
        g = torch.Generator().manual_seed(9)
        return train_sft(model, examples, tokenizer=tok, steps=2, batch_size=8, lr=1e-3, generator=g, progress=False)

    history = run(all_tasks("train"))  # exactly the call of llmcourse.assistant's docstring
    assert len(history.loss) == 2 and all(loss > 0 for loss in history.loss)
    assert history == run(TaskMixture(all_tasks("train")))
    model, g = tiny_gpt(tok), torch.Generator()
    settings = dict(tokenizer=tok, steps=1, batch_size=2, lr=1e-3, generator=g, progress=False)
    with pytest.raises(TypeError, match=r"train_examples\[1\] is a task \(Arithmetic\) among examples"):
        train_sft(model, [Arithmetic().sample(g), Arithmetic()], **settings)
    with pytest.raises(TypeError, match=r"train_examples\[0\]"):
        train_sft(model, [7, 8], **settings)
    with pytest.raises(ValueError, match="train_examples must be"):
        train_sft(model, "What is 2+3?", **settings)


def test_train_sft_puts_the_models_mode_back(tok):
    g = torch.Generator().manual_seed(0)
    settings = dict(tokenizer=tok, steps=2, batch_size=4, lr=1e-3, generator=g, progress=False)
    model = tiny_gpt(tok).eval()
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    train_sft(model, Arithmetic(), **settings)
    assert seen == [True, True] and not model.training  # trained in train mode, handed back in eval mode
    train_sft(model.train(), Arithmetic(), **settings)
    assert model.training


def test_pretraining_rows_are_windows_of_the_full_block_size_in_a_pass_of_their_own(tok):
    block_size = 48
    pretrain = torch.tensor(tok.encode_text("Now is the winter of our discontent made glorious summer. " * 10))
    model = tiny_gpt(tok, block_size=block_size)
    batches = []
    model.register_forward_pre_hook(lambda module, args: batches.append(args[0].clone()))
    g = torch.Generator().manual_seed(3)
    settings = dict(tokenizer=tok, steps=3, batch_size=4, lr=1e-3, generator=g, progress=False)
    train_sft(model, Arithmetic(), **settings, pretrain_ids=pretrain, mix=0.5)
    text = tok.decode(pretrain.tolist())
    assert len(batches) == 6  # per step: the conversations, then the windows
    for conversations, windows in zip(batches[::2], batches[1::2], strict=True):
        assert conversations.size(0) == 2 and conversations.size(1) < block_size  # their own width, no padding
        assert windows.shape == (2, block_size)  # not the ~20 ids of the longest question and answer
        for row in windows:  # real windows of the text, every one of its block_size ids
            assert tok.decode(row.tolist()) in text
    with pytest.raises(ValueError, match="a window needs block_size"):
        train_sft(tiny_gpt(tok), Arithmetic(), **settings, pretrain_ids=pretrain[:64], mix=0.5)


def test_a_run_with_the_mix_trains_on_the_first_examples_of_the_run_without_it(tok):
    pretrain = torch.tensor(tok.encode_text("Now is the winter of our discontent made glorious summer. " * 10))
    seen = {}
    for mix in (0.0, 0.5):
        model, rows = tiny_gpt(tok, seed=5), []
        model.register_forward_pre_hook(lambda module, args, rows=rows: rows.append(args[0].clone()))
        g = torch.Generator().manual_seed(11)
        train_sft(model, Arithmetic(), tokenizer=tok, steps=3, batch_size=4, lr=1e-3, generator=g,
                  pretrain_ids=pretrain, mix=mix, progress=False)
        seen[mix] = rows if mix == 0 else rows[::2]  # the conversations' pass of each step
    def unpadded(row: torch.Tensor) -> list[int]:  # the row without the <|end|>s that pad it on the right
        return row[: int((row != tok.end_id).nonzero().max()) + 1].tolist()

    for full, mixed in zip(seen[0.0], seen[0.5], strict=True):  # step for step: the first 2 of the same 4 examples
        assert [unpadded(r) for r in full[:2]] == [unpadded(r) for r in mixed]


def test_train_sft_refuses_bad_settings(tok):
    model, g = tiny_gpt(tok), torch.Generator().manual_seed(0)
    settings = dict(tokenizer=tok, steps=1, batch_size=4, lr=1e-3, generator=g, progress=False)
    with pytest.raises(ValueError, match="needs pretrain_ids"):
        train_sft(model, Arithmetic(), **settings, mix=0.5)
    with pytest.raises(ValueError, match="mix must be in"):
        train_sft(model, Arithmetic(), **settings, mix=1.0, pretrain_ids=torch.zeros(100, dtype=torch.long))
    with pytest.raises(ValueError, match="grow_vocab"):
        train_sft(
            GPT(GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=2, n_embd=16)), Arithmetic(), **settings
        )
    with pytest.raises(ValueError, match="lr must be"):
        train_sft(model, Arithmetic(), **{**settings, "lr": 0})


# --- replies --------------------------------------------------------------------------------------------------------


def test_a_reply_stops_at_the_end_token_and_at_any_other_special_token(tok):
    conversation = [("user", "hi")]
    model = scripted(tok, "ok")
    assert reply(model, tok, conversation, max_new_tokens=10) == "ok"
    assert list(stream_reply(model, tok, conversation, max_new_tokens=10)) == ["o", "k"]
    assert reply(model, tok, conversation, max_new_tokens=1) == "o"
    assert list(stream_reply(model, tok, conversation, max_new_tokens=0)) == []
    impostor = scripted(tok, "ok", then=USER)  # starts writing the user's turn: cut there
    assert reply(impostor, tok, conversation, max_new_tokens=10) == "ok"
    assert "".join(stream_reply(impostor, tok, conversation, max_new_tokens=10)) == "ok"
    endless = scripted(tok, "o", then="o")
    assert reply(endless, tok, conversation, max_new_tokens=7) == "o" * 7


def test_reply_and_the_stream_give_the_same_text_on_a_gpt(tok):
    model = tiny_gpt(tok, seed=1).train()
    conversation = [("user", "What is 2+3?"), ("assistant", "5"), ("user", "And 4+4?")]
    greedy = reply(model, tok, conversation, max_new_tokens=20)
    assert len(greedy) == 20  # this model never stops by itself: a text long enough to compare
    assert "".join(stream_reply(model, tok, conversation, max_new_tokens=20)) == greedy
    settings = dict(max_new_tokens=30, temperature=1.5, top_k=40)
    sampled = reply(model, tok, conversation, generator=torch.Generator().manual_seed(3), **settings)
    streamed = stream_reply(model, tok, conversation, generator=torch.Generator().manual_seed(3), **settings)
    assert "".join(streamed) == sampled and len(sampled) > 10
    # and they are chapter 8's generate's tokens for the same generator (a reply is not a second sampler)
    ids = tok.prompt_ids(conversation)[None]
    out = generate(model, ids, generator=torch.Generator().manual_seed(3), eos_id=tok.end_id, **settings)
    assert tok.decode(out[0, ids.size(1):].tolist()).startswith(sampled)
    assert model.training  # put back as it was
    with pytest.raises(ValueError, match="temperature"):
        stream_reply(model, tok, conversation, max_new_tokens=5, temperature=-1)  # refused at the call
    with pytest.raises(ValueError, match="must end with a user turn"):
        reply(model, tok, [("user", "hi"), ("assistant", "yo")], max_new_tokens=5)


# --- few-shot prompts and scoring ---------------------------------------------------------------------------------


class Zeros(Task):
    """Three questions whose answer is always "0"."""

    name = "zeros"

    def _items(self, split: str) -> tuple[str, ...]:
        return ("a", "b", "c")

    def example(self, item: str, generator: torch.Generator) -> Example:
        return self._make(item, f"Say {item}", "0")


def test_few_shot_prompt_is_plain_text_in_the_plays_format(tok):
    g = torch.Generator().manual_seed(0)
    shot = Arithmetic().example((2, "+", 3), g)
    prompt = few_shot_prompt([shot], "What is 23+58?")
    assert prompt == "USER:\nWhat is 2+3?\n\nASSISTANT:\n5\n\nUSER:\nWhat is 23+58?\n\nASSISTANT:\n"
    assert few_shot_prompt([], shot) == "USER:\nWhat is 2+3?\n\nASSISTANT:\n"
    assert not set(tok.encode(prompt)) & set(tok.special_tokens.values())
    with pytest.raises(ValueError, match="line break"):
        few_shot_prompt([Example("x", "x", (("user", "a\nb"), ("assistant", "c")), "c")], "q")
    with pytest.raises(ValueError, match="one question and its answer"):
        few_shot_prompt([Example("x", "x", (("user", "a"),), "")], "q")


def test_evaluate_tasks_scores_greedy_answers_with_each_tasks_check(tok):
    says_zero = scripted(tok, "0")
    count = CountLetter("test")
    expected = [e.answer == "0" for e in sft._questions(count, 40, torch.Generator().manual_seed(4))]
    scores = evaluate_tasks(says_zero, tok, [count, Zeros()], n=3, generator=torch.Generator().manual_seed(4))
    assert scores["zeros"] == 1.0
    scores = evaluate_tasks(says_zero, tok, [count], n=40, generator=torch.Generator().manual_seed(4))
    assert scores == {"count": sum(expected) / 40}
    assert 0 < scores["count"] < 1
    few = evaluate_tasks(says_zero, tok, [Zeros(), Identity()], n=3, generator=torch.Generator(), few_shot=2)
    assert few == {"zeros": 1.0, "identity": 0.0}
    assert evaluate_tasks(scripted(tok, "1"), tok, [Zeros()], n=3, generator=torch.Generator()) == {"zeros": 0.0}
    with pytest.warns(UserWarning, match="n=5 exceeds the 3 items"):
        evaluate_tasks(says_zero, tok, [Zeros()], n=5, generator=torch.Generator())
    with pytest.raises(ValueError, match="too few distinct items"):
        evaluate_tasks(says_zero, tok, [Zeros()], n=1, generator=torch.Generator(), few_shot=3)
    with pytest.raises(ValueError, match="once"):
        evaluate_tasks(says_zero, tok, [Zeros(), Zeros()], n=1, generator=torch.Generator())


class ManyZeros(Zeros):
    """Zeros' task under the same name, with other items: the solved examples' own pool."""

    def _items(self, split: str) -> tuple[str, ...]:
        return tuple("defghij")


def test_few_shot_examples_can_come_from_another_split_of_the_same_task(tok, monkeypatch):
    prompts: list[str] = []

    def fake_generate_text(model, tokenizer, prompt, max_new_tokens, **settings) -> str:
        prompts.append(prompt)
        return "0"

    monkeypatch.setattr(sft, "generate_text", fake_generate_text)
    model, g = scripted(tok, "0"), torch.Generator().manual_seed(1)
    scores = evaluate_tasks(model, tok, [Zeros()], n=3, generator=g, few_shot=3, shot_tasks=[ManyZeros()])
    assert scores == {"zeros": 1.0}  # three shots, which Zeros' own three items could not give besides the question
    for prompt in prompts:
        shots = re.findall(r"Say (\w)", prompt)
        assert len(shots) == 4 and set(shots[:3]) <= set("defghij") and shots[3] in "abc"
    with pytest.raises(ValueError, match="shot_tasks has no task named 'zeros'"):
        evaluate_tasks(model, tok, [Zeros()], n=1, generator=g, few_shot=1, shot_tasks=[Arithmetic()])


def test_chat_and_few_shot_scoring_ask_the_same_distinct_questions(tok, monkeypatch):
    asked: list[str] = []

    def fake_reply(model, tokenizer, conversation, **settings) -> str:
        asked.append(conversation[-1][1])
        return ""

    def fake_generate_text(model, tokenizer, prompt, max_new_tokens, **settings) -> str:
        asked.append(re.fullmatch(r"(?s).*USER:\n(.*)\n\nASSISTANT:\n", prompt)[1])
        return ""

    monkeypatch.setattr(sft, "reply", fake_reply)
    monkeypatch.setattr(sft, "generate_text", fake_generate_text)
    tasks, model = [Arithmetic("test"), ListOps("test")], scripted(tok, "0")
    questions = {}
    for few_shot in (None, 0, 3):
        asked.clear()
        evaluate_tasks(model, tok, tasks, n=30, generator=torch.Generator().manual_seed(8), few_shot=few_shot)
        questions[few_shot] = list(asked)
    assert questions[None] == questions[0] == questions[3]  # the shots came from their own generator
    assert len(questions[None]) == 60 and len(set(questions[None])) == 60  # distinct: drawn without replacement
