"""``write_report``: ``results.json`` plus one self-contained ``report.html`` (tables and embedded PNG plots).

``results`` is what :func:`~omnivec.evaluation.tasks.evaluate` returns for one model, or several models as
``{"models": {NAME: {TASK: {METRIC: value}, "_meta": {...}}}}``. The HTML mirrors the paper's tables (§6:
one column per model, best value in bold, fractions printed × 100) and adds Recall@k curves, positive vs
negative cosine distributions, training curves from ``train_log.jsonl`` files and a PCA map of the embedding
space. Everything is inline (CSS, base64 images): no external URL, so the file can be mailed or archived.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.evaluation.tasks import headline_metric
from omnivec.utils.io import atomic_file, write_json

__all__ = ["format_value", "item_labels", "normalise_results", "read_train_log", "write_report"]

#: metrics printed as percentages (× 100), like the paper's tables; others (cosines, ρ) as they are
_PERCENT_PREFIXES = ("recall@", "ndcg@", "mrr", "auc", "chance@")
_PERCENT_NAMES = frozenset({"accuracy", "pos_neg_auc", "bijective_accuracy", "topk_intersection"})

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right} th{background:#f3f3f3}
td.name,th.name{text-align:left} .note{color:#666;font-size:.85em} img{max-width:100%}
details{margin:.3em 0} summary{cursor:pointer}
"""


def normalise_results(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{model name: single-model results}`` for either accepted shape.

    In the multi-model shape, a model whose ``_meta`` was moved out to ``results["meta"][name]`` gets it back
    (the report's histograms and headline choices live there).
    """
    if isinstance(results.get("models"), dict):
        metas = results.get("meta") if isinstance(results.get("meta"), dict) else {}
        out = {}
        for name, res in results["models"].items():
            if "_meta" not in res and isinstance(metas.get(name), dict):
                res = {**res, "_meta": metas[name]}
            out[name] = res
        return out
    name = str(results.get("_meta", {}).get("embedder") or "model")
    return {name: results}


def format_value(metric: str, value: float | None) -> str:
    """How the report prints a value: rates (recall, nDCG, MRR, AUC, accuracy, …) × 100 with 2 decimals,
    counts (``n_*``) as integers, anything else (cosines, gaps, correlations) with 4 decimals."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if metric.startswith(_PERCENT_PREFIXES) or metric in _PERCENT_NAMES:
        return f"{100 * value:.2f}"
    if metric.startswith("n_") and float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}"


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def read_train_log(path: str | Path) -> list[dict[str, Any]]:
    """Records of a ``train_log.jsonl`` (one JSON object per line; unreadable lines are skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def item_labels(data_dir: str | Path, ids: Sequence[str], column: str = "topic_l1") -> list[str] | None:
    """A colour label per item for the embedding map: ``truth/items.parquet`` ``column`` of a world (its L1
    topic by default), else the ``split`` of the items table; ``None`` when neither exists."""
    import pyarrow.parquet as pq

    root = Path(data_dir)
    for path, col in ((root / "truth" / "items.parquet", column), (root / "items.parquet", "split")):
        if path.is_file() and col in pq.read_schema(path).names:
            t = pq.read_table(path, columns=["item_id", col])
            lookup = dict(zip(t.column("item_id").to_pylist(), t.column(col).to_pylist(), strict=True))
            return [str(lookup.get(i, "?")) for i in ids]
    return None


# ------------------------------------------------------------------------------------------- tables
def _tasks(models: dict[str, dict[str, Any]]) -> list[str]:
    return list(
        dict.fromkeys(
            t
            for res in models.values()
            for t, v in res.items()
            if not t.startswith("_") and isinstance(v, dict)
        )
    )


def _row(labels: Sequence[str], values: list[float | None], metric: str) -> str:
    present = [v for v in values if v is not None]
    best = max(present) if len(present) > 1 else None
    cells = []
    for v in values:
        text = html.escape(format_value(metric, v))
        cells.append(f"<td><b>{text}</b></td>" if best is not None and v == best else f"<td>{text}</td>")
    names = "".join(f"<td class='name'>{html.escape(label)}</td>" for label in labels)
    return f"<tr>{names}{''.join(cells)}</tr>"


def _headline_table(models: dict[str, dict[str, Any]]) -> str:
    names = list(models)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for task in _tasks(models):
        metric = None
        for res in models.values():
            metric = metric or res.get("_meta", {}).get("headline", {}).get(task.split("/")[0])
        first = next((res[task] for res in models.values() if task in res), {})
        if metric is None or metric not in first:
            metric = headline_metric(first)
        if metric is None:
            continue
        values = [models[n].get(task, {}).get(metric) for n in names]
        rows.append(_row([task, metric], values, metric))
    return (f"<table><tr><th class='name'>task</th><th class='name'>metric</th>{head}</tr>"
            f"{''.join(rows)}</table>")  # fmt: skip


def _detail_tables(models: dict[str, dict[str, Any]]) -> str:
    names = list(models)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    parts = []
    for task in _tasks(models):
        metrics = list(dict.fromkeys(m for res in models.values() for m in res.get(task, {})))
        rows = [_row([m], [models[n].get(task, {}).get(m) for n in names], m) for m in metrics]
        parts.append(f"<details><summary>{html.escape(task)}</summary><table><tr><th class='name'>metric</th>"
                     f"{head}</tr>{''.join(rows)}</table></details>")  # fmt: skip
    return "".join(parts)


def _meta_html(models: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, res in models.items():
        meta = res.get("_meta", {})
        if not meta:
            continue
        items = [f"<li>data: {html.escape(str(meta.get('data', '?')))}</li>",
                 f"<li>seconds: {meta.get('seconds', '?')}</li>"]  # fmt: skip
        if meta.get("user_vector"):
            items.append(f"<li>seq2item user vector: {html.escape(str(meta['user_vector']))}</li>")
        nq = meta.get("n_queries", {})
        if nq:
            items.append(
                "<li>queries: " + ", ".join(f"{html.escape(t)} {n}" for t, n in nq.items()) + "</li>"
            )
        skipped = meta.get("skipped_items", {})
        if skipped.get("count"):
            listed = "".join(
                f"<li>{html.escape(str(e))}</li>" for e in skipped.get("errors") or skipped.get("items", [])
            )
            items.append(f"<li>failed items (zero vectors): {skipped['count']}<ul>{listed}</ul></li>")
        for task, why in meta.get("skipped_tasks", {}).items():
            items.append(f"<li>skipped task {html.escape(task)}: {html.escape(str(why))}</li>")
        items += [f"<li>{html.escape(str(n))}</li>" for n in meta.get("notes", [])]
        parts.append(f"<h3>{html.escape(name)}</h3><ul class='note'>{''.join(items)}</ul>")
    return "".join(parts)


def _img(b64: str | None, alt: str) -> str:
    if b64 is None:
        return f"<p class='note'>no data for {html.escape(alt)}</p>"
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{b64}'>"


# ------------------------------------------------------------------------------------------- entry
def write_report(
    results: dict[str, Any],
    out_dir: str | Path,
    *,
    train_logs: Sequence[str | Path] | None = None,
    embeddings_for_map: tuple[np.ndarray, Sequence[Any]] | None = None,
    title: str = "omnivec evaluation",
) -> Path:
    """Write ``out_dir/results.json`` and ``out_dir/report.html`` (both atomically); returns the HTML path.

    Args:
        results: one model's :func:`evaluate` output, or ``{"models": {name: output}}``.
        out_dir: created when missing.
        train_logs: ``train_log.jsonl`` files to plot (missing files are noted, not fatal).
        embeddings_for_map: ``(embeddings [N, D], labels [N])`` for the PCA map.
        title: page title.
    """
    from omnivec.evaluation import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", _json_safe(results))
    models = normalise_results(results)
    logs: dict[str, list[dict[str, Any]]] = {}
    missing = []
    for p in train_logs or []:
        path = Path(p)
        if path.is_file():
            logs[path.parent.name or path.name] = read_train_log(path)
        else:
            missing.append(str(path))
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        "<p class='note'>Models: " + ", ".join(html.escape(n) for n in models) + ". Recall, nDCG, MRR, AUC and "
        "accuracy are printed × 100 (as in the paper's tables); best value per row in bold. Rows named "
        "<i>task/cold</i> score only the queries anchored on cold-start items.</p>",
        "<h2>Summary</h2>", _headline_table(models),
        "<h2>All metrics</h2>", _detail_tables(models),
        "<h2>Recall@k</h2>", _img(plots.recall_curves(models), "recall curves"),
        "<h2>Similarity distributions</h2><p class='note'>cosine(query, gold target) (solid) vs cosine(query, "
        "random corpus item) (dashed), per task.</p>", _img(plots.similarity_plot(models), "similarity distributions"),
    ]  # fmt: skip
    if train_logs is not None:
        sections += ["<h2>Training</h2>", _img(plots.training_curves(logs), "training curves")]
        sections += [f"<p class='note'>missing log: {html.escape(m)}</p>" for m in missing]
    if embeddings_for_map is not None:
        emb, labels = embeddings_for_map
        sections += ["<h2>Embedding map</h2>", _img(plots.embedding_map(emb, labels), "embedding map")]
    sections += ["<h2>Run details</h2>", _meta_html(models)]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>")  # fmt: skip
    path = out / "report.html"
    with atomic_file(path, "w") as fh:
        fh.write(page)
    _readable(out / "results.json", path)
    return path


def _readable(*paths: Path) -> None:
    """Give the files the usual umask permissions (atomic temp files are created owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    for p in paths:
        os.chmod(p, 0o666 & ~umask)
