"""Plain-text tables shaped like the paper's Tables 2–5, from a ``{"models": ...}`` results dict.

Task names follow the public format's convention (they contain ``i2i``, ``q2i``, ``seq2item``, ``cls`` or
``ctr``), which is what groups them here. Values are percentages for recall/accuracy/AUC, as in the paper.
"""

from __future__ import annotations

from typing import Any

MODEL_ORDER = ["sail", "sail-content", "fusion-plain", "clip-dual-tower", "minilm-mnrl", "minilm-zero-shot"]


def _fmt(v: Any, scale: float = 100.0) -> str:
    return "-" if not isinstance(v, (int, float)) else f"{v * scale:.2f}"


def _table(title: str, rows: list[tuple[str, list[str]]], header: list[str]) -> str:
    if not rows:
        return ""
    widths = [max(len(header[0]), *(len(r[0]) for r in rows))]
    for c in range(1, len(header)):
        widths.append(max(len(header[c]), *(len(r[1][c - 1]) for r in rows)))
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join([name.ljust(widths[0]), *(v.rjust(w) for v, w in zip(vals, widths[1:], strict=True))])
              for name, vals in rows]  # fmt: skip
    return "\n".join(lines)


#: Lexical and hybrid rankings (``bm25``, ``sail+bm25``, ``sail+bm25-rrf``) only cover retrieval tasks: they
#: get their own table.
def is_lexical_model(name: str) -> bool:
    return name == "bm25" or "+bm25" in name


def _models(results: dict[str, Any]) -> list[str]:
    names = [m for m in results["models"] if not is_lexical_model(m)]
    return [m for m in MODEL_ORDER if m in names] + [m for m in names if m not in MODEL_ORDER]


#: Task kinds by name, most specific first: "seq2item" contains "q2i", "id-i2i" contains "i2i".
KINDS = ("seq2item", "id-i2i", "i2i", "q2i", "cls", "ctr")


def task_kind(name: str) -> str | None:
    """The kind of a task from its name (the public format's convention), or ``None``."""
    base = name.split("/")[0]
    return next((kind for kind in KINDS if kind in base), None)


def _tasks(results: dict[str, Any], key: str, exclude: tuple[str, ...] = ()) -> list[str]:
    seen: dict[str, None] = {}
    for per_model in results["models"].values():
        for task in per_model:
            if key in task and "/" not in task and not any(x in task for x in exclude):
                seen[task] = None
    return list(seen)


def retrieval_table(results: dict[str, Any], title: str, tasks: list[str], metrics: tuple[str, ...]) -> str:
    models = _models(results)
    header = ["task / metric", *models]
    rows = []
    for task in tasks:
        for metric in metrics:
            vals = [_fmt(results["models"][m].get(task, {}).get(metric)) for m in models]
            if any(v != "-" for v in vals):
                rows.append((f"{task} {metric}", vals))
    return _table(title, rows, header)


def hybrid_table(results: dict[str, Any], dense: str = "sail") -> str:
    """Dense vs BM25 vs hybrid (routed, and equal-weight RRF) per task, means over entity tasks, other q2i,
    i2i and everything, and each hybrid's difference to the better side with its 95 % interval."""
    from omnivec.quickstart.hybrid import GROUPS, METRICS

    models = [m for m in (dense, "bm25", f"{dense}+bm25", f"{dense}+bm25-rrf") if m in results["models"]]
    if len(models) < 3:
        return ""
    tasks = [t for t in results["models"]["bm25"] if "/" not in t]
    groups = {f"{name} (mean)": [t for t in tasks if member(t)] for name, member in GROUPS.items()}
    metrics = METRICS
    rows = []
    for task in tasks:
        for metric in metrics:
            rows.append(
                (f"{task} {metric}", [_fmt(results["models"][m].get(task, {}).get(metric)) for m in models])
            )
    for label, members in groups.items():
        if not members:
            continue
        for metric in metrics:
            vals = []
            for m in models:
                got = [results["models"][m].get(t, {}).get(metric) for t in members]
                nums = [v for v in got if isinstance(v, (int, float))]
                vals.append(_fmt(sum(nums) / len(nums)) if len(nums) == len(got) and nums else "-")
            rows.append((f"{label} {metric}", vals))
    names = {dense: dense, "bm25": "bm25", f"{dense}+bm25": f"{dense}+bm25 (routed)",
             f"{dense}+bm25-rrf": f"{dense}+bm25-rrf (equal RRF)"}  # fmt: skip
    table = _table(
        "Hybrid retrieval — dense vs BM25 vs hybrid (%)", rows, ["task / metric", *(names[m] for m in models)]
    )
    vs = results.get("meta", {}).get("hybrid", {}).get("vs_best_side")
    if not vs:
        return table
    gap_rows = []
    for group, per_metric in vs.items():
        for metric, row in per_metric.items():
            cells = [row["best"]]
            for key in ("hybrid", "rrf"):
                d, lo, hi = row.get(key, (None, None, None))
                cells.append("-" if d is None else f"{100 * d:+.2f} [{100 * lo:+.2f}, {100 * hi:+.2f}]")
            gap_rows.append((f"{group} {metric}", cells))
    gaps = _table(
        "Hybrid minus the better single side (points, paired bootstrap 95 % interval)", gap_rows,
        ["group / metric", "better side", f"{dense}+bm25 (routed)", f"{dense}+bm25-rrf"],
    )  # fmt: skip
    return table + "\n\n" + gaps


def _interval(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    return f"{100 * row['difference']:+.2f} [{100 * row['low']:+.2f}, {100 * row['high']:+.2f}]"


def versus_table(results: dict[str, Any]) -> str:
    """The reference model minus each other model per task (Recall@50, or AUC for pair tasks), in points
    with paired bootstrap 95 % intervals (``meta.vs_baselines``, :func:`omnivec.evaluation.compare.compare_models`)."""
    vs = results.get("meta", {}).get("vs_baselines")
    if not vs or not vs.get("models"):
        return ""
    others = [m for m in MODEL_ORDER if m in vs["models"]] + [m for m in vs["models"] if m not in MODEL_ORDER]
    tasks: dict[str, str] = {}
    for other in others:
        for task, row in vs["models"][other].items():
            tasks.setdefault(task, row["metric"])
    rows = []
    for task, metric in tasks.items():
        cells = [_interval(vs["models"][other].get(task)) for other in others]
        n = vs["models"][others[0]].get(task, {}).get("queries", "")
        # an extra metric's row is keyed "<task>:<metric>" (compare_models(extra_metrics=...))
        rows.append((f"{task.split(':')[0]} {metric} (n={n})", cells))
    ref = vs["reference"]
    return _table(f"{ref} minus each model (points, paired bootstrap 95 % interval over the task's queries)", rows,
                  ["task / metric", *others])  # fmt: skip


def user_vector_table(results: dict[str, Any]) -> str:
    """Sequence tasks under the user vector the run did not use (``meta.user_vectors``), and ``sail`` minus
    ``sail-content`` (CRE's effect) under both."""
    uv = results.get("meta", {}).get("user_vectors") or {}
    if not uv.get("models"):
        return ""
    models = [m for m in _models(results) if m in uv["models"]]
    rows = [(f"{task} {metric}", [_fmt(uv["models"][m].get(task, {}).get(metric)) for m in models])
            for task in uv["tasks"] for metric in ("recall@10", "recall@50")]  # fmt: skip
    table = _table(f"Sequence → item with the {uv['other']} user vector (Recall@k, %; the tables above use "
                   f"{uv['used']})", rows, ["task / metric", *models])  # fmt: skip
    cre = uv.get("cre")
    used = (results.get("meta", {}).get("vs_baselines") or {}).get("models", {}).get("sail-content")
    if not cre or not used:
        return table

    cre_rows = [(task, [_interval(used.get(task)), _interval(cre.get(task))]) for task in uv["tasks"]]
    return table + "\n\n" + _table(
        "CRE's effect on sequence → item (sail minus sail-content, Recall@50 points, paired 95 % interval)",
        cre_rows, ["task", uv["used"], uv["other"]],
    )  # fmt: skip


def cre_k_table(results: dict[str, Any]) -> str:
    """CRE's effect (``sail`` minus ``sail-content``) at every k (``meta.cre_by_k``): head and depth apart."""
    by_task = results.get("meta", {}).get("cre_by_k") or {}
    if not by_task:
        return ""
    metrics = sorted({m for rows in by_task.values() for m in rows}, key=lambda m: int(m.split("@")[1]))
    rows = [(task, [_interval(by_task[task].get(m)) for m in metrics]) for task in by_task]
    return _table("CRE's effect at each k (sail minus sail-content, Recall@k points, paired 95 % interval)", rows,
                  ["task", *metrics])  # fmt: skip


def format_tables(results: dict[str, Any]) -> str:
    parts = [
        retrieval_table(results, "Table 2 — i2i retrieval (Recall@k, %)",
                        _tasks(results, "i2i", exclude=("id-i2i",)), ("recall@50", "recall@100")),
        retrieval_table(results, "Table 3 — q2i retrieval (Recall@k, %) and classification (AUC, %)",
                        _tasks(results, "q2i", exclude=("seq2item",)), ("recall@50", "recall@100", "auc")),
        retrieval_table(results, "Classification (accuracy, %)", _tasks(results, "cls", exclude=("q2i",)),
                        ("accuracy",)),
        retrieval_table(results, "Table 4 — collaboration: ID-relevance and copair i2i",
                        [*_tasks(results, "id-i2i"), "copair-i2i"],
                        ("nmi", "kendall_tau", "topk_intersection", "bijective_accuracy", "recall@50", "recall@100")),
        retrieval_table(results, "Table 5 — sequence → item (Recall@k, %)", _tasks(results, "seq2item"),
                        ("recall@1", "recall@10", "recall@25")),
        retrieval_table(results, "CTR model with embedding features (AUC, %)", _tasks(results, "ctr"),
                        ("auc_base", "auc_match", "auc_match_sid", "gain_match", "gain_match_sid")),
    ]  # fmt: skip
    cold = [t for t in _tasks(results, "") if any(f"{t}/cold" in r for r in results["models"].values())]
    parts.append(retrieval_table(
        results, "Cold-start items only (Recall@50 / AUC / accuracy, %)", [f"{t}/cold" for t in cold],
        ("recall@50", "auc", "accuracy", "auc_match"),
    ))  # fmt: skip
    parts.append(user_vector_table(results))
    parts.append(cre_k_table(results))
    parts.append(versus_table(results))
    parts.append(hybrid_table(results))
    return "\n\n".join(p for p in parts if p)
