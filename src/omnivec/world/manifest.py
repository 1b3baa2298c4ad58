"""``world.json``: what a generated world contains, and helpers to open one.

The manifest holds no timestamp and no absolute path, so two runs with one seed write the same bytes. It
records the size, seed, generator version, the attribute table, counts, every source and task config, and
the SHA-256 of every table file plus one digest over all media files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from omnivec.data.schema import SourceConfig, TaskConfig
from omnivec.errors import DataFormatError

MANIFEST = "world.json"


class WorldManifest(BaseModel):
    """The contents of ``world.json``."""

    model_config = ConfigDict(extra="forbid")

    format: str
    generator_version: str
    size: str
    seed: int
    media: Literal["files", "lazy"]
    tables: dict[str, str]
    attributes: list[dict]
    counts: dict[str, int]
    sources: list[SourceConfig]
    tasks: list[TaskConfig]
    files: dict[str, str]
    media_digest: str | None = None

    def __str__(self) -> str:
        c = self.counts
        return (
            f"world {self.size} (seed {self.seed}, media {self.media}): {c['items']} items "
            f"(train {c['items_train']}, test {c['items_test']}, cold {c['items_cold']}; "
            f"{c['reuploads']} re-uploads), {c['users']} users, {c['impressions']} impressions, "
            f"{c['plays']} plays, {c['searches']} search clicks; {len(self.sources)} sources, "
            f"{len(self.tasks)} tasks"
        )

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(f"world has no source {name!r}; it has {[s.name for s in self.sources]}")

    def task(self, name: str) -> TaskConfig:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"world has no task {name!r}; it has {[t.name for t in self.tasks]}")


def load_manifest(world_dir: str | Path) -> WorldManifest:
    """Read and validate ``world_dir/world.json``."""
    path = Path(world_dir) / MANIFEST
    if not path.is_file():
        raise DataFormatError(f"{path}: not found; is {world_dir} a world made by `omnivec world make`?")
    try:
        return WorldManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataFormatError(f"{path}: invalid world manifest: {exc}") from exc
