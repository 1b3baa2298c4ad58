"""Semantic IDs: residual k-means codes of item embeddings (paper §6.5 / Table 6; feature list #22).

SAIL-Embedding ships "semantic IDs" downstream — embeddings discretised "with clustering and vector
quantisation into codebooks of several sizes" (sizes and method UNCONFIRMED). Ours is residual k-means:

    r_0 = x;  c_l = argmin_k ‖r_{l-1} − C_l[k]‖;  r_l = r_{l-1} − C_l[c_l]   (l = 1..levels)

so an item's SID is ``(c_1, …, c_L)`` and its reconstruction ``x̂ = Σ_l C_l[c_l]``. Each level runs
k-means (scikit-learn, seeded) on the previous level's residuals; since a cluster mean never has a larger
squared error than the zero vector, the reconstruction error never rises with more levels. ``codebook_size``
is clamped to the number of distinct residual rows when there are fewer.

:func:`sid_file` is the library behind ``omnivec sid``: it reads an embeddings Parquet (``item_id``,
``row``, ``embedding``, as written by ``omnivec embed``), writes ``item_id``, ``sid`` (list<int>) and
``sid_str`` (``"12-5-33"``) plus the codebooks (``.codebooks.npz``), both atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from omnivec.errors import ConfigError, DataFormatError
from omnivec.recsys._threads import limit_threads
from omnivec.utils.io import atomic_file, write_parquet


@dataclass
class Codebooks:
    """One centroid matrix per level: ``centroids[l]`` is [K_l, D]."""

    centroids: list[np.ndarray]

    @property
    def levels(self) -> int:
        return len(self.centroids)

    @property
    def sizes(self) -> list[int]:
        return [len(c) for c in self.centroids]

    def save(self, path: str | Path) -> None:
        with atomic_file(path, "wb") as fh:
            np.savez(fh, **{f"level{k}": c for k, c in enumerate(self.centroids)})

    @classmethod
    def load(cls, path: str | Path) -> Codebooks:
        with np.load(path) as data:
            return cls([data[f"level{k}"] for k in range(len(data.files))])


def fit_residual_kmeans(
    emb: np.ndarray, levels: int = 3, codebook_size: int = 64, seed: int = 0, *, n_init: int = 1,
    max_iter: int = 100,
) -> Codebooks:  # fmt: skip
    """Fit ``levels`` codebooks of (at most) ``codebook_size`` centroids on ``emb`` [N, D]; seeded."""
    from sklearn.cluster import KMeans

    if levels < 1 or codebook_size < 1:
        raise ConfigError(
            f"semantic IDs need levels >= 1 and codebook_size >= 1, got {levels}, {codebook_size}"
        )
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise DataFormatError(f"semantic IDs need a non-empty [N, D] embedding matrix, got shape {x.shape}")
    centroids = []
    residual = x.copy()
    for level in range(levels):
        distinct = len(np.unique(residual.round(12), axis=0))
        k = max(1, min(codebook_size, distinct))
        with limit_threads(len(residual)):
            km = KMeans(k, n_init=n_init, max_iter=max_iter, random_state=seed + level).fit(residual)
        c = km.cluster_centers_
        centroids.append(c.astype(np.float32))
        residual = residual - c[_nearest(residual, c)]
    return Codebooks(centroids)


def _nearest(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :]
    return np.argmin(d, axis=1)


def encode(codebooks: Codebooks, emb: np.ndarray) -> np.ndarray:
    """Codes [N, levels] (int64) of ``emb`` by greedy residual assignment."""
    residual = np.asarray(emb, dtype=np.float64).copy()
    codes = np.zeros((len(residual), codebooks.levels), dtype=np.int64)
    for level, c in enumerate(codebooks.centroids):
        c64 = c.astype(np.float64)
        codes[:, level] = _nearest(residual, c64)
        residual -= c64[codes[:, level]]
    return codes


def decode(codebooks: Codebooks, codes: np.ndarray) -> np.ndarray:
    """The reconstruction ``Σ_l C_l[codes[:, l]]`` [N, D]."""
    codes = np.asarray(codes, dtype=np.int64)
    out = np.zeros((len(codes), codebooks.centroids[0].shape[1]), dtype=np.float64)
    for level in range(codes.shape[1]):
        out += codebooks.centroids[level].astype(np.float64)[codes[:, level]]
    return out


def reconstruction_error(codebooks: Codebooks, emb: np.ndarray, levels: int | None = None) -> float:
    """Mean squared reconstruction error ``mean_i ‖x_i − x̂_i‖²`` using the first ``levels`` levels."""
    x = np.asarray(emb, dtype=np.float64)
    codes = encode(codebooks, x)[:, : levels or codebooks.levels]
    return float(((x - decode(codebooks, codes)) ** 2).sum(1).mean())


def sid_strings(codes: np.ndarray) -> list[str]:
    return ["-".join(str(int(c)) for c in row) for row in np.asarray(codes)]


def read_embeddings(path: str | Path) -> tuple[list[str], np.ndarray]:
    """(item ids, float32 matrix) of an embeddings Parquet (``item_id``, ``embedding``)."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"embeddings file {p}: not found")
    table = pq.read_table(p)
    for col in ("item_id", "embedding"):
        if col not in table.column_names:
            raise DataFormatError(
                f"embeddings file {p}: missing column {col!r} (expected item_id, row, embedding)"
            )
    ids = [str(x) for x in table.column("item_id").to_pylist()]
    col = table.column("embedding").combine_chunks()
    if pa.types.is_fixed_size_list(col.type):
        mat = col.flatten().to_numpy(zero_copy_only=False).reshape(len(ids), col.type.list_size)
    else:
        rows = col.to_pylist()
        if len({len(r) for r in rows if r is not None} | ({-1} if None in rows else set())) > 1:
            raise DataFormatError(f"embeddings file {p}: column 'embedding' has rows of different lengths")
        mat = np.asarray(rows, dtype=np.float32).reshape(len(ids), -1)
    return ids, np.asarray(mat, dtype=np.float32)


@dataclass
class SIDReport:
    out: Path
    codebooks_path: Path
    n_items: int
    levels: int
    sizes: list[int]
    errors: list[float]  # reconstruction error after each level
    distinct_sids: int


def default_sid_path(emb_path: str | Path) -> Path:
    p = Path(emb_path)
    return p.with_name(p.name.removesuffix(".parquet") + ".sids.parquet")


def sid_file(
    emb_path: str | Path, out_path: str | Path | None = None, *, levels: int = 3, codebook_size: int = 64,
    seed: int = 0,
) -> SIDReport:  # fmt: skip
    """Fit residual k-means on an embeddings file and write its semantic IDs (default: beside it)."""
    ids, emb = read_embeddings(emb_path)
    out = Path(out_path) if out_path is not None else default_sid_path(emb_path)
    books = fit_residual_kmeans(emb, levels, codebook_size, seed)
    codes = encode(books, emb)
    strings = sid_strings(codes)
    table = pa.table({
        "item_id": pa.array(ids, pa.string()),
        "sid": pa.array(codes.tolist(), pa.list_(pa.int64())),
        "sid_str": pa.array(strings, pa.string()),
    })  # fmt: skip
    write_parquet(out, table)
    books_path = out.with_name(out.name.removesuffix(".parquet") + ".codebooks.npz")
    books.save(books_path)
    errors = [reconstruction_error(books, emb, levels=k) for k in range(1, books.levels + 1)]
    return SIDReport(out, books_path, len(ids), books.levels, books.sizes, errors, len(set(strings)))
