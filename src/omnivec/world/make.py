"""``make_world``: generate a whole world folder, deterministically and atomically.

The world is written under a temporary sibling folder and renamed into place only when complete, so a
crashed run never leaves a half world behind. Same ``(size, seed)`` and same generator version → the same
bytes in every file (media included); see ``world.json``'s ``files`` and ``media_digest``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from omnivec.errors import ConfigError, OmnivecError
from omnivec.world import io
from omnivec.world.items import Items, generate_items, media_path
from omnivec.world.manifest import MANIFEST, WorldManifest
from omnivec.world.media import params_at, render_media
from omnivec.world.sources import build_sources
from omnivec.world.spec import GENERATOR_VERSION, WORLD_FORMAT, attribute_table, size_spec
from omnivec.world.tables import items_table, log_tables, truth_table, users_table, users_truth_table
from omnivec.world.tasks import build_tasks
from omnivec.world.users import generate_users, simulate_feed, simulate_searches

TABLES = {
    "items": "items.parquet",
    "users": "users.parquet",
    "impressions": "logs/impressions.parquet",
    "behaviour": "logs/behaviour.parquet",
    "search": "logs/search.parquet",
    "truth_items": "truth/items.parquet",
    "truth_users": "truth/users.parquet",
}
CHUNK = 64


def _media_columns(items: Items) -> dict[str, np.ndarray]:
    return {
        "l1": items.l1,
        "l2": items.l2,
        "mood": items.mood,
        "style": items.style,
        "motion": items.motion,
        "root": items.root,
        "has_image": items.has_image,
        "has_video": items.has_video,
        "has_audio": items.has_audio,
        "has_speech": items.has_speech,
        "audio_seconds": items.audio_seconds.astype(np.float64),
    }


_WORKER: dict = {}


def _init_worker(cols: dict[str, np.ndarray], seed: int, root: str) -> None:
    _WORKER.update(cols=cols, seed=seed, root=root)


def _render_chunk(indices: list[int]) -> list[tuple[str, str]]:
    cols, seed, root = _WORKER["cols"], _WORKER["seed"], Path(_WORKER["root"])
    out = []
    for i in indices:
        for kind, data in render_media(params_at(cols, i, seed)).items():
            rel = media_path(kind, i)
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)  # the whole world folder is temporary until renamed
            out.append((rel, io.sha256_bytes(data)))
    return out


def _write_media(items: Items, seed: int, root: Path, progress: bool, workers: int) -> str:
    cols = _media_columns(items)
    chunks = [list(range(s, min(s + CHUNK, items.n))) for s in range(0, items.n, CHUNK)]
    hashes: list[tuple[str, str]] = []
    bar = tqdm(total=items.n, desc="media", unit="item", disable=not progress)
    if workers <= 1 or items.n < 1000:  # small jobs: not worth (or safe, under a test runner) to fork
        _init_worker(cols, seed, str(root))
        for ch in chunks:
            hashes.extend(_render_chunk(ch))
            bar.update(len(ch))
    else:
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        ctx = multiprocessing.get_context(method)
        with ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(cols, seed, str(root))
        ) as ex:
            for ch, res in zip(chunks, ex.map(_render_chunk, chunks), strict=True):
                hashes.extend(res)
                bar.update(len(ch))
    bar.close()
    digest = hashlib.sha256()
    for rel, h in sorted(hashes):
        digest.update(f"{rel} {h}\n".encode())
    return digest.hexdigest()


def make_world(
    out_dir: str | Path,
    size: str = "small",
    seed: int = 0,
    progress: bool = True,
    *,
    overwrite: bool = False,
    workers: int | None = None,
    media: str | None = None,
) -> WorldManifest:
    """Generate the built-in world of ``size`` (tiny | small | medium | large) with ``seed`` into ``out_dir``.

    ``out_dir`` must not exist (or be empty) unless ``overwrite``. ``workers`` processes render media
    (default: up to 2). ``media`` overrides the size's media mode: ``files`` writes every file, ``lazy``
    writes none (render with :func:`omnivec.world.render_item_media`). Returns the manifest, also written
    as ``out_dir/world.json``.
    """
    spec = size_spec(size)
    if media not in (None, "files", "lazy"):
        raise ConfigError(f"media must be 'files' or 'lazy', got {media!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OmnivecError(f"{out} exists and is not empty; pass overwrite=True (--force) to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    workers = min(2, os.cpu_count() or 1) if workers is None else workers
    try:
        manifest = _generate(tmp, spec.name, seed, progress, workers, media or spec.media)
        if out.exists():
            trash = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _generate(root: Path, size: str, seed: int, progress: bool, workers: int, media: str) -> WorldManifest:
    spec = size_spec(size)
    steps = tqdm(total=6, desc=f"world {size}", unit="step", disable=not progress)
    items = generate_items(spec, seed)
    users = generate_users(spec, seed)
    steps.update()
    feed = simulate_feed(items, users, spec, seed)
    searches = simulate_searches(items, users, spec, seed)
    steps.update()
    tables = {
        "items": items_table(items),
        "users": users_table(users),
        "truth_items": truth_table(items),
        "truth_users": users_truth_table(users),
        **log_tables(feed, searches),
    }
    for name, table in tables.items():
        io.write_parquet(table, root / TABLES[name])
    steps.update()
    sources = build_sources(items, feed, searches, seed)
    for name, (table, cfg) in sources.items():
        io.write_parquet(table, root / "sources" / cfg.file)
        io.write_json(cfg.model_dump(mode="json"), root / "sources" / f"{name}.json")
    steps.update()
    tasks = build_tasks(items, feed, searches, spec, seed)
    for name, (table, cfg) in tasks.items():
        io.write_parquet(table, root / "tasks" / cfg.file)
        io.write_json(cfg.model_dump(mode="json"), root / "tasks" / f"{name}.json")
    steps.update()
    media_digest = _write_media(items, seed, root, progress, workers) if media == "files" else None
    steps.update()
    steps.close()

    files = {
        p.relative_to(root).as_posix(): io.sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).as_posix().startswith("media/")
    }
    counts = {
        "items": items.n,
        "items_train": int((items.split == 0).sum()),
        "items_test": int((items.split == 1).sum()),
        "items_cold": int((items.split == 2).sum()),
        "reuploads": int(items.is_dup.sum()),
        "dup_groups": len(np.unique(items.root[items.is_dup])),
        "authors": len(np.unique(items.author)),
        "users": users.n,
        "impressions": tables["impressions"].num_rows,
        "plays": tables["behaviour"].num_rows,
        "searches": tables["search"].num_rows,
        "images": int(items.has_image.sum()),
        "videos": int(items.has_video.sum()),
        "audios": int(items.has_audio.sum()),
    }
    manifest = WorldManifest(
        format=WORLD_FORMAT,
        generator_version=GENERATOR_VERSION,
        size=size,
        seed=seed,
        media=media,
        tables=TABLES,
        attributes=attribute_table(),
        counts=counts,
        sources=[cfg for _, cfg in sources.values()],
        tasks=[cfg for _, cfg in tasks.values()],
        files=files,
        media_digest=media_digest,
    )
    io.write_json(manifest.model_dump(mode="json"), root / MANIFEST)
    return manifest
