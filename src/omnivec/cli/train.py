"""``omnivec train``, ``omnivec mine`` and ``omnivec balance``: the SAIL training engine."""

from __future__ import annotations

from pathlib import Path

import typer


def train(
    recipe: Path = typer.Argument(..., help="recipe YAML (see recipes/)"),
    data: str = typer.Option(None, help="override the recipe's data folder"),
    output_dir: str = typer.Option(None, "--output-dir", help="override the recipe's output_dir"),
) -> None:
    """Run a recipe's stages (resumes a killed run from its last checkpoint)."""
    from omnivec.training.recipe import load_recipe
    from omnivec.training.run import train_recipe

    overrides = {k: v for k, v in (("data", data), ("output_dir", output_dir)) if v}
    out = train_recipe(load_recipe(recipe, overrides), echo=typer.echo)
    typer.echo(f"model -> {out}")


def mine(
    model: Path = typer.Option(..., help="saved model used to score pairs"),
    data: Path = typer.Option(..., help="data folder (world or your export)"),
    out: Path = typer.Option(..., help="output folder: sources/<name>.parquet with a 'negatives' column"),
    sources: list[str] = typer.Option(
        None, "--source", help="sources to mine (default: all item-target ones)"
    ),
    k: int = typer.Option(3, help="hard negatives per query"),
    max_queries: int = typer.Option(20000),
    seed: int = typer.Option(0),
) -> None:
    """Offline dynamic hard-negative mining: per source λ* (F1-optimal), top-k below it."""
    import pyarrow as pa

    from omnivec.model import load
    from omnivec.training.data import TrainingData
    from omnivec.training.embed_memo import EmbeddingMemo
    from omnivec.training.hard_negatives import mine_source
    from omnivec.utils.io import write_json, write_parquet

    td = TrainingData(data)
    m = load(model)
    memo = EmbeddingMemo(m, show_progress_bar=True)  # items shared by several sources are embedded once
    names = sources or [n for n in td.source_names if td.source(n).config.target == "item"]
    summaries = []
    for name in names:
        res = mine_source(m, td, name, k=k, max_queries=max_queries, seed=seed, memo=memo)
        src = td.source(name)
        rows = [
            dict(r, negatives=res.negatives.get(i, r.get("negatives") or [])) for i, r in enumerate(src.rows)
        ]
        write_parquet(out / "sources" / f"{name}.parquet", pa.Table.from_pylist(rows))
        summaries.append(res.summary())
        typer.echo(f"{name}: λ*={res.threshold:.4f} (F1 {res.f1:.3f}), {res.mean_negatives:.2f} negatives/query "
                   f"over {res.queries} queries")  # fmt: skip
    write_json(out / "mining.json", summaries)


def balance(
    model: Path = typer.Option(..., help="an early model (e.g. after stage I)"),
    data: Path = typer.Option(..., help="data folder"),
    out: Path = typer.Option(None, help="where to save the weights JSON (default DATA/balance.json)"),
    per_set: int = typer.Option(256, help="samples embedded per source / validation set"),
    k: int = typer.Option(8, help="k-means clusters per set and modality"),
    temperature: float = typer.Option(0.05, help="softmax temperature over alignment scores"),
    aggregate: str = typer.Option(
        "mean", help="mean = softmax of each source's mean score (paper); per_set = each validation set votes"
    ),
    seed: int = typer.Option(0),
) -> None:
    """Adaptive multi-source balancing: print and save per-source sampling weights."""
    from omnivec.model import load
    from omnivec.training.balance import balance_sources, save_balance
    from omnivec.training.data import TrainingData

    result = balance_sources(
        load(model),
        TrainingData(data),
        per_set=per_set,
        k=k,
        temperature=temperature,
        seed=seed,
        aggregate=aggregate,
    )
    typer.echo(result.table())
    path = out or Path(data) / "balance.json"
    save_balance(result, path)
    typer.echo(f"weights -> {path} (use it as the recipe's `balance:` and `weights: balanced`)")
