"""``omnivec`` entry point: one typer group per concern; each command imports its library code lazily."""

from __future__ import annotations

import sys

import typer

from omnivec.cli import embed, index, model, quickstart, recsys, serve, train, world
from omnivec.cli import eval as eval_cli  # the module name shadows the builtin

app = typer.Typer(
    name="omnivec",
    help="Omni-modal embeddings for search and recommendation (SAIL-Embedding recipe).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(model.app, name="model", help="Build and inspect models.")
app.add_typer(world.app, name="world", help="Generate and check the built-in omni-modal world.")
app.add_typer(index.app, name="index", help="Build and inspect vector indexes (FAISS, Milvus).")
app.add_typer(
    recsys.app, name="recsys", help="Collaboration-aware recommendation: interests, ID teacher, evaluation."
)
app.command("embed")(embed.embed)
app.command("quickstart")(quickstart.quickstart)
app.command("train")(train.train)
app.command("mine")(train.mine)
app.command("balance")(train.balance)
app.command("search")(index.search)
app.command("eval")(eval_cli.evaluate)
app.command("sid")(recsys.sid)
app.command("serve")(serve.serve)


def main() -> None:
    """Run the CLI; an :class:`OmnivecError` prints one clear line and exits 2 instead of a traceback."""
    from omnivec.errors import OmnivecError

    try:
        app()
    except OmnivecError as err:
        typer.secho(f"error: {err}", fg="red", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
