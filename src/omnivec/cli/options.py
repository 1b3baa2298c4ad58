"""Options that several commands share, defined once."""

from __future__ import annotations

from typing import Any

import typer


def device_option() -> Any:
    """``--device``: where the model runs (``auto``: a CUDA GPU when there is one, else the CPU)."""
    return typer.Option("auto", help="auto | cpu | cuda | cuda:N | mps (auto: a CUDA GPU when there is one)")
