"""Reciprocal-rank and weighted fusion on hand-made rankings: exact scores, weights, ties, limits, errors."""

from __future__ import annotations

import pytest

from omnivec.errors import ConfigError
from omnivec.index.hybrid import FUSIONS, get_fusion, resolve_weights, rrf_fuse, weighted_fuse


def test_rrf_scores_are_the_sum_of_reciprocal_ranks():
    fused = rrf_fuse([["a", "b", "c"], ["b", "c", "d"]])
    assert [i for i, _ in fused] == ["b", "c", "a", "d"]
    expected = {"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 63 + 1 / 62, "d": 1 / 63}
    for item, score in fused:
        assert score == pytest.approx(expected[item], abs=1e-15)
    assert rrf_fuse([["a", "b"]], k=0) == [("a", 1.0), ("b", 0.5)]


def test_rrf_weights_scale_each_ranking_and_zero_drops_it():
    fused = dict(rrf_fuse([["a", "b"], ["b", "a"]], weights=[2.0, 1.0]))
    assert fused["a"] == pytest.approx(2 / 61 + 1 / 62, abs=1e-15)
    assert fused["b"] == pytest.approx(2 / 62 + 1 / 61, abs=1e-15)
    assert fused["a"] > fused["b"]
    assert rrf_fuse([["a", "b"], ["c"]], weights=[1.0, 0.0]) == [("a", 1 / 61), ("b", 1 / 62)]


def test_rrf_ties_break_by_best_single_rank_then_id():
    # k=0: B = 1/1, C = 1/1, A = 1/2 + 1/2: three-way tie at 1.0
    fused = rrf_fuse([["B", "A"], ["C", "A"]], k=0)
    assert fused == [("B", 1.0), ("C", 1.0), ("A", 1.0)]
    # symmetric rankings: equal score and equal best rank, so the id decides
    assert [i for i, _ in rrf_fuse([["y", "x"], ["x", "y"]])] == ["x", "y"]


def test_rrf_limit_duplicates_and_empty_rankings():
    assert [i for i, _ in rrf_fuse([["a", "b", "c"], ["c"]], limit=2)] == ["c", "a"]
    fused = dict(rrf_fuse([["a", "a", "b"]], k=0))  # a repeated: counted once, at rank 1; b keeps rank 3
    assert fused == {"a": 1.0, "b": pytest.approx(1 / 3)}
    assert rrf_fuse([[], []]) == [] and rrf_fuse([]) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": -1}, "rrf k must be a non-negative integer"),
        ({"k": 1.5}, "rrf k must be a non-negative integer"),
        ({"weights": [1.0]}, "got 1 weight"),
        ({"weights": [1.0, -1.0]}, "non-negative"),
        ({"limit": 0}, "limit must be at least 1"),
    ],
)
def test_rrf_rejects_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        rrf_fuse([["a"], ["b"]], **kwargs)


SCORED = [
    [("a", 0.9), ("b", 0.5), ("c", 0.1)],  # dense-like cosine scores
    [("c", 10.0), ("d", 4.0), ("a", 2.0)],  # BM25-like scores
]


def test_weighted_fusion_normalises_each_side_to_0_1():
    # side 1: a=1, b=0.5, c=0; side 2: c=1, d=0.25, a=0
    assert weighted_fuse(SCORED, [1.0, 1.0]) == [("a", 1.0), ("c", 1.0), ("b", 0.5), ("d", 0.25)]
    # c: 0 + 2*1 = 2; a: 1 + 0 = 1; b: 0.5; d: 2*0.25 = 0.5 (tie with b: best rank 2 both, id decides)
    assert weighted_fuse(SCORED, [1.0, 2.0]) == [("c", 2.0), ("a", 1.0), ("b", 0.5), ("d", 0.5)]
    assert weighted_fuse(SCORED, [1.0, 2.0], limit=1) == [("c", 2.0)]


def test_weighted_fusion_without_normalising_and_edge_cases():
    raw = dict(weighted_fuse(SCORED, None, normalise="none"))
    assert raw == {"c": pytest.approx(10.1), "d": 4.0, "a": pytest.approx(2.9), "b": 0.5}
    assert weighted_fuse([[("only", 3.0)], []], [1.0, 1.0]) == [("only", 1.0)]  # one candidate: 1
    assert weighted_fuse([[("a", 1.0)], [("b", 5.0)]], [0.0, 1.0]) == [("b", 1.0)]
    with pytest.raises(ConfigError, match="unknown normalise 'zscore'"):
        weighted_fuse(SCORED, normalise="zscore")
    with pytest.raises(ConfigError, match="not finite"):
        weighted_fuse([[("a", float("nan"))]])


def test_fusion_registry_has_one_calling_convention():
    assert set(FUSIONS) == {"rrf", "weighted"}
    assert FUSIONS["rrf"](SCORED, None, limit=3) == rrf_fuse([[i for i, _ in s] for s in SCORED], limit=3)
    assert FUSIONS["rrf"](SCORED, [1.0, 1.0], rrf_k=0) == rrf_fuse([[i for i, _ in s] for s in SCORED], k=0)
    assert get_fusion("weighted")(SCORED, [1.0, 2.0]) == weighted_fuse(SCORED, [1.0, 2.0])
    with pytest.raises(ConfigError, match=r"unknown fusion 'max'; expected one of \['rrf', 'weighted'\]"):
        get_fusion("max")


def test_weights_mapping_is_checked_and_completed():
    assert resolve_weights(None) == {"dense": 1.0, "lexical": 1.0}
    assert resolve_weights({"lexical": 0.25}) == {"dense": 1.0, "lexical": 0.25}
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['bm25'\]"):
        resolve_weights({"bm25": 1.0})
    with pytest.raises(ConfigError, match=r"weights\.dense must be finite and non-negative"):
        resolve_weights({"dense": -1})
    with pytest.raises(ConfigError, match="at least one of dense and lexical"):
        resolve_weights({"dense": 0, "lexical": 0})
