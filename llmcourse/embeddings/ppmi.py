"""The count-based baseline: a word–context co-occurrence matrix, PPMI, and a truncated SVD.

Before word2vec, word vectors were *counted*: how often does word w appear within a few words of
context word c? Raw counts are dominated by "the" and "of", so each cell is replaced by its positive
pointwise mutual information,

    PPMI(w, c) = max(0, log P(w, c) / (P(w) P_α(c))),   P_α(c) = #c^α / Σ #c'^α,

"how much more often than chance do w and c meet", with the context distribution smoothed by α = 0.75
(the same power as word2vec's noise distribution; Levy, Goldberg & Dagan 2015). A truncated SVD
``PPMI ≈ U S Vᵀ`` then compresses each row to ``dim`` numbers: the word vectors are ``U S^0.5``.
Levy & Goldberg (2014) showed that SGNS implicitly factorises a shifted PMI matrix, so "count" and
"predict" are two roads to similar vectors; GloVe (Pennington et al. 2014) factorises log-counts.

What it leaves out: GloVe's weighted least squares, the shift by log k, and context words beyond the
``max_words`` most frequent (the matrix is max_words x max_words, kept sparse).
"""

from __future__ import annotations

import torch


def cooccurrence(ids: torch.Tensor, n_words: int, window: int = 5, chunk_words: int = 1_000_000) -> torch.Tensor:
    """Sparse (n_words, n_words) counts of word i seeing word j within ``window`` words (both directions).

    Only words with id < n_words take part (ids are frequency ranks, so these are the most frequent).
    Pairs are formed per chunk with tensor operations and summed with a sparse ``coalesce``.
    """
    if ids.numel() < 2:
        raise ValueError("need at least two word ids to count co-occurrences")
    n = ids.numel()
    total = torch.sparse_coo_tensor(torch.zeros(2, 0, dtype=torch.long), torch.zeros(0), (n_words, n_words),
                                    check_invariants=False)
    for start in range(0, n, chunk_words):
        rows, cols = [], []
        for d in range(1, window + 1):  # position i meets position i + d: count (w_i, w_i+d) and (w_i+d, w_i)
            stop = min(start + chunk_words, n - d)
            if stop <= start:
                break
            left, right = ids[start:stop], ids[start + d:stop + d]
            rows += [left, right]
            cols += [right, left]
        if not rows:
            continue
        w, c = torch.cat(rows), torch.cat(cols)
        inside = (w < n_words) & (c < n_words)
        part = torch.sparse_coo_tensor(torch.stack([w[inside], c[inside]]), torch.ones(int(inside.sum())),
                                       (n_words, n_words), check_invariants=False)
        total = (total + part).coalesce()
    return total


def ppmi(counts: torch.Tensor, alpha: float = 0.75) -> torch.Tensor:
    """Positive PMI of a co-occurrence matrix (dense or sparse COO), with context smoothing ``alpha``.

    Zero counts stay zero (their PMI is -inf, clipped to 0), so a sparse input gives a sparse output.
    """
    if counts.dim() != 2:
        raise ValueError(f"counts must be a 2-D matrix, got shape {tuple(counts.shape)}")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0 (1: no context smoothing), got {alpha}")
    if counts.is_sparse:
        counts = counts.coalesce()
        i, j = counts.indices()
        v = counts.values().double()
        rows = torch.zeros(counts.shape[0], dtype=torch.float64).index_add_(0, i, v)  # (V,) row sums
        cols = torch.zeros(counts.shape[1], dtype=torch.float64).index_add_(0, j, v)  # (V,) column sums
    else:
        dense = counts.double()
        rows, cols = dense.sum(1), dense.sum(0)
    total = rows.sum()
    if total <= 0:
        raise ValueError("the co-occurrence matrix is all zeros")
    p_w = rows / total  # (V,) row marginals
    c_alpha = cols**alpha
    p_c = c_alpha / c_alpha.sum()  # (V,) smoothed context marginals
    if counts.is_sparse:
        pmi = torch.log(v / total) - torch.log(p_w[i]) - torch.log(p_c[j])
        keep = (v > 0) & (pmi > 0)
        return torch.sparse_coo_tensor(torch.stack([i[keep], j[keep]]), pmi[keep].float(), counts.shape,
                                       check_invariants=False).coalesce()
    with torch.no_grad():
        pmi = torch.log(dense / total) - torch.log(p_w)[:, None] - torch.log(p_c)[None, :]
        return torch.where(dense > 0, pmi.clamp(min=0), torch.zeros_like(pmi)).float()


def svd_vectors(matrix: torch.Tensor, dim: int, seed: int = 0) -> torch.Tensor:
    """Rows of ``U S^0.5`` from a randomized truncated SVD of ``matrix`` (dense or sparse): (V, dim)."""
    if dim < 1 or dim > min(matrix.shape):
        raise ValueError(f"dim must be between 1 and {min(matrix.shape)}, got {dim}")
    torch.manual_seed(seed)
    u, s, _ = torch.svd_lowrank(matrix, q=dim, niter=4)
    return u * s.sqrt()  # (V, dim)


def ppmi_svd(ids: torch.Tensor, n_words: int, dim: int = 100, window: int = 5, alpha: float = 0.75) -> torch.Tensor:
    """Count-based word vectors for the ``n_words`` most frequent words: co-occurrence -> PPMI -> SVD."""
    return svd_vectors(ppmi(cooccurrence(ids, n_words, window), alpha), dim)
