"""``omnivec recsys …`` (interest mining, ID teacher, recommendation evaluation) and ``omnivec sid``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

app = typer.Typer(
    help="Collaboration-aware recommendation (SAIL §3.3.5): interest mining, ID teacher, evaluation.",
    no_args_is_help=True,
)


def _load_config(model: type[M], path: Path | None, overrides: dict[str, Any]) -> M:
    """``model`` from a YAML/JSON file (optional) with command-line overrides; errors name the key."""
    data: dict[str, Any] = {}
    if path is not None:
        import yaml

        from omnivec.errors import ConfigError

        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of {model.__name__} keys")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return model.model_validate(data)
    except ValueError as exc:
        from omnivec.errors import ConfigError

        raise ConfigError(f"invalid {model.__name__}: {exc}") from None


@app.command("interests")
def interests(
    data: Path = typer.Option(..., help="data folder (world or your export) with logs/behaviour.parquet"),
    out: Path = typer.Option(None, help="folder to write sources/<name>.{parquet,json} into (default: DATA)"),
    emb: Path = typer.Option(
        None, help="embeddings Parquet (omnivec embed) for the content filter; default: token Jaccard"
    ),
    config: Path = typer.Option(None, help="YAML/JSON of InterestConfig keys"),
    seq_len: int = typer.Option(None, help="history items per pair (default 10)"),
    max_targets: int = typer.Option(None, help="targets per user and perspective (default 4)"),
    clusters: int = typer.Option(None, help="k of the collaborative clusters (default 16)"),
    seed: int = typer.Option(None),
) -> None:
    """Mine (history → target) pairs with the four interest perspectives into a training source."""
    from omnivec.recsys.interests import InterestConfig, build_seq2item_source

    overrides = {"seq_len": seq_len, "max_targets_per_user": max_targets, "clusters": clusters, "seed": seed}
    cfg = _load_config(InterestConfig, config, overrides)
    ids = matrix = None
    if emb is not None:
        from omnivec.recsys.semantic_ids import read_embeddings

        ids, matrix = read_embeddings(emb)
    stats = build_seq2item_source(data, out, cfg, item_ids=ids, item_emb=matrix)
    for p, n in stats["per_perspective"].items():
        typer.echo(f"{p:22s} {n:7d} pairs")
    typer.echo(f"{stats['pairs']} pairs from {stats['users']} users, mean length {stats['mean_seq_len']:.2f}")
    typer.echo(f"source -> {stats['parquet']}")


@app.command("id-teacher")
def id_teacher(
    data: Path = typer.Option(..., help="data folder with logs/behaviour.parquet (and impressions)"),
    out: Path = typer.Option(..., help="ID table to write: Parquet item_id, vector"),
    config: Path = typer.Option(None, help="YAML/JSON of IDTeacherConfig keys"),
    dim: int = typer.Option(None, help="ID embedding size (default 32)"),
    epochs: int = typer.Option(None, help="passes over the plays (default 40)"),
    seed: int = typer.Option(None),
) -> None:
    """Train item ID embeddings (two-tower MF) on the behaviour logs; cold items get none."""
    from omnivec.recsys.id_teacher import IDTeacherConfig, train_id_teacher, write_id_table

    cfg = _load_config(IDTeacherConfig, config, {"dim": dim, "epochs": epochs, "seed": seed})
    result = train_id_teacher(data, cfg, progress=True)
    write_id_table(out, result.item_ids, result.item_vectors)
    typer.echo(
        f"{len(result.item_ids)} item vectors (loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f})"
    )
    typer.echo(f"ID table -> {out}")


@app.command("eval")
def evaluate(
    data: Path = typer.Option(..., help="data folder (world or your export)"),
    emb: Path = typer.Option(..., help="embeddings Parquet of the catalogue (omnivec embed)"),
    id_table: list[Path] = typer.Option(
        None, "--id-table", help="your ID table(s) (item_id, vector); default: train the ID teacher"
    ),
    out: Path = typer.Option(None, help="write the metrics JSON here"),
    seed: int = typer.Option(0),
) -> None:
    """ID-relevance i2i (Table 4) and CTR feature gains (Table 6) of an embeddings file."""
    from omnivec.recsys.evaluate import recsys_tasks
    from omnivec.recsys.semantic_ids import read_embeddings

    ids, matrix = read_embeddings(emb)
    metrics = recsys_tasks(data, ids, matrix, seed=seed, id_tables=id_table or None)
    for task, values in metrics.items():
        shown = "  ".join(f"{k}={v:.4f}" for k, v in values.items() if not k.startswith("n_"))
        typer.echo(f"{task:12s} {shown}")
    if out is not None:
        from omnivec.utils.io import write_json

        write_json(out, metrics)
        typer.echo(f"metrics -> {out}")


def sid(
    emb: Path = typer.Option(..., help="embeddings Parquet (item_id, row, embedding)"),
    levels: int = typer.Option(3, help="residual k-means levels"),
    codebook_size: int = typer.Option(64, "--codebook-size", help="centroids per level"),
    out: Path = typer.Option(None, help="output Parquet (default: <emb>.sids.parquet beside it)"),
    seed: int = typer.Option(0),
) -> None:
    """Semantic IDs: residual k-means codes of item embeddings (item_id, sid, sid_str)."""
    from omnivec.recsys.semantic_ids import sid_file

    report = sid_file(emb, out, levels=levels, codebook_size=codebook_size, seed=seed)
    errors = ", ".join(f"{e:.4f}" for e in report.errors)
    typer.echo(json.dumps({"items": report.n_items, "codebook_sizes": report.sizes,
                           "distinct_sids": report.distinct_sids}))  # fmt: skip
    typer.echo(f"reconstruction error after each level: {errors}")
    typer.echo(f"semantic IDs -> {report.out} (codebooks -> {report.codebooks_path})")
