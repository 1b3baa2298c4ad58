"""Building and opening index folders: :func:`build_index`, :func:`build_index_from_files`, :func:`open_index`.

A build truncates the vectors to ``dim`` (Matryoshka: leading components, re-normalised), builds the backend
index inside a temporary sibling folder (:func:`omnivec.utils.io.atomic_dir`), measures recall@10 against
exact search on a seeded sample of corpus vectors, writes the lexical (BM25) index of the items' text into
``lexical/`` (when asked, or by default when the items have text), ``ids.parquet``, ``items.parquet`` and
finally ``index.json``, and only then swaps the folder in. A failed or killed build leaves the previous index
as it was; leftovers of a killed build (its temporary folder) are removed by the next build of the same
folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from omnivec.errors import ConfigError, DataFormatError, OmnivecError
from omnivec.index.lexical import LEXICAL_FIELDS, LexicalIndex, item_text
from omnivec.index.protocol import FORMAT_VERSION, LEXICAL_DIR, METRICS, BaseIndex, IndexInfo
from omnivec.index.registry import get_backend
from omnivec.index.tables import (
    align_items,
    check_ids,
    items_to_table,
    read_embeddings,
    read_ids,
    read_items_table,
    write_ids,
    write_items,
)
from omnivec.index.vectors import exact_search, prepare_vectors, recall_at_k, sample_queries
from omnivec.utils.io import atomic_dir, read_json, write_json

INFO_FILE = "index.json"
#: Marker written into a build's temporary folder: the builder's pid, so a later build can tell a dead
#: build's leftovers from a running one.
BUILD_MARKER = ".omnivec-build"
RECALL_K = 10


def build_index(
    embeddings: np.ndarray,
    ids: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    backend: str = "faiss",
    kind: str = "flat",
    dim: int | None = None,
    items: Sequence[Mapping[str, Any]] | pa.Table | None = None,
    metric: str = "ip",
    seed: int = 0,
    model: str | os.PathLike | None = None,
    task: str | None = None,
    fields: Sequence[str] | None = None,
    recall_queries: int = 200,
    compare_kinds: bool | Sequence[str] = False,
    items_source: str | os.PathLike | None = None,
    progress: bool = False,
    lexical: bool | None = None,
    lexical_k1: float = 1.5,
    lexical_b: float = 0.75,
    **backend_options: Any,
) -> IndexInfo:
    """Build a ``backend``/``kind`` index of ``embeddings`` (rows match ``ids``) in ``out_dir``, atomically.

    ``dim`` truncates to the leading components (Matryoshka) and re-normalises; queries are truncated the
    same way at search time. ``items`` (dicts or a table with ``item_id``) supply the fields returned with
    each hit (``fields`` picks columns). ``model`` records the model folder that made the embeddings and
    ``task`` the prompt task queries should use (``omnivec search`` and the server default to it).
    Recall@10 against exact search is measured on ``recall_queries`` corpus vectors drawn with ``seed``;
    ``compare_kinds`` (``True`` or a list) also measures other kinds in a scratch folder. ``items_source``
    (the items file) is recorded so consumers can resolve relative media paths.
    ``lexical`` builds a BM25 index (:class:`~omnivec.index.lexical.LexicalIndex` with ``lexical_k1``,
    ``lexical_b``) over the items' text fields (title, ocr, asr, nickname, tags, text; read before ``fields`` selects
    columns) into ``lexical/``: ``None`` (default) builds it when some item has text, ``True`` requires it,
    ``False`` skips it.
    ``backend_options`` are the kind's options (see :mod:`omnivec.index.params`) and, for Milvus, ``uri``,
    ``collection`` and ``token``.
    """
    started = time.perf_counter()
    cls = get_backend(backend)
    cls.check_kind(kind)
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; expected one of {list(METRICS)}")
    if recall_queries < 1:
        raise ConfigError(f"recall_queries must be at least 1, got {recall_queries}")
    vectors = np.asarray(embeddings, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise DataFormatError(f"embeddings must be a non-empty 2-D array [N, D], got shape {vectors.shape}")
    ids = check_ids(ids, "ids")
    if len(ids) != len(vectors):
        raise DataFormatError(f"got {len(vectors)} embeddings but {len(ids)} ids")
    n, source_dim = vectors.shape
    dim = source_dim if dim is None else int(dim)
    if not 1 <= dim <= source_dim:
        raise ConfigError(f"dim {dim} must be between 1 and the embeddings' {source_dim} components")
    connection = {k: v for k, v in backend_options.items() if k in cls.connection_options}
    cls.check_connection(kind, connection)
    options, notes = cls.resolve_options(
        kind, n, dim, {k: v for k, v in backend_options.items() if k not in cls.connection_options}
    )
    prepared = prepare_vectors(vectors, dim, what="embeddings", ids=ids)
    table = items if isinstance(items, pa.Table) or items is None else items_to_table(items)
    items_table, items_summary = align_items(table, ids, fields=fields)
    items_summary["source"] = str(Path(items_source).resolve()) if items_source is not None else None
    lexical_index, lexical_summary = _build_lexical(
        table, ids, lexical, lexical_k1, lexical_b, progress, notes
    )
    out = Path(out_dir)
    remove_stale_builds(out)
    previous = _previous_info(out)

    sample = sample_queries(n, recall_queries, seed)
    k = min(RECALL_K, n)
    exact = [[ids[r] for r in row] for row in exact_search(prepared, prepared[sample], k)[1].tolist()]
    info: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "backend": backend,
        "kind": kind,
        "metric": metric,
        "dim": dim,
        "source_dim": source_dim,
        "size": n,
        "options": options,
        "seed": seed,
        "model": str(Path(model).resolve()) if model is not None else None,
        "task": task,
        "items": items_summary,
        "notes": notes,
        "recall_k": k,
        "recall_queries": len(sample),
        "lexical": lexical_summary,
    }
    with atomic_dir(out) as tmp:
        (tmp / BUILD_MARKER).write_text(str(os.getpid()))
        index = cls.build(prepared, ids, tmp, info, connection, previous, progress)
        try:
            recall = recall_at_k(index.search_ids(prepared[sample], k), exact)
        finally:
            index.close()
        by_kind: dict[str, float | None] = {kind: recall}
        if compare_kinds:
            others = [x for x in cls.kinds if x != kind] if compare_kinds is True else list(compare_kinds)
            by_kind.update(_compare(cls, prepared, ids, info, others, sample, exact, tmp, notes))
        info["recall_at_10"] = recall
        info["recall_by_kind"] = by_kind
        if lexical_index is not None:
            lexical_index.save(tmp / LEXICAL_DIR)
        write_ids(tmp, ids)
        write_items(tmp, items_table)
        (tmp / BUILD_MARKER).unlink()
        write_json(tmp / INFO_FILE, info)
    cls.finalize(out, info, previous)
    return IndexInfo(
        path=out, backend=backend, kind=kind, metric=metric, dim=dim, source_dim=source_dim, size=n,
        recall_at_10=recall, recall_by_kind=by_kind, recall_queries=len(sample), options=options,
        model=info["model"], task=task, items=items_summary, notes=list(info["notes"]),
        lexical=lexical_summary, seconds=time.perf_counter() - started,
    )  # fmt: skip


def _build_lexical(
    table: pa.Table | None,
    ids: Sequence[str],
    lexical: bool | None,
    k1: float,
    b: float,
    progress: bool,
    notes: list[str],
) -> tuple[LexicalIndex | None, dict[str, Any] | None]:
    """The BM25 index over the items with text (``None`` when skipped) and its ``index.json`` summary."""
    if lexical is False:
        return None, None
    text_fields = [f for f in LEXICAL_FIELDS if table is not None and f in table.column_names]
    texts: list[str] = []
    with_text: list[str] = []
    if text_fields:
        aligned, _ = align_items(table, ids, fields=text_fields)
        for item_id, row in zip(ids, aligned.select(text_fields).to_pylist(), strict=True):
            text = item_text(row)
            if text:
                texts.append(text)
                with_text.append(item_id)
    if not with_text:
        if lexical:
            raise ConfigError(
                "lexical index requested (--lexical) but no indexed item has text in "
                f"{', '.join(LEXICAL_FIELDS)}; pass --items with text fields, or --no-lexical"
            )
        if table is not None:
            notes.append(f"lexical: skipped, no indexed item has text ({', '.join(LEXICAL_FIELDS)})")
        return None, None
    index = LexicalIndex.build(texts, with_text, k1=k1, b=b, show_progress=progress)
    summary = {
        "size": len(index),
        "fields": text_fields,
        "tokenizer": index.meta["tokenizer"],
        "k1": index.meta["k1"],
        "b": index.meta["b"],
        "vocabulary": index.meta["vocabulary"],
    }
    return index, summary


def _compare(
    cls: type[BaseIndex],
    prepared: np.ndarray,
    ids: Sequence[str],
    info: Mapping[str, Any],
    kinds: Sequence[str],
    sample: np.ndarray,
    exact: list[list[str]],
    tmp: Path,
    notes: list[str],
) -> dict[str, float | None]:
    """Recall@k of other kinds (default options, in a scratch folder; Milvus: a scratch milvus-lite db)."""
    out: dict[str, float | None] = {}
    for other in kinds:
        cls.check_kind(other)
        scratch = Path(tempfile.mkdtemp(prefix=".compare-", dir=tmp))
        try:
            opts, _ = cls.resolve_options(other, len(ids), int(info["dim"]), {})
            scratch_info = {**info, "kind": other, "options": opts, "notes": []}
            index = cls.build(prepared, ids, scratch, scratch_info, {}, None, False)
            try:
                out[other] = recall_at_k(index.search_ids(prepared[sample], len(exact[0])), exact)
            finally:
                index.destroy()
        except OmnivecError as err:
            out[other] = None
            notes.append(f"compare: kind {other!r} skipped: {err}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return out


def build_index_from_files(
    embeddings_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    items_path: str | os.PathLike | None = None,
    **kwargs: Any,
) -> IndexInfo:
    """:func:`build_index` over an embeddings Parquet (``item_id``, ``embedding``) and an optional items file
    (Parquet or JSONL with ``item_id``). The items file's path is recorded so media paths can be resolved."""
    vectors, ids = read_embeddings(embeddings_path)
    table = read_items_table(items_path) if items_path is not None else None
    return build_index(vectors, ids, out_dir, items=table, items_source=items_path, **kwargs)


def read_info(path: str | os.PathLike) -> dict[str, Any]:
    """The ``index.json`` of an index folder, checked for the keys every backend needs."""
    p = Path(path) / INFO_FILE
    if not p.is_file():
        raise DataFormatError(f"{path} is not an omnivec index folder (no {INFO_FILE})")
    info = read_json(p, DataFormatError)
    missing = [k for k in ("backend", "kind", "metric", "dim", "size", "options") if k not in info]
    if missing:
        raise DataFormatError(f"{p}: missing key(s) {missing}")
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise DataFormatError(
            f"{p}: format_version {info['format_version']} is newer than this omnivec reads ({FORMAT_VERSION})"
        )
    return info


def _previous_info(out: Path) -> dict[str, Any] | None:
    """The metadata of the index about to be replaced (``None`` if there is none or it is unreadable)."""
    try:
        return read_info(out) if (out / INFO_FILE).is_file() else None
    except DataFormatError:
        return None


def open_index(path: str | os.PathLike, **search_options: Any) -> BaseIndex:
    """Open an index folder written by :func:`build_index`. ``search_options`` override ``ef_search`` /
    ``nprobe`` (and pass a Milvus ``token``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataFormatError(f"index folder {folder} does not exist")
    info = read_info(folder)
    cls = get_backend(info["backend"])
    ids = read_ids(folder)
    if len(ids) != int(info["size"]):
        raise DataFormatError(f"{folder}: ids.parquet has {len(ids)} rows but index.json says {info['size']}")
    return cls.open(folder, info, ids, **search_options)


# -------------------------------------------------------------- killed builds
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(path: Path) -> int | None:
    marker = path / BUILD_MARKER
    with contextlib.suppress(OSError, ValueError):
        return int(marker.read_text().strip())
    if path.name.rsplit("-", 1)[-1].isdigit() and ".old-" in path.name:
        return int(path.name.rsplit("-", 1)[-1])
    return None


def remove_stale_builds(out: Path) -> list[Path]:
    """Remove what killed builds of ``out`` left beside it; return the removed paths.

    A temporary build folder ``.<name>.*.tmp`` is removed when its builder process is gone (or it is empty);
    a replaced folder ``.<name>.old-<pid>`` is moved back when ``out`` itself is missing (the build died
    between the two renames of the swap), otherwise removed.
    """
    removed: list[Path] = []
    parent = out.parent
    if not parent.is_dir():
        return removed
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(?:[^.]+\.tmp|old-\d+)$")
    for path in sorted(parent.iterdir()):
        if not pattern.match(path.name) or not path.is_dir():
            continue
        pid = _owner_pid(path)
        empty = not any(path.iterdir())
        if pid is not None and _pid_alive(pid):
            continue
        if pid is None and not empty:
            continue
        if ".old-" in path.name and not out.exists():
            os.replace(path, out)
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
