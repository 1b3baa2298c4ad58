"""The task runner on the tiny world, with planted embedders (fast: no neural model)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from eval_helpers import OracleEmbedder, RandomEmbedder

from omnivec.errors import ConfigError
from omnivec.evaluation import tasks as tasks_mod
from omnivec.evaluation.cache import EmbeddingCache
from omnivec.evaluation.embedders import (
    USER_VECTORS,
    centred_sequence,
    corpus_centre,
    mean_sequence,
    sequence_fn,
)
from omnivec.evaluation.tasks import evaluate
from omnivec.world import load_manifest

NATIVE = ["content-i2i", "location-i2i", "dup-i2i", "copair-i2i", "search-i2i", "search-q2i", "score-q2i-cls",
          "seq2item", "seq2item-filtered", "cls-l1", "cls-l2"]  # fmt: skip


@pytest.fixture(autouse=True)
def _no_recsys(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check our own tasks; the recommender module (written elsewhere) is hidden by default."""
    monkeypatch.setattr(tasks_mod, "RECSYS_MODULE", "omnivec.recsys.no_such_module_for_tests")


def test_shapes_keys_and_meta(tiny_world: Path) -> None:
    emb = RandomEmbedder()
    res = evaluate(emb, tiny_world, progress=False)
    meta = res["_meta"]
    manifest = load_manifest(tiny_world)
    for cfg in manifest.tasks:
        if cfg.type == "ctr":
            assert cfg.name in meta["skipped_tasks"] and cfg.name not in res
            continue
        assert cfg.name in res, cfg.name
        for m in cfg.metrics:
            assert m in res[cfg.name], (cfg.name, m)
        assert meta["n_queries"][cfg.name] == cfg.n_queries
        if cfg.n_cold:
            assert f"{cfg.name}/cold" in res
    for name, metrics in res.items():
        if name == "_meta":
            continue
        for m, v in metrics.items():
            assert isinstance(v, float) and math.isfinite(v), (name, m, v)
            if m not in ("pos_cos", "neg_cos", "pos_neg_gap", "spearman"):
                assert 0.0 <= v <= 1.0, (name, m, v)
    assert {"recall@1", "recall@10", "recall@25", "recall@50", "recall@100", "ndcg@10", "mrr"} <= set(
        res["content-i2i"]
    )
    assert {"pos_cos", "neg_cos", "pos_neg_gap", "pos_neg_auc"} <= set(res["search-q2i"])
    assert meta["embedder"] == "random" and meta["seconds"] > 0
    assert meta["skipped_items"]["count"] == 0
    assert set(meta["similarity"]) >= {"content-i2i", "search-q2i", "score-q2i-cls"}
    assert len(meta["similarity"]["content-i2i"]["pos"]) == 40
    assert meta["headline"]["content-i2i"] == "recall@50" and meta["headline"]["seq2item"] == "recall@25"


def test_each_item_embedded_once_per_task_and_side(tiny_world: Path) -> None:
    emb = RandomEmbedder()
    i2i = ["content-i2i", "location-i2i", "dup-i2i", "copair-i2i", "search-i2i", "seq2item"]
    res = evaluate(emb, tiny_world, i2i, progress=False)
    n_items = load_manifest(tiny_world).counts["items"]
    embedded = sum(n for task, side, n in emb.calls if (task, side) == ("i2i", "target"))
    assert embedded == n_items == res["_meta"]["embedded"]["i2i/target"]  # shared by 6 tasks, computed once


def _expected_random_recall(tiny_world: Path, task: str, k: int) -> float:
    rows = pq.read_table(tiny_world / "tasks" / f"{task}.parquet").to_pylist()
    n = load_manifest(tiny_world).counts["items"] - 1  # the query never ranks itself
    return float(np.mean([k * len(r["relevant"]) / n / min(k, len(r["relevant"])) for r in rows]))


def test_oracle_is_perfect_and_random_is_near_chance(tiny_world: Path, world_truth: dict[str, Any]) -> None:
    content = OracleEmbedder({i: f"{t['topic_l2']}|{t['mood']}" for i, t in world_truth.items()})
    dup = OracleEmbedder({i: t["dup_group"] for i, t in world_truth.items()})
    for oracle, task in ((content, "content-i2i"), (dup, "dup-i2i")):
        res = evaluate(oracle, tiny_world, [task], progress=False)[task]
        for m in ("recall@1", "recall@10", "recall@50", "recall@100", "ndcg@10", "mrr", "pos_neg_auc"):
            assert res[m] == pytest.approx(1.0), (task, m)
    rnd = evaluate(RandomEmbedder(), tiny_world, ["content-i2i", "score-q2i-cls"], progress=False)
    chance = _expected_random_recall(tiny_world, "content-i2i", 50)
    assert abs(rnd["content-i2i"]["recall@50"] - chance) < 0.15
    assert rnd["content-i2i"]["recall@50"] < 0.6
    assert 0.3 < rnd["score-q2i-cls"]["auc"] < 0.7


def test_cls_oracle_accuracy(tiny_world: Path, world_truth: dict[str, Any]) -> None:
    groups = {i: t["topic_l1"] for i, t in world_truth.items()}
    groups.update({t: t for t in set(groups.values())})  # label text -> its own group
    res = evaluate(OracleEmbedder(groups), tiny_world, ["cls-l1"], progress=False)
    assert res["cls-l1"]["accuracy"] == 1.0
    assert res["cls-l1/cold"]["accuracy"] == 1.0


def test_seq2item_uses_hook_and_excludes_nothing(tiny_world: Path) -> None:
    seen: list[list[int]] = []

    class FirstItem(RandomEmbedder):
        name = "first-item"

        def embed_sequence(self, histories: list[list[np.ndarray]]) -> np.ndarray:
            seen.append([len(h) for h in histories])
            return np.stack([h[0] for h in histories])

    rows = pq.read_table(tiny_world / "tasks" / "seq2item.parquet").to_pylist()
    repeat = np.mean([r["query_items"][0] == r["target_item"] for r in rows])
    assert repeat > 0  # the world has users who re-watch their first sampled item
    res = evaluate(FirstItem(), tiny_world, ["seq2item"], progress=False)["seq2item"]
    assert seen == [[len(r["query_items"]) for r in rows]]  # one call, every history, in row order
    assert res["recall@1"] >= repeat  # the target in the history is NOT excluded


def test_mean_sequence_default() -> None:
    a, b = np.array([1.0, 0.0], np.float32), np.array([0.0, 1.0], np.float32)
    out = mean_sequence([[a, b], [a], []])
    np.testing.assert_allclose(out, [[2**-0.5, 2**-0.5], [1.0, 0.0], [0.0, 0.0]], atol=1e-6)
    assert sequence_fn(RandomEmbedder()) is mean_sequence


def test_centred_user_vector_takes_the_corpus_centroid_out() -> None:
    # every item is mostly the shared direction e0; users differ only in the small e1 / e2 parts
    centre = np.array([0.9, 0.0, 0.0], np.float32)
    hub = np.array([1.0, 0.0, 0.0], np.float32)  # the most central item: nobody's taste
    mine = np.array([0.8, 0.6, 0.0], np.float32)  # the user's side of the space (e1)
    other = np.array([0.8, 0.0, 0.6], np.float32)
    history = [[np.array([0.99, 0.141, 0.0], np.float32), np.array([0.99, 0.141, 0.0], np.float32)]]
    corpus = np.stack([hub, mine, other])
    plain = mean_sequence(history)[0] @ corpus.T
    assert int(np.argmax(plain)) == 0  # the plain mean ranks the hub first
    centred = centred_sequence(history, centre)
    manual = history[0][0] - centre
    np.testing.assert_allclose(
        centred[0], manual / np.linalg.norm(manual), atol=1e-6
    )  # (mean − c), re-normalised
    assert int(np.argmax(centred[0] @ corpus.T)) == 1
    # zero centre = the plain mean; empty histories stay zero rows; failed (zero) corpus rows do not count
    np.testing.assert_allclose(centred_sequence([*history, []], np.zeros(3))[0], mean_sequence(history)[0])
    assert not centred_sequence([*history, []], centre)[1].any()
    np.testing.assert_allclose(corpus_centre(np.stack([hub, mine, np.zeros(3, np.float32)])), [0.9, 0.3, 0.0])
    np.testing.assert_allclose(
        USER_VECTORS["centred"](history, corpus), centred_sequence(history, corpus.mean(0))
    )


def test_user_vector_option_reaches_seq2item_and_is_validated(tiny_world: Path) -> None:
    mean = evaluate(RandomEmbedder(), tiny_world, ["seq2item"], progress=False)
    cen = evaluate(RandomEmbedder(), tiny_world, ["seq2item"], progress=False, user_vector="centred")
    assert mean["_meta"]["user_vector"] == "mean" and cen["_meta"]["user_vector"] == "centred"
    assert mean["seq2item"] != cen["seq2item"]  # a different user vector ranks differently

    class Hooked(RandomEmbedder):
        def embed_sequence(self, histories: list[list[np.ndarray]]) -> np.ndarray:
            return mean_sequence(histories)

    # an embedder's own embed_sequence wins over the option
    assert (
        evaluate(Hooked(), tiny_world, ["seq2item"], progress=False, user_vector="centred")["seq2item"]
        == (mean["seq2item"])
    )
    with pytest.raises(ConfigError, match="user_vector 'median'"):
        evaluate(RandomEmbedder(), tiny_world, ["seq2item"], progress=False, user_vector="median")


def test_failed_items_are_counted_and_score_zero(tiny_world: Path) -> None:
    rows = pq.read_table(tiny_world / "tasks" / "dup-i2i.parquet").to_pylist()
    bad = {rows[0]["query_item"]}
    dup_groups = OracleEmbedder(
        {r["item_id"]: r["dup_group"] for r in pq.read_table(tiny_world / "items.parquet").to_pylist()}
    )

    class Failing(OracleEmbedder):
        def __init__(self, groups: dict[str, str]) -> None:
            super().__init__(groups)
            self.errors: list[str] = []

        def embed(self, items: list[dict[str, Any]], *, task: str, side: str) -> np.ndarray:
            out = super().embed(items, task=task, side=side)
            for r, it in enumerate(items):
                if it.get("id") in bad:
                    out[r] = 0
                    self.errors.append(f"item {it['id']!r}: broken")
            return out

    emb = Failing(dup_groups.groups)
    res = evaluate(emb, tiny_world, ["dup-i2i"], progress=False)
    skipped = res["_meta"]["skipped_items"]
    assert skipped["count"] == 2  # as a query (i2i/query) and as a corpus item (i2i/target)
    assert any(next(iter(bad)) in s for s in skipped["items"]) and skipped["errors"]
    n = len(rows)
    assert res["dup-i2i"]["recall@1"] == pytest.approx((n - 1) / n)  # the failed query scores 0


def test_max_queries_and_unknown_task(tiny_world: Path) -> None:
    res = evaluate(RandomEmbedder(), tiny_world, ["seq2item", "cls-l2"], progress=False, max_queries=5)
    assert res["_meta"]["n_queries"] == {"seq2item": 5, "cls-l2": 5}
    with pytest.raises(ConfigError, match="no-such-task"):
        evaluate(RandomEmbedder(), tiny_world, ["no-such-task"], progress=False)


def test_recsys_tasks_are_delegated(
    tiny_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake_recsys_eval.py").write_text(
        "CALLS = []\n"
        "def recsys_tasks(data_dir, item_ids, item_emb, seed=0):\n"
        "    CALLS.append((data_dir, list(item_ids), item_emb.shape, seed))\n"
        "    return {'ctr': {'n_rows': 9.0, 'auc_match': 0.61}, 'ctr/cold': {'auc_match': 0.5},\n"
        "            'gid-i2i': {'recall@50': 0.25}}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(tasks_mod, "RECSYS_MODULE", "fake_recsys_eval")
    import fake_recsys_eval

    res = evaluate(RandomEmbedder(dim=16), tiny_world, ["dup-i2i", "ctr"], progress=False)
    assert res["ctr"] == {"n_rows": 9.0, "auc_match": 0.61} and res["ctr/cold"] == {"auc_match": 0.5}
    assert "gid-i2i" not in res  # only what was asked for (and its splits)
    assert res["_meta"]["headline"]["ctr"] == "auc_match"
    (data_dir, ids, shape, seed), = fake_recsys_eval.CALLS  # fmt: skip
    assert Path(data_dir) == tiny_world and shape == (len(ids), 16) and len(ids) == 200 and seed == 0
    res = evaluate(RandomEmbedder(dim=16), tiny_world, progress=False)
    assert res["gid-i2i"] == {"recall@50": 0.25} and not res["_meta"]["skipped_tasks"]


def test_embedding_cache_reuses_rows_and_checks_shapes() -> None:
    emb = RandomEmbedder(fail={"b"})
    cache = EmbeddingCache(emb, lambda i: {"id": i}, progress=False, call_size=2)
    first = cache.items(["a", "b", "c"], "i2i", "target")
    again = cache.items(["c", "a"], "i2i", "target")
    np.testing.assert_array_equal(again, first[[2, 0]])
    assert sum(n for *_, n in emb.calls) == 3  # nothing embedded twice
    assert cache.items(["a"], "i2i", "query").shape == (1, 32)  # another prompt: embedded again
    assert cache.texts(["a"], "i2i", "target").shape == (1, 32)  # texts and items are distinct keys
    assert cache.is_failed("item", "b", "i2i", "target") and not cache.is_failed("item", "a", "i2i", "target")
    assert cache.n_failed == 1 and cache.computed == {"i2i/target": 4, "i2i/query": 1}

    class Broken(RandomEmbedder):
        def embed(self, items: list[dict[str, Any]], *, task: str, side: str) -> np.ndarray:
            return super().embed(items, task=task, side=side)[:-1]

    with pytest.raises(ValueError, match="one row per item"):
        EmbeddingCache(Broken(), lambda i: {"id": i}, progress=False).items(["a", "b"], "i2i", "target")


def test_embedding_cache_shares_rows_between_identical_prompts() -> None:
    class OnePrompt(RandomEmbedder):
        """Items get one catalogue prompt on every task; only text queries differ."""

        def prompt_key(self, task: str, side: str) -> str:
            return "query" if (task, side) == ("q2i", "query") else "item"

    emb = OnePrompt(fail={"b"})
    cache = EmbeddingCache(emb, lambda i: {"id": i}, progress=False)
    i2i = cache.items(["a", "b", "c"], "i2i", "target")
    np.testing.assert_array_equal(cache.items(["c", "a"], "q2i", "target"), i2i[[2, 0]])
    np.testing.assert_array_equal(cache.items(["b"], "seq", "query"), i2i[[1]])
    assert sum(n for *_, n in emb.calls) == 3  # one corpus pass serves i2i, q2i and seq
    assert cache.is_failed("item", "b", "q2i", "target")  # a failure is known under every sharing prompt
    cache.texts(["beach"], "q2i", "query")
    assert sum(n for *_, n in emb.calls) == 4


def test_rank_queries_takes_a_row_of_exclusions_per_query() -> None:
    from omnivec.evaluation.retrieval import rank_queries

    corpus = np.eye(4, dtype=np.float32)
    queries = np.array([[0.9, 0.5, 0.1, 0.0], [0.0, 0.1, 0.5, 0.9]], np.float32)
    relevant = [np.array([0, 2]), np.array([3])]
    exclude = np.array([[0, 1], [-1, -1]])  # query 0 may not see items 0 and 1; query 1 sees everything
    res = rank_queries(queries, corpus, relevant, recall_ks=[1], exclude=exclude)
    assert res.indices[0][0] == 2 and 0 not in res.indices[0].tolist() and 1 not in res.indices[0].tolist()
    # item 0 left query 0's relevant set too, so its one remaining relevant item is found at rank 1
    assert res.per_query["recall@1"].tolist() == [1.0, 1.0]


def test_seq_history_exclude_scores_new_items_only(tiny_world: Path) -> None:
    """Near-orthogonal random vectors and the plain mean: a user's own history items fill the top of the
    ranking. With ``keep`` a replayed target counts as a hit; with ``exclude`` the history leaves the
    candidates and the relevant set, and a row whose target was a replay has nothing left to find."""
    from omnivec.evaluation.dataset import open_data

    data = open_data(tiny_world)
    cfg = next(t for t in data.tasks if t.name == "seq2item")
    corpus = set(data.corpus_ids(cfg))
    rows = data.rows(cfg)
    replay = np.array(
        [r["target_item"] in set(r["query_items"]) and r["target_item"] in corpus for r in rows]
    )
    assert replay.any() and not replay.all()  # the tiny world has both kinds of row
    emb = RandomEmbedder(dim=1024)
    keep = evaluate(emb, tiny_world, ["seq2item"], progress=False, per_query=True, cold_split=False)
    new = evaluate(emb, tiny_world, ["seq2item"], progress=False, per_query=True, cold_split=False,
                   seq_history="exclude")  # fmt: skip
    assert keep["_meta"]["seq_history"] == "keep" and new["_meta"]["seq_history"] == "exclude"
    kept = keep["_meta"]["per_query"]["seq2item"]["recall@10"]
    fresh = new["_meta"]["per_query"]["seq2item"]["recall@10"]
    np.testing.assert_array_equal(kept[replay], 1.0)  # every replay is found among the ≤ 10 history items
    np.testing.assert_array_equal(fresh[replay], 0.0)  # ... and is no longer relevant once excluded
    assert (
        f"seq2item: {int(replay.sum())} row(s) have no relevant item in the corpus (score 0)"
        in (new["_meta"]["notes"])
    )
    with pytest.raises(ConfigError, match="seq_history 'drop': must be one of keep, exclude"):
        evaluate(emb, tiny_world, ["seq2item"], progress=False, seq_history="drop")
