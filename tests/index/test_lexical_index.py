"""LexicalIndex: tokenisation of entities and codes, BM25 ranking by bm25s, save/load without pickle."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from omnivec.errors import ConfigError, DataFormatError
from omnivec.index.lexical import LexicalIndex, item_text, tokenize

CATALOGUE = {
    "code": "X7-200 fast charger",
    "parts": "x7 phone that runs 200 apps",
    "near": "x700 charging cable",
    "charger": "charger for x7 phones, fast and cheap",
    "anna": "fresh pasta by chef_anna",
    "pasta": "pasta recipe for the family",
    "empty": "",
}


@pytest.fixture(scope="module")
def lexical():
    return LexicalIndex.build(list(CATALOGUE.values()), list(CATALOGUE))


def test_tokens_keep_codes_digits_and_drop_stopwords():
    assert tokenize("The X7-200 Charger") == ["x7", "200", "x7-200", "charger"]
    assert tokenize("v2.1 of the iPhone 7") == ["v2", "1", "v2.1", "iphone", "7"]
    assert tokenize("ＸＢＯＸ Series") == ["xbox", "series"]  # full-width letters (NFKC)
    assert tokenize("state-of-the-art") == ["state", "art", "state-of-the-art"]
    assert tokenize("演唱会") == ["演", "唱", "会", "演唱", "唱会"]
    assert tokenize("the and of, -- !!") == []


def test_item_text_joins_the_text_fields_in_order():
    row = {"text": "free text", "tags": ["travel", None, "beach"], "nickname": "anna", "ocr": None,
           "title": "Sunset", "image": "covers/x.png", "asr": "  "}  # fmt: skip
    assert item_text(row) == "Sunset\nanna\ntravel beach\nfree text"
    assert item_text({"image": "x.png"}) == ""


def test_the_exact_product_code_ranks_first(lexical):
    for query in ("x7-200", "X7-200", "charger X7-200"):
        hits = lexical.search([query], 3)[0]
        assert hits[0][0] == "code", (query, hits)
    ranked = dict(lexical.search(["x7-200"], 10)[0])
    assert ranked["code"] > ranked["parts"] > 0  # the parts still match, below the whole code
    assert "near" not in ranked and "empty" not in ranked  # x700 is another token; score 0 is left out
    assert lexical.search(["chef_anna"], 1)[0][0][0] == "anna"
    assert [i for i, _ in lexical.search(["anna"], 5)[0]] == ["anna"]


def test_scores_are_bm25_from_bm25s_best_first(lexical):
    import bm25s

    hits = lexical.search(["fast charger"], 10)[0]
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True) and len(hits) == 2
    reference = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    reference.index([tokenize(t) for t in CATALOGUE.values()], show_progress=False)
    expected = reference.get_scores(["fast", "charger"])
    for item, score in hits:
        assert score == pytest.approx(float(expected[list(CATALOGUE).index(item)]), rel=1e-6)


def test_queries_without_known_tokens_and_bad_arguments(lexical):
    assert lexical.search(["", "the of", "zzz unknown"], 5) == [[], [], []]
    assert lexical.search([], 5) == []
    with pytest.raises(ConfigError, match="k must be at least 1"):
        lexical.search(["pasta"], 0)
    with pytest.raises(ConfigError, match="a list of strings"):
        lexical.search("pasta", 3)


def test_ties_keep_index_order():
    index = LexicalIndex.build(["red shoe", "blue hat", "red shoe"], ["s2", "h", "s1"])
    assert [i for i, _ in index.search(["red"], 2)[0]] == ["s2", "s1"]
    assert [i for i, _ in index.search(["red"], 1)[0]] == ["s2"]


def test_save_and_load_give_identical_results_without_pickle(lexical, tmp_path):
    folder = lexical.save(tmp_path / "lex")
    loaded = LexicalIndex.load(folder)
    assert len(loaded) == len(lexical) == len(CATALOGUE) and loaded.ids == list(CATALOGUE)
    assert loaded.meta == lexical.meta and loaded.meta["tokenizer"] == "words-v1"
    queries = ["x7-200", "fast charger", "pasta", "chef anna", "nothing here"]
    assert loaded.search(queries, 4) == lexical.search(queries, 4)
    for npy in folder.glob("*.npy"):
        array = np.load(npy, allow_pickle=False)  # raises on object arrays
        assert array.dtype != object
    assert json.loads((folder / "ids.json").read_text()) == list(CATALOGUE)
    assert not [p for p in tmp_path.iterdir() if p.name != "lex"], "no temporary folder left"
    # saving again replaces the folder as a whole
    LexicalIndex.build(["only one"], ["x"]).save(folder)
    # Lucene BM25 by hand: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part = tf / (tf + k1 · (1 - b + b · L/L̄))
    idf, tf = math.log(1 + 0.5 / 1.5), 1 / (1 + 1.5)
    assert LexicalIndex.load(folder).search(["one"], 3) == [[("x", pytest.approx(idf * tf, rel=1e-6))]]


def test_build_and_load_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="corpus is empty"):
        LexicalIndex.build([], [])
    with pytest.raises(ConfigError, match="none of the 2 texts has a searchable token"):
        LexicalIndex.build(["the", ""], ["a", "b"])
    with pytest.raises(DataFormatError, match="got 1 texts but 2 ids"):
        LexicalIndex.build(["x"], ["a", "b"])
    with pytest.raises(DataFormatError, match="'a' appears twice"):
        LexicalIndex.build(["x", "y"], ["a", "a"])
    with pytest.raises(ConfigError, match=r"lexical b must be between 0\.0 and 1\.0"):
        LexicalIndex.build(["x"], ["a"], b=2)
    with pytest.raises(DataFormatError, match="not a lexical index folder"):
        LexicalIndex.load(tmp_path)
    folder = LexicalIndex.build(["x y"], ["a"]).save(tmp_path / "lex")
    (folder / "ids.json").write_text('["a", "b"]')
    with pytest.raises(DataFormatError, match="expected a list of 1 ids"):
        LexicalIndex.load(folder)
