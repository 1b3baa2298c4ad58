from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from omnivec.errors import DataFormatError
from omnivec.recsys.id_teacher import (
    IDTeacherConfig,
    load_id_tables,
    read_id_table,
    train_id_teacher,
    write_id_table,
)


@pytest.fixture(scope="module")
def teacher(tiny_world: Path):
    return train_id_teacher(tiny_world, IDTeacherConfig(seed=0))


def test_neighbours_share_hidden_taste(tiny_world: Path, teacher) -> None:
    """truth/ is read here only to check the teacher, never to train it."""
    truth = pq.read_table(tiny_world / "truth" / "items.parquet", columns=["item_id", "taste", "topic_l2"])
    taste = dict(zip(truth.column("item_id").to_pylist(), truth.column("taste").to_pylist(), strict=True))
    t = np.array([taste[i] for i in teacher.item_ids])
    v = teacher.item_vectors
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sim = v @ v.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :10]
    share = float((t[nn] == t[:, None]).mean())
    chance = float(np.mean([(t == x).sum() - 1 for x in t]) / (len(t) - 1))
    assert share > chance + 0.06, (share, chance)
    assert teacher.losses[-1] < teacher.losses[0]


def test_cold_items_have_no_vector(tiny_world: Path, teacher) -> None:
    items = pq.read_table(tiny_world / "items.parquet", columns=["item_id", "split"]).to_pydict()
    played = set(
        pq.read_table(tiny_world / "logs" / "behaviour.parquet", columns=["item_id"]).column(0).to_pylist()
    )
    cold = {i for i, s in zip(items["item_id"], items["split"], strict=True) if s == "cold"}
    assert cold and not cold & set(teacher.item_ids)
    assert set(teacher.item_ids) == played


def test_id_table_round_trip_and_user_tables(tmp_path: Path, teacher) -> None:
    path = write_id_table(tmp_path / "gid.parquet", teacher.item_ids, teacher.item_vectors)
    ids, mat = read_id_table(path)
    assert ids == teacher.item_ids and np.array_equal(mat, teacher.item_vectors)
    # a user's table with plain list<double> vectors
    pq.write_table(pa.table({"item_id": ["a", "b"], "vector": [[1.0, 0.0, 2.0], [0.5, 0.5, 0.5]]}),
                   tmp_path / "aid.parquet")  # fmt: skip
    tables = load_id_tables([path, tmp_path / "aid.parquet"])
    assert list(tables) == ["gid", "aid"] and tables["aid"][1].shape == (2, 3)
    named = load_id_tables({"mine": (["a"], np.ones((1, 4))), "gid": path})
    assert named["mine"][1].dtype == np.float32 and named["gid"][0] == teacher.item_ids


def test_bad_id_tables(tmp_path: Path) -> None:
    pq.write_table(pa.table({"item_id": ["a"], "emb": [[1.0]]}), tmp_path / "t.parquet")
    with pytest.raises(DataFormatError, match="vector"):
        read_id_table(tmp_path / "t.parquet")
    pq.write_table(pa.table({"item_id": ["a", "b"], "vector": [[1.0], [1.0, 2.0]]}), tmp_path / "r.parquet")
    with pytest.raises(DataFormatError, match="equal-length"):
        read_id_table(tmp_path / "r.parquet")
    pq.write_table(pa.table({"item_id": ["a", "a"], "vector": [[1.0], [2.0]]}), tmp_path / "d.parquet")
    with pytest.raises(DataFormatError, match="duplicate"):
        read_id_table(tmp_path / "d.parquet")
    (tmp_path / "x").mkdir()
    write_id_table(tmp_path / "x" / "d.parquet", ["q"], np.ones((1, 2)))
    with pytest.raises(DataFormatError, match="two files"):
        load_id_tables([tmp_path / "x" / "d.parquet", tmp_path / "x" / "d.parquet"])


def test_deterministic_with_seed(tiny_world: Path) -> None:
    cfg = IDTeacherConfig(epochs=2, seed=3)
    a, b = train_id_teacher(tiny_world, cfg), train_id_teacher(tiny_world, cfg)
    assert a.item_ids == b.item_ids and np.array_equal(a.item_vectors, b.item_vectors)
