"""llmcourse.embeddings on tiny self-made inputs: each piece against a hand computation or a reference."""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from llmcourse import data
from llmcourse.config import settings
from llmcourse.embeddings import (
    CacheError,
    KeyedVectors,
    NoiseSampler,
    SkipGramNS,
    Vocab,
    cooccurrence,
    keep_probability,
    noise_distribution,
    ppmi,
    read_analogies,
    sgns_loss,
    skipgram_pairs,
    spearman,
    subsample,
    svd_vectors,
    tokenize,
    train_sgns,
    train_sgns_cached,
)
from llmcourse.embeddings.cache import cache_file, load_run, run_key
from llmcourse.embeddings.corpus import batches

# --- corpus ------------------------------------------------------------------------------------


def test_tokenize_lowercases_and_keeps_letters_only():
    assert tokenize("The King's 2 horses,\nran!") == ["the", "king", "s", "horses", "ran"]
    assert tokenize("") == []
    with pytest.raises(TypeError):
        tokenize(None)


def test_vocab_keeps_min_count_words_most_frequent_first():
    vocab = Vocab.build("b a b c b a d".split(), min_count=2)
    assert vocab.words == ["b", "a"] and vocab.counts.tolist() == [3, 2]
    assert vocab.encode("a c b".split()).tolist() == [1, 0]  # unknown words are dropped
    with pytest.raises(KeyError, match="not in the vocabulary"):
        vocab.id("c")


def test_vocab_errors_are_clear():
    with pytest.raises(ValueError, match="empty text"):
        Vocab.build([], min_count=1)
    with pytest.raises(ValueError, match="lower min_count"):
        Vocab.build(["a", "b"], min_count=5)


def test_keep_probability_is_word2vecs_formula():
    counts = torch.tensor([600, 300, 90, 10])
    t = 0.01
    f = [c / 1000 for c in (600, 300, 90, 10)]
    expected = [min(1.0, (math.sqrt(x / t) + 1) * t / x) for x in f]
    torch.testing.assert_close(keep_probability(counts, t), torch.tensor(expected, dtype=torch.float64))
    assert keep_probability(counts, t)[-1] == 1.0  # rare words are always kept
    assert (keep_probability(counts, 0) == 1).all()  # sample=0 turns subsampling off
    with pytest.raises(ValueError, match="sample"):
        keep_probability(counts, -0.01)


def test_subsample_keeps_each_word_at_its_rate():
    ids = torch.tensor([0, 1] * 50_000)
    kept = subsample(ids, torch.tensor([0.25, 1.0]), torch.Generator().manual_seed(0))
    assert (kept == 1).sum() == 50_000
    assert abs((kept == 0).sum().item() / 50_000 - 0.25) < 0.01


def test_pairs_with_a_fixed_window_are_every_neighbour():
    centers, contexts = skipgram_pairs(torch.tensor([10, 11, 12, 13]), window=2, dynamic=False)
    got = sorted(zip(centers.tolist(), contexts.tolist(), strict=True))
    expected = sorted((a, b) for i, a in enumerate([10, 11, 12, 13]) for j, b in enumerate([10, 11, 12, 13])
                      if i != j and abs(i - j) <= 2)
    assert got == expected


def test_dynamic_window_uses_near_words_more_often():
    ids = torch.arange(20_000)
    centers, contexts = skipgram_pairs(ids, window=4, generator=torch.Generator().manual_seed(0))
    distance = (contexts - centers).abs()
    share = torch.bincount(distance, minlength=5)[1:].double() / len(distance)
    # distance d is kept when the drawn window b >= d: P = (5 - d) / 4, so shares are 4:3:2:1
    torch.testing.assert_close(share, torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="window"):
        skipgram_pairs(ids, window=0)


def test_noise_distribution_is_unigram_to_the_three_quarters():
    counts = torch.tensor([16, 1])
    p = noise_distribution(counts)
    torch.testing.assert_close(p, torch.tensor([8 / 9, 1 / 9], dtype=torch.float64))  # 16^0.75 = 8
    draws = NoiseSampler(counts, table_size=90_000)((100_000,), torch.Generator().manual_seed(0))
    assert abs((draws == 1).float().mean().item() - 1 / 9) < 0.005
    for bad in (torch.tensor([3, -1]), torch.tensor([0, 0])):
        with pytest.raises(ValueError, match="counts"):
            noise_distribution(bad)


def test_batches_cover_the_epoch_and_reject_empty_input():
    ids = torch.arange(1000) % 50
    seen = list(batches(ids, window=2, batch_size=64, chunk_words=300, generator=torch.Generator().manual_seed(0)))
    assert seen[-1][2] == 1000 and all(len(c) <= 64 for c, _, _ in seen)
    assert [w for _, _, w in seen] == sorted(w for _, _, w in seen)
    with pytest.raises(ValueError, match="empty"):
        next(batches(torch.tensor([], dtype=torch.long), 2, 8))


# --- the model ---------------------------------------------------------------------------------


def test_sgns_loss_matches_a_hand_computation():
    v = torch.tensor([[1.0, 0.0]])
    u_pos = torch.tensor([[2.0, 1.0]])
    u_neg = torch.tensor([[[1.0, 3.0], [-1.0, 0.0]]])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -math.log(sig(2.0)) - math.log(sig(-1.0)) - math.log(sig(1.0))
    assert sgns_loss(v, u_pos, u_neg).item() == pytest.approx(expected, rel=1e-6)


def test_hand_written_sgd_step_equals_autograd_and_torch_sgd():
    torch.manual_seed(0)
    a, b = SkipGramNS(20, 8), SkipGramNS(20, 8)
    with torch.no_grad():
        a.out.weight.normal_()
    b.load_state_dict(a.state_dict())
    c, o, neg = torch.tensor([1, 2, 1, 5]), torch.tensor([3, 3, 4, 1]), torch.randint(0, 20, (4, 3))
    loss_a = a.sgd_step(c, o, neg, lr=0.1)
    opt = torch.optim.SGD(b.parameters(), lr=0.1)
    loss_b = b(c, o, neg)
    loss_b.sum().backward()
    opt.step()
    torch.testing.assert_close(loss_a, loss_b.detach())
    torch.testing.assert_close(a.inp.weight, b.inp.weight)
    torch.testing.assert_close(a.out.weight, b.out.weight)


def test_training_lowers_the_loss_and_learns_a_planted_structure():
    # two "topics": words 0-9 only appear near each other, words 10-19 too
    g = torch.Generator().manual_seed(0)
    topic = torch.randint(0, 2, (400,), generator=g).repeat_interleave(25)
    ids = topic * 10 + torch.randint(0, 10, (10_000,), generator=g)
    vocab = Vocab([str(i) for i in range(20)], torch.bincount(ids, minlength=20))
    run = train_sgns(ids, vocab, dim=16, window=3, negative=5, epochs=3, sample=0, batch_size=256,
                     log_every=10, progress=False)
    assert run.losses[-1] < run.losses[0] and run.words_per_second > 0
    kv = KeyedVectors(vocab.words, run.model.vectors)
    assert kv.similarity("0", "1") > kv.similarity("0", "15")
    adam = train_sgns(ids, vocab, dim=16, window=3, epochs=1, sample=0, batch_size=256, lr=0.01, optimizer="adam",
                      log_every=10, progress=False)  # autograd + SparseAdam
    assert adam.losses[-1] < adam.losses[0]
    with pytest.raises(ValueError, match="optimizer"):
        train_sgns(ids, vocab, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="vocabulary"):
        train_sgns(torch.tensor([0, 25]), vocab, progress=False)
    with pytest.raises(ValueError, match="1-D"):
        train_sgns(torch.tensor([0]), vocab, progress=False)


def _planted_corpus(n_words: int = 6000, seed: int = 0) -> tuple[torch.Tensor, Vocab]:
    g = torch.Generator().manual_seed(seed)
    topic = torch.randint(0, 2, (n_words // 25,), generator=g).repeat_interleave(25)
    ids = topic * 10 + torch.randint(0, 10, (n_words,), generator=g)
    return ids, Vocab([str(i) for i in range(20)], torch.bincount(ids, minlength=20))


def test_train_sgns_equals_an_autograd_loop_with_the_same_init_and_batches():
    # what chapter 3 shows on a slice of Wikipedia: autograd + torch.optim.SGD, step for step
    ids, vocab = _planted_corpus()
    kw = dict(dim=8, window=3, negative=4, epochs=2, sample=1e-2, lr=0.05, batch_size=128, seed=3)
    run = train_sgns(ids, vocab, **kw, log_every=1, chunk_words=2000, progress=False)
    torch.manual_seed(kw["seed"])
    gen = torch.Generator().manual_seed(kw["seed"])
    model = SkipGramNS(len(vocab), kw["dim"])
    keep, noise = keep_probability(vocab.counts, kw["sample"]).float(), NoiseSampler(vocab.counts)
    opt = torch.optim.SGD(model.parameters(), lr=kw["lr"])
    losses, total = [], ids.numel() * kw["epochs"]
    for epoch in range(kw["epochs"]):
        for c, o, done in batches(ids, kw["window"], kw["batch_size"], keep, 2000, gen):
            opt.param_groups[0]["lr"] = kw["lr"] * max(1e-4, 1 - (epoch * ids.numel() + done) / total)
            loss = model(c, o, noise((c.numel(), kw["negative"]), gen))
            opt.zero_grad()
            loss.sum().backward()
            opt.step()
            losses.append(loss.mean().item())
    torch.testing.assert_close(torch.tensor(run.losses), torch.tensor(losses), rtol=1e-5, atol=1e-6)
    # the hand-written step sums in another order than autograd: equal up to float32 rounding
    torch.testing.assert_close(run.model.inp.weight, model.inp.weight, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(run.model.out.weight, model.out.weight, rtol=1e-4, atol=1e-5)
    assert losses[-1] < losses[0]


def test_sgns_loss_is_k_plus_one_logistic_regressions():
    g = torch.Generator().manual_seed(0)
    v, u_pos, u_neg = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g), torch.randn(3, 2, 4, generator=g)
    scores = torch.cat([(u_pos * v).sum(-1, keepdim=True), (u_neg @ v.unsqueeze(-1)).squeeze(-1)], 1)  # (3, 3)
    labels = torch.tensor([[1.0, 0.0, 0.0]]).expand(3, 3)
    bce = F.binary_cross_entropy_with_logits(scores, labels, reduction="none").sum(-1)
    torch.testing.assert_close(sgns_loss(v, u_pos, u_neg), bce)


# --- the cache of trained runs -----------------------------------------------------------------

_SMALL = dict(dim=8, window=3, negative=3, epochs=1, sample=0, batch_size=256, log_every=5, progress=False)


def test_a_cached_run_is_stored_then_loaded_with_the_same_vectors(tmp_path):
    ids, vocab = _planted_corpus()
    first = train_sgns_cached(ids, vocab, cache_dir=tmp_path, **_SMALL)
    assert not first.cached and first.cache_file == cache_file(tmp_path, run_key(ids, vocab, **_SMALL))
    assert first.cache_file.exists() and list(tmp_path.glob("*.tmp")) == []
    again = train_sgns_cached(ids, vocab, cache_dir=tmp_path, **_SMALL)
    assert again.cached and again.cache_file == first.cache_file
    torch.testing.assert_close(again.model.vectors, first.model.vectors, rtol=0, atol=0)
    torch.testing.assert_close(again.model.out.weight, first.model.out.weight, rtol=0, atol=0)
    assert (again.losses, again.words, again.seconds) == (first.losses, first.words, first.seconds)
    retrained = train_sgns_cached(ids, vocab, cache_dir=tmp_path, retrain=True, **_SMALL)
    assert not retrained.cached  # trained again: same seed, same vectors
    torch.testing.assert_close(retrained.model.vectors, first.model.vectors)
    assert not train_sgns_cached(ids, vocab, cache_dir=None, **_SMALL).cached
    assert len(list(tmp_path.iterdir())) == 1


def test_the_cache_key_covers_settings_data_and_defaults():
    ids, vocab = _planted_corpus()
    key = run_key(ids, vocab, **_SMALL)
    assert key == run_key(ids, vocab, **_SMALL, lr=0.025, seed=0, cpu_threads=2)  # defaults; threads do not count
    assert key != run_key(ids, vocab, **{**_SMALL, "dim": 9})
    assert key != run_key(ids, vocab, **_SMALL, seed=1)
    assert key != run_key(ids.flip(0), vocab, **_SMALL)  # same counts, other text
    other = Vocab(vocab.words, vocab.counts + 1)
    assert key != run_key(ids, other, **_SMALL)
    with pytest.raises(TypeError):
        run_key(ids, vocab, dimension=8)


def test_a_damaged_or_foreign_cache_file_is_refused_and_trained_over(tmp_path):
    ids, vocab = _planted_corpus()
    first = train_sgns_cached(ids, vocab, cache_dir=tmp_path, **_SMALL)
    path, key = first.cache_file, run_key(ids, vocab, **_SMALL)
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(blob))
    with pytest.raises(CacheError, match="damaged"):
        load_run(path, key)
    with pytest.warns(UserWarning, match="damaged"):
        again = train_sgns_cached(ids, vocab, cache_dir=tmp_path, **_SMALL)
    assert not again.cached
    torch.testing.assert_close(load_run(path, key).model.vectors, first.model.vectors)  # replaced by a good file
    with pytest.raises(CacheError, match="another run"):
        load_run(path, "0" * 64)
    path.write_bytes(b"")  # emptied
    with pytest.raises(CacheError, match="damaged"):
        load_run(path, key)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good file loads without a word
        train_sgns_cached(ids, vocab, cache_dir=tmp_path, retrain=True, **_SMALL)
        assert train_sgns_cached(ids, vocab, cache_dir=tmp_path, **_SMALL).cached


def test_a_cache_folder_that_cannot_be_written_warns_and_still_returns_the_run(tmp_path):
    ids, vocab = _planted_corpus()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("in the way")
    with pytest.warns(UserWarning, match="could not store"):
        run = train_sgns_cached(ids, vocab, cache_dir=not_a_folder, **_SMALL)
    assert not run.cached and run.cache_file is None and run.losses


def test_the_ci_profile_never_reads_a_cached_run():
    # the notebook tests run in the ci profile: they must train, whatever the cache folder holds
    assert settings("ch03", "ci").cache_runs is False
    assert settings("ch03", "laptop").cache_runs is True


# --- PPMI + SVD --------------------------------------------------------------------------------


def test_ppmi_of_a_tiny_matrix_by_hand():
    counts = torch.tensor([[0.0, 2.0], [2.0, 4.0]])
    got = ppmi(counts, alpha=1.0)
    # total 8; P(w) = P(c) = (2/8, 6/8); cell (0,1): log((2/8) / (2/8 * 6/8)) = log(4/3); cell (1,1): log(8/9) < 0
    expected = torch.tensor([[0.0, math.log(4 / 3)], [math.log(4 / 3), 0.0]])
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(ppmi(counts.to_sparse(), alpha=1.0).to_dense(), expected)
    smoothed = ppmi(counts, alpha=0.75).to_dense()
    assert smoothed[0, 1] != got[0, 1]  # the smoothing changes the context marginals
    with pytest.raises(ValueError, match="alpha"):
        ppmi(counts, alpha=0.0)


def test_cooccurrence_counts_both_directions_across_chunks():
    ids = torch.tensor([0, 1, 0, 2, 1])
    dense = torch.zeros(3, 3)
    for i in range(5):
        for j in range(5):
            if i != j and abs(i - j) <= 2:
                dense[ids[i], ids[j]] += 1
    for chunk in (2, 3, 100):
        torch.testing.assert_close(cooccurrence(ids, 3, window=2, chunk_words=chunk).to_dense(), dense)


def test_svd_vectors_reconstruct_a_low_rank_matrix():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(30, 3, generator=g)
    m = a @ a.T  # symmetric, rank 3
    vec = svd_vectors(m, 3)
    torch.testing.assert_close(vec @ vec.T, m, atol=1e-3, rtol=1e-3)
    with pytest.raises(ValueError, match="dim"):
        svd_vectors(m, 0)


# --- vectors and evaluation --------------------------------------------------------------------


def _toy_vectors() -> KeyedVectors:
    words = ["man", "woman", "king", "queen", "apple"]
    vecs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.3], [0.2, 1.0, 0.6], [0.2, 0.2, -1.0]])
    return KeyedVectors(words, vecs)


def test_analogy_finds_queen_and_excludes_the_query_words():
    kv = _toy_vectors()
    assert kv.analogy("man", "king", "woman")[0][0] == "queen"
    assert kv.analogy("man", "king", "woman", method="mul")[0][0] == "queen"
    answers = [w for w, _ in kv.analogy("man", "king", "woman", topn=2)]
    assert not {"man", "king", "woman"} & set(answers)
    # without the exclusion "woman" would win: it is the nearest word to king - man + woman here
    target = kv.normed[2] - kv.normed[0] + kv.normed[1]
    assert kv.words[(kv.normed @ target).argmax()] == "woman"
    assert [w for w, _ in kv.most_similar("king", topn=4)] == ["man", "queen", "woman", "apple"]


def test_unknown_words_and_bad_shapes_get_clear_errors():
    kv = _toy_vectors()
    with pytest.raises(KeyError, match="not in the vocabulary"):
        kv.analogy("man", "king", "unicorn")
    with pytest.raises(ValueError, match="method"):
        kv.analogy("man", "king", "woman", method="div")
    with pytest.raises(ValueError, match=r"\(len\(words\), dim\)"):
        KeyedVectors(["a", "b"], torch.zeros(3, 2))


def test_evaluate_analogies_per_section_with_restrict_vocab(tmp_path):
    file = tmp_path / "q.txt"
    file.write_text(": capital-tiny\nMan King Woman Queen\nMan King Woman Apple\n"
                    ": gram-tiny\nMan Woman King Queen\nKing Man Unicorn Queen\n")
    kv = _toy_vectors()
    result = kv.evaluate_analogies(file)
    assert result.sections == {"capital-tiny": (1, 2), "gram-tiny": (1, 1)} and result.skipped == 1
    assert result.semantic == 0.5 and result.syntactic == 1.0 and result.total == pytest.approx(2 / 3)
    # with only the 4 most frequent words as candidates, the question naming "apple" is skipped
    restricted = kv.evaluate_analogies(file, restrict_vocab=4)
    assert restricted.sections == {"capital-tiny": (1, 1), "gram-tiny": (1, 1)} and restricted.skipped == 2
    with pytest.raises(ValueError, match="no question"):
        kv.evaluate_analogies(file, restrict_vocab=3)
    assert "semantic" in result.table()
    bad = tmp_path / "bad.txt"
    bad.write_text(": s\nman king woman\n")
    with pytest.raises(ValueError, match="line 2: expected 4 words"):
        read_analogies(bad)


def test_word_pairs_spearman_and_parsing(tmp_path):
    file = tmp_path / "ws.tsv"
    file.write_text("# comment\nking\tqueen\t9\nman\twoman\t8\nking\tapple\t1\nunicorn\tman\t5\n")
    kv = _toy_vectors()
    rho, used, missing = kv.evaluate_word_pairs(file)
    sims = [kv.similarity("king", "queen"), kv.similarity("man", "woman"), kv.similarity("king", "apple")]
    assert (used, missing) == (3, 1)
    assert rho == pytest.approx(spearman(sims, [9, 8, 1]))
    bad = tmp_path / "bad.tsv"
    bad.write_text("king queen nine\n")
    with pytest.raises(ValueError, match="line 1"):
        kv.evaluate_word_pairs(bad)


def test_spearman_handles_ties_like_the_textbook():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4]; Pearson of those with [1, 2, 3, 4]
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)


# --- the text8 registry entry ------------------------------------------------------------------


# --- the enwiki-sample-text8 registry entry: rebuilt from its 64 source files ------------------


def test_clean_wikiextractor_follows_the_readme():
    source = '<doc id="1" url="x" title="Ada">\nAda\n\nAda Lovelace (1815) wrote Notes.\n</doc>\n'
    assert data.clean_wikiextractor(source) == " ada lovelace one eight one five wrote notes "


def test_enwiki_sample_is_rebuilt_from_its_sources_and_verified(tmp_path, monkeypatch):
    import hashlib
    import io
    import urllib.error
    import urllib.request

    monkeypatch.delenv("LLMCOURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(tmp_path))
    fetched = []

    def fake_urlopen(url, timeout):
        fetched.append(url)
        k = int(url[-2:])
        return io.BytesIO(f'<doc id="{k}" title="T">\nT\nPage {k}: Caf\xe9!\n</doc>\n'.encode())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    expected = " ".join(f"page {' '.join(data._DIGITS[int(d)] for d in str(k))} caf" for k in range(64)) + " "
    entry = data.get("enwiki-sample-text8")
    fake = data.Dataset(**{**entry.__dict__, "sha256": hashlib.sha256(expected.encode()).hexdigest(),
                           "size": len(expected)})
    monkeypatch.setitem(data.REGISTRY, "enwiki-sample-text8", fake)
    assert data.read_text("enwiki-sample-text8") == expected
    assert len(fetched) == 64 and fetched[0].endswith("/text/AA/wiki_00") and "52b1f163" in fetched[0]

    (tmp_path / entry.filename).unlink()
    monkeypatch.setitem(data.REGISTRY, "enwiki-sample-text8", entry)  # the real sha256: the fake text fails it
    with pytest.raises(data.ChecksumMismatch):
        data.path("enwiki-sample-text8")
    assert not list(tmp_path.iterdir())  # no half-built file is left behind

    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(data.DataUnavailable, match="could not be downloaded"):
        data.path("enwiki-sample-text8")
