"""Defaults and checks for the ANN kinds' options, shared by the FAISS and Milvus backends.

``hnsw``: ``hnsw_m`` (graph degree M, default 32), ``ef_construction`` (100), ``ef_search`` (64).

``ivfpq``: ``nlist`` inverted lists, ``pq_m`` sub-quantizers, ``nbits`` bits per code, ``nprobe`` lists
visited per query, ``refine`` (FAISS only: re-rank ``refine × k`` candidates exactly; 0 = off). Defaults suit
small corpora too: k-means wants about 39 training points per centroid (FAISS' own rule), so ``nlist`` is
clamped to ``min(4·√N, N/39)`` and ``nbits`` to ``log2(N/39)`` within 4..8; below ``39 · 2^nbits`` vectors
an IVF-PQ cannot be trained well and building one is a :class:`ConfigError` (use ``flat`` or ``hnsw``).
``pq_m`` defaults to the largest divisor of ``dim`` up to ``min(64, dim/2)`` (≥ 2 components per code).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from omnivec.errors import ConfigError

#: Training points per centroid below which k-means is unreliable (FAISS warns under this).
POINTS_PER_CENTROID = 39
HNSW_OPTIONS: tuple[str, ...] = ("hnsw_m", "ef_construction", "ef_search")
IVFPQ_OPTIONS: tuple[str, ...] = ("nlist", "pq_m", "nbits", "nprobe")


def check_int(options: Mapping[str, Any], name: str, low: int, high: int | None = None) -> int | None:
    """``options[name]`` as an int within ``low..high`` (``None`` when absent); :class:`ConfigError` otherwise."""
    value = options.get(name)
    if value is None:
        return None
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {name} must be an integer, got {value!r}") from None
    if out != value and not isinstance(value, str):
        raise ConfigError(f"option {name} must be an integer, got {value!r}")
    if out < low or (high is not None and out > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"option {name} must be {bound}, got {out}")
    return out


def resolve_hnsw(options: Mapping[str, Any]) -> dict[str, int]:
    return {
        "hnsw_m": check_int(options, "hnsw_m", 2, 512) or 32,
        "ef_construction": check_int(options, "ef_construction", 1) or 100,
        "ef_search": check_int(options, "ef_search", 1) or 64,
    }


def default_pq_m(dim: int) -> int:
    """Largest divisor of ``dim`` that is at most ``min(64, dim // 2)`` (1 for ``dim`` 1)."""
    limit = max(1, min(64, dim // 2))
    return max(m for m in range(1, limit + 1) if dim % m == 0)


def resolve_ivfpq(n: int, dim: int, options: Mapping[str, Any], notes: list[str]) -> dict[str, int]:
    """IVF-PQ options for ``n`` vectors of ``dim`` components; clamps are explained in ``notes``."""
    nbits = check_int(options, "nbits", 1, 16)
    if nbits is None:
        nbits = min(8, max(4, math.floor(math.log2(max(n, 1) / POINTS_PER_CENTROID)) if n else 4))
    need = POINTS_PER_CENTROID * 2**nbits
    if n < need:
        raise ConfigError(
            f"kind 'ivfpq' with nbits={nbits} needs at least {need} vectors to train its product quantizer "
            f"({POINTS_PER_CENTROID} per centroid × {2**nbits} centroids), got {n}; "
            + ("lower nbits, or " if nbits > 4 else "")
            + "use kind 'flat' (exact, and fast at this size) or 'hnsw'"
        )
    cap = max(1, min(int(4 * math.sqrt(n)), n // POINTS_PER_CENTROID))
    nlist = check_int(options, "nlist", 1)
    if nlist is None:
        nlist = cap
    elif nlist > cap:
        notes.append(f"nlist {nlist} clamped to {cap} (≤ 4·√N and ≥ {POINTS_PER_CENTROID} vectors per list)")
        nlist = cap
    pq_m = check_int(options, "pq_m", 1, dim)
    if pq_m is None:
        pq_m = default_pq_m(dim)
    elif dim % pq_m:
        divisors = [m for m in range(1, dim + 1) if dim % m == 0]
        raise ConfigError(f"option pq_m must divide the index dim {dim}, got {pq_m}; valid: {divisors}")
    nprobe = check_int(options, "nprobe", 1)
    if nprobe is None:
        nprobe = min(nlist, max(8, nlist // 8))
    elif nprobe > nlist:
        notes.append(f"nprobe {nprobe} clamped to nlist {nlist}")
        nprobe = nlist
    return {"nlist": nlist, "pq_m": pq_m, "nbits": nbits, "nprobe": nprobe}


def resolve_refine(options: Mapping[str, Any]) -> int:
    return check_int(options, "refine", 0, 1000) or 0
