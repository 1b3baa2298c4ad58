from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnivec.errors import DataFormatError
from omnivec.recsys.semantic_ids import (
    Codebooks,
    decode,
    encode,
    fit_residual_kmeans,
    reconstruction_error,
    sid_file,
)


def _emb(n: int = 400, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_error_falls_with_levels_and_codes_in_range() -> None:
    x = _emb()
    books = fit_residual_kmeans(x, levels=4, codebook_size=16, seed=0)
    errs = [reconstruction_error(books, x, levels=k) for k in range(1, 5)]
    assert all(b < a for a, b in itertools.pairwise(errs)), errs
    assert errs[0] < float((x**2).sum(1).mean())  # one level beats the zero vector
    codes = encode(books, x)
    assert codes.shape == (400, 4) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 16
    assert np.allclose(((x - decode(books, codes)) ** 2).sum(1).mean(), errs[-1], rtol=1e-5)


def test_deterministic_with_seed() -> None:
    x = _emb()
    a = encode(fit_residual_kmeans(x, 3, 8, seed=3), x)
    b = encode(fit_residual_kmeans(x, 3, 8, seed=3), x)
    assert np.array_equal(a, b)


def test_codebook_clamped_to_distinct_rows() -> None:
    x = np.repeat(_emb(5), 3, axis=0)
    books = fit_residual_kmeans(x, levels=2, codebook_size=64, seed=0)
    assert books.sizes[0] == 5
    assert reconstruction_error(books, x) < 1e-10


def test_sid_file_writes_beside_embeddings(tmp_path: Path) -> None:
    x = _emb(120, 8)
    path = tmp_path / "emb.parquet"
    pq.write_table(
        pa.table({
            "item_id": [f"i{k}" for k in range(120)],
            "row": pa.array(range(120), pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 8),
        }),
        path,
    )  # fmt: skip
    report = sid_file(path, levels=3, codebook_size=8, seed=0)
    assert report.out == tmp_path / "emb.sids.parquet"
    t = pq.read_table(report.out)
    assert t.column_names == ["item_id", "sid", "sid_str"]
    assert t.schema.field("sid").type == pa.list_(pa.int64())
    rows = t.to_pylist()
    assert rows[0]["item_id"] == "i0" and len(rows[0]["sid"]) == 3
    assert rows[0]["sid_str"] == "-".join(map(str, rows[0]["sid"]))
    books = Codebooks.load(report.codebooks_path)
    assert np.array_equal(encode(books, x), np.array([r["sid"] for r in rows]))
    assert report.errors == sorted(report.errors, reverse=True)
    assert not list(tmp_path.glob(".*tmp"))  # atomic writes leave no temporaries


def test_bad_embeddings_file(tmp_path: Path) -> None:
    pq.write_table(pa.table({"item_id": ["a"], "vec": [[1.0]]}), tmp_path / "bad.parquet")
    with pytest.raises(DataFormatError, match="embedding"):
        sid_file(tmp_path / "bad.parquet")
