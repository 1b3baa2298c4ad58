from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from omnivec.recsys.evaluate import RecsysEvalConfig, id_i2i_metrics, recsys_tasks


def _catalog(world: Path) -> tuple[list[str], list[str]]:
    t = pq.read_table(world / "items.parquet", columns=["item_id", "split"]).to_pydict()
    return t["item_id"], t["split"]


def test_omni_equal_to_ids_scores_perfectly(tiny_world: Path) -> None:
    ids, split = _catalog(tiny_world)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(ids), 16)).astype(np.float32)
    warm = [k for k, s in enumerate(split) if s != "cold"]
    table = {"gid": ([ids[k] for k in warm], emb[warm])}
    out = recsys_tasks(tiny_world, ids, emb, id_tables=table, seed=0)
    m = out["id-i2i"]
    for key in ("recall@50", "recall@100", "nmi", "kendall_tau", "topk_intersection", "bijective_accuracy"):
        assert m[key] == pytest.approx(1.0), key
    assert m["kendall_x1e4"] == pytest.approx(1e4)
    assert m["n_pool"] == len(warm) and m["items_without_id"] == len(ids) - len(warm)
    assert m["queries_from_split"] == 1.0 and m["n_queries"] == sum(s == "test" for s in split)
    assert "id-i2i/cold" not in out


def test_unrelated_embeddings_score_near_chance() -> None:
    rng = np.random.default_rng(1)
    ids = [f"i{k}" for k in range(300)]
    omni, idv = rng.normal(size=(300, 16)), rng.normal(size=(300, 8))
    m = id_i2i_metrics(ids, omni, (ids, idv), config=RecsysEvalConfig(max_queries=200))
    assert abs(m["recall@50"] - m["chance@50"]) < 0.05
    assert m["nmi"] < 0.2 and abs(m["kendall_tau"]) < 0.05 and m["topk_intersection"] < 0.1
    assert m["queries_from_split"] == 1.0  # no split filter given


def test_default_teacher_and_ctr_keys(tiny_world: Path) -> None:
    ids, _ = _catalog(tiny_world)
    emb = np.random.default_rng(0).normal(size=(len(ids), 8)).astype(np.float32)
    cfg = RecsysEvalConfig(id_teacher={"epochs": 5})
    out = recsys_tasks(tiny_world, ids, emb, seed=0, config=cfg)
    assert set(out) == {"id-i2i", "ctr", "ctr/cold", "ctr/warm"}
    meta = json.loads((tiny_world / "tasks" / "ctr.json").read_text())
    assert out["ctr"]["n_rows"] == meta["n_queries"] and out["ctr/cold"]["n_rows"] == meta["n_cold"]
    for key in ("auc_base", "auc_match", "auc_match_sid"):
        assert 0.0 <= out["ctr"][key] <= 1.0
    # the base features (popularity, activity, re-plays) predict held-out clicks
    assert out["ctr"]["auc_base"] > 0.6
    assert out["ctr"]["gain_match_sid"] == pytest.approx(out["ctr"]["auc_match_sid"] - out["ctr"]["auc_base"])
    assert 0.0 <= out["id-i2i"]["recall@50"] <= 1.0


def test_rejects_misaligned_embeddings(tiny_world: Path) -> None:
    with pytest.raises(ValueError, match="item_emb"):
        recsys_tasks(tiny_world, ["a", "b"], np.zeros((3, 4)))
