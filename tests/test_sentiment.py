"""Chapter 9's sentiment package: the data and its committed split, the bag-of-words baseline, the training loop."""

import hashlib
import random

import pytest
import torch
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from torch import nn

from llmcourse import data
from llmcourse.sentiment import (
    SPLIT,
    BagOfWords,
    accuracy,
    apply_split,
    evaluate,
    f1_score,
    load_rt_polarity,
    make_classify,
    predict_logits,
    split_rt_polarity,
    stratified_split,
    train_classifier,
    train_logistic_regression,
    words,
)
from llmcourse.sentiment import data as sdata

N_PER_CLASS = 5331


# --- the data and the split ---------------------------------------------------------------------------------------

def _fixture_files(tmp_path, monkeypatch, neg=b"a dull , tedious mess . \n", pos=b"caf\xc3\xa9 charm galore ! \n"):
    """Tiny rt-polarity files in LLMCOURSE_DATA_DIR, registered under the real names with their own sha256."""
    for name, content in (("rt-polarity.neg", neg * 3), ("rt-polarity.pos", pos * 2)):
        (tmp_path / name).write_bytes(content)
        entry = data.Dataset(**{**data.get(name).__dict__, "sha256": hashlib.sha256(content).hexdigest(),
                                "size": len(content)})
        monkeypatch.setitem(data.REGISTRY, name, entry)
    monkeypatch.setenv("LLMCOURSE_DATA_DIR", str(tmp_path))


def test_load_reads_utf8_negatives_first_and_strips(tmp_path, monkeypatch):
    _fixture_files(tmp_path, monkeypatch)
    texts, labels = load_rt_polarity()
    assert labels == [0, 0, 0, 1, 1]
    assert texts[0] == "a dull , tedious mess ." and texts[-1] == "café charm galore !"


def test_split_refuses_data_it_was_not_made_from(tmp_path, monkeypatch):
    _fixture_files(tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="rt-polarity.neg"):
        split_rt_polarity()


def test_committed_split_is_the_seeded_stratified_split_of_the_registered_files():
    labels = [0] * N_PER_CLASS + [1] * N_PER_CLASS  # how load_rt_polarity numbers the rows
    assert SPLIT == stratified_split(labels)
    record = sdata._committed_split()
    assert record["sha256"] == {name: data.get(name).sha256 for name in sdata.FILES}
    assert {k: len(v) for k, v in SPLIT.items()} == {"train": 8530, "validation": 1066, "test": 1066}


def test_committed_split_is_disjoint_covering_and_balanced():
    every = [i for rows in SPLIT.values() for i in rows]
    assert sorted(every) == list(range(2 * N_PER_CLASS))  # disjoint and covering
    for rows in SPLIT.values():
        positives = sum(i >= N_PER_CLASS for i in rows)
        assert abs(positives - (len(rows) - positives)) <= 1


def test_stratified_split_keeps_each_class_share_in_each_part():
    labels = [0] * 37 + [1] * 101 + [2] * 12
    parts = stratified_split(labels, fractions=(0.6, 0.2, 0.2), seed=3)
    assert sorted(i for rows in parts.values() for i in rows) == list(range(len(labels)))
    for name, fraction in zip(("train", "validation", "test"), (0.6, 0.2, 0.2), strict=True):
        for cls in (0, 1, 2):
            got = sum(labels[i] == cls for i in parts[name])
            assert abs(got - fraction * labels.count(cls)) <= 1, (name, cls)
    assert parts != stratified_split(labels, fractions=(0.6, 0.2, 0.2), seed=4)  # the seed decides


@pytest.mark.parametrize("labels, fractions", [([], (0.8, 0.1, 0.1)), ([0.5, 1.0], (0.8, 0.1, 0.1)),
                                               ([0, 1], (0.8, 0.2)), ([0, 1], (0.9, 0.2, -0.1))])
def test_stratified_split_refuses_bad_input(labels, fractions):
    with pytest.raises(ValueError, match="labels|fractions"):
        stratified_split(labels, fractions=fractions)


def test_apply_split():
    parts = apply_split(["a", "b", "c"], [0, 1, 0], {"train": [0, 2], "test": [1]})
    assert parts == {"train": (["a", "c"], [0, 0]), "test": (["b"], [1])}
    with pytest.raises(ValueError, match="row 5"):
        apply_split(["a"], [0], {"train": [5]})


needs_real_data = pytest.mark.skipif(
    data.data_dir() is None or not all((data.data_dir() / f).exists() for f in sdata.FILES),
    reason="rt-polarity is not in LLMCOURSE_DATA_DIR")


@needs_real_data
def test_real_rt_polarity_split_and_baseline_against_sklearn():
    parts = split_rt_polarity()
    assert [sum(parts[p][1]) for p in ("train", "validation", "test")] == [4265, 533, 533]
    bow = BagOfWords(min_count=2).fit(parts["train"][0])
    x_train, x_test = bow.transform(parts["train"][0]), bow.transform(parts["test"][0])
    y_train, y_test = torch.tensor(parts["train"][1]), torch.tensor(parts["test"][1])
    ours = train_logistic_regression(x_train, y_train, C=1.0).predict(x_test)
    theirs = torch.from_numpy(SkLogisticRegression(C=1.0, max_iter=2000).fit(x_train.to_scipy(), y_train.numpy())
                              .predict(x_test.to_scipy()))
    assert (ours == theirs).float().mean() >= 0.99
    assert abs(accuracy(ours, y_test) - accuracy(theirs, y_test)) <= 0.005
    assert accuracy(ours, y_test) > 0.7  # far above chance: the features and labels line up


# --- bag of words and logistic regression ---------------------------------------------------------------------------

def test_bag_of_words_is_binary_from_training_texts_with_min_count():
    bow = BagOfWords(min_count=2).fit(["good good film", "bad film !", "a good plot !"])
    assert set(bow.vocabulary) == {"good", "film", "!"}  # "bad", "a", "plot" occur once
    assert list(bow.vocabulary)[0] == "good"  # most frequent first
    x = bow.transform(["Good, GOOD film!", "unseen words only"])
    dense = x.to_dense()
    assert dense[0].tolist() == [1.0, 1.0, 1.0] and dense[1].sum() == 0  # presence, not counts; unknowns dropped
    assert (torch.from_numpy(x.to_scipy().toarray()).float() == dense).all()
    assert words("it isn't bad .") == ["it", "isn't", "bad", "."]


@pytest.mark.parametrize("call, match", [(lambda: BagOfWords(min_count=0), "min_count"),
                                         (lambda: BagOfWords().fit("one string"), "texts"),
                                         (lambda: BagOfWords(min_count=5).fit(["a b"]), "min_count=5"),
                                         (lambda: BagOfWords().transform(["a"]), "fit")])
def test_bag_of_words_refuses_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def _synthetic_reviews(n, seed):
    """Sentences of neutral words plus a few sentiment words, some misleading: a noisy, learnable task."""
    rng = random.Random(seed)
    good, bad = ["great", "moving", "fun", "smart", "lovely"], ["dull", "mess", "boring", "flat", "tired"]
    neutral = [f"w{i}" for i in range(60)]
    texts, labels = [], []
    for _ in range(n):
        label = rng.random() < 0.5
        mine, other = (good, bad) if label else (bad, good)
        sentence = rng.sample(neutral, 8) + rng.choices(mine, k=rng.randint(1, 3))
        sentence += rng.choices(other, k=rng.randint(0, 2))
        rng.shuffle(sentence)
        texts.append(" ".join(sentence))
        labels.append(int(label))
    return texts, torch.tensor(labels)


def test_logistic_regression_matches_sklearn():
    train_texts, y_train = _synthetic_reviews(600, seed=0)
    test_texts, y_test = _synthetic_reviews(400, seed=1)
    bow = BagOfWords(min_count=2).fit(train_texts)
    x_train, x_test = bow.transform(train_texts), bow.transform(test_texts)
    for c in (0.1, 1.0):
        model = train_logistic_regression(x_train, y_train, C=c)
        sk = SkLogisticRegression(C=c, max_iter=5000, tol=1e-8).fit(x_train.to_scipy(), y_train.numpy())
        ours, theirs = model.predict(x_test), torch.from_numpy(sk.predict(x_test.to_scipy()))
        assert (ours == theirs).float().mean() >= 0.99
        assert abs(accuracy(ours, y_test) - accuracy(theirs, y_test)) <= 0.005
        assert torch.allclose(model.weight, torch.from_numpy(sk.coef_[0]).float(), atol=2e-3)
        assert torch.allclose(model.predict_proba(x_test), torch.from_numpy(sk.predict_proba(x_test.to_scipy())[:, 1])
                              .float(), atol=1e-3)
    assert accuracy(ours, y_test) > 0.65


def test_logistic_regression_refuses_bad_input():
    x = BagOfWords(min_count=1).fit(["a b", "b c"]).transform(["a b", "b c"])
    for labels, kwargs, match in (([0, 1, 1], {}, "one per row"), ([0, 2], {}, "0 or 1"), ([0, 1], {"C": 0}, "C")):
        with pytest.raises(ValueError, match=match):
            train_logistic_regression(x, labels, **kwargs)


def test_metrics_match_sklearn():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        predictions, labels = torch.randint(0, 2, (50,), generator=g), torch.randint(0, 2, (50,), generator=g)
        assert accuracy(predictions, labels) == pytest.approx(skm.accuracy_score(labels, predictions))
        assert f1_score(predictions, labels) == pytest.approx(skm.f1_score(labels, predictions))
    assert f1_score([0, 0], [0, 0]) == skm.f1_score([0, 0], [0, 0], zero_division=0) == 0.0
    with pytest.raises(ValueError, match="one length"):
        accuracy([0, 1], [0])


# --- the training loop ----------------------------------------------------------------------------------------------

class MeanPoolClassifier(nn.Module):
    """Embeddings averaged over the real tokens, a linear head; plus a frozen layer to count."""

    def __init__(self, vocab=12, dim=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, 2)
        self.frozen = nn.Linear(dim, dim)
        self.frozen.requires_grad_(False)

    def forward(self, ids, padding_mask):
        keep = (~padding_mask).unsqueeze(-1).float()
        pooled = (self.embed(ids) * keep).sum(1) / keep.sum(1).clamp_min(1)
        return self.head(pooled)


def _synthetic_encoded(n, seed, pad_id=0, width=12):
    """Label 1 when most tokens come from 6..11, 0 when from 1..5; random lengths, right padding."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    lengths = torch.randint(3, width + 1, (n,), generator=g)
    low, high = torch.randint(1, 6, (n, width), generator=g), torch.randint(6, 12, (n, width), generator=g)
    pick_own = torch.rand(n, width, generator=g) < 0.75
    own = torch.where(labels[:, None] == 1, high, low)
    other = torch.where(labels[:, None] == 1, low, high)
    ids = torch.where(pick_own, own, other)
    mask = torch.arange(width)[None, :] >= lengths[:, None]
    return ids.masked_fill(mask, pad_id), mask, labels


def test_a_tiny_model_learns_a_separable_task_and_is_counted():
    torch.manual_seed(0)
    model = MeanPoolClassifier()
    train, val = _synthetic_encoded(512, seed=0), _synthetic_encoded(256, seed=1)
    before = evaluate(model, val)
    result = train_classifier(model, train, val, steps=150, batch_size=32, lr=3e-2,
                              generator=torch.Generator().manual_seed(0), progress=False, eval_every=50)
    after = evaluate(model, val)
    assert after["accuracy"] >= 0.9 and after["accuracy"] > before["accuracy"] + 0.2
    assert after["loss"] < before["loss"]
    assert result.val_steps == [50, 100, 150] and result.val_accuracy[-1] == after["accuracy"]
    assert len(result.train_loss) == 150 and sum(result.train_loss[-20:]) < sum(result.train_loss[:20])
    assert result.total_params == 12 * 16 + 16 * 2 + 2 + 16 * 16 + 16
    assert result.trainable_params == 12 * 16 + 16 * 2 + 2
    assert result.seconds > 0 and not model.training


def test_same_generator_same_run_and_loss_fn_sees_the_rows():
    train, val = _synthetic_encoded(64, seed=0), _synthetic_encoded(32, seed=1)
    seen = []

    def loss_fn(logits, labels, rows):
        assert torch.equal(labels, train[2][rows])  # rows index the training set
        seen.append(rows.clone())
        return nn.functional.cross_entropy(logits, labels)

    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MeanPoolClassifier()
        runs.append(train_classifier(model, train, val, steps=5, batch_size=24, lr=1e-2, loss_fn=loss_fn,
                                     generator=torch.Generator().manual_seed(1), progress=False).train_loss)
    assert runs[0] == runs[1]
    assert sorted(torch.cat(seen[:2]).tolist() + seen[2][:16].tolist()) == list(range(64))  # an epoch, each row once


def test_trimmed_padding_changes_nothing_for_a_masked_model():
    torch.manual_seed(0)
    model = MeanPoolClassifier()
    ids, mask, _ = _synthetic_encoded(40, seed=2)
    wider_ids = torch.cat([ids, torch.zeros(40, 5, dtype=torch.long)], 1)
    wider_mask = torch.cat([mask, torch.ones(40, 5, dtype=torch.bool)], 1)
    assert torch.allclose(predict_logits(model, ids, mask, batch_size=7), predict_logits(model, wider_ids, wider_mask))


def test_make_classify_returns_the_label_and_its_probability():
    torch.manual_seed(0)
    model = MeanPoolClassifier()
    vocab = {"good": 7, "bad": 2}

    def encode(texts):
        rows = [[vocab[w] for w in t.split()] for t in texts]
        return torch.tensor(rows), torch.zeros(len(rows), len(rows[0]), dtype=torch.bool)

    classify = make_classify(model, encode)
    label, probability = classify("good good")
    probs = model(*encode(["good good"])).softmax(-1)[0]
    assert label == ("positive" if probs[1] > probs[0] else "negative")
    assert probability == pytest.approx(probs.max().item(), abs=1e-6) and probability >= 0.5
    with pytest.raises(ValueError, match="text"):
        classify("")


@pytest.mark.parametrize("change, match", [
    ({"lr": None}, "exactly one"), ({"param_groups": [{"params": [], "lr": 1.0}]}, "exactly one"),
    ({"lr": -1.0}, "lr"), ({"steps": 0}, "steps"), ({"batch_size": 0}, "batch_size"), ({"warmup": 1.0}, "warmup"),
    ({"grad_clip": 0.0}, "grad_clip"), ({"generator": 0}, "generator"), ({"loss_fn": 3}, "loss_fn"),
    ({"train": (torch.zeros(4, 3), torch.zeros(4, 3, dtype=torch.bool), torch.zeros(4, dtype=torch.long))}, "ids"),
    ({"train": (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))},
     "padding_mask"),
    ({"val": (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, 3, dtype=torch.bool), torch.zeros(3))}, "labels"),
])
def test_train_classifier_refuses_bad_arguments(change, match):
    arguments = {"train": _synthetic_encoded(8, seed=0), "val": _synthetic_encoded(8, seed=1), "steps": 2,
                 "batch_size": 4, "lr": 1e-3, "generator": torch.Generator()} | change
    train, val = arguments.pop("train"), arguments.pop("val")
    with pytest.raises(ValueError, match=match):
        train_classifier(MeanPoolClassifier(), train, val, progress=False, **arguments)
