"""The built-in omni-modal world: a generated short-video platform with items, users, logs, training
sources and evaluation tasks, written in the public omnivec dataset format (``docs/data-format.md``).

    from omnivec.world import make_world, check_world, format_check_report
    manifest = make_world("runs/world", size="small", seed=0)
    print(format_check_report(check_world("runs/world")))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = [
    "SIZES",
    "WorldManifest",
    "check_world",
    "format_check_report",
    "load_manifest",
    "make_world",
    "materialize_media",
    "render_item_media",
]

_LAZY = {
    "SIZES": "omnivec.world.spec",
    "WorldManifest": "omnivec.world.manifest",
    "load_manifest": "omnivec.world.manifest",
    "make_world": "omnivec.world.make",
    "check_world": "omnivec.world.check",
    "format_check_report": "omnivec.world.check",
    "render_item_media": "omnivec.world.media",
    "materialize_media": "omnivec.world.media",
}

if TYPE_CHECKING:
    from omnivec.world.check import check_world, format_check_report
    from omnivec.world.make import make_world
    from omnivec.world.manifest import WorldManifest, load_manifest
    from omnivec.world.media import materialize_media, render_item_media
    from omnivec.world.spec import SIZES


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'omnivec.world' has no attribute {name!r}")
