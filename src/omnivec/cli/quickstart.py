"""``omnivec quickstart``: the README's main job."""

from __future__ import annotations

from pathlib import Path

import typer


def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), help="output folder"),
    arch: str = typer.Option("small", help="architecture to build"),
) -> None:
    """Build the model and embed sample items of every modality mix (the full SAIL pipeline lands here
    with the training and evaluation issues)."""
    from omnivec.quickstart import run_quickstart

    run_quickstart(out, arch=arch, echo=typer.echo)
