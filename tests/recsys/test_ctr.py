from __future__ import annotations

import numpy as np

from omnivec.recsys.ctr import CTRConfig, CTRData, ctr_features, ctr_metrics
from omnivec.recsys.logs import LogStats
from omnivec.recsys.semantic_ids import encode, fit_residual_kmeans


def _synthetic(seed: int = 0, n_users: int = 150, n_items: int = 300, per_user: int = 12):
    """Users and items in a hidden 8-d taste space; a click depends on taste match and popularity."""
    rng = np.random.default_rng(seed)
    item_vec = rng.normal(size=(n_items, 8))
    item_vec /= np.linalg.norm(item_vec, axis=1, keepdims=True)
    user_vec = rng.normal(size=(n_users, 8))
    user_vec /= np.linalg.norm(user_vec, axis=1, keepdims=True)
    pop = rng.lognormal(0, 1, n_items)
    item_ids = [f"i{k}" for k in range(n_items)]
    users, history, cands, labels = [], [], [], []
    for u in range(n_users):
        aff = item_vec @ user_vec[u]
        hist = np.argsort(-aff)[:40]
        h = [item_ids[k] for k in rng.choice(hist, 10, replace=False)]
        for c in rng.integers(0, n_items, per_user):
            logit = 4.0 * aff[c] + 0.5 * np.log(pop[c]) - 0.5
            users.append(f"u{u}")
            history.append(h)
            cands.append(item_ids[c])
            labels.append(int(rng.random() < 1 / (1 + np.exp(-logit))))
    stats = LogStats(
        item_plays={i: int(p * 10) for i, p in zip(item_ids, pop, strict=True)},
        user_plays={f"u{u}": 10 for u in range(n_users)},
    )
    data = CTRData(users, history, cands, np.array(labels), np.zeros(len(cands), bool))
    return data, stats, item_ids, item_vec


def test_planted_embedding_raises_auc_over_base() -> None:
    data, stats, ids, vec = _synthetic()
    codes = encode(fit_residual_kmeans(vec, 2, 8, seed=0), vec)
    feats = ctr_features(data, stats, item_ids=ids, item_emb=vec, codes=codes)
    m = ctr_metrics(data, feats, CTRConfig())["ctr"]
    assert 0.55 < m["auc_base"] < 0.75  # popularity alone carries some signal
    assert m["auc_match"] > m["auc_base"] + 0.08
    assert m["gain_match"] == m["auc_match"] - m["auc_base"]
    assert m["auc_match_sid"] > m["auc_base"] + 0.08
    assert m["auc_cos"] > 0.6
    # a random embedding carries no click signal: no real gain
    noise = np.random.default_rng(5).normal(size=vec.shape)
    feats_n = ctr_features(data, stats, item_ids=ids, item_emb=noise, codes=None)
    m_n = ctr_metrics(data, feats_n, CTRConfig(), sets=("base", "match"))["ctr"]
    assert abs(m_n["gain_match"]) < 0.03


def test_hgb_model_and_cold_subset() -> None:
    data, stats, ids, vec = _synthetic(seed=1, n_users=80)
    data.cold[::5] = True
    feats = ctr_features(data, stats, item_ids=ids, item_emb=vec)
    out = ctr_metrics(data, feats, CTRConfig(model="hgb", folds=2), sets=("base", "match"))
    assert set(out) == {"ctr", "ctr/cold", "ctr/warm"}
    assert out["ctr/cold"]["n_rows"] == float(data.cold.sum())
    assert out["ctr"]["auc_match"] > out["ctr"]["auc_base"]


def test_features_without_embeddings_or_logs() -> None:
    data = CTRData(["u"], [["a", "b", "a"]], ["a"], np.array([1]), np.array([False]))
    f = ctr_features(data, LogStats({}, {}), authors={"a": "X", "b": "X"})
    assert f["replay_share"][0] == 2 / 3 and f["author_share"][0] == 1.0
    assert f["cand_unseen"][0] == 1.0 and f["match_missing"][0] == 1.0 and f["match_cos"][0] == 0.0
