"""EmbeddingMemo and the phases that share it: mining rounds and adaptive balancing."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.training.data import TrainingData
from omnivec.training.embed_memo import EmbeddingMemo


class _Counting:
    """Wraps a model; records the (view, number of inputs) of each ``encode_items`` call."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode_items(self, items, **kw):
        self.calls.append((kw.get("view"), len(items)))
        return self.model.encode_items(items, **kw)


@pytest.fixture(scope="module")
def data(tiny_world):
    return TrainingData(tiny_world)


def test_memo_embeds_each_input_once_and_matches_encode(tiny_model, data):
    store = data.store
    ids = store.ids[:6]
    model = _Counting(tiny_model)
    memo = EmbeddingMemo(model, batch_size=4)
    items = [store.item(i) for i in ids]
    emb, ok = memo.embed([f"item:{i}" for i in ids], items, task="i2i", side="target")
    assert ok.all()
    ref = tiny_model.encode_items(items, task="i2i", side="target", batch_size=4).embeddings
    np.testing.assert_allclose(emb, ref, atol=1e-5)
    # i2i query / q2i target render the same prompt as i2i target by default: no new rows
    again, _ = memo.embed([f"item:{i}" for i in ids[::-1]], items[::-1], task="q2i", side="target")
    np.testing.assert_array_equal(again, emb[::-1])
    assert model.calls == [(None, 6)] and memo.computed == 6 and memo.requested == 12
    # another view or a differently rendered prompt is another row
    memo.embed([f"item:{ids[0]}"], items[:1], task="i2i", side="target", view="text")
    memo.embed([f"item:{ids[0]}"], items[:1], task="cls", side="target")
    assert memo.computed == 8


def test_memo_marks_failed_inputs(tiny_model):
    memo = EmbeddingMemo(tiny_model)
    emb, ok = memo.embed(["text:a", "bad"], [{"text": "a"}, {}], task="i2i", side="query")
    assert ok.tolist() == [True, False] and not emb[1].any()
    with pytest.raises(ValueError, match="differ in length"):
        memo.embed(["x"], [], task="i2i", side="query")


def test_a_mining_round_shares_rows_and_mines_the_same(tiny_model, data):
    from omnivec.training.hard_negatives import mine_source

    names = [n for n in data.source_names if data.source(n).config.target == "item"][:3]
    memo = EmbeddingMemo(tiny_model)
    for name in names:
        alone = mine_source(tiny_model, data, name, k=2, max_queries=200)
        shared = mine_source(tiny_model, data, name, k=2, max_queries=200, memo=memo)
        assert shared.summary() == alone.summary()
        assert shared.negatives.keys() == alone.negatives.keys()
        same = sum(shared.negatives[r] == alone.negatives[r] for r in alone.negatives)
        assert same >= 0.99 * len(alone.negatives)  # batch composition may move float ties
    assert memo.computed < memo.requested


def test_balancing_embeds_only_the_fusion_view_and_scores_as_with_every_view(tiny_model, data):
    from omnivec.data.balancing import source_weights
    from omnivec.training import balance

    model = _Counting(tiny_model)
    res = balance.balance_sources(model, data, per_set=24, k=3, temperature=0.2, seed=0, aggregate="per_set")
    assert {view for view, _ in model.calls} == {None}
    # the reference: every view of every set, as before the memo
    rng = np.random.default_rng(0)
    memo = EmbeddingMemo(tiny_model)
    views = list(balance.VIEWS)
    train = {n: balance._embed_modalities(memo, balance._sample(balance.source_inputs(data, n), 24, rng),
                                          "i2i", views) for n in data.source_names}  # fmt: skip
    import json

    val = {}
    for path in sorted((data.root / "tasks").glob("*.json")):
        cfg = json.loads(path.read_text())
        if cfg.get("type") in ("i2i", "q2i", "cls"):
            x = balance._sample(balance.task_inputs(data, path.parent / cfg["file"]), 24, rng)
            if x:
                val[cfg["name"]] = balance._embed_modalities(memo, x, "i2i", views)
    assert any(len(sets) > 1 for sets in train.values())
    balance._center(train, val)
    ref = source_weights(train, val, k=3, temperature=0.2, seed=0, aggregate="per_set")
    assert res.val_names == ref.val_names
    for name, w in ref.weights.items():
        assert res.weights[name] == pytest.approx(w, abs=1e-6)
