from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_thread_faiss():
    """One OpenMP thread: deterministic HNSW graphs, and no spin-wait slowdown on a shared 2-core box."""
    faiss = pytest.importorskip("faiss")
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def _clustered(n: int, d: int, *, clusters: int = 20, latent: int = 6, seed: int = 0) -> np.ndarray:
    """Unnormalised vectors in ``clusters`` low-dimensional blobs (what real embeddings look like)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    label = rng.integers(0, clusters, n)
    basis = rng.standard_normal((clusters, latent, d)) / np.sqrt(latent)
    z = rng.standard_normal((n, latent)) * 0.5
    x = centres[label] + np.einsum("nl,nld->nd", z, basis[label]) + 0.05 * rng.standard_normal((n, d))
    return x.astype(np.float32)


def _brute_force(vectors: np.ndarray, queries: np.ndarray, dim: int, k: int) -> np.ndarray:
    """Exact top-k rows on re-normalised ``dim``-prefixes, by plain numpy (the reference)."""
    c = vectors[:, :dim] / np.linalg.norm(vectors[:, :dim], axis=1, keepdims=True)
    q = queries[:, :dim] / np.linalg.norm(queries[:, :dim], axis=1, keepdims=True)
    return np.argsort(-(q @ c.T), axis=1, kind="stable")[:, :k]


@pytest.fixture(scope="session")
def clustered():
    """``clustered(n, d, clusters=20, latent=6, seed=0)`` → clustered test vectors."""
    return _clustered


@pytest.fixture(scope="session")
def brute_force():
    """``brute_force(vectors, queries, dim, k)`` → exact top-k rows on re-normalised prefixes."""
    return _brute_force
