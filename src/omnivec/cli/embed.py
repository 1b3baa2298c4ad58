"""``omnivec embed``: embed an items file with a saved model."""

from __future__ import annotations

from pathlib import Path

import typer

from omnivec.cli.options import device_option, load_model


def embed(
    model: Path = typer.Option(..., help="saved omnivec model folder"),
    items: Path = typer.Option(..., help="items file (.parquet or .jsonl); media paths relative to it"),
    out: Path = typer.Option(..., help="output Parquet (item_id, row, embedding)"),
    task: str = typer.Option(None, help="prompt task (default: the model's default task)"),
    side: str = typer.Option("target", help="prompt side: query or target"),
    dimensions: int = typer.Option(None, help="Matryoshka truncation (re-normalised)"),
    batch_size: int = typer.Option(32),
    device: str = device_option(),
) -> None:
    """Embed every item; bad items are skipped and listed in OUT.errors.json."""
    from omnivec.embedding import embed_file

    report = embed_file(
        load_model(model, device),
        items,
        out,
        task=task,
        side=side,
        dimensions=dimensions,
        batch_size=batch_size,
    )
    typer.echo(f"embedded {report.n_ok}/{report.n_items} items -> {report.out}")
    if report.errors:
        typer.secho(f"skipped {len(report.errors)} bad item(s), listed in {report.errors_path}:", fg="yellow")
        for e in report.errors[:20]:
            typer.echo(f"  {e['message']}")
