"""``omnivec quickstart``: the README's main job."""

from __future__ import annotations

from pathlib import Path

import typer


def quickstart(
    out: Path = typer.Option(None, help="output folder (default runs/quickstart or runs/quickstart-tiny)"),
    tiny: bool = typer.Option(False, "--tiny", help="the CI-sized run: tiny world, tiny model (~3 min)"),
    ablate: bool = typer.Option(False, "--ablate", help="also train the recipe with each mechanism off"),
    seed: int = typer.Option(0),
) -> None:
    """Build the world, train SAIL (+CRE) and the baselines, evaluate, index, search, and write the report."""
    from omnivec.quickstart import run_quickstart

    profile = "tiny" if tiny else "default"
    out = out or Path("runs") / ("quickstart-tiny" if tiny else "quickstart")
    results = run_quickstart(out, profile=profile, seed=seed, ablate=ablate, echo=typer.echo)
    if ablate:
        from omnivec.quickstart.ablation import format_ablation

        typer.echo("\n" + format_ablation(results["meta"]["ablation"]))
