"""The hybrid query router: features on hand-made corpora, routing, fitting, known-item mining, save/load,
and ``weights="auto"`` in hybrid_search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index import build_index, open_index
from omnivec.index.hybrid import hybrid_search
from omnivec.index.lexical import LexicalIndex
from omnivec.index.router import (
    ROUTER_FEATURES,
    NameMatcher,
    QueryRouter,
    RouterExample,
    catalogue_names,
    fit_router,
    known_item_queries,
    query_features,
)

DOCS = {
    "a": "relaxing piano music at night",
    "b": "piano lesson for beginners",
    "c": "night city walk",
    "d": "velmora tides | piano cover",
    "e": "charger kx-4821 fast",
}


@pytest.fixture(scope="module")
def lex() -> LexicalIndex:
    return LexicalIndex.build(list(DOCS.values()), list(DOCS))


def _f(x: np.ndarray, name: str) -> float:
    return float(x[ROUTER_FEATURES.index(name)])


def _router(**coefs: float) -> QueryRouter:
    n = len(ROUTER_FEATURES)
    coef = [coefs.get(name, 0.0) for name in ROUTER_FEATURES]
    return QueryRouter(coef=coef, intercept=coefs.get("intercept", 0.0), mean=[0.0] * n, scale=[1.0] * n)


def test_doc_freq_counts_documents_not_occurrences(lex: LexicalIndex) -> None:
    assert lex.doc_freq(["piano", "night", "velmora", "kx-4821", "unknown"]) == [3, 2, 1, 1, 0]


def test_query_features_on_a_hand_made_corpus(lex: LexicalIndex) -> None:
    n, norm = 5, math.log(6)

    def idf(df: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5)) / norm

    hits = lex.search(["velmora piano"], 10)[0]
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.1)]
    x = query_features(lex, "Velmora piano", dense, hits, item_query=False, rare_df=1)
    assert x.shape == (len(ROUTER_FEATURES),)
    assert _f(x, "log_tokens") == pytest.approx(math.log(3))
    assert _f(x, "max_idf") == pytest.approx(idf(1)) and _f(x, "min_idf") == pytest.approx(idf(3))
    assert _f(x, "mean_idf") == pytest.approx((idf(1) + idf(3)) / 2)
    assert _f(x, "lexical_coverage") == pytest.approx(hits[0][1] / (norm * (idf(1) + idf(3))))
    assert _f(x, "lexical_drop") == pytest.approx((hits[0][1] - hits[-1][1]) / hits[0][1])
    assert _f(x, "dense_top") == pytest.approx(0.9) and _f(x, "dense_drop") == pytest.approx(0.8)
    assert _f(x, "overlap_at_10") == pytest.approx(len({"a", "b"} & {i for i, _ in hits}) / 10)
    assert _f(x, "item_query") == 0.0 and _f(x, "rare_fraction") == 0.5
    assert _f(x, "log_min_df") == pytest.approx(math.log(2)) and _f(x, "has_code") == 0.0
    code = query_features(lex, "KX-4821", [], lex.search(["KX-4821"], 10)[0], item_query=True)
    assert _f(code, "has_code") == 1.0 and _f(code, "item_query") == 1.0 and _f(code, "dense_top") == 0.0
    empty = query_features(lex, "zzz", [], [], item_query=False)
    assert np.isfinite(empty).all() and _f(empty, "log_tokens") == 0.0


def test_catalogue_names_and_the_name_match_feature(lex: LexicalIndex) -> None:
    rows = [
        ("1", {"nickname": "Ben the Chef", "title": "pasta"}),
        ("2", {"nickname": "chic_finn"}),
        ("3", {"nickname": "ben the chef"}),  # the same name, differently cased: kept once
        ("4", {"nickname": "Al"}),  # under min_chars
        ("5", {"nickname": None, "title": "night city walk"}),
    ]
    names = catalogue_names(rows, lex)
    assert names == ["ben chef", "chic finn chic_finn"]
    assert catalogue_names(rows, lex, min_chars=1) == ["al", "ben chef", "chic finn chic_finn"]
    assert catalogue_names(rows, lex, fields=("title",)) == ["night city walk", "pasta"]
    matcher = NameMatcher(names)
    assert len(matcher) == 2
    assert matcher.found(lex.tokens("latest from Ben the Chef")) and matcher.found(
        lex.tokens("chic_finn videos")
    )
    assert not matcher.found(lex.tokens("ben cooks for the chef"))  # not one contiguous span
    assert not matcher.found(lex.tokens("chic finn"))  # the handle's joined token is part of the name

    def name_match(text: str, item_query: bool = False, names: NameMatcher | None = matcher) -> float:
        return _f(query_features(lex, text, [], [], item_query=item_query, names=names), "name_match")

    assert name_match("latest from ben the chef") == 1.0
    assert name_match("pasta by chefs") == 0.0
    assert name_match("latest from ben the chef", item_query=True) == 0.0  # an item's own fields hold names
    assert name_match("latest from ben the chef", names=None) == 0.0
    router = _router(name_match=20.0, intercept=-10.0)
    router.names = names
    router = QueryRouter.from_dict(router.to_dict())
    assert router.route(lex, "ben the chef videos", [], [])["lexical"] == 0.99
    assert router.route(lex, "pasta night", [], [])["lexical"] == 0.1
    with pytest.raises(ConfigError, match="names"):
        QueryRouter.from_dict({**router.to_dict(), "names": "ben the chef"})


def test_router_routes_hard_between_two_shares(lex: LexicalIndex) -> None:
    router = _router(max_idf=20.0, intercept=-10.0)  # rare word → lexical
    rare = router.route(lex, "velmora", [], lex.search(["velmora"], 5)[0])
    common = router.route(lex, "piano", [], lex.search(["piano"], 5)[0])
    assert rare == {"dense": pytest.approx(0.01), "lexical": 0.99}
    assert common == {"dense": pytest.approx(0.9), "lexical": 0.1}
    assert router.probability(np.zeros(len(ROUTER_FEATURES))) == pytest.approx(1 / (1 + math.exp(10)))


def test_router_round_trips_and_rejects_bad_values(tmp_path) -> None:
    router = _router(max_idf=1.5, intercept=0.25)
    router.stats = {"examples": 3}
    path = router.save(tmp_path)
    assert path.name == "router.json"
    again = QueryRouter.load(tmp_path)
    assert again == router
    n = len(ROUTER_FEATURES)
    older = QueryRouter(  # a router saved before a feature was added reads only its own features
        coef=[0.0] * (n - 1), intercept=0.0, mean=[0.0] * (n - 1), scale=[1.0] * (n - 1),
        features=ROUTER_FEATURES[:-1],
    )  # fmt: skip
    older.coef[ROUTER_FEATURES.index("max_idf")] = 1.0
    x = np.zeros(n)
    x[ROUTER_FEATURES.index("max_idf")], x[-1] = 2.0, 100.0
    assert QueryRouter.from_dict(older.to_dict()).probability(x) == pytest.approx(1 / (1 + math.exp(-2.0)))
    with pytest.raises(ConfigError, match="coef"):
        QueryRouter(coef=[0.0], intercept=0.0, mean=[0.0] * n, scale=[1.0] * n)
    with pytest.raises(ConfigError, match="high_share"):
        QueryRouter(coef=[0.0] * n, intercept=0.0, mean=[0.0] * n, scale=[1.0] * n, high_share=1.5)
    with pytest.raises(ConfigError, match="low_share"):
        QueryRouter(
            coef=[0.0] * n, intercept=0.0, mean=[0.0] * n, scale=[1.0] * n, low_share=0.9, high_share=0.5
        )
    with pytest.raises(ConfigError, match="feature"):
        QueryRouter(coef=[0.0], intercept=0.0, mean=[0.0], scale=[1.0], features=("shoe_size",))
    (tmp_path / "bad.json").write_text('{"coef": [], "colour": 1}')
    with pytest.raises(DataFormatError, match="colour"):
        QueryRouter.load(tmp_path / "bad.json")
    with pytest.raises(DataFormatError, match="fit-router"):
        QueryRouter.load(tmp_path / "nowhere")


def _examples(lex: LexicalIndex, words: dict[str, str], rng: np.random.Generator) -> list[RouterExample]:
    """Rare-word queries whose answer only BM25 finds; common-word queries whose many answers only the dense
    side ranks (BM25 returns the wrong ones)."""
    out = []
    for word, item in words.items():
        rare = word.startswith("zz")
        lexical = lex.search([word], 20)[0]
        if rare:
            dense = [(f"n{j}", 0.5 - j / 100) for j in range(20)]
            relevant = {item}
        else:
            dense = [(f"r{j}", 0.9 - j / 100) for j in range(20)]
            relevant = {f"r{j}" for j in range(20)}
        dense = [(i, s + rng.normal(0, 0.01)) for i, s in dense]
        out.append(
            RouterExample(word, False, dense, lexical, relevant, "known-item" if rare else "search-log")
        )
    return out


def test_fit_router_learns_which_queries_lexical_serves() -> None:
    rng = np.random.default_rng(0)
    rare = {f"zz{k}": f"item{k}" for k in range(30)}
    common = {w: "" for w in ("music", "walk", "cooking")}
    texts = [f"{w} music walk cooking" for w in rare] + ["music walk"] * 40 + ["cooking night"] * 40
    ids = [f"item{k}" for k in range(30)] + [f"x{k}" for k in range(80)]
    lex = LexicalIndex.build(texts, ids)
    examples = _examples(lex, {**rare, **{w: "" for w in list(common) * 10}}, rng)
    router = fit_router(examples, lex, rare_df=2)
    assert router.stats["informative"] == len(examples)
    assert router.stats["by_source"]["known-item"]["routed_lexical"] == 1.0
    assert router.stats["by_source"]["search-log"]["routed_lexical"] == 0.0
    assert router.stats["balanced_utility"] == pytest.approx(1.0)
    assert 0.05 <= router.threshold <= 0.95
    assert router.route(lex, "zz7", [], lex.search(["zz7"], 20)[0])["lexical"] == 0.99
    # the cut is the highest one within `tolerance` of the best routed utility (fewer queries sent to BM25)
    cuts = {float(t): v for t, v in router.stats["cut_utility"].items()}
    best = max(cuts.values())
    assert router.threshold == max(t for t, v in cuts.items() if v >= best - 0.002)
    exact = fit_router(examples, lex, rare_df=2, tolerance=0.0)
    assert exact.threshold == max(t for t, v in cuts.items() if v == best) <= router.threshold
    with pytest.raises(ConfigError, match="tolerance"):
        fit_router(examples, lex, tolerance=-0.1)
    fixed = fit_router(examples, lex, threshold=0.3, low_share=0.0, high_share=1.0)
    assert fixed.threshold == 0.3 and fixed.low_share == 0.0 and fixed.high_share == 1.0
    only = fit_router([e for e in examples if e.source == "known-item"], lex)
    assert "lexical side" in only.stats["note"] and only.route(lex, "music", [], [])["lexical"] == 0.99
    with pytest.raises(ConfigError, match="tells the two sides apart"):
        fit_router([RouterExample("zz1", False, [("a", 1.0)], [("a", 2.0)], {"a"})], lex)


def test_known_item_queries_match_whole_words_and_are_seeded() -> None:
    items = {
        "1": {"title": "Party art | Velmora Tides", "nickname": "chef_anna", "tags": "kx-4821,food"},
        "2": {"title": "art of pasta", "nickname": "chef_anna", "tags": ["food"]},
        "3": {"title": "party night", "tags": "music"},
    }
    a = known_item_queries(items, 12, seed=3, max_matches=2)
    assert a == known_item_queries(items, 12, seed=3, max_matches=2)
    assert a and len({q.lower() for q, _ in a}) == len(a)
    for query, matches in a:
        assert 1 <= len(matches) <= 2
        want = {i for i, row in items.items() if _has_words(row, query)}
        assert matches == want, query
    assert ("chef_anna", {"1", "2"}) in a or all(q != "chef_anna" for q, _ in a)
    assert known_item_queries({}, 5) == [] and known_item_queries(items, 0) == []


def _has_words(row: dict, query: str) -> bool:
    import re

    from omnivec.index.lexical import item_text

    return re.search(r"(?<!\w)" + re.escape(query.lower()) + r"(?!\w)", item_text(row).lower()) is not None


def test_hybrid_search_auto_weights_use_the_index_router(tmp_path) -> None:
    rows = [{"item_id": i, "title": t} for i, t in DOCS.items()]
    vectors = np.eye(len(rows), 8, dtype=np.float32)
    folder = tmp_path / "idx"
    build_index(vectors, list(DOCS), folder, items=rows, recall_queries=2)
    index = open_index(folder)
    q = np.array([0.1, 0.5, 1.0, 0.3, 0.2, 0, 0, 0], dtype=np.float32)  # dense order: c, b, d, e, a
    with pytest.raises(ConfigError, match="fit-router"):
        hybrid_search(index, vector=q, text="velmora", k=3, weights="auto")
    with pytest.raises(ConfigError, match="auto"):
        hybrid_search(index, vector=q, text="velmora", k=3, weights="lexical-please")
    equal = hybrid_search(index, vector=q, text="velmora", k=3)
    lexical_first = _router(intercept=10.0)
    lexical_first.high_share = 1.0
    lexical_first.save(folder)
    assert index.router == lexical_first
    auto = hybrid_search(index, vector=q, text="velmora", k=3)  # None → the router
    assert (
        [h.id for h in auto]
        == ["d"]
        == [h.id for h in hybrid_search(index, text="velmora", k=3, mode="lexical")]
    )
    assert [h.id for h in hybrid_search(index, vector=q, text="velmora", k=3, weights="auto")] == ["d"]
    explicit = hybrid_search(index, vector=q, text="velmora", k=3, weights={"dense": 1, "lexical": 1})
    assert [h.id for h in explicit] == [h.id for h in equal] and len(explicit) == 3
    dense_first = _router(intercept=-10.0)
    dense_first.low_share = 0.0
    routed = hybrid_search(index, vector=q, text="velmora", k=4, router=dense_first)
    assert [h.id for h in routed] == [h.id for h in index.search(q[None], 4)[0]] == ["c", "b", "d", "e"]
