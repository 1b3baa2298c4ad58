"""The SAIL architecture as sentence-transformers modules (see DESIGN.md, "The flow")."""

from __future__ import annotations

from omnivec.model.omni import EncodeResult, OmniModel, build, load
from omnivec.model.registry import get_architecture, list_architectures, register_architecture

__all__ = [
    "EncodeResult",
    "OmniModel",
    "build",
    "get_architecture",
    "list_architectures",
    "load",
    "register_architecture",
]
