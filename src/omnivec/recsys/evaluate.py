"""Recommendation evaluation of item embeddings: ID-relevance i2i (Table 4) and CTR features (Table 6).

:func:`recsys_tasks` is the entry point the evaluation runner calls with a catalogue's embeddings:

- ``"id-i2i"`` — the paper's Gid-i2i (§4.3, Table 4). Relevance comes from ID embeddings: those of the ID
  teacher trained on the folder's behaviour logs (:mod:`omnivec.recsys.id_teacher`), or the caller's own
  tables. The *pool* is the items that have both an omni embedding and an ID vector; a query is a pool item
  of ``query_splits`` (``test``: items that are in the logs but never in a training source, so a model
  distilled from the same IDs is not scored on its training items; all pool items when the folder has none),
  at most ``max_queries``, seeded; its relevant set is its top-``relevant_top_n`` pool items by ID cosine.
  Metrics: Recall@k of the omni ranking of the pool (``|top-k ∩ relevant| / min(k, |relevant|)``, the
  query itself excluded), ``chance@k`` (the expected recall of a random ranking, ``k / (pool − 1)``), and
  the four structure-consistency metrics of :mod:`omnivec.evaluation.consistency` comparing the omni and ID
  spaces on the same items: ``nmi`` (k-means labelings of the pool, k = min(16, pool / 5); ``ami``, its
  chance-adjusted version, since NMI is biased upwards on small pools), ``kendall_tau`` (and ``kendall_x1e4``,
  Table 4's unit) over each query's ID top-``kendall_k`` candidates, ``topk_intersection`` at
  ``intersection_k`` and ``bijective_accuracy`` (round trips between the omni space, linearly mapped onto
  the ID space with a ridge map fitted on the non-query pool items, and the ID space; a trip counts when it
  passes through the item's own ID vector and returns; ``bijective_accuracy_loose`` only asks that it
  returns, the paper's literal wording, whose chance level is high).
  Extra ID tables are reported as ``"id-i2i@<name>"``.
  There is **no** ``id-i2i/cold``: cold-start items have no logs, hence no ID vector and no ID relevance.
- ``"ctr"``, ``"ctr/cold"``, ``"ctr/warm"`` — :mod:`omnivec.recsys.ctr`: AUC of a click model with base
  features, + the embedding match feature, + the semantic-ID features, and the gains; ``ctr/cold`` covers
  the impressions whose shown item is a cold-start item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from omnivec.evaluation.consistency import (
    cluster_nmi,
    cosine_matrix,
    cross_space_bijective_accuracy,
    intersection_per_query,
    kendall_per_query,
    mean_defined,
    topk_indices,
)
from omnivec.recsys.ctr import CTRConfig, ctr_features, ctr_metrics, find_ctr_task, read_ctr_task
from omnivec.recsys.id_teacher import IDTable, IDTeacherConfig, load_id_tables, train_id_teacher
from omnivec.recsys.logs import load_catalog, load_log_stats

IDTablesArg = str | Path | Sequence[str | Path] | Mapping[str, Any] | None


class RecsysEvalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    relevant_top_n: int = Field(10, ge=1, description="ID-relevant items per query")
    recall_ks: list[int] = Field(default_factory=lambda: [50, 100])
    query_splits: list[str] | None = Field(default_factory=lambda: ["test"])
    max_queries: int = Field(500, ge=1)
    nmi_clusters: int = Field(16, ge=2)
    kendall_k: int = Field(50, ge=2)
    intersection_k: int = Field(10, ge=1)
    max_items: int = Field(20000, ge=10, description="pool sample for k-means (NMI) and the ridge map")
    id_teacher: IDTeacherConfig = Field(default_factory=IDTeacherConfig)
    ctr: CTRConfig = Field(default_factory=CTRConfig)


def id_i2i_metrics(
    item_ids: list[str],
    item_emb: np.ndarray,
    id_table: IDTable,
    *,
    query_ids: set[str] | None = None,
    config: RecsysEvalConfig | None = None,
    seed: int = 0,
    per_query: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """ID-relevance retrieval and consistency metrics of ``item_emb`` against one ID table.

    ``per_query``, when given, receives each query's ``recall@k``, ``kendall_tau`` and ``topk_intersection``
    (the queries depend on the pool and the seed only, so two embeddings of one catalogue are scored on the
    same queries; an undefined τ is 0 there)."""
    cfg = config or RecsysEvalConfig()
    id_ids, id_mat = id_table
    id_index = {i: k for k, i in enumerate(id_ids)}
    pool = [k for k, i in enumerate(item_ids) if i in id_index]
    out: dict[str, float] = {"n_pool": float(len(pool)), "items_without_id": float(len(item_ids) - len(pool))}
    if len(pool) < 3:
        return out
    omni = np.asarray(item_emb, dtype=np.float64)[pool]
    ids = id_mat[[id_index[item_ids[k]] for k in pool]]
    q_all = [p for p, k in enumerate(pool) if query_ids is None or item_ids[k] in query_ids]
    out["queries_from_split"] = float(bool(q_all))
    if not q_all:
        q_all = list(range(len(pool)))
    rng = np.random.default_rng(seed)
    queries = np.sort(rng.permutation(np.array(q_all))[: cfg.max_queries])
    sim_o = cosine_matrix(omni[queries], omni)
    sim_i = cosine_matrix(ids[queries], ids)
    sim_o[np.arange(len(queries)), queries] = -np.inf
    sim_i[np.arange(len(queries)), queries] = -np.inf
    n_rel = min(cfg.relevant_top_n, len(pool) - 1)
    relevant = [set(topk_indices(row, n_rel).tolist()) for row in sim_i]
    k_max = max(cfg.recall_ks)
    ranked = [topk_indices(row, k_max) for row in sim_o]
    for k in cfg.recall_ks:
        hits = np.array([len(set(ranked[r][:k].tolist()) & relevant[r]) for r in range(len(queries))])
        out[f"recall@{k}"] = float(np.mean(hits) / min(k, n_rel))
        if per_query is not None:
            per_query[f"recall@{k}"] = hits / min(k, n_rel)
        out[f"chance@{k}"] = float(min(1.0, k / (len(pool) - 1)))
    sample = np.sort(rng.permutation(len(pool))[: cfg.max_items])  # bounds k-means and the ridge map
    k_nmi = min(cfg.nmi_clusters, max(2, len(sample) // 5))
    out["nmi"] = cluster_nmi(omni[sample], ids[sample], k=k_nmi, seed=seed)
    out["ami"] = cluster_nmi(omni[sample], ids[sample], k=k_nmi, seed=seed, adjusted=True)
    taus = kendall_per_query(sim_o, sim_i, k=cfg.kendall_k)
    tau = mean_defined(taus)
    out["kendall_tau"] = tau
    out["kendall_x1e4"] = tau * 1e4
    inter = intersection_per_query(sim_o, sim_i, k=cfg.intersection_k)
    out["topk_intersection"] = mean_defined(inter)
    if per_query is not None:  # an undefined τ (one space ties every candidate) counts as no agreement
        per_query["kendall_tau"] = np.nan_to_num(taus, nan=0.0)
        per_query["topk_intersection"] = np.nan_to_num(inter, nan=0.0)
    fit = np.setdiff1d(sample, queries)
    out["bijective_accuracy"] = cross_space_bijective_accuracy(omni, ids, queries, fit)
    out["bijective_accuracy_loose"] = cross_space_bijective_accuracy(omni, ids, queries, fit, strict=False)
    out["n_queries"] = float(len(queries))
    out["relevant_per_query"] = float(n_rel)
    return out


_TEACHERS: dict[tuple, IDTable] = {}  # the runner scores several models on one folder: train the teacher once


def _tables(data_dir: Path, id_tables: IDTablesArg, cfg: RecsysEvalConfig, seed: int) -> dict[str, IDTable]:
    if id_tables is not None:
        return load_id_tables(id_tables)
    from omnivec.recsys.logs import table_path

    teacher_cfg = cfg.id_teacher.model_copy(update={"seed": seed})
    stamps = tuple(
        (str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else (str(p), 0, 0)
        for p in (table_path(data_dir, n) for n in ("items", "behaviour", "impressions"))
    )
    key = (stamps, teacher_cfg.model_dump_json())
    if key not in _TEACHERS:
        teacher = train_id_teacher(data_dir, teacher_cfg)
        _TEACHERS.clear()
        _TEACHERS[key] = (teacher.item_ids, teacher.item_vectors)
    return {"id_teacher": _TEACHERS[key]}


def recsys_tasks(
    data_dir: str | Path,
    item_ids: list[str],
    item_emb: np.ndarray,
    *,
    seed: int = 0,
    id_tables: IDTablesArg = None,
    config: RecsysEvalConfig | None = None,
    per_query: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, dict[str, float]]:
    """ID-relevance i2i and CTR metrics of ``item_emb`` (rows aligned with ``item_ids``) on ``data_dir``.

    ``id_tables``: ``None`` trains the ID teacher on the folder's logs; otherwise paths of Parquet tables
    (``item_id``, ``vector``) or ``{name: path | (ids, matrix)}``. A folder without a behaviour log (and no
    tables given) or without a ``ctr`` task simply has no such keys in the result.

    ``per_query``, when given, receives each ``id-i2i`` key's per-query ``recall@k``, ``kendall_tau`` and
    ``topk_intersection``, and
    ``{"ctr": {"score", "label"}}``: the out-of-fold click probabilities
    of the model *with* the embedding match feature, per impression (rows the cross-fitting could not score
    are left out; which rows those are depends on the labels and users only, never on the embedding).
    """
    from omnivec.recsys.logs import table_path
    from omnivec.recsys.semantic_ids import encode, fit_residual_kmeans

    cfg = config or RecsysEvalConfig()
    root = Path(data_dir)
    emb = np.asarray(item_emb, dtype=np.float32)
    if emb.ndim != 2 or len(emb) != len(item_ids):
        raise ValueError(f"item_emb must be [{len(item_ids)}, D], got {emb.shape}")
    item_ids = [str(i) for i in item_ids]
    catalog = load_catalog(root)
    results: dict[str, dict[str, float]] = {}
    has_logs = table_path(root, "behaviour").is_file()
    if id_tables is not None or has_logs:
        queries = None
        if cfg.query_splits is not None:
            queries = {i for i, s in zip(catalog.ids, catalog.split, strict=True) if s in cfg.query_splits}
        for n, (name, table) in enumerate(_tables(root, id_tables, cfg, seed).items()):
            key = "id-i2i" if n == 0 else f"id-i2i@{name}"
            rows: dict[str, np.ndarray] | None = {} if per_query is not None else None
            results[key] = id_i2i_metrics(item_ids, emb, table, query_ids=queries, config=cfg, seed=seed,
                                          per_query=rows)  # fmt: skip
            if per_query is not None and rows:
                per_query[key] = rows
    task = find_ctr_task(root)
    if task is not None and has_logs:
        data = read_ctr_task(task)
        stats = load_log_stats(root)
        authors = {i: str(a) for i, a in zip(catalog.ids, catalog.author, strict=True) if a >= 0}
        size = max(2, min(cfg.ctr.sid_codebook_size, len(emb) // 4))
        books = fit_residual_kmeans(emb, cfg.ctr.sid_levels, size, seed)
        feats = ctr_features(data, stats, authors=authors, item_ids=item_ids, item_emb=emb,
                             codes=encode(books, emb), smoothing=cfg.ctr.smoothing)  # fmt: skip
        scores: dict[str, np.ndarray] = {}
        results.update(ctr_metrics(data, feats, cfg.ctr.model_copy(update={"seed": seed}), scores_out=scores))
        if per_query is not None:
            ok = np.isfinite(scores["score_match"])
            per_query["ctr"] = {"score": scores["score_match"][ok], "label": scores["label"][ok]}
    return results
