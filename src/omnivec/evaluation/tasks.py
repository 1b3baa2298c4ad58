"""The task runner: evaluate one embedder on every task of a world or dataset folder (paper §4.2–4.3).

    from omnivec.evaluation import OmniEmbedder, evaluate
    results = evaluate(OmniEmbedder(omnivec.load("runs/x/model")), "runs/world")
    results["content-i2i"]["recall@50"], results["content-i2i/cold"]["recall@50"], results["_meta"]

How each task type is scored:

- **retrieval** (i2i, q2i with a ``relevant`` column): queries (items with prompt ``i2i``/``query``, or texts
  with ``q2i``/``query``) rank the corpus (``<type>``/``target``); an item query never ranks itself.
  Recall@k for ``ks`` ∪ the task's listed k, nDCG@10, exact MRR, and positive-vs-random-negative
  separability (cosine with the anchor target vs 10 random non-relevant corpus items).
- **pair classification** (q2i rows with ``label`` / ``score``, paper §5.1 item 6): the cosine of each
  (query, item) pair is the positive probability; AUC over all rows, separability, and Spearman ρ against
  ``score`` when graded.
- **seq2item**: the user vector is the embedder's ``embed_sequence`` of the history items' ``i2i``/``target``
  embeddings or, without one, ``user_vector``: ``mean`` (re-normalised) or ``centred`` (the mean minus the
  corpus centroid); ranked against the corpus; nothing is excluded (the task's ``relevant`` decides).
- **cls**: items (``cls``/``query``) against the label texts (``cls``/``target``); top-1 accuracy, Recall@k if
  listed.
- **ctr** and the recommender's own tasks: :func:`omnivec.recsys.evaluate.recsys_tasks` on the ``i2i``/``target``
  embeddings of every item, when that module exists (otherwise skipped with a note).

Rows flagged ``cold`` are also scored alone as ``"<task>/cold"``. Every metric is a float; ``nan`` (e.g. an
AUC with one class) is left out and noted in ``_meta["notes"]``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from omnivec.data.schema import TaskConfig
from omnivec.errors import ConfigError, DataFormatError
from omnivec.evaluation.cache import EmbeddingCache
from omnivec.evaluation.dataset import EvalData, open_data
from omnivec.evaluation.embedders import Embedder, user_vector_fn
from omnivec.evaluation.metrics import accuracy, auc, separability
from omnivec.evaluation.retrieval import histogram, rank_queries, sample_negatives

__all__ = [
    "DEFAULT_KS",
    "RECSYS_MODULE",
    "SEQ_ITEM_PROMPT",
    "evaluate",
    "headline_metric",
    "recsys_available",
]

DEFAULT_KS: tuple[int, ...] = (1, 10, 25, 50, 100)
#: the prompt under which history items and the seq2item corpus are embedded
SEQ_ITEM_PROMPT: tuple[str, str] = ("i2i", "target")
RECSYS_MODULE = "omnivec.recsys.evaluate"
NEGATIVES_PER_QUERY = 10
_MAX_LISTED = 50  # ids / messages listed in _meta


def recsys_available() -> bool:
    """Whether :mod:`omnivec.recsys.evaluate` (written separately) can be imported."""
    try:
        return importlib.util.find_spec(RECSYS_MODULE) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def headline_metric(metrics: dict[str, float], listed: Sequence[str] = ()) -> str | None:
    """The number a summary table shows for a task.

    R@50 (paper Tables 2–3) when the task lists it (or lists nothing), else its listed AUC or accuracy, else
    its deepest listed recall (R@25 for seq2item, Table 5), else R@50 / AUC / accuracy; for the
    recommender's tasks the AUC with the embedding match feature (``auc_match``).
    """
    if "recall@50" in metrics and (not listed or "recall@50" in listed):
        return "recall@50"
    for name in ("auc", "accuracy"):
        if name in listed and name in metrics:
            return name
    recalls = [m for m in listed if m.startswith("recall@") and m in metrics]
    if recalls:
        return max(recalls, key=lambda m: int(m.split("@")[1]))
    for name in ("recall@50", "auc", "accuracy"):
        if name in metrics:
            return name
    # recommender tasks (omnivec.recsys): the AUC with the embedding feature, then any AUC, then a non-count
    for prefix in ("auc_match", "auc", ""):
        found = next((m for m in metrics if m.startswith(prefix) and not m.startswith("n_")), None)
        if found:
            return found
    return next(iter(metrics), None)


#: what seq→item does with the history's own items: ``keep`` them as candidates (the default; a replay of a
#: history item counts as a hit) or ``exclude`` them from the candidates and the relevant set (new items only,
#: the usual "filter what the user has seen" protocol)
SEQ_HISTORY = ("keep", "exclude")


class _Run:
    """State of one :func:`evaluate` call."""

    def __init__(self, embedder: Embedder, data: EvalData, cache: EmbeddingCache, *, ks: Sequence[int],
                 cold_split: bool, max_queries: int | None, seed: int, per_query: bool = False,
                 user_vector: str = "mean", seq_history: str = "keep") -> None:  # fmt: skip
        if seq_history not in SEQ_HISTORY:
            raise ConfigError(f"seq_history {seq_history!r}: must be one of {', '.join(SEQ_HISTORY)}")
        self.seq_history = seq_history
        self.embedder, self.data, self.cache = embedder, data, cache
        self.keep_per_query = per_query
        self.per_query: dict[str, dict[str, np.ndarray]] = {}
        self.ks, self.cold_split, self.max_queries, self.seed = tuple(ks), cold_split, max_queries, seed
        self.user_vector = user_vector_fn(embedder, user_vector)
        self.results: dict[str, dict[str, float]] = {}
        self.meta: dict[str, Any] = {"n_queries": {}, "n_cold": {}, "task_seconds": {}, "similarity": {},
                                     "headline": {}, "skipped_tasks": {}, "notes": []}  # fmt: skip

    # ------------------------------------------------------------------ helpers
    def _rows(self, cfg: TaskConfig) -> list[dict[str, Any]]:
        rows = self.data.rows(cfg)
        if self.max_queries is not None and len(rows) > self.max_queries:
            rng = np.random.default_rng([self.seed, len(rows)])
            keep = np.sort(rng.choice(len(rows), self.max_queries, replace=False))
            rows = [rows[i] for i in keep]
        return rows

    def _put(self, cfg: TaskConfig, metrics: dict[str, float], cold: dict[str, float] | None, n: int,
             n_cold: int) -> None:  # fmt: skip
        for name, values in ((cfg.name, metrics), (f"{cfg.name}/cold", cold)):
            if values is None:
                continue
            clean = {}
            for k, v in values.items():
                if v is None or not math.isfinite(float(v)):
                    self.meta["notes"].append(f"{name}: {k} is undefined on these rows (left out)")
                else:
                    clean[k] = float(v)
            if clean:
                self.results[name] = clean
        self.meta["n_queries"][cfg.name] = n
        self.meta["n_cold"][cfg.name] = n_cold
        head = headline_metric(self.results.get(cfg.name, {}), cfg.metrics)
        if head:
            self.meta["headline"][cfg.name] = head

    def _cold_mask(self, rows: list[dict[str, Any]]) -> np.ndarray | None:
        mask = np.array([bool(r.get("cold")) for r in rows], dtype=bool)
        return mask if self.cold_split and mask.any() else None

    def _similarity(self, name: str, pos: np.ndarray, neg: np.ndarray) -> dict[str, float]:
        if pos.size == 0 or neg.size == 0:
            return {}
        self.meta["similarity"][name] = {"pos": histogram(pos), "neg": histogram(neg)}
        return separability(pos, neg)

    def _corpus(
        self, cfg: TaskConfig, prompt: tuple[str, str]
    ) -> tuple[list[str], dict[str, int], np.ndarray]:
        ids = self.data.corpus_ids(cfg)
        if not ids:
            raise DataFormatError(f"task {cfg.name!r}: the corpus (splits {cfg.corpus_splits}) is empty")
        return ids, {i: n for n, i in enumerate(ids)}, self.cache.items(ids, *prompt)

    def _queries(
        self, cfg: TaskConfig, rows: list[dict[str, Any]], task: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Query embeddings of item / text rows and which of them failed."""
        if cfg.query == "item":
            keys = [r["query_item"] for r in rows]
            emb = self.cache.items(keys, task, "query")
            kind = "item"
        else:
            keys = [r["query_text"] for r in rows]
            emb = self.cache.texts(keys, task, "query")
            kind = "text"
        failed = np.array([self.cache.is_failed(kind, k, task, "query") for k in keys], dtype=bool)
        return emb, failed

    @staticmethod
    def _history_positions(hist_ids: list[list[str]], pos_of: dict[str, int]) -> np.ndarray:
        """``[Q, m]`` corpus positions of each row's history items, -1 padded."""
        found = [[pos_of[i] for i in h if i in pos_of] for h in hist_ids]
        out = np.full((len(found), max([len(f) for f in found] + [1])), -1, dtype=np.int64)
        for q, f in enumerate(found):
            out[q, : len(f)] = f
        return out

    # ------------------------------------------------------------------ task types
    def retrieval(self, cfg: TaskConfig) -> None:
        rows = self._rows(cfg)
        task = cfg.type if cfg.type in ("i2i", "q2i") else "i2i"
        ids, pos_of, corpus = self._corpus(cfg, (task, "target"))
        if cfg.query == "items":
            hist_ids = [r["query_items"] or [] for r in rows]
            flat = self.cache.items([i for h in hist_ids for i in h], *SEQ_ITEM_PROMPT)
            cuts = np.cumsum([0] + [len(h) for h in hist_ids])
            histories = [list(flat[cuts[q] : cuts[q + 1]]) for q in range(len(rows))]
            queries = np.asarray(self.user_vector(histories, corpus), dtype=np.float32)
            failed = ~np.any(queries != 0, axis=1)
            new_only = self.seq_history == "exclude"
            exclude = self._history_positions(hist_ids, pos_of) if new_only else None
        else:
            queries, failed = self._queries(cfg, rows, task)
            new_only = False
            exclude = (
                np.array([pos_of.get(r["query_item"], -1) for r in rows], dtype=np.int64)
                if cfg.query == "item" else None
            )  # fmt: skip
        relevant = [
            np.array([pos_of[i] for i in (r.get("relevant") or []) if i in pos_of], np.int64) for r in rows
        ]
        if new_only and exclude is not None:  # seq_history "exclude": the history leaves the relevant set too
            relevant = [np.setdiff1d(rel, ex[ex >= 0]) for rel, ex in zip(relevant, exclude, strict=True)]
        empty = sum(1 for rel in relevant if rel.size == 0)
        if empty:
            self.meta["notes"].append(
                f"{cfg.name}: {empty} row(s) have no relevant item in the corpus (score 0)"
            )
        listed = [int(m.split("@")[1]) for m in cfg.metrics if m.startswith("recall@")]
        ndcg = sorted({10, *(int(m.split("@")[1]) for m in cfg.metrics if m.startswith("ndcg@"))})
        res = rank_queries(queries, corpus, relevant, recall_ks=sorted({*self.ks, *listed}), ndcg_ks=ndcg,
                           exclude=exclude, failed=failed)  # fmt: skip
        # separability: anchor target vs random non-relevant corpus items
        anchors = [
            pos_of.get(r.get("target_item") or "", rel[0] if rel.size else -1)
            for r, rel in zip(rows, relevant, strict=True)
        ]
        if new_only:  # a replayed target is no longer relevant: anchor on one that is
            anchors = [
                a if a in rel else (rel[0] if rel.size else -1)
                for a, rel in zip(anchors, relevant, strict=True)
            ]
        rel_sets = [set(rel.tolist()) for rel in relevant]
        negs = sample_negatives(len(ids), rel_sets, exclude, NEGATIVES_PER_QUERY, self.seed)
        ok = [q for q in range(len(rows)) if anchors[q] >= 0 and not failed[q]]
        pos = np.array([float(corpus[anchors[q]] @ queries[q]) for q in ok])
        neg = np.concatenate([corpus[negs[q]] @ queries[q] for q in ok]) if ok else np.zeros(0)
        metrics = {**res.mean(), **self._similarity(cfg.name, pos, neg)}
        if self.keep_per_query:
            self.per_query[cfg.name] = {k: np.asarray(v, dtype=np.float64) for k, v in res.per_query.items()}
        cold = self._cold_mask(rows)
        self._put(cfg, metrics, res.mean(cold) if cold is not None else None, len(rows),
                  int(cold.sum()) if cold is not None else 0)  # fmt: skip

    def pairs(self, cfg: TaskConfig) -> None:
        rows = self._rows(cfg)
        task = cfg.type if cfg.type in ("i2i", "q2i") else "q2i"
        queries, _ = self._queries(cfg, rows, task)
        targets = self.cache.items([r["target_item"] for r in rows], task, "target")
        cos = np.sum(queries * targets, axis=1)
        if all(r.get("label") is not None for r in rows):
            labels = np.array([int(r["label"]) for r in rows]) > 0
        elif all(r.get("score") is not None for r in rows):
            labels = np.array([float(r["score"]) for r in rows]) >= 0.5
        else:
            raise DataFormatError(f"task {cfg.name!r}: pair rows need 'label' or 'score' in every row")
        metrics = {"auc": auc(cos, labels)}
        if self.keep_per_query:
            self.per_query[cfg.name] = {"score": cos.astype(np.float64), "label": labels.astype(np.float64)}
        metrics.update(self._similarity(cfg.name, cos[labels], cos[~labels]))
        metrics.pop("pos_neg_auc", None)  # identical to auc here
        if cfg.graded and all(r.get("score") is not None for r in rows):
            from scipy.stats import spearmanr

            graded = np.array([float(r["score"]) for r in rows])
            constant = np.ptp(cos) == 0 or np.ptp(graded) == 0
            metrics["spearman"] = float("nan") if constant else float(spearmanr(cos, graded).statistic)
        cold = self._cold_mask(rows)
        self._put(cfg, metrics, {"auc": auc(cos[cold], labels[cold])} if cold is not None else None,
                  len(rows), int(cold.sum()) if cold is not None else 0)  # fmt: skip

    def classification(self, cfg: TaskConfig) -> None:
        rows = self._rows(cfg)
        labels = list(cfg.labels or [])
        if not labels:
            raise DataFormatError(f"task {cfg.name!r}: a cls task needs 'labels' in its config")
        gold_text = [r.get("target_text") for r in rows]
        unknown = sorted({g for g in gold_text if g not in labels}, key=str)
        if unknown:
            raise DataFormatError(f"task {cfg.name!r}: target_text {unknown[:3]} not among the task's labels")
        queries, failed = self._queries(cfg, rows, "cls")
        lab = self.cache.texts(labels, "cls", "target")
        scores = queries @ lab.T
        pred = [labels[i] if not failed[q] else None for q, i in enumerate(np.argmax(scores, axis=1))]
        gold = np.array([labels.index(g) for g in gold_text])
        ranks = (scores > scores[np.arange(len(rows)), gold][:, None]).sum(axis=1)  # 0 = gold is top-1
        listed = [int(m.split("@")[1]) for m in cfg.metrics if m.startswith("recall@")]

        def score(mask: np.ndarray) -> dict[str, float]:
            out = {"accuracy": accuracy([p for p, m in zip(pred, mask, strict=True) if m],
                                        [g for g, m in zip(gold_text, mask, strict=True) if m])}  # fmt: skip
            for k in listed:
                out[f"recall@{k}"] = float(((ranks < k) & ~failed)[mask].mean())
            return out

        cold = self._cold_mask(rows)
        self._put(cfg, score(np.ones(len(rows), bool)), score(cold) if cold is not None else None,
                  len(rows), int(cold.sum()) if cold is not None else 0)  # fmt: skip

    def recsys(self, wanted: set[str] | None) -> None:
        """Recommendation metrics from :mod:`omnivec.recsys.evaluate`, when present."""
        found = recsys_available()
        ctr = [t.name for t in self.data.tasks if t.type == "ctr" and (wanted is None or t.name in wanted)]
        if not found:
            for name in ctr + sorted((wanted or set()) - set(self.data.task_names)):
                self.meta["skipped_tasks"][name] = f"needs {RECSYS_MODULE}, which is not installed"
            return
        t0 = time.perf_counter()
        module = importlib.import_module(RECSYS_MODULE)
        ids = list(self.data.store.ids)
        emb = self.cache.items(ids, *SEQ_ITEM_PROMPT)
        # ``per_query`` only when asked for: a recommender module of your own need not take it
        paired: dict[str, dict[str, np.ndarray]] = {}
        extra = {"per_query": paired} if self.keep_per_query else {}
        out = module.recsys_tasks(self.data.root, ids, emb, seed=self.seed, **extra)
        for name, values in paired.items():
            if wanted is None or name in wanted:
                self.per_query[name] = values
        for name, metrics in out.items():
            base = name.split("/")[0]
            if (wanted is not None and base not in wanted) or (
                name.endswith("/cold") and not self.cold_split
            ):
                continue
            merged = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
            self.results[name] = {**merged, **self.results.get(name, {})}
            if name == base and base not in self.meta["headline"]:
                head = headline_metric(self.results[name])
                if head:
                    self.meta["headline"][name] = head
        self.meta["task_seconds"]["recsys"] = round(time.perf_counter() - t0, 3)
        got = {n.split("/")[0] for n in self.results}
        for name in sorted((wanted or set()) - got - set(self.data.task_names)):
            self.meta["skipped_tasks"][name] = f"unknown task (not in the data folder nor in {RECSYS_MODULE})"

    def run_task(self, cfg: TaskConfig) -> None:
        rows = self.data.rows(cfg)
        cols = {k for r in rows[:1] for k, v in r.items() if v is not None}
        if not rows:
            self.meta["skipped_tasks"][cfg.name] = "the task file has no rows"
        elif cfg.type == "cls":
            self.classification(cfg)
        elif cfg.type == "seq2item" or cfg.query == "items" or "relevant" in cols:
            self.retrieval(cfg)
        elif "target_item" in cols and ("label" in cols or "score" in cols):
            self.pairs(cfg)
        else:
            self.meta["skipped_tasks"][cfg.name] = "rows have neither 'relevant' nor 'label'/'score'"


def evaluate(
    embedder: Embedder,
    data_dir: str | Path | EvalData,
    tasks: Sequence[str] | None = None,
    *,
    cold_split: bool = True,
    ks: Sequence[int] = DEFAULT_KS,
    progress: bool = True,
    max_queries: int | None = None,
    seed: int = 0,
    cache: EmbeddingCache | None = None,
    per_query: bool = False,
    user_vector: str = "mean",
    seq_history: str = "keep",
) -> dict[str, Any]:
    """Evaluate ``embedder`` on the tasks of ``data_dir`` (a world or a dataset folder).

    Args:
        embedder: an :class:`~omnivec.evaluation.embedders.Embedder` (e.g. ``OmniEmbedder(model)``).
        data_dir: folder with ``world.json`` or ``items.parquet`` + ``tasks/`` (or an opened :class:`EvalData`).
        tasks: task names (default: all, recommendation tasks included when :mod:`omnivec.recsys` is there).
        cold_split: also score the rows flagged ``cold`` alone, as ``"<task>/cold"``.
        ks: Recall@k cut-offs, on top of those each task lists.
        progress: tqdm bars over tasks and embedding passes.
        max_queries: evaluate a seeded random subset of at most this many rows per task (training-time checks).
        seed: seed of negatives sampling, row subsets and the recommender metrics.
        cache: embeddings shared with other calls (and readable afterwards, e.g. for an embedding map).
        per_query: also return each query's values in ``_meta["per_query"]`` (numpy arrays, so pop them
            before writing JSON): ``{task: {metric: values}}`` for retrieval tasks and ``{task: {"score",
            "label"}}`` for pair tasks, what :mod:`omnivec.evaluation.compare` needs for paired intervals.
        user_vector: the seq2item user vector of embedders without ``embed_sequence``: ``mean`` (the paper's)
            or ``centred`` (the mean minus the corpus centroid; see
            :func:`~omnivec.evaluation.embedders.centred_sequence`).
        seq_history: seq2item's history items: ``keep`` them as candidates (a replay counts as a hit) or
            ``exclude`` them from the candidates and the relevant set (new items only); a row left with no
            relevant item scores 0 and is counted in ``_meta["notes"]``.

    Returns:
        ``{task: {metric: float}}`` plus ``"_meta"``: queries per task, embedder name, seconds, failed items,
        skipped tasks, per-task headline metric and cosine histograms (``similarity``).
    """
    t0 = time.perf_counter()
    data = data_dir if isinstance(data_dir, EvalData) else open_data(data_dir)
    wanted = None if tasks is None else list(dict.fromkeys(tasks))
    if wanted is not None and not wanted:
        raise ConfigError("tasks is empty; pass None to run every task")
    known = set(data.task_names)
    if wanted is not None and set(wanted) - known and not recsys_available():
        raise ConfigError(
            f"unknown task(s) {sorted(set(wanted) - known)}; available: {', '.join(data.task_names)}"
        )
    if cache is None:
        cache = EmbeddingCache(embedder, data.item, progress=progress)
    run = _Run(embedder, data, cache, ks=ks, cold_split=cold_split, max_queries=max_queries, seed=seed,
               per_query=per_query, user_vector=user_vector, seq_history=seq_history)  # fmt: skip
    own = [t for t in data.tasks if t.type != "ctr" and (wanted is None or t.name in wanted)]
    for cfg in tqdm(own, desc="tasks", unit="task", disable=not progress):
        t1 = time.perf_counter()
        run.run_task(cfg)
        run.meta["task_seconds"][cfg.name] = round(time.perf_counter() - t1, 3)
    if wanted is None or set(wanted) - {t.name for t in own}:
        run.recsys(None if wanted is None else set(wanted) - {t.name for t in own})
    errors = list(getattr(embedder, "errors", []) or [])
    failed = sorted({f"{ts} {key}" for ts, keys in cache.failed.items() for key in keys})
    run.meta.update(
        embedder=getattr(embedder, "name", type(embedder).__name__),
        data=str(data.root),
        ks=list(ks),
        user_vector=_user_vector_name(embedder, user_vector),
        seq_history=seq_history,
        seconds=round(time.perf_counter() - t0, 3),
        embedded=dict(cache.computed),
        skipped_items={"count": len(failed), "items": failed[:_MAX_LISTED], "errors": errors[:_MAX_LISTED]},
    )
    bases = list(dict.fromkeys([*data.task_names, *(n.split("/")[0] for n in run.results)]))
    rank = {b: i for i, b in enumerate(bases)}
    order = sorted(run.results, key=lambda n: (rank[n.split("/")[0]], "/" in n, n))  # task, then its splits
    out: dict[str, Any] = {n: run.results[n] for n in order}
    out["_meta"] = run.meta
    if per_query:
        out["_meta"]["per_query"] = run.per_query
    return out


def _user_vector_name(embedder: Embedder, user_vector: str) -> str:
    """What built the seq2item user vectors, for ``_meta``: the embedder's own ``embed_sequence`` or the choice."""
    fn = getattr(embedder, "embed_sequence", None)
    if not callable(fn):
        return user_vector
    kind = getattr(fn, "kind", None)
    return f"trained {kind} sequence encoder" if kind else "the embedder's embed_sequence"
