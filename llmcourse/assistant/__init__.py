"""From a language model to an assistant (chapter 10): conversations and their chat template, tasks with answers a
program can check, supervised fine-tuning on the assistant's tokens only, preference tuning (DPO) and
reinforcement learning with verifiable rewards, starting from the course's own pretrained GPT.

    from llmcourse.assistant import ChatTokenizer, all_tasks, grow_vocab, reply, train_sft

    chat_tok = ChatTokenizer.from_base(data.tokenizer)               # chapter 7's ids, then digits, then specials
    model = grow_vocab(pretrained_gpt, chat_tok.vocab_size, generator=g)  # new rows near the old rows' mean
    tasks = all_tasks("train", max_tokens=model.config.block_size + 1)     # the items that fit the context
    train_sft(model, tasks, tokenizer=chat_tok, steps=500, batch_size=32, lr=1e-3, generator=g)
    print(reply(model, chat_tok, [("user", "What is 23+58?")], max_new_tokens=8))

Modules: :mod:`.chat` (turns, the template and its loss mask, the grown vocabulary), :mod:`.tasks` (generated
tasks split into train and held-out sets by construction), :mod:`.sft` (batches, the fine-tuning loop, replies
and few-shot scoring), :mod:`.checkpoint` (a chat model in one verified file; the terminal chat behind
``python -m llmcourse chat``), :mod:`.preference` (log-probabilities of answers, DPO) and :mod:`.rl` (groups of samples,
group-normalised advantages, the clipped policy loss with a KL penalty, pass@k).
"""

from .chat import (
    ASSISTANT,
    END,
    NOISE_SCALE,
    SPECIAL_TOKENS,
    SYSTEM,
    USER,
    ChatTokenizer,
    Conversation,
    Turn,
    check_conversation,
    grow_vocab,
)
from .checkpoint import load_chat_model, save_chat_model, terminal_chat
from .preference import (
    DPOHistory,
    DPOOutput,
    PreferenceBatch,
    dpo_loss,
    next_token_logprobs,
    preference_batch,
    sequence_logprobs,
    token_logprobs,
    train_dpo,
)
from .rl import (
    Completions,
    PolicyLossOutput,
    answer_text,
    group_advantages,
    kl_k3,
    pass_at_k,
    policy_loss,
    response_mask_from,
    rl_step,
    sample_group,
)
from .sft import SFTHistory, evaluate_tasks, few_shot_prompt, reply, sft_batch, stream_reply, train_sft
from .tasks import (
    Arithmetic,
    CountLetter,
    Example,
    Identity,
    ListOps,
    SpellWord,
    Task,
    TaskMixture,
    WhoSpeaks,
    all_tasks,
    rendered_length,
)

__all__ = [
    "ASSISTANT", "END", "NOISE_SCALE", "SPECIAL_TOKENS", "SYSTEM", "USER", "ChatTokenizer", "Conversation", "Turn",
    "check_conversation", "grow_vocab",
    "load_chat_model", "save_chat_model", "terminal_chat",
    "DPOHistory", "DPOOutput", "PreferenceBatch", "dpo_loss", "next_token_logprobs", "preference_batch",
    "sequence_logprobs",
    "token_logprobs", "train_dpo",
    "Completions", "PolicyLossOutput", "answer_text", "group_advantages", "kl_k3", "pass_at_k", "policy_loss",
    "response_mask_from", "rl_step", "sample_group",
    "SFTHistory", "evaluate_tasks", "few_shot_prompt", "reply", "sft_batch", "stream_reply", "train_sft",
    "Arithmetic", "CountLetter", "Example", "Identity", "ListOps", "SpellWord", "Task", "TaskMixture", "WhoSpeaks",
    "all_tasks", "rendered_length",
]
