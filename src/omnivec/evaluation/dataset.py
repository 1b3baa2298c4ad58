"""An evaluation data folder: the items, the task configs and their rows.

A folder is a world made by ``omnivec world make`` (``world.json`` lists the tasks) or a user's export in the
same shape (``docs/data-format.md``): ``items.parquet`` (or ``.jsonl``) plus ``tasks/<name>.json`` (a
:class:`~omnivec.data.schema.TaskConfig`) and ``tasks/<name>.parquet`` (or ``.jsonl``) rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.data.schema import TaskConfig
from omnivec.errors import ConfigError, DataFormatError
from omnivec.training.data import ItemStore

__all__ = ["EvalData", "open_data"]


@dataclass
class EvalData:
    """Items and evaluation tasks of one data folder."""

    root: Path
    store: ItemStore
    tasks: list[TaskConfig]
    task_dir: Path
    _rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def task(self, name: str) -> TaskConfig:
        for t in self.tasks:
            if t.name == name:
                return t
        raise ConfigError(f"{self.root}: no task {name!r}; available: {', '.join(self.task_names)}")

    def rows(self, cfg: TaskConfig) -> list[dict[str, Any]]:
        """The task's rows as dicts (validated against the ``task`` table schema), read once."""
        if cfg.name not in self._rows:
            from omnivec.data.readers import read_task

            path = self.task_dir / cfg.file
            if not path.is_file():
                raise DataFormatError(f"{path}: task file of {cfg.name!r} not found")
            table, _ = read_task(path, cfg)
            self._rows[cfg.name] = table.to_pylist()
        return self._rows[cfg.name]

    def corpus_ids(self, cfg: TaskConfig) -> list[str]:
        """Items whose split is in ``cfg.corpus_splits`` (``None`` = every item), in items-file order."""
        if cfg.corpus_splits is None:
            return list(self.store.ids)
        keep = set(cfg.corpus_splits)
        return [i for i, s in zip(self.store.ids, self.store.splits, strict=True) if s in keep]

    def item(self, item_id: str) -> dict[str, Any]:
        """The raw item (absolute media paths) with its ``id``; unknown ids raise :class:`DataFormatError`."""
        if item_id not in self.store:
            raise DataFormatError(f"{self.store.path}: task refers to unknown item_id {item_id!r}")
        return {"id": item_id, **self.store.item(item_id)}


def _find(folder: Path, stem: str) -> Path:
    for suffix in (".parquet", ".jsonl"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise DataFormatError(f"{folder}: no {stem}.parquet or {stem}.jsonl")


def open_data(data_dir: str | Path, *, require_tasks: bool = True) -> EvalData:
    """Open a world or a dataset folder for evaluation (``require_tasks=False``: for its items and sources
    only, e.g. to fit a query router on a dataset without evaluation tasks)."""
    from omnivec.data.readers import load_config

    root = Path(data_dir)
    if not root.is_dir():
        raise DataFormatError(f"data folder {root} does not exist")
    if (root / "world.json").is_file():
        from omnivec.world.manifest import load_manifest

        m = load_manifest(root)
        items_path = root / m.tables["items"]
        tasks = list(m.tasks)
    else:
        items_path = _find(root, "items")
        tasks = [load_config(p, TaskConfig) for p in sorted((root / "tasks").glob("*.json"))]
    if not tasks and require_tasks:
        raise DataFormatError(
            f"{root}: no evaluation tasks (expected tasks/<name>.json + tasks/<name>.parquet)"
        )
    return EvalData(root=root, store=ItemStore(items_path), tasks=tasks, task_dir=root / "tasks")
