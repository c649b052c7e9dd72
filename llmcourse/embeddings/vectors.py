"""Word vectors and how to judge them: nearest neighbours, analogies, and the standard benchmarks.

:class:`KeyedVectors` holds words (most frequent first) and one vector per word, like gensim's class of
the same name, with the same conventions so the numbers are comparable:

- cosine similarity on unit-length vectors;
- ``analogy(a, b, c)`` answers "a is to b as c is to ?", i.e. ``b - a + c`` (``analogy("man", "king",
  "woman")`` -> queen), never returning a, b or c themselves (they are usually the nearest words);
  ``method="add"`` is 3CosAdd (Mikolov et al. 2013), ``method="mul"`` is 3CosMul (Levy & Goldberg 2014);
- :meth:`KeyedVectors.evaluate_analogies` scores the Google analogy set (questions-words.txt) like
  gensim's ``evaluate_word_analogies``: only the ``restrict_vocab`` most frequent words are candidates,
  questions with a word outside them are skipped, case is ignored, top-1 must be the expected word;
  accuracy per section and for the semantic (the first five) and syntactic (``gram*``) sections;
- :meth:`KeyedVectors.evaluate_word_pairs` gives the Spearman correlation between cosine similarity and
  human scores on WordSim-353 or SimLex-999 (pairs with an unknown word are left out and counted).

References: Mikolov, Yih & Zweig (2013) "Linguistic Regularities in Continuous Space Word Representations";
Levy & Goldberg (2014) "Linguistic Regularities in Sparse and Explicit Word Representations";
Finkelstein et al. (2002) WordSim-353; Hill, Reichart & Korhonen (2015) SimLex-999.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch


@dataclass
class AnalogyResult:
    """Correct / asked per section of questions-words.txt, and the questions skipped (unknown words)."""

    sections: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: int = 0

    def _acc(self, names: Sequence[str]) -> float:
        correct = sum(self.sections[n][0] for n in names)
        total = sum(self.sections[n][1] for n in names)
        return correct / total if total else float("nan")

    @property
    def semantic(self) -> float:
        return self._acc([n for n in self.sections if not n.startswith("gram")])

    @property
    def syntactic(self) -> float:
        return self._acc([n for n in self.sections if n.startswith("gram")])

    @property
    def total(self) -> float:
        return self._acc(list(self.sections))

    @property
    def asked(self) -> int:
        return sum(t for _, t in self.sections.values())

    def table(self) -> str:
        rows = [f"{'section':28s} {'correct':>8s} {'asked':>6s} {'accuracy':>9s}"]
        for name, (c, t) in self.sections.items():
            rows.append(f"{name:28s} {c:8d} {t:6d} {c / t if t else float('nan'):9.1%}")
        rows.append(f"{'semantic':28s} {'':8s} {'':6s} {self.semantic:9.1%}")
        rows.append(f"{'syntactic':28s} {'':8s} {'':6s} {self.syntactic:9.1%}")
        rows.append(f"{'total':28s} {'':8s} {self.asked:6d} {self.total:9.1%}   ({self.skipped} skipped)")
        return "\n".join(rows)


def read_analogies(path: str | Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Parse questions-words.txt: ``: section`` lines, then lines of four words ``a b c d`` (a:b = c:d)."""
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith(":"):
            sections.append((line[1:].strip(), []))
            continue
        words = line.lower().split()
        if len(words) != 4:
            raise ValueError(f"{path}, line {n}: expected 4 words (a b c d), got {len(words)}: {line!r}")
        if not sections:
            raise ValueError(f"{path}, line {n}: a question before the first ': section' line")
        sections[-1][1].append((words[0], words[1], words[2], words[3]))
    if not sections:
        raise ValueError(f"{path}: no analogy sections found (lines starting with ':')")
    return sections


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """Parse WordSim-353 / SimLex-999 as gensim ships them: ``word1<TAB>word2<TAB>score``, ``#`` comments."""
    pairs = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            raise ValueError(f"{path}, line {n}: expected 'word1<TAB>word2<TAB>score', got {line!r}") from None
    if not pairs:
        raise ValueError(f"{path}: no word pairs found")
    return pairs


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the ranks, ties given their average rank."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two sequences of the same length >= 2, got {len(x)} and {len(y)}")
    rx, ry = _ranks(torch.tensor(x, dtype=torch.float64)), _ranks(torch.tensor(y, dtype=torch.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / (rx.norm() * ry.norm()))


def _ranks(v: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(v, stable=True)
    ranks = torch.empty_like(v)
    ranks[order] = torch.arange(1, len(v) + 1, dtype=v.dtype)
    for value in v.unique():  # ties share their average rank
        tied = v == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


class KeyedVectors:
    """Words and their vectors. ``words`` most frequent first, so ``restrict_vocab=n`` means the top n."""

    def __init__(self, words: Sequence[str], vectors: torch.Tensor) -> None:
        vectors = torch.as_tensor(vectors)
        if vectors.dim() != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"vectors must be (len(words), dim) = ({len(words)}, dim), got {tuple(vectors.shape)}")
        if len(words) == 0:
            raise ValueError("KeyedVectors needs at least one word")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("words must be unique")
        self.vectors = vectors.detach().float().cpu()
        self.normed = self.vectors / self.vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)  # (V, D) unit rows

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> torch.Tensor:
        return self.vectors[self._id(word)]

    def _id(self, word: str) -> int:
        if word not in self.index:
            raise KeyError(f"{word!r} is not in the vocabulary of these vectors ({len(self):,} words)")
        return self.index[word]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.normed[self._id(a)] @ self.normed[self._id(b)])

    def most_similar(self, positive: Sequence[str] | str = (), negative: Sequence[str] = (), topn: int = 10,
                     restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """The ``topn`` words nearest (cosine) to the sum of the positive minus the negative unit vectors,
        leaving out the query words themselves, as gensim does."""
        positive = [positive] if isinstance(positive, str) else list(positive)
        negative = list(negative)
        if not positive and not negative:
            raise ValueError("most_similar needs at least one word")
        query = sum(self.normed[self._id(w)] for w in positive) - sum(
            (self.normed[self._id(w)] for w in negative), torch.zeros(self.normed.shape[1]))
        query = query / query.norm().clamp_min(1e-12)
        limit = min(restrict_vocab or len(self), len(self))
        scores = self.normed[:limit] @ query  # (limit,)
        for w in positive + negative:
            if self.index[w] < limit:
                scores[self.index[w]] = -float("inf")
        best = torch.topk(scores, min(topn, limit - len(set(positive + negative)))).indices
        return [(self.words[i], float(scores[i])) for i in best.tolist()]

    def analogy(self, a: str, b: str, c: str, topn: int = 1, method: str = "add",
                restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """"a is to b as c is to ?": words nearest ``b - a + c`` (3CosAdd) or by 3CosMul; never a, b or c."""
        ids = torch.tensor([[self._id(a), self._id(b), self._id(c)]])
        scores = self._analogy_scores(ids, method, min(restrict_vocab or len(self), len(self)))[0]
        best = torch.topk(scores, topn).indices
        return [(self.words[i], float(scores[i])) for i in best.tolist()]

    def _analogy_scores(self, ids: torch.Tensor, method: str, limit: int) -> torch.Tensor:
        """Scores (Q, limit) of every candidate word for Q questions ids (Q, 3) = (a, b, c); inputs at -inf."""
        cand = self.normed[:limit]  # (R, D)
        a, b, c = (self.normed[ids[:, k]] for k in range(3))  # (Q, D) each
        if method == "add":
            target = b - a + c  # (Q, D); x · target ranks like cos(x, b) - cos(x, a) + cos(x, c)
            scores = (target / target.norm(dim=1, keepdim=True).clamp_min(1e-12)) @ cand.T  # (Q, R) cosines
        elif method == "mul":  # cosines moved to [0, 1] so the product and ratio make sense
            cos_a, cos_b, cos_c = ((v @ cand.T + 1) / 2 for v in (a, b, c))
            scores = cos_b * cos_c / (cos_a + 1e-3)
        else:
            raise ValueError(f"method must be 'add' (3CosAdd) or 'mul' (3CosMul), got {method!r}")
        rows = torch.arange(len(ids))
        for k in range(3):  # the three query words are never an answer
            inside = ids[:, k] < limit
            scores[rows[inside], ids[inside, k]] = -float("inf")
        return scores

    def evaluate_analogies(self, path: str | Path, restrict_vocab: int = 30_000, method: str = "add",
                           chunk: int = 2048) -> AnalogyResult:
        """Top-1 accuracy on questions-words.txt, per section, as gensim's ``evaluate_word_analogies``."""
        limit = min(restrict_vocab, len(self))
        result = AnalogyResult()
        for name, questions in read_analogies(path):
            ok = [q for q in questions if all(w in self.index and self.index[w] < limit for w in q)]
            result.skipped += len(questions) - len(ok)
            correct = 0
            for s in range(0, len(ok), chunk):
                ids = torch.tensor([[self.index[w] for w in q] for q in ok[s:s + chunk]])  # (Q, 4)
                guess = self._analogy_scores(ids[:, :3], method, limit).argmax(1)  # (Q,)
                correct += int((guess == ids[:, 3]).sum())
            if ok:
                result.sections[name] = (correct, len(ok))
        if not result.sections:
            raise ValueError(f"no question in {path} has all four words among the {limit:,} most frequent words")
        return result

    def evaluate_word_pairs(self, path: str | Path) -> tuple[float, int, int]:
        """(Spearman's rho between cosine and human scores, pairs used, pairs left out for unknown words)."""
        pairs = read_word_pairs(path)
        known = [(a, b, s) for a, b, s in pairs if a in self.index and b in self.index]
        if len(known) < 2:
            raise ValueError(f"fewer than 2 pairs of {path} have both words in the vocabulary")
        rho = spearman([self.similarity(a, b) for a, b, _ in known], [s for _, _, s in known])
        return rho, len(known), len(pairs) - len(known)


def pca_2d(vectors: torch.Tensor) -> torch.Tensor:
    """Project (N, D) vectors onto their two main directions of variation: (N, 2)."""
    centered = vectors - vectors.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(centered, q=2, center=False)
    return centered @ v[:, :2]


def project_on_direction(kv: KeyedVectors, words: Sequence[str], plus: str = "he", minus: str = "she"
                         ) -> list[tuple[str, float]]:
    """Cosine of each word with the direction ``plus - minus`` (e.g. he - she): > 0 leans to ``plus``."""
    direction = kv.normed[kv._id(plus)] - kv.normed[kv._id(minus)]
    direction = direction / direction.norm().clamp_min(1e-12)
    return [(w, float(kv.normed[kv._id(w)] @ direction)) for w in words]
