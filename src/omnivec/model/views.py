"""Modality views of an item: which of its modalities a forward pass may use.

A view is ``"omni"`` (everything the item has) or modality names joined by ``+`` (``"text"``, ``"image"``,
``"video"``, ``"audio"``, ``"vision"`` = image + video), e.g. ``"vision+text"``. Dataset-driven pattern
matching (training) and mICL build their query/target views with these; inference uses ``"omni"``.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

from omnivec.errors import ConfigError
from omnivec.inputs import TEXT_FIELDS, Item

MODALITIES = ("text", "image", "video", "audio")
_ALIASES = {"vision": ("image", "video"), "omni": MODALITIES}


@lru_cache(maxsize=64)
def parse_view(view: str | None) -> frozenset[str]:
    """``"vision+text"`` → ``{"image", "video", "text"}``; ``None`` means omni."""
    if view is None:
        return frozenset(MODALITIES)
    out: set[str] = set()
    for part in view.split("+"):
        part = part.strip()
        if part in _ALIASES:
            out.update(_ALIASES[part])
        elif part in MODALITIES:
            out.add(part)
        else:
            raise ConfigError(f"unknown view {view!r}: parts must be among {(*MODALITIES, 'vision', 'omni')}")
    return frozenset(out)


def restrict(item: Item, view: str | None) -> Item:
    """A copy of ``item`` holding only the modalities of ``view``."""
    allowed = parse_view(view)
    if allowed == frozenset(MODALITIES):
        return item
    changes: dict[str, object] = {}
    if "text" not in allowed:
        changes.update({f: None for f in (*TEXT_FIELDS, "text")})
    if "image" not in allowed:
        changes.update(image=None, images=None)
    if "video" not in allowed:
        changes["video"] = None
    if "audio" not in allowed:
        changes["audio"] = None
    return dataclasses.replace(item, **changes)


def item_modalities(item: Item) -> frozenset[str]:
    """Modalities an (undecoded) item carries, judged from which fields are set."""
    mods = set()
    if item.text or any(getattr(item, f) for f in TEXT_FIELDS):
        mods.add("text")
    if item.image is not None or item.images:
        mods.add("image")
    if item.video is not None:
        mods.add("video")
    if item.audio is not None:
        mods.add("audio")
    return frozenset(mods)
