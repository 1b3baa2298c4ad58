"""Shared save/load for omnivec's sentence-transformers modules.

Every tower module saves its JSON config (including the HF backbone config as a plain dict, so no original
checkpoint is needed to load it) and its weights as ``model.safetensors``. Loading rebuilds the module from the
config and reads the safetensors file; pickled weights are never read.
"""

from __future__ import annotations

import os
from typing import Any

from safetensors.torch import load_model
from sentence_transformers.base.modules import Module

from omnivec.errors import ConfigError


class SavedModule(Module):
    """A module whose state is its config dict + a safetensors file."""

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=True)

    @classmethod
    def load(cls, model_name_or_path: str, subfolder: str = "", **kwargs: Any) -> SavedModule:
        hub = {k: kwargs[k] for k in ("token", "cache_folder", "revision", "local_files_only") if k in kwargs}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        if not config:
            raise ConfigError(f"{model_name_or_path}/{subfolder}: missing {cls.config_file_name}")
        module = cls(**config)
        path = cls.load_file_path(model_name_or_path, "model.safetensors", subfolder=subfolder, **hub)
        if path is None:
            raise ConfigError(
                f"{model_name_or_path}/{subfolder}: missing model.safetensors (only safetensors load)"
            )
        missing, unexpected = load_model(module, path, strict=False)
        if missing or unexpected:
            raise ConfigError(
                f"{model_name_or_path}/{subfolder}: weights do not match the config "
                f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})"
            )
        return module
