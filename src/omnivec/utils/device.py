"""Which torch device a model runs on: ``auto`` (the default everywhere) picks CUDA when there is a GPU, then
Apple's MPS, else the CPU, as sentence-transformers does; an explicit name is checked before any model is
built, so a typo or a missing GPU is one clear error naming the setting."""

from __future__ import annotations

import re

import torch

from omnivec.errors import ConfigError

AUTO = "auto"
_NAMED = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def resolve_device(device: str | None = AUTO, *, setting: str = "device") -> str:
    """``None``/``"auto"`` → the best device here; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"`` → itself,
    after checking this machine has it. ``setting`` names the option in errors (e.g. ``--device``)."""
    name = (device or AUTO).strip().lower()
    if name == AUTO:
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if not _NAMED.match(name):
        raise ConfigError(f"{setting}: {device!r} is not a device (auto, cpu, cuda, cuda:N or mps)")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"{setting}: {device!r} asked for, but torch sees no CUDA GPU on this machine")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"{setting}: {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
    if name == "mps" and not _mps_available():
        raise ConfigError(f"{setting}: 'mps' asked for, but torch sees no Apple MPS device")
    return name


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
