"""``omnivec model ...``: build a fresh model of a registered architecture and save it."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build_cmd(
    arch: str = typer.Option("small", help="registered architecture name or path to an architecture JSON"),
    out: Path = typer.Option(..., help="output folder (sentence-transformers format)"),
    seed: int = typer.Option(0, help="seed for the random-init towers"),
) -> None:
    """Build an untrained model and save it."""
    from omnivec.model import build
    from omnivec.utils.io import atomic_dir

    model = build(arch, seed=seed)
    with atomic_dir(out) as tmp:
        model.save(str(tmp))
    n_params = sum(p.numel() for p in model.parameters())
    typer.echo(
        f"built {arch!r}: {n_params / 1e6:.1f}M parameters, dim {model.dimension} "
        f"(matryoshka {model.matryoshka_dims}) -> {out}"
    )


@app.command("list")
def list_cmd() -> None:
    """List the registered architectures."""
    from omnivec.model import get_architecture, list_architectures

    for name in list_architectures():
        typer.echo(f"{name:16s} {get_architecture(name).description}")
