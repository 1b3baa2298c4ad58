"""Options that several commands share, defined once."""

from __future__ import annotations

from typing import Any

import typer


def load_model(path: Any, device: str) -> Any:
    """``omnivec.load`` on ``--device``: a device the machine lacks is an error naming the option."""
    from omnivec.model import load
    from omnivec.utils.device import resolve_device

    return load(path, device=resolve_device(device, setting="--device"))


def device_option() -> Any:
    """``--device``: where the model runs (``auto``: a CUDA GPU when there is one, else the CPU)."""
    return typer.Option("auto", help="auto | cpu | cuda | cuda:N | mps (auto: a CUDA GPU when there is one)")
