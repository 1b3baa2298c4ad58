"""omnivec: omni-modal embeddings for search and recommendation.

    import omnivec
    model = omnivec.build("small")                      # or omnivec.load("runs/quickstart/model")
    vecs = model.encode([{"title": "beach sunset", "image": "cover.png", "audio": "a.wav"}],
                        task="i2i", side="query", dimensions=128)

Heavy imports (torch, transformers, sentence-transformers) happen on first use, so ``import omnivec`` and the
CLI start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from omnivec.inputs import Item
    from omnivec.model import OmniModel, build, load

_LAZY = {
    "build": ("omnivec.model", "build"),
    "load": ("omnivec.model", "load"),
    "OmniModel": ("omnivec.model", "OmniModel"),
    "Item": ("omnivec.inputs", "Item"),
    "OmnivecError": ("omnivec.errors", "OmnivecError"),
}

__all__ = ["Item", "OmniModel", "OmnivecError", "__version__", "build", "load"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'omnivec' has no attribute {name!r}")
