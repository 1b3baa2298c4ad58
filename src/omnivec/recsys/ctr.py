"""CTR evaluation of embeddings and semantic IDs as recommender features (paper §6.5, Table 6).

SAIL-Embedding reports its value downstream as ranking-model gains when its dense embedding and its semantic
IDs are added as features ("Finish AUC +0.1%", cold-start AUC +0.1%). We measure the same on a ``ctr`` task
(held-out impressions: the user's history, a shown item and whether it was clicked) with three nested
feature sets and one model class (logistic regression by default, or histogram gradient boosting):

- ``base`` (no content): candidate popularity ``log1p(plays)``, its smoothed CTR from the logged impressions
  ``(clicks + m·p̄)/(impressions + m)``, whether it has no logs, user activity ``log1p(plays)`` and smoothed
  CTR, ``log1p`` history length, the share of history items that *are* the candidate (re-plays) and that share
  its author (``author_id`` is a visible item column, not hidden truth);
- ``match`` = base + ``cos(normalize(mean of the history item embeddings), candidate embedding)`` and a
  missing-embedding flag;
- ``match_sid`` = match + the share of history items whose semantic ID has the candidate's level-1 code, and
  its level-1+2 prefix (residual k-means codes of the same embeddings, :mod:`omnivec.recsys.semantic_ids`).

No leakage: popularity and activity come from the logged period only (the ``ctr`` labels come from the held-out
period), and the model is cross-fitted with folds grouped **by user** (``GroupKFold``): a row is scored by a
model that saw none of its user's rows. AUC is computed on the pooled out-of-fold scores, on all rows and on
the rows whose candidate is a cold-start item (``cold``) or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from omnivec.errors import DataFormatError
from omnivec.recsys._threads import limit_threads
from omnivec.recsys.logs import LogStats

BASE_FEATURES: tuple[str, ...] = (
    "cand_log_plays",
    "cand_ctr",
    "cand_unseen",
    "user_log_plays",
    "user_ctr",
    "hist_log_len",
    "replay_share",
    "author_share",
)
MATCH_FEATURES: tuple[str, ...] = ("match_cos", "match_missing")
SID_FEATURES: tuple[str, ...] = ("sid_l1_share", "sid_l12_share")
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "base": BASE_FEATURES,
    "match": BASE_FEATURES + MATCH_FEATURES,
    "match_sid": BASE_FEATURES + MATCH_FEATURES + SID_FEATURES,
}


class CTRConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["logistic", "hgb"] = "logistic"
    folds: int = Field(5, ge=2, description="GroupKFold folds (grouped by user)")
    smoothing: float = Field(20.0, ge=0, description="prior impressions m of the smoothed CTRs")
    sid_levels: int = Field(2, ge=2)
    sid_codebook_size: int = Field(16, ge=2, description="clamped to n_items // 4")
    seed: int = 0


@dataclass
class CTRData:
    """Rows of a ctr task: user, history (oldest first), candidate, clicked label, cold-start flag."""

    users: list[str]
    history: list[list[str]]
    candidates: list[str]
    labels: np.ndarray
    cold: np.ndarray

    def __len__(self) -> int:
        return len(self.candidates)


def find_ctr_task(data_dir: str | Path) -> Path | None:
    """The Parquet of the data folder's ``ctr`` task (``tasks/*.json`` with ``type: ctr``), if any."""
    import json

    folder = Path(data_dir) / "tasks"
    for cfg in sorted(folder.glob("*.json")):
        try:
            meta = json.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(meta, dict) and meta.get("type") == "ctr":
            return folder / str(meta.get("file", f"{cfg.stem}.parquet"))
    return None


def read_ctr_task(path: str | Path) -> CTRData:
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"ctr task {p}: file not found")
    t = pq.read_table(p)
    for col in ("user_id", "query_items", "target_item", "label"):
        if col not in t.column_names:
            raise DataFormatError(f"ctr task {p}: missing column {col!r}")
    n = t.num_rows
    cold = t.column("cold").to_pylist() if "cold" in t.column_names else [False] * n
    return CTRData(
        users=[str(x) for x in t.column("user_id").to_pylist()],
        history=[[str(i) for i in (h or [])] for h in t.column("query_items").to_pylist()],
        candidates=[str(x) for x in t.column("target_item").to_pylist()],
        labels=np.asarray(t.column("label").to_pylist(), dtype=np.int64),
        cold=np.asarray([bool(c) for c in cold], dtype=bool),
    )


def _smoothed(clicks: dict[str, int], imps: dict[str, int], keys: list[str], m: float) -> np.ndarray:
    total_c, total_i = sum(clicks.values()), sum(imps.values())
    prior = total_c / total_i if total_i else 0.0
    return np.array([(clicks.get(k, 0) + m * prior) / (imps.get(k, 0) + m) if (imps.get(k, 0) + m) else prior
                     for k in keys])  # fmt: skip


def ctr_features(
    data: CTRData,
    stats: LogStats,
    *,
    authors: dict[str, str] | None = None,
    item_ids: list[str] | None = None,
    item_emb: np.ndarray | None = None,
    codes: np.ndarray | None = None,
    smoothing: float = 20.0,
) -> dict[str, np.ndarray]:
    """Every feature of :data:`FEATURE_SETS`, one float array per name (match/SID are 0 without inputs)."""
    n = len(data)
    cand, users = data.candidates, data.users
    f: dict[str, np.ndarray] = {
        "cand_log_plays": np.log1p([stats.item_plays.get(c, 0) for c in cand]),
        "cand_ctr": _smoothed(stats.item_clicks, stats.item_impressions, cand, smoothing),
        "cand_unseen": np.array([float(c not in stats.item_plays) for c in cand]),
        "user_log_plays": np.log1p([stats.user_plays.get(u, 0) for u in users]),
        "user_ctr": _smoothed(stats.user_clicks, stats.user_impressions, users, smoothing),
        "hist_log_len": np.log1p([len(h) for h in data.history]),
        "replay_share": np.array([h.count(c) / len(h) if h else 0.0 for h, c in zip(data.history, cand, strict=True)]),
    }  # fmt: skip
    au = authors or {}
    f["author_share"] = np.array([
        np.mean([au.get(i) == au[c] for i in h]) if h and au.get(c) is not None else 0.0
        for h, c in zip(data.history, cand, strict=True)
    ])  # fmt: skip
    for name in MATCH_FEATURES + SID_FEATURES:
        f[name] = np.zeros(n)
    f["match_missing"] = np.ones(n)
    if item_emb is None or item_ids is None:
        return f
    index = {i: k for k, i in enumerate(item_ids)}
    emb = np.asarray(item_emb, dtype=np.float64)
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    for r, (h, c) in enumerate(zip(data.history, cand, strict=True)):
        ci = index.get(c)
        rows = [index[i] for i in h if i in index]
        if ci is None or not rows:
            continue
        mean = emb[rows].mean(0)
        f["match_cos"][r] = float(mean @ emb[ci] / max(np.linalg.norm(mean), 1e-12))
        f["match_missing"][r] = 0.0
        if codes is not None:
            hc, cc = codes[rows], codes[ci]
            l1 = hc[:, 0] == cc[0]
            f["sid_l1_share"][r] = float(l1.mean())
            f["sid_l12_share"][r] = float((l1 & (hc[:, 1] == cc[1])).mean())
    return f


def _model(cfg: CTRConfig) -> Any:
    if cfg.model == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=100, learning_rate=0.1, max_leaf_nodes=15, random_state=cfg.seed
        )
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def cross_fit(features: dict[str, np.ndarray], names: tuple[str, ...], labels: np.ndarray, groups: list[str],
              cfg: CTRConfig) -> np.ndarray:  # fmt: skip
    """Out-of-fold click probabilities of a model on ``names``, folds grouped by ``groups`` (users)."""
    from sklearn.model_selection import GroupKFold

    x = np.column_stack([features[n] for n in names])
    y = np.asarray(labels)
    out = np.full(len(y), np.nan)
    n_groups = len(set(groups))
    if n_groups < 2 or len(np.unique(y)) < 2:
        return out
    with limit_threads(len(y)):
        for train, test in GroupKFold(min(cfg.folds, n_groups)).split(x, y, groups):
            if len(np.unique(y[train])) < 2:
                out[test] = y[train].mean()
                continue
            out[test] = _model(cfg).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return out


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(s)
    if ok.sum() < 2 or len(np.unique(y[ok])) < 2:
        return float("nan")
    return float(roc_auc_score(y[ok], s[ok]))


def ctr_metrics(data: CTRData, features: dict[str, np.ndarray], cfg: CTRConfig | None = None,
                sets: tuple[str, ...] = ("base", "match", "match_sid"),
                scores_out: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """AUC of each feature set (out-of-fold), the gains over ``base``, on all / cold / warm candidates.

    ``scores_out``, when given, receives each set's out-of-fold click probabilities (``"score_<set>"``) and the
    labels, row-aligned with ``data``: two embeddings scored on one task give paired predictions, so the
    difference of their gains can be bootstrapped (:func:`omnivec.evaluation.compare.paired_auc_difference`).
    """
    cfg = cfg or CTRConfig()
    scores = {s: cross_fit(features, FEATURE_SETS[s], data.labels, data.users, cfg) for s in sets}
    if scores_out is not None:
        scores_out.update({f"score_{s}": v for s, v in scores.items()})
        scores_out["label"] = np.asarray(data.labels, dtype=np.float64)
    out: dict[str, dict[str, float]] = {}
    for key, mask in (("ctr", np.ones(len(data), bool)), ("ctr/cold", data.cold), ("ctr/warm", ~data.cold)):
        if not mask.any():
            continue
        y = data.labels[mask]
        m: dict[str, float] = {f"auc_{s}": _auc(y, scores[s][mask]) for s in sets}
        if "match_cos" in features:
            m["auc_cos"] = _auc(
                y, np.where(features["match_missing"][mask] > 0, np.nan, features["match_cos"][mask])
            )
        for s in sets:
            if s != "base" and "base" in sets:
                m[f"gain_{s}"] = m[f"auc_{s}"] - m["auc_base"]
        m["n_rows"] = float(mask.sum())
        m["positive_rate"] = float(y.mean())
        out[key] = m
    return out
