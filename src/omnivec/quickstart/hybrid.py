"""The quickstart's hybrid step: fit SAIL's query router on the world's training data, rank every retrieval
task dense / BM25 / routed hybrid / equal-weight RRF, and say whether hybrid loses to the better side."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: Task groups of the hybrid table: name → predicate on the task name.
ENTITY_TASKS = ("nickname-q2i", "title-q2i", "code-q2i")
GROUPS: dict[str, Callable[[str], bool]] = {
    "entity q2i": lambda t: t in ENTITY_TASKS,
    "other q2i": lambda t: "q2i" in t and t not in ENTITY_TASKS,
    "i2i": lambda t: "i2i" in t,
    "all tasks": lambda t: True,
}
METRICS = ("recall@10", "recall@50", "ndcg@10")


def fit_router_for_eval(data: Any, cache: Any, n_per_kind: int, seed: int) -> Any:
    """A :class:`~omnivec.index.router.QueryRouter` for the model behind ``cache``: labelled queries from the
    world's training sources and known-item queries from its item text (never its evaluation tasks)."""
    from omnivec.evaluation.hybrid import hybrid_tasks, lexical_index_for
    from omnivec.evaluation.router import dense_lists_from_cache, router_examples
    from omnivec.index.router import catalogue_names, fit_router

    corpus = data.corpus_ids(data.task(hybrid_tasks(data)[0]))
    lexical = lexical_index_for(data, corpus)
    examples = router_examples(
        data, lexical, dense_lists_from_cache(cache, corpus), corpus, n_text=n_per_kind, n_item=n_per_kind,
        n_known=n_per_kind, seed=seed,
    )  # fmt: skip
    return fit_router(examples, lexical, names=catalogue_names([(i, data.item(i)) for i in corpus], lexical))


def compare_to_best(
    per_query: dict[str, dict[str, dict[str, Any]]], hybrids: tuple[str, ...], seed: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per group and metric: which of dense/lexical is better on average, and each hybrid's difference to it
    with a paired-bootstrap 95 % interval (``{group: {metric: {"best": side, hybrid: [d, lo, hi]}}}``)."""
    from omnivec.evaluation.hybrid import paired_difference

    tasks = list(per_query["dense"])
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group, member in GROUPS.items():
        names = [t for t in tasks if member(t)]
        if not names:
            continue
        out[group] = {}
        for metric in METRICS:

            def mean(mode: str, m: str = metric, ns: list[str] = names) -> float:
                return sum(float(per_query[mode][t][m].mean()) for t in ns) / len(ns)

            best = max(("dense", "lexical"), key=mean)
            row: dict[str, Any] = {"best": best}
            for h in hybrids:
                d, lo, hi = paired_difference(per_query[h], per_query[best], names, metric, seed=seed)
                row[h] = [round(d, 4), round(lo, 4), round(hi, 4)]
            out[group][metric] = row
    return out


def run_hybrid(
    data: Any, embedder: Any, cache: Any, n_per_kind: int, seed: int, echo: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """``(models, meta, router)``: ``bm25``, ``sail+bm25`` (routed) and ``sail+bm25-rrf`` (equal RRF) results,
    the router's statistics with the comparison to the better side, and the router itself."""
    from omnivec.evaluation.hybrid import MODES, evaluate_modes

    t = time.perf_counter()
    router = fit_router_for_eval(data, cache, n_per_kind, seed)
    stats = router.stats
    echo(
        f"  router: {stats['informative']} informative of {stats['examples']} training queries, threshold "
        f"{router.threshold:.2f}; routed to BM25: "
        + ", ".join(f"{k} {v['routed_lexical']:.2f}" for k, v in stats["by_source"].items())
        + f" ({time.perf_counter() - t:.0f}s)"
    )
    per_query: dict[str, dict[str, dict[str, Any]]] = {}
    routed = evaluate_modes(embedder, data, modes=MODES, cache=cache, router=router, per_query=per_query)
    rrf_per_query: dict[str, dict[str, dict[str, Any]]] = {}
    rrf = evaluate_modes(embedder, data, modes=("hybrid",), cache=cache, per_query=rrf_per_query)
    per_query["rrf"] = rrf_per_query["hybrid"]
    models = {"bm25": routed["lexical"], "sail+bm25": routed["hybrid"], "sail+bm25-rrf": rrf["hybrid"]}
    meta = {
        "router": {"threshold": router.threshold, "low_share": router.low_share,
                   "high_share": router.high_share, **stats},
        "vs_best_side": compare_to_best(per_query, ("hybrid", "rrf"), seed),
    }  # fmt: skip
    return models, meta, router
