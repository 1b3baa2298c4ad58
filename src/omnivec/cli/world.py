"""``omnivec world make|check``: the built-in omni-modal platform generator."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("make")
def make(
    out: Path = typer.Option(..., help="output folder (written atomically)"),
    size: str = typer.Option("small", help="tiny | small | medium | large"),
    seed: int = typer.Option(0),
    force: bool = typer.Option(False, "--force", help="replace an existing world folder"),
    media: str = typer.Option(None, help="files | lazy (default: the size's own; large is lazy)"),
    workers: int = typer.Option(None, help="processes rendering media (default: one per core)"),
) -> None:
    """Generate a world: items with media, users and logs, training sources and evaluation tasks."""
    from omnivec.world import make_world

    manifest = make_world(
        out, size=size, seed=seed, progress=True, overwrite=force, media=media, workers=workers
    )
    typer.echo(f"world ({size}, seed {seed}) -> {out}")
    typer.echo(str(manifest))


@app.command("check")
def check(world_dir: Path = typer.Argument(..., help="a world folder")) -> None:
    """Print the figures that show the world's structure (probes, duplicates, collaborative signal)."""
    from omnivec.world import check_world, format_check_report

    typer.echo(format_check_report(check_world(world_dir)))
