"""Dense vs lexical vs hybrid evaluation on the tiny world (planted embedders, real BM25)."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import RandomEmbedder

from omnivec.errors import ConfigError
from omnivec.evaluation.dataset import open_data
from omnivec.evaluation.hybrid import evaluate_modes, hybrid_tasks
from omnivec.evaluation.tasks import evaluate


def test_hybrid_tasks_are_the_item_and_text_retrieval_tasks(tiny_world: Path) -> None:
    names = hybrid_tasks(open_data(tiny_world))
    assert {"content-i2i", "search-q2i", "nickname-q2i", "title-q2i", "code-q2i"} <= set(names)
    assert not {"seq2item", "score-q2i-cls", "ctr", "cls-l1"} & set(names)


def test_dense_mode_agrees_with_the_main_evaluation(tiny_world: Path) -> None:
    tasks = ["content-i2i", "search-q2i"]
    main = evaluate(RandomEmbedder(), tiny_world, tasks, progress=False)
    modes = evaluate_modes(RandomEmbedder(), tiny_world, tasks, modes=["dense"])
    for t in tasks:
        for m in ("recall@10", "recall@50", "ndcg@10"):
            assert modes["dense"][t][m] == pytest.approx(main[t][m]), (t, m)


def test_lexical_finds_codes_and_hybrid_weights_select_a_side(tiny_world: Path) -> None:
    tasks = ["code-q2i", "title-q2i", "content-i2i"]
    res = evaluate_modes(RandomEmbedder(), tiny_world, tasks)
    # exact product codes and made-up titles are lexical home ground; random vectors know nothing
    assert res["lexical"]["code-q2i"]["recall@10"] > 0.9
    assert res["lexical"]["title-q2i"]["recall@10"] > 0.8
    assert res["dense"]["code-q2i"]["recall@10"] < 0.5
    assert res["hybrid"]["code-q2i"]["recall@10"] > res["dense"]["code-q2i"]["recall@10"]
    # RRF with one side weighted 0 is exactly the other side
    only_lex = evaluate_modes(RandomEmbedder(), tiny_world, tasks, modes=["hybrid"], weights=[0.0, 1.0])
    only_dense = evaluate_modes(RandomEmbedder(), tiny_world, tasks, modes=["hybrid"], weights=[1.0, 0.0])
    for t in tasks:
        assert only_lex["hybrid"][t] == pytest.approx(res["lexical"][t])
        assert only_dense["hybrid"][t] == pytest.approx(res["dense"][t])
    weighted = evaluate_modes(RandomEmbedder(), tiny_world, ["code-q2i"], modes=["hybrid"], fusion="weighted")
    assert 0.0 <= weighted["hybrid"]["code-q2i"]["recall@10"] <= 1.0


def test_lexical_only_needs_no_embedder_and_errors_name_the_setting(tiny_world: Path) -> None:
    res = evaluate_modes(None, tiny_world, ["code-q2i"], modes=["lexical"])
    assert set(res) == {"lexical"} and res["lexical"]["code-q2i"]["recall@1"] > 0.8
    with pytest.raises(ConfigError, match="embedder"):
        evaluate_modes(None, tiny_world, ["code-q2i"])
    with pytest.raises(ConfigError, match="mode"):
        evaluate_modes(None, tiny_world, ["code-q2i"], modes=["sparse"])
    with pytest.raises(ConfigError, match="seq2item"):
        evaluate_modes(None, tiny_world, ["seq2item"], modes=["lexical"])
    with pytest.raises(ConfigError, match="candidates"):
        evaluate_modes(None, tiny_world, ["code-q2i"], modes=["lexical"], candidates=20)


def _constant_router(lexical: bool):
    from omnivec.index.router import ROUTER_FEATURES, QueryRouter

    n = len(ROUTER_FEATURES)
    return QueryRouter(
        coef=[0.0] * n, intercept=10.0 if lexical else -10.0, mean=[0.0] * n, scale=[1.0] * n,
        low_share=0.0, high_share=1.0,
    )  # fmt: skip


def test_a_router_choosing_one_side_reproduces_that_side(tiny_world: Path) -> None:
    tasks = ["code-q2i", "content-i2i"]
    res = evaluate_modes(RandomEmbedder(), tiny_world, tasks)
    to_lex = evaluate_modes(
        RandomEmbedder(), tiny_world, tasks, modes=["hybrid"], router=_constant_router(True)
    )
    to_dense = evaluate_modes(
        RandomEmbedder(), tiny_world, tasks, modes=["hybrid"], router=_constant_router(False)
    )
    for t in tasks:
        assert to_lex["hybrid"][t] == pytest.approx(res["lexical"][t])
        assert to_dense["hybrid"][t] == pytest.approx(res["dense"][t])
    with pytest.raises(ConfigError, match="router"):
        evaluate_modes(RandomEmbedder(), tiny_world, tasks, weights=[1, 1], router=_constant_router(True))


def test_router_examples_come_from_sources_and_the_catalogue(tiny_world: Path) -> None:
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.hybrid import lexical_index_for
    from omnivec.evaluation.router import dense_lists_from_cache, router_examples, source_pairs
    from omnivec.index.router import fit_router

    data = open_data(tiny_world)
    ids = data.corpus_ids(data.task("search-q2i"))
    texts, items = source_pairs(tiny_world)
    assert texts and items and all(isinstance(v, set) for v in texts.values())
    lex = lexical_index_for(data, ids)
    cache = EmbeddingCache(RandomEmbedder(), data.item, progress=False)
    ex = router_examples(data, lex, dense_lists_from_cache(cache, ids), ids, n_text=30, n_item=30, n_known=30)
    kinds = {e.source for e in ex}
    assert kinds == {"search-log", "item-pairs", "known-item"}
    corpus = set(ids)
    for e in ex:
        assert e.relevant and e.relevant <= corpus and len(e.dense) > 0
    assert sum(e.source == "known-item" for e in ex) == 30
    dense = dense_lists_from_cache(cache, ids, depth=5)
    assert all(ids[0] not in {i for i, _ in hits} for hits in dense([ids[0]], "item"))  # never itself
    assert len(dense([ids[0]], "text")[0]) == 5
    router = fit_router(ex, lex)  # random vectors: known-item queries prefer BM25, so both labels occur
    assert router.stats["by_source"]["known-item"]["prefer_lexical"] > 0.5


def test_paired_difference_on_hand_made_per_query_values() -> None:
    import numpy as np

    from omnivec.evaluation.hybrid import paired_difference

    a = {"t1": {"r": np.array([1.0, 1.0, 0.0, 0.0])}, "t2": {"r": np.array([0.5, 0.5])}}
    b = {"t1": {"r": np.array([0.0, 1.0, 0.0, 0.0])}, "t2": {"r": np.array([0.5, 0.5])}}
    d, lo, hi = paired_difference(a, b, ["t1", "t2"], "r")
    assert d == pytest.approx((0.25 + 0.0) / 2)  # mean of the per-task mean differences
    assert 0.0 <= lo <= d <= hi <= 0.5  # one query of four differs: the interval reaches 0
    same = paired_difference(a, a, ["t1", "t2"], "r")
    assert same == (0.0, 0.0, 0.0)
    shift = {"t1": {"r": a["t1"]["r"] + 0.1}}
    assert paired_difference(shift, a, ["t1"], "r") == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(ConfigError, match="t1"):
        paired_difference(a, {"t1": {"r": np.zeros(3)}}, ["t1"], "r")
