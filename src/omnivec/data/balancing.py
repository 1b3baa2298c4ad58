"""Adaptive multi-source data balancing: k-means centroids + Sinkhorn alignment → sampling weights.

SAIL-Embedding §3.1.3, Fig. 3 (``papers.md`` §3.3). Each training source and each validation set is
summarised per modality by k-means centroids of (early-model) embeddings; a training/validation pair
is scored by ``S = Σ P ⊙ C`` where ``C`` is the centroid cosine matrix and ``P`` the entropic optimal
transport plan for the cost ``1 − C``; the per-source mean over validation sets goes through a softmax
to give the sampling weights of stochastic specialization (:mod:`omnivec.data.samplers`).

``aggregate="per_set"`` (our variant) lets every validation set vote instead: a softmax over sources per set,
then the mean of those distributions. With the paper's mean, a source that serves one task family very well
(search queries) but looks unlike the others (i2i sets outnumber q2i sets) is starved; per-set voting gives
each validation set the same mass to hand out.

Choices the paper leaves open, made here and configurable: ``k = 8``, uniform marginals (or
cluster-size marginals), ``ε = 0.05``, fusion > vision > text > audio fallback, softmax temperature 1,
embeddings L2-normalised before k-means, at most 10 000 samples per set (seeded draw).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import logsumexp

from omnivec.errors import ConfigError

__all__ = ["BalanceResult", "alignment_score", "kmeans", "sinkhorn", "source_weights"]

Modality = str
DEFAULT_PRIORITY: tuple[str, ...] = ("fusion", "vision", "text", "audio")


def _normalise(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def kmeans(
    x: np.ndarray, k: int, seed: int = 0, iters: int = 100, *, n_init: int = 3, normalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded k-means (scikit-learn ``KMeans``, ``n_init`` restarts, ``iters`` max iterations).

    Args:
        x: ``[n, D]`` embeddings. With ``normalize`` they are L2-normalised first (cosine geometry).
        k: number of clusters; reduced to the number of distinct rows when fewer.

    Returns:
        ``(centroids [k', D], counts [k'])`` with ``counts`` the cluster sizes.
    """
    from sklearn.cluster import KMeans

    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ConfigError(f"k: must be a positive int, got {k!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"kmeans needs a non-empty [n, D] array, got shape {x.shape}")
    if normalize:
        x = _normalise(x)
    k_eff = min(k, np.unique(x, axis=0).shape[0])
    model = KMeans(n_clusters=k_eff, random_state=seed, n_init=n_init, max_iter=iters).fit(x)
    counts = np.bincount(model.labels_, minlength=k_eff)
    return model.cluster_centers_.astype(np.float64), counts


def sinkhorn(
    cost: np.ndarray,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    epsilon: float = 0.05,
    iters: int = 200,
    tol: float = 1e-10,
) -> np.ndarray:
    """Entropic optimal transport plan ``P`` for ``cost`` ``[m, n]`` between marginals ``a`` and ``b``.

    Log-domain Sinkhorn (stable for small ``ε``): dual potentials ``f, g`` updated as
    ``f = ε log a − ε LSE_j((g_j − C_ij)/ε)``, ``g = ε log b − ε LSE_i((f_i − C_ij)/ε)`` and
    ``P_ij = exp((f_i + g_j − C_ij)/ε)``. Stops after ``iters`` rounds or when both marginals are within
    ``tol``. ``a``/``b`` default to uniform and are normalised to sum to 1.
    """
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 2 or 0 in c.shape:
        raise ValueError(f"cost must be a non-empty [m, n] matrix, got shape {c.shape}")
    if not epsilon > 0:
        raise ConfigError(f"epsilon: must be > 0, got {epsilon!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters <= 0:
        raise ConfigError(f"iters: must be a positive int, got {iters!r}")
    m, n = c.shape
    a = np.full(m, 1.0 / m) if a is None else np.asarray(a, dtype=np.float64)
    b = np.full(n, 1.0 / n) if b is None else np.asarray(b, dtype=np.float64)
    if a.shape != (m,) or b.shape != (n,) or (a <= 0).any() or (b <= 0).any():
        raise ValueError(f"marginals must be positive vectors of length {m} and {n}")
    a, b = a / a.sum(), b / b.sum()
    log_a, log_b = np.log(a), np.log(b)
    f, g = np.zeros(m), np.zeros(n)
    for _ in range(iters):
        f = epsilon * (log_a - logsumexp((g[None, :] - c) / epsilon, axis=1))
        g = epsilon * (log_b - logsumexp((f[:, None] - c) / epsilon, axis=0))
        log_p = (f[:, None] + g[None, :] - c) / epsilon
        # Columns are exact after the g-update; check the rows.
        if np.abs(np.exp(logsumexp(log_p, axis=1)) - a).max() < tol:
            break
    return np.exp((f[:, None] + g[None, :] - c) / epsilon)


def _cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _normalise(np.asarray(x, dtype=np.float64)) @ _normalise(np.asarray(y, dtype=np.float64)).T


def alignment_score(
    train_centroids: np.ndarray,
    val_centroids: np.ndarray,
    *,
    train_mass: np.ndarray | None = None,
    val_mass: np.ndarray | None = None,
    epsilon: float = 0.05,
    iters: int = 200,
) -> float:
    """``S = Σ P ⊙ C``: ``C`` = centroid cosine matrix, ``P = sinkhorn(1 − C, train_mass, val_mass)``.

    ``S`` is in ``[−1, 1]``; it is 1 only when all transported mass sits on identical directions.
    """
    cos = _cosine(train_centroids, val_centroids)
    plan = sinkhorn(1.0 - cos, train_mass, val_mass, epsilon=epsilon, iters=iters)
    return float((plan * cos).sum())


@dataclass
class BalanceResult:
    """Output of :func:`source_weights`.

    ``scores[i, j]`` is the alignment of training source ``train_names[i]`` with validation set
    ``val_names[j]`` (NaN when they share no modality) measured on ``modalities[i][j]``;
    ``mean_scores[i]`` their mean over validation sets; ``weights`` the softmax of ``mean_scores``.
    """

    weights: dict[str, float]
    scores: np.ndarray
    mean_scores: np.ndarray
    train_names: list[str]
    val_names: list[str]
    modalities: list[list[str | None]] = field(default_factory=list)

    def table(self, precision: int = 3) -> str:
        """Plain-text matrix (training sources × validation sets) with the modality used, mean, weight."""
        header = ["source", *self.val_names, "mean", "weight"]
        rows = [header]
        for i, name in enumerate(self.train_names):
            cells = [name]
            for j in range(len(self.val_names)):
                s, mod = self.scores[i, j], self.modalities[i][j] if self.modalities else None
                cells.append("-" if np.isnan(s) else f"{s:.{precision}f} ({mod})")
            cells += [f"{self.mean_scores[i]:.{precision}f}", f"{self.weights[name]:.{precision}f}"]
            rows.append(cells)
        widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows)


def _softmax(logits: np.ndarray) -> np.ndarray:
    w = np.exp(logits - logits.max())
    return w / w.sum()


def _per_set_votes(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Mean over validation sets of a softmax over the sources scored on that set (NaN = not scored)."""
    votes = np.zeros(scores.shape[0])
    n_sets = 0
    for j in range(scores.shape[1]):
        col = scores[:, j]
        ok = ~np.isnan(col)
        if ok.any():
            votes[ok] += _softmax(col[ok] / temperature)
            n_sets += 1
    return votes / n_sets


def _seed_for(seed: int, kind: str, name: str, modality: str) -> int:
    """Stable per-set seed (independent of dict order and of Python's salted ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32(f"{kind}/{name}/{modality}".encode())) % (2**32)


def _present(sets: Mapping[str, np.ndarray]) -> set[str]:
    return {m for m, x in sets.items() if x is not None and np.asarray(x).size > 0}


def source_weights(
    train: Mapping[str, Mapping[Modality, np.ndarray]],
    val: Mapping[str, Mapping[Modality, np.ndarray]],
    k: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    modality_priority: Sequence[str] = DEFAULT_PRIORITY,
    *,
    epsilon: float = 0.05,
    sinkhorn_iters: int = 200,
    kmeans_iters: int = 100,
    max_samples: int = 10_000,
    marginals: Literal["uniform", "size"] = "uniform",
    aggregate: Literal["mean", "per_set"] = "mean",
) -> BalanceResult:
    """Sampling weight per training source from its alignment with the validation sets.

    For each (training source ``i``, validation set ``j``) the first modality of ``modality_priority``
    that both carry ("fusion first") is used: k-means centroids of each (≤ ``max_samples`` rows, seeded
    draw) and :func:`alignment_score`. ``w = softmax(mean_j S_ij / temperature)``; pairs with no common
    modality are left out of the mean (NaN in ``scores``).

    Args:
        train, val: name → modality → ``[n, D]`` embeddings (same model, same modality ⇒ same width).
        k: clusters per set and modality.
        temperature: softmax temperature (> 0); smaller = sharper preference.
        seed: drives the subsampling and k-means.
        modality_priority: fallback order.
        marginals: ``"uniform"`` Sinkhorn marginals, or ``"size"`` = cluster sizes.
        aggregate: ``"mean"`` (paper): ``softmax(mean_j S_ij / T)``; ``"per_set"``:
            ``mean_j softmax_i(S_ij / T)`` over the sources scored against set ``j``.
    """
    if not train:
        raise ConfigError("train: at least one training source is required")
    if not val:
        raise ConfigError("val: at least one validation set is required")
    if not temperature > 0:
        raise ConfigError(f"temperature: must be > 0, got {temperature!r}")
    if aggregate not in ("mean", "per_set"):
        raise ConfigError(f"aggregate: must be 'mean' or 'per_set', got {aggregate!r}")
    if marginals not in ("uniform", "size"):
        raise ConfigError(f"marginals: must be 'uniform' or 'size', got {marginals!r}")
    if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples <= 0:
        raise ConfigError(f"max_samples: must be a positive int, got {max_samples!r}")
    priority = list(modality_priority)
    cache: dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]] = {}

    def centroids(kind: str, name: str, modality: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = (kind, name, modality)
        if key not in cache:
            s = _seed_for(seed, kind, name, modality)
            x = np.asarray(x, dtype=np.float64)
            if x.shape[0] > max_samples:
                x = x[np.random.default_rng(s).choice(x.shape[0], size=max_samples, replace=False)]
            cache[key] = kmeans(x, k, seed=s % (2**31), iters=kmeans_iters)
        return cache[key]

    train_names, val_names = list(train), list(val)
    scores = np.full((len(train_names), len(val_names)), np.nan)
    used: list[list[str | None]] = [[None] * len(val_names) for _ in train_names]
    for i, tname in enumerate(train_names):
        t_mods = _present(train[tname])
        for j, vname in enumerate(val_names):
            common = t_mods & _present(val[vname])
            modality = next((m for m in priority if m in common), None)
            if modality is None:
                continue
            tc, tn = centroids("train", tname, modality, train[tname][modality])
            vc, vn = centroids("val", vname, modality, val[vname][modality])
            if tc.shape[1] != vc.shape[1]:
                raise ValueError(
                    f"{modality} embeddings of train {tname!r} ({tc.shape[1]}-d) and val {vname!r} "
                    f"({vc.shape[1]}-d) differ in width"
                )
            mass = (tn, vn) if marginals == "size" else (None, None)
            scores[i, j] = alignment_score(
                tc, vc, train_mass=mass[0], val_mass=mass[1], epsilon=epsilon, iters=sinkhorn_iters
            )
            used[i][j] = modality
    missing = [name for i, name in enumerate(train_names) if np.isnan(scores[i]).all()]
    if missing:
        raise ConfigError(
            f"train: source(s) {missing} share no modality of {priority} with any validation set; "
            "give them an embedding of a common modality or drop them from balancing"
        )
    mean = np.array([np.nanmean(row) for row in scores])
    w = _softmax(mean / temperature) if aggregate == "mean" else _per_set_votes(scores, temperature)
    return BalanceResult(
        weights={name: float(w[i]) for i, name in enumerate(train_names)},
        scores=scores,
        mean_scores=mean,
        train_names=train_names,
        val_names=val_names,
        modalities=used,
    )
