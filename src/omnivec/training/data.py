"""Training data in the public format: an item store and the sources of pairs.

A data folder is a world made by ``omnivec world make`` or a user's export in the same shape
(``docs/data-format.md``): ``items.parquet`` (or ``.jsonl``) and ``sources/<name>.json`` (a
:class:`~omnivec.data.schema.SourceConfig`) + ``sources/<name>.parquet`` (or ``.jsonl``) of pairs. Every
problem (missing column, unknown item reference, bad config) raises :class:`DataFormatError` naming the file,
row and column before training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from omnivec.data.schema import SourceConfig
from omnivec.errors import DataFormatError
from omnivec.inputs.item import ITEM_KEYS

_ITEM_FIELDS = tuple(k for k in ITEM_KEYS if k not in ("id", "sampling_rate"))


def read_table(path: Path) -> pa.Table:
    """A Parquet, JSONL or ``datasets`` table (one reader for the whole project: :mod:`omnivec.data.readers`)."""
    from omnivec.data.readers import load_table

    return load_table(path)


def _find(folder: Path, stem: str) -> Path:
    for suffix in (".parquet", ".jsonl"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise DataFormatError(f"{folder}: no {stem}.parquet or {stem}.jsonl")


class ItemStore:
    """``item_id`` → raw item dict (media paths made absolute) and duplicate-group ids."""

    def __init__(self, items_path: Path) -> None:
        table = read_table(items_path)
        if "item_id" not in table.column_names:
            raise DataFormatError(f"{items_path}: missing column 'item_id'")
        base = items_path.parent.resolve()
        cols = [c for c in table.column_names if c in _ITEM_FIELDS]
        ids = [str(x) for x in table.column("item_id").to_pylist()]
        groups = table.column("dup_group").to_pylist() if "dup_group" in table.column_names else ids
        data = {c: table.column(c).to_pylist() for c in cols}
        self.path = items_path
        self.ids = ids
        self.index = {item_id: i for i, item_id in enumerate(ids)}
        if len(self.index) != len(ids):
            raise DataFormatError(f"{items_path}: column 'item_id' has duplicate values")
        group_names: dict[str, int] = {}
        self.group = [group_names.setdefault(str(g if g is not None else i), len(group_names))
                      for g, i in zip(groups, ids, strict=True)]  # fmt: skip
        self.splits = (
            table.column("split").to_pylist() if "split" in table.column_names else [None] * len(ids)
        )
        self._rows: list[dict[str, Any]] = []
        for i in range(len(ids)):
            row: dict[str, Any] = {}
            for c in cols:
                v = data[c][i]
                if v is None:
                    continue
                if c in ("image", "video", "audio") and isinstance(v, str):
                    v = str(base / v)
                row[c] = v
            self._rows.append(row)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.index

    def item(self, item_id: str) -> dict[str, Any]:
        return dict(self._rows[self.index[item_id]])

    def group_of(self, item_id: str) -> int:
        return self.group[self.index[item_id]]


@dataclass
class Source:
    config: SourceConfig
    rows: list[dict[str, Any]]
    path: Path

    @property
    def name(self) -> str:
        return self.config.name


def _check_rows(table: pa.Table, path: Path, store: ItemStore, cfg: SourceConfig) -> list[dict[str, Any]]:
    names = set(table.column_names)
    for side in ("query", "target"):
        want = f"{side}_{getattr(cfg, side)}"
        if want not in names:
            raise DataFormatError(
                f"{path}: missing column {want!r} (source config says {side} is {getattr(cfg, side)})"
            )
    if cfg.graded and "score" not in names:
        raise DataFormatError(f"{path}: missing column 'score' (source {cfg.name!r} is graded)")
    rows = table.to_pylist()
    for n, row in enumerate(rows):
        for side in ("query", "target"):
            col = f"{side}_{getattr(cfg, side)}"
            value = row.get(col)
            if value is None or (col.endswith("_items") and not value):
                raise DataFormatError(f"{path}: row {n}, column {col!r} is empty")
            refs = value if col.endswith("_items") else [value] if col.endswith(("_item", "_id")) else []
            for ref in refs:
                if ref not in store:
                    raise DataFormatError(f"{path}: row {n}, column {col!r}: unknown item_id {ref!r}")
        for neg in row.get("negatives") or []:
            if neg not in store:
                raise DataFormatError(f"{path}: row {n}, column 'negatives': unknown item_id {neg!r}")
        if cfg.graded and not (row.get("score") is not None and 0.0 <= float(row["score"]) <= 1.0):
            raise DataFormatError(
                f"{path}: row {n}, column 'score' must be in [0, 1], got {row.get('score')!r}"
            )
    return rows


class TrainingData:
    """Items + sources of one data folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFormatError(f"data folder {self.root} does not exist")
        manifest = self.root / "world.json"
        if manifest.is_file():
            from omnivec.world.manifest import load_manifest

            m = load_manifest(self.root)
            self.items_path = self.root / m.tables["items"]
            configs = [(cfg, self.root / "sources") for cfg in m.sources]
        else:
            self.items_path = _find(self.root, "items")
            configs = []
            for cfg_path in sorted((self.root / "sources").glob("*.json")):
                try:
                    configs.append((SourceConfig.model_validate_json(cfg_path.read_text()), cfg_path.parent))
                except ValidationError as exc:
                    raise DataFormatError(f"{cfg_path}: invalid source config: {exc}") from None
        self.store = ItemStore(self.items_path)
        self.source_configs = {cfg.name: (cfg, folder) for cfg, folder in configs}
        self._loaded: dict[str, Source] = {}

    def add_sources(self, folder: str | Path) -> list[str]:
        """Register every ``<folder>/*.json`` source config (e.g. sources derived during a run: seq2item)."""
        added = []
        for cfg_path in sorted(Path(folder).glob("*.json")):
            try:
                cfg = SourceConfig.model_validate_json(cfg_path.read_text())
            except ValidationError as exc:
                raise DataFormatError(f"{cfg_path}: invalid source config: {exc}") from None
            self.source_configs[cfg.name] = (cfg, cfg_path.parent)
            self._loaded.pop(cfg.name, None)
            added.append(cfg.name)
        return added

    @property
    def source_names(self) -> list[str]:
        return list(self.source_configs)

    def source(self, name: str) -> Source:
        if name not in self.source_configs:
            raise DataFormatError(f"{self.root}: unknown source {name!r}; available: {self.source_names}")
        if name not in self._loaded:
            cfg, folder = self.source_configs[name]
            path = folder / cfg.file
            self._loaded[name] = Source(cfg, _check_rows(read_table(path), path, self.store, cfg), path)
        return self._loaded[name]
