"""``omnivec eval``: evaluate a saved model on a world's (or dataset's) tasks; write results.json + report.html."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import typer

from omnivec.cli.options import device_option, load_model

MAP_ITEMS = 5000


def _table(results: dict[str, Any]) -> str:
    """A compact text table: task, headline metric, value × 100, queries."""
    from omnivec.evaluation.report import format_value

    meta = results.get("_meta", {})
    heads = meta.get("headline", {})
    lines = [f"{'task':<28} {'metric':<12} {'value':>8} {'queries':>8}"]
    for task, metrics in results.items():
        if task.startswith("_") or not isinstance(metrics, dict):
            continue
        base = task.split("/")[0]
        metric = heads.get(base) if heads.get(base) in metrics else next(iter(metrics), None)
        if metric is None:
            continue
        n = meta.get("n_cold" if task.endswith("/cold") else "n_queries", {}).get(base, "")
        lines.append(f"{task:<28} {metric:<12} {format_value(metric, metrics[metric]):>8} {n!s:>8}")
    return "\n".join(lines)


def evaluate(
    model: Path = typer.Option(..., help="saved omnivec model folder"),
    data: Path = typer.Option(..., help="world folder (omnivec world make) or dataset folder with tasks/"),
    tasks: str = typer.Option(None, help="comma-separated task names (default: all)"),
    out: Path = typer.Option(None, help="output folder for results.json + report.html (default: MODEL/eval)"),
    batch_size: int = typer.Option(32, help="items per forward pass"),
    dimensions: int = typer.Option(None, help="Matryoshka truncation (re-normalised)"),
    max_queries: int = typer.Option(None, help="evaluate a seeded subset of at most this many rows per task"),
    cold: bool = typer.Option(True, "--cold/--no-cold", help="also score cold-start rows alone (TASK/cold)"),
    embedding_map: bool = typer.Option(True, "--map/--no-map", help="PCA map of the item embeddings"),
    train_log: list[Path] = typer.Option(
        None, "--train-log", help="train_log.jsonl to plot (default: MODEL/../train_log.jsonl when present)"
    ),
    user_vector: str = typer.Option(
        "mean",
        help="seq2item user vector: mean (the paper's) or centred (the mean minus the corpus centroid); "
        "a model saved with a trained sequence encoder (cre.sequence_encoder kind transformer) uses that instead",
    ),
    seq_history: str = typer.Option(
        "keep",
        help="seq2item: keep the history's own items as candidates, or exclude them (new items only)",
    ),
    seed: int = typer.Option(0),
    device: str = device_option(),
) -> None:
    """Score the model on retrieval, classification, sequence (and recommendation) tasks."""
    from omnivec.evaluation.cache import EmbeddingCache
    from omnivec.evaluation.dataset import open_data
    from omnivec.evaluation.embedders import OmniEmbedder
    from omnivec.evaluation.report import item_labels, write_report
    from omnivec.evaluation.tasks import SEQ_ITEM_PROMPT
    from omnivec.evaluation.tasks import evaluate as run_tasks
    from omnivec.recsys.sequence_io import load_sequence_encoder

    names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    out = out or model / "eval"
    embedder = OmniEmbedder(
        load_model(model, device),
        batch_size=batch_size,
        dimensions=dimensions,
        name=model.name,
        sequence_encoder=load_sequence_encoder(model),
    )
    data_set = open_data(data)
    cache = EmbeddingCache(embedder, data_set.item, progress=True)
    results = run_tasks(embedder, data_set, names, cold_split=cold, progress=True, max_queries=max_queries,
                        seed=seed, cache=cache, user_vector=user_vector,
                        seq_history=seq_history)  # fmt: skip
    map_data = None
    if embedding_map:
        ids = list(data_set.store.ids)
        if len(ids) > MAP_ITEMS:
            ids = sorted(random.Random(seed).sample(ids, MAP_ITEMS))
        labels = item_labels(data, ids)
        if labels is not None:
            map_data = (cache.items(ids, *SEQ_ITEM_PROMPT), labels)
    logs = train_log or [
        p for p in (model.parent / "train_log.jsonl", model / "train_log.jsonl") if p.is_file()
    ]
    html_path = write_report(results, out, train_logs=logs or None, embeddings_for_map=map_data,
                             title=f"omnivec evaluation: {model.name} on {data.name}")  # fmt: skip
    typer.echo(_table(results))
    meta = results["_meta"]
    skipped = meta.get("skipped_items", {}).get("count", 0)
    if skipped:
        typer.secho(f"{skipped} item(s) failed to embed (zero vectors); see the report", fg="yellow")
    for task, why in meta.get("skipped_tasks", {}).items():
        typer.secho(f"skipped {task}: {why}", fg="yellow")
    typer.echo(f"{meta['seconds']:.1f} s; results -> {out / 'results.json'}, report -> {html_path}")
