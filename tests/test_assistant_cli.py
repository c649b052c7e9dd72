"""Chapter 10's chat model file and the terminal chat (llmcourse.assistant.checkpoint, `python -m llmcourse chat`)."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from llmcourse.__main__ import main
from llmcourse.assistant.chat import ChatTokenizer, Turn
from llmcourse.assistant.checkpoint import load_chat_model, save_chat_model, terminal_chat
from llmcourse.assistant.sft import reply
from llmcourse.finetune import add_lora
from llmcourse.gpt import GPT, GPTConfig, char_data
from llmcourse.training import CheckpointError, History, checksum_path, save_checkpoint, save_verified

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ("What is 2+3?", "And 4+4?", "Who art thou?")


@pytest.fixture(scope="module")
def tok():
    return ChatTokenizer.from_base(char_data().tokenizer)


def tiny_gpt(tok: ChatTokenizer, seed: int = 1, block_size: int = 64, tie: bool = True) -> GPT:
    """A random GPT whose greedy replies depend on the conversation: its matrices drawn 10 times wider than GPT-2's
    0.02, so that the argmax moves with the context (at 0.02 a tiny model repeats one character whatever it reads)."""
    torch.manual_seed(seed)
    model = GPT(
        GPTConfig(vocab_size=tok.vocab_size, block_size=block_size, n_layer=1, n_head=2, n_embd=16, tie_embeddings=tie)
    )
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.mul_(10)
    return model.eval()


@pytest.fixture(scope="module")
def saved(tok, tmp_path_factory):
    path = tmp_path_factory.mktemp("chat") / "chat.pt"
    save_chat_model(path, tiny_gpt(tok), tok, meta={"sft_steps": 5, "scores": {"arithmetic": 0.25}})
    return path


def greedy(model: GPT, tok: ChatTokenizer, conversation) -> str:
    return reply(model, tok, conversation, max_new_tokens=10)


# --- the file -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tie", [True, False])
def test_a_saved_chat_model_loads_back_with_the_same_logits_ids_and_meta(tok, tmp_path, tie):
    model = tiny_gpt(tok, tie=tie)
    path = save_chat_model(tmp_path / "chat.pt", model, tok, meta={"steps": 5, "note": "sft", "losses": [1.5, None]})
    assert checksum_path(path).read_text().split()[1:] == ["chat.pt"]  # sha256sum's format, beside the file
    rng = torch.get_rng_state()
    loaded, loaded_tok, meta = load_chat_model(path, device="cpu")
    assert torch.equal(torch.get_rng_state(), rng)  # building the GPT drew its initialisation in a forked generator
    assert meta == {"steps": 5, "note": "sft", "losses": [1.5, None]}
    assert not loaded.training and loaded.config == model.config
    assert (loaded.lm_head.weight is loaded.embed.tok_emb.weight) == tie
    ids = torch.randint(tok.vocab_size, (2, 20), generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(ids), model(ids))
    assert isinstance(loaded_tok, ChatTokenizer)
    assert (loaded_tok.chars, loaded_tok.base_size, loaded_tok.special_tokens) == (
        tok.chars,
        tok.base_size,
        tok.special_tokens,
    )
    conversation = [("system", "Be brief."), ("user", "What is 2+3? <|end|>")]
    assert torch.equal(loaded_tok.prompt_ids(conversation), tok.prompt_ids(conversation))
    stored = torch.load(path, weights_only=True)  # plain data: tensors, dicts, strings, numbers; no pickled object
    assert stored["tokenizer"]["kind"] == "chat" and isinstance(stored["tokenizer"]["chars"], str)


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize("damage", [_flip_a_byte, _truncate])
def test_a_damaged_chat_model_is_refused_with_its_path(tok, tmp_path, damage):
    path = save_chat_model(tmp_path / "chat.pt", tiny_gpt(tok), tok)
    damage(path)
    with pytest.raises(CheckpointError, match="is damaged") as info:
        load_chat_model(path, device="cpu")
    assert str(path) in str(info.value)


def _training_checkpoint(path: Path, tok: ChatTokenizer) -> None:  # what chapter 7's train_gpt writes
    model = tiny_gpt(tok)
    save_checkpoint(path, model, torch.optim.AdamW(model.parameters()), 3, History())


def _another_torch_file(path: Path, tok: ChatTokenizer) -> None:
    save_verified(path, {"weights": torch.zeros(3)})


def _unverifiable(path: Path, tok: ChatTokenizer) -> None:
    torch.save({"weights": torch.zeros(3)}, path)  # no NAME.sha256 beside it


def _vocabularies_differ(path: Path, tok: ChatTokenizer) -> None:
    save_chat_model(path, tiny_gpt(tok), tok)
    stored = torch.load(path, weights_only=True)
    stored["config"]["vocab_size"] += 1
    save_verified(path, stored)


@pytest.mark.parametrize(
    "make, says",
    [
        (_training_checkpoint, "is a training checkpoint"),
        (_another_torch_file, "is not a chat model: it holds the keys ['weights']"),
        (_unverifiable, "cannot be verified"),
        (_vocabularies_differ, "is a damaged chat model: its GPT has 89 token ids, its tokenizer 88"),
        (None, "no chat model at"),
    ],
)
def test_a_file_that_is_not_a_chat_model_is_refused_with_its_path_and_what_it_is(tok, tmp_path, make, says):
    path = tmp_path / "model.pt"
    if make is not None:
        make(path, tok)
    with pytest.raises(CheckpointError) as info:
        load_chat_model(path, device="cpu")
    assert str(path) in str(info.value) and says in str(info.value)


def test_save_refuses_what_could_not_be_loaded_back(tok, tmp_path):
    with pytest.raises(ValueError, match="the model has 65 token ids, the tokenizer 88"):
        save_chat_model(
            tmp_path / "a.pt", GPT(GPTConfig(vocab_size=65, block_size=8, n_layer=1, n_head=2, n_embd=16)), tok
        )
    with pytest.raises(TypeError, match="meta must hold plain values"):
        save_chat_model(tmp_path / "b.pt", tiny_gpt(tok), tok, meta={"loss": torch.tensor(1.0)})
    with pytest.raises(TypeError, match="tokenizer must be a ChatTokenizer"):
        save_chat_model(tmp_path / "c.pt", tiny_gpt(tok), char_data().tokenizer)
    with pytest.raises(ValueError, match="not those of GPT"):
        save_chat_model(tmp_path / "d.pt", add_lora(tiny_gpt(tok), r=2, alpha=4), tok)
    assert list(tmp_path.iterdir()) == []


class FlushLog(io.StringIO):
    """stdout that records what had been written at each flush: what a person at the terminal saw, and when."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def flush(self) -> None:
        self.seen.append(self.getvalue())


# --- the chat loop --------------------------------------------------------------------------------------------------


def run_chat(model, tok, lines: str, **settings) -> tuple[str, list[Turn]]:
    out = io.StringIO()
    conversation = terminal_chat(model, tok, stdin=io.StringIO(lines), stdout=out, **settings)
    return out.getvalue(), conversation


def test_the_terminal_chat_answers_as_reply_does_and_keeps_the_conversation(tok):
    model = tiny_gpt(tok)
    q1, q2, q3 = QUESTIONS
    system = [("system", "Answer briefly.")]
    r1 = greedy(model, tok, [*system, ("user", q1)])
    r2 = greedy(model, tok, [*system, ("user", q1), ("assistant", r1), ("user", q2)])
    r3 = greedy(model, tok, [*system, ("user", q3)])
    history = [*system, ("user", q1), ("assistant", r1), ("user", q2), ("assistant", r2), ("user", q3)]
    assert r2 != greedy(model, tok, [*system, ("user", q2)]), "the test model should depend on the history"
    assert r3 != greedy(model, tok, history), "... so that a /reset that kept it would show"
    text, conversation = run_chat(
        model,
        tok,
        f"{q1}\n  {q2}  \n/reset\n\n   \n/help\n{q3}\n/quit\nnot read\n",
        system="Answer briefly.",
        temperature=0.0,
        max_new_tokens=10,
    )
    assert [line for line in text.splitlines() if line.startswith("assistant> ")] == [
        f"assistant> {r}" for r in (r1, r2, r3)
    ]
    assert text.count("(an empty line is not sent") == 2 and "(unknown command /help" in text
    assert text.count("(a new conversation)") == 1
    assert conversation == [Turn("system", "Answer briefly."), Turn("user", q3), Turn("assistant", r3)]


def test_the_chat_drops_the_oldest_exchanges_to_fit_the_context_and_refuses_what_cannot_fit(tok):
    model = tiny_gpt(tok, block_size=40)
    q1, q2, q3 = QUESTIONS
    too_long, unknown = "x" * 40, "Où?"
    text, conversation = run_chat(
        model, tok, "\n".join([q1, q2, too_long, unknown, q3]) + "\n", temperature=0.0, max_new_tokens=10
    )
    expected, replies = [], []
    for question in (q1, q2, q3):
        asked = tok.fit([*expected, Turn("user", question)], 30)  # 40 - min(max_new_tokens, 40 // 2): a reply's room
        assert len(tok.prompt_ids(asked)) <= 30
        replies.append(greedy(model, tok, asked))
        expected = [*asked, Turn("assistant", replies[-1])]
    assert len(expected) < 6, "the context should be too short for the whole conversation"
    assert conversation == expected
    assert [line for line in text.splitlines() if line.startswith("assistant> ")] == [
        f"assistant> {r}" for r in replies
    ]
    assert "(not sent: too long for the model's context of 40 tokens" in text
    assert "(not sent: the model has no id for ['ù']" in text


def test_the_chat_keeps_room_for_the_reply_in_the_context(tok):
    model = tiny_gpt(tok, block_size=40)
    message = "y" * 31  # 34 prompt ids: within block_size, but not within 40 - min(max_new_tokens, 40 // 2)
    assert len(tok.prompt_ids([("user", message)])) == 34
    for max_new_tokens, room in [(4, 36), (10, 30), (100, 20)]:
        text, conversation = run_chat(model, tok, f"{message}\n", temperature=0.0, max_new_tokens=max_new_tokens)
        assert (f"({room} for the conversation)" in text) == (room < 34), (max_new_tokens, text)
        assert (conversation == []) == (room < 34)
        if room >= 34:  # sent: the reply had room for its max_new_tokens inside the context
            assert len(tok.prompt_ids([("user", message)])) + max_new_tokens <= 40


def test_each_character_of_a_reply_is_flushed_as_soon_as_it_is_sampled(tok):
    model = tiny_gpt(tok)
    answer = greedy(model, tok, [("user", QUESTIONS[0])])
    assert len(answer) > 2
    out = FlushLog()
    terminal_chat(model, tok, stdin=io.StringIO(f"{QUESTIONS[0]}\n"), stdout=out, temperature=0.0, max_new_tokens=10)
    shown = [text.removeprefix("assistant> ") for text in out.seen if text.startswith("assistant> ")]
    assert [answer[:n] for n in range(1, len(answer) + 1)] == [text for text in shown if not text.endswith("\n")]


def test_a_sampled_chat_repeats_with_the_same_seed_and_streams_what_reply_samples(tok):
    model = tiny_gpt(tok)
    settings = dict(temperature=1.0, top_k=20, max_new_tokens=10)
    runs = [
        run_chat(model, tok, f"{QUESTIONS[0]}\n", generator=torch.Generator().manual_seed(s), **settings)[0]
        for s in (7, 7, 8)
    ]
    assert runs[0] == runs[1] != runs[2]
    sampled = reply(model, tok, [("user", QUESTIONS[0])], generator=torch.Generator().manual_seed(7), **settings)
    assert runs[0] == f"assistant> {sampled}\n"


def test_bad_settings_and_system_texts_are_refused_before_any_output(tok):
    model = tiny_gpt(tok, block_size=40)
    for settings, says in [
        (dict(temperature=-1.0), "temperature must be"),
        (dict(top_k=0), "top_k must be >= 1"),
        (dict(max_new_tokens=0), "max_new_tokens must be an int >= 1"),
        (dict(system="é"), "has characters the model has no id for: ['é']"),
        (dict(system="x" * 40), "too long for the model's context of 40 tokens"),
        (dict(system="x" * 20), "with room for a reply (20 for the conversation)"),  # 25 ids: fits 40, not 20
    ]:
        out = io.StringIO()
        with pytest.raises(ValueError, match=re.escape(says)):
            terminal_chat(model, tok, stdin=io.StringIO("hi\n"), stdout=out, banner="hello", **settings)
        assert out.getvalue() == ""


# --- python -m llmcourse chat ---------------------------------------------------------------------------------------


def chat_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMCOURSE_DEVICE": "cpu"}  # the replies are compared with the CPU's
    return subprocess.run(
        [sys.executable, "-m", "llmcourse", "chat", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_python_m_llmcourse_chat_streams_the_replies_of_reply_and_ends_on_quit(tok, saved):
    model, _, _ = load_chat_model(saved, device="cpu")
    q1, q2, q3 = QUESTIONS
    r1 = greedy(model, tok, [("user", q1)])
    r2 = greedy(model, tok, [("user", q1), ("assistant", r1), ("user", q2)])
    r3 = greedy(model, tok, [("user", q3)])
    result = chat_cli(
        str(saved), "--temperature", "0", "--max-new-tokens", "10", stdin=f"{q1}\n{q2}\n/reset\n\n{q3}\n/quit\n{q1}\n"
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"(chatting with {saved}: a GPT of") and "greedy" in lines[0]
    assert [line for line in lines if line.startswith("assistant> ")] == [f"assistant> {r}" for r in (r1, r2, r3)]


@pytest.mark.parametrize(
    "args, says",
    [
        (["{missing}"], "error: no chat model at {missing}: no such file"),
        (
            ["{saved}", "--temperature", "-1"],
            "error: chat: argument --temperature: temperature must be a finite number",
        ),
    ],
)
def test_a_bad_checkpoint_or_setting_is_one_line_on_stderr_and_a_non_zero_exit(saved, tmp_path, args, says):
    fill = {"missing": tmp_path / "missing.pt", "saved": saved}
    result = chat_cli(*[a.format(**fill) for a in args], stdin="hello\n")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(says.format(**fill)) and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["--top-k", "0"], "argument --top-k: top_k must be >= 1, got 0"),
        (["--top-p", "1.5"], "argument --top-p: top_p must be in (0, 1]"),
        (["--max-new-tokens", "0"], "argument --max-new-tokens: must be an integer >= 1, got '0'"),
        (["--seed", "-3"], "argument --seed: must be an integer >= 0, got '-3'"),
        (["--temperature", "warm"], "argument --temperature: expected a number, got 'warm'"),
    ],
)
def test_each_bad_setting_names_its_argument(saved, capsys, args, says):
    with pytest.raises(SystemExit) as info:
        main(["chat", str(saved), *args])
    err = capsys.readouterr().err
    assert info.value.code == 2 and says in err and err.count("\n") == 1, err


def test_a_system_text_the_model_cannot_read_is_one_line_too(saved, capsys, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_DEVICE", "cpu")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    assert main(["chat", str(saved), "--system", "Réponds"]) == 2
    captured = capsys.readouterr()
    assert (
        captured.out == ""
        and captured.err == "error: chat: system='Réponds' has characters the model has no id for: ['é']\n"
    )
