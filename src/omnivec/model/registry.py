"""Architecture registry: names → validated :class:`ArchitectureConfig`.

The built-in architectures are the JSON files in ``architectures/``; users register their own with
:func:`register_architecture` or pass a path to a JSON file wherever an architecture name is accepted.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from omnivec.errors import ConfigError
from omnivec.model.config import ArchitectureConfig

_REGISTRY: dict[str, ArchitectureConfig] = {}


def _validate(data: dict, source: str) -> ArchitectureConfig:
    try:
        return ArchitectureConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"architecture {source}: {problems}") from None


def _load_builtins() -> None:
    if _REGISTRY:
        return
    for entry in resources.files("omnivec.model.architectures").iterdir():
        if entry.name.endswith(".json"):
            cfg = _validate(json.loads(entry.read_text()), entry.name)
            _REGISTRY[cfg.name] = cfg


def register_architecture(
    config: ArchitectureConfig | dict, *, overwrite: bool = False
) -> ArchitectureConfig:
    _load_builtins()
    cfg = config if isinstance(config, ArchitectureConfig) else _validate(config, repr(config.get("name")))
    if cfg.name in _REGISTRY and not overwrite:
        raise ConfigError(f"architecture {cfg.name!r} is already registered (pass overwrite=True)")
    _REGISTRY[cfg.name] = cfg
    return cfg


def list_architectures() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get_architecture(ref: str | Path | ArchitectureConfig) -> ArchitectureConfig:
    """A registered name, a path to an architecture JSON file, or a config object."""
    if isinstance(ref, ArchitectureConfig):
        return ref
    _load_builtins()
    if str(ref) in _REGISTRY:
        return _REGISTRY[str(ref)]
    path = Path(ref)
    if path.suffix == ".json" and path.is_file():
        return _validate(json.loads(path.read_text()), str(path))
    raise ConfigError(
        f"unknown architecture {str(ref)!r}; known: {list_architectures()} (or a path to a .json)"
    )
