"""The ID teacher: collaborative item ID embeddings learned from behaviour logs (paper §3.3.5 (b), Table 4).

SAIL-Embedding aligns the omni embedding with "multiple ID embeddings of each item from the recommender
system" and evaluates against them (Gid-i2i, Table 4). A platform exports those tables; the built-in world
has none, so :func:`train_id_teacher` learns one: an implicit-feedback two-tower matrix factorisation,

    s(u, i) = cos(U_u, V_i) / τ,
    L = CE_i( s(u, i) [− log q_i] over the in-batch played items )  +  w · softplus( s(u, i⁻) − s(u, i) ),

an in-batch softmax (in-batch duplicates of the positive masked out; the popularity log-Q correction, with
``q_i`` the item's share of plays, is an option, off by default: on the built-in world it gave neighbours
that share the hidden taste less often), plus a BPR term against ``i⁻``, a random item the same user was
shown and did *not* click (when ``logs/impressions.parquet`` exists): skips are what teach the
collaborative "taste" that content does not reveal. Torch, CPU, seconds on the small world.

Only items with ≥ ``min_plays`` plays get a vector: cold-start items (no logs) have none.

:func:`load_id_tables` reads this output and the user's own tables alike: Parquet with ``item_id`` and
``vector`` (a list or fixed-size list of floats).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from omnivec.errors import DataFormatError
from omnivec.recsys.logs import Plays, load_catalog, load_plays, table_path
from omnivec.utils.io import write_parquet

IDTable = tuple[list[str], np.ndarray]


class IDTeacherConfig(BaseModel):
    """Hyper-parameters of the log-trained ID teacher (ours; the paper's tables come from production)."""

    model_config = ConfigDict(extra="forbid")

    dim: int = Field(32, ge=2)
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(512, ge=2)
    lr: float = Field(0.02, gt=0)
    temperature: float = Field(0.1, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    impression_negatives: bool = Field(True, description="BPR term: played item above a skipped impression")
    impression_weight: float = Field(1.0, ge=0, description="weight of the impression BPR term")
    logq_correction: bool = Field(
        False, description="subtract log q_i (item play share) from in-batch logits"
    )
    min_plays: int = Field(1, ge=1, description="items with fewer plays get no ID vector")
    cutoff_ts: int | None = Field(None, description="use only logs with ts < this")
    threads: int | None = Field(1, ge=1, description="torch threads while training (None: leave as is)")
    seed: int = 0


@dataclass
class IDTeacherResult:
    item_ids: list[str]
    item_vectors: np.ndarray  # [n, dim], L2-normalised
    user_ids: list[str]
    user_vectors: np.ndarray
    losses: list[float] = field(default_factory=list)  # mean loss per epoch


def _skipped_impressions(
    data_dir: str | Path, plays_users: list[str], index: dict[str, int], cutoff: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Items shown and not clicked, per user code: (flat catalogue rows, start per user, count per user)."""
    path = table_path(data_dir, "impressions")
    if not path.is_file():
        return None
    t = pq.read_table(path, columns=["user_id", "item_id", "ts", "clicked"])
    uindex = {u: k for k, u in enumerate(plays_users)}
    cols = (t.column(n).to_pylist() for n in ("user_id", "item_id", "ts", "clicked"))
    pairs = []
    for u, i, ts, c in zip(*cols, strict=True):
        if c or (cutoff is not None and ts >= cutoff):
            continue
        uk, ik = uindex.get(str(u)), index.get(str(i))
        if uk is not None and ik is not None:
            pairs.append((uk, ik))
    arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    length = np.bincount(arr[:, 0], minlength=len(plays_users))
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    return arr[:, 1], start, length


def train_id_teacher(
    data_dir: str | Path, config: IDTeacherConfig | None = None, *, progress: bool = False
) -> IDTeacherResult:
    """Train the two-tower MF on ``data_dir``'s behaviour logs; item vectors for items with logs."""
    import torch
    import torch.nn.functional as F

    cfg = config or IDTeacherConfig()
    catalog = load_catalog(data_dir)
    plays = load_plays(data_dir, catalog, cutoff_ts=cfg.cutoff_ts)
    if plays.n == 0:
        raise DataFormatError(f"{data_dir}: the behaviour log has no plays to train an ID teacher on")
    counts = np.bincount(plays.item, minlength=catalog.n)
    skipped = (
        _skipped_impressions(data_dir, plays.user_ids, catalog.index, cfg.cutoff_ts)
        if cfg.impression_negatives
        else None
    )
    previous = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        users_t, items_t, losses = _fit(plays, counts, skipped, cfg, progress)
    finally:
        torch.set_num_threads(previous)
    keep = np.flatnonzero(counts >= cfg.min_plays)
    with torch.no_grad():
        iv = F.normalize(items_t[torch.from_numpy(keep)], dim=-1).numpy()
        uv = F.normalize(users_t, dim=-1).numpy()
    return IDTeacherResult([catalog.ids[k] for k in keep], iv.astype(np.float32), list(plays.user_ids),
                           uv.astype(np.float32), losses)  # fmt: skip


def _fit(
    plays: Plays,
    counts: np.ndarray,
    skipped: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    cfg: IDTeacherConfig,
    progress: bool,
) -> tuple[Any, Any, list[float]]:
    """The training loop: (user table, item table, mean loss per epoch)."""
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    users_t = torch.nn.Parameter(torch.randn(len(plays.user_ids), cfg.dim, generator=gen) * 0.1)
    items_t = torch.nn.Parameter(torch.randn(len(counts), cfg.dim, generator=gen) * 0.1)
    opt = torch.optim.Adam([users_t, items_t], lr=cfg.lr, weight_decay=cfg.weight_decay)
    log_q = torch.tensor(np.log(np.maximum(counts, 1) / plays.n), dtype=torch.float32)
    u_all = torch.from_numpy(plays.user)
    i_all = torch.from_numpy(plays.item)
    losses: list[float] = []
    for _ in tqdm(range(cfg.epochs), desc="id teacher", disable=not progress):
        order = torch.randperm(plays.n, generator=gen)
        total, steps = 0.0, 0
        for start in range(0, plays.n, cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            u, i = u_all[idx], i_all[idx]
            ue = F.normalize(users_t[u], dim=-1)
            ie = F.normalize(items_t[i], dim=-1)
            logits = ue @ ie.T / cfg.temperature
            if cfg.logq_correction:
                logits = logits - log_q[i][None, :]
            dup = (i[None, :] == i[:, None]) & ~torch.eye(len(i), dtype=torch.bool)
            logits = logits.masked_fill(dup, float("-inf"))
            loss = F.cross_entropy(logits, torch.arange(len(i)))
            if skipped is not None and len(skipped[0]) and cfg.impression_weight > 0:
                flat, first, length = skipped
                un = u.numpy()
                pick = first[un] + np.floor(rng.random(len(un)) * length[un]).astype(np.int64)
                has = torch.from_numpy(length[un] > 0)
                neg = torch.from_numpy(flat[np.minimum(pick, len(flat) - 1)])
                margin = (ue * (F.normalize(items_t[neg], dim=-1) - ie)).sum(-1) / cfg.temperature
                if bool(has.any()):
                    loss = loss + cfg.impression_weight * F.softplus(margin[has]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + float(loss.detach()), steps + 1
        losses.append(total / max(steps, 1))
    return users_t, items_t, losses


def write_id_table(path: str | Path, item_ids: Sequence[str], vectors: np.ndarray) -> Path:
    """Write an ID table (``item_id``, ``vector`` fixed-size list<float32>) atomically."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(item_ids):
        raise DataFormatError(f"ID table {path}: {len(item_ids)} ids but vectors of shape {vectors.shape}")
    flat = pa.array(vectors.reshape(-1), pa.float32())
    table = pa.table({
        "item_id": pa.array([str(x) for x in item_ids], pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
    })  # fmt: skip
    write_parquet(path, table)
    return Path(path)


def read_id_table(path: str | Path) -> IDTable:
    """(ids, matrix [n, d] float32) of one ID table; every problem names the file and column."""
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"ID table {p}: file not found")
    table = pq.read_table(p)
    for col in ("item_id", "vector"):
        if col not in table.column_names:
            raise DataFormatError(f"ID table {p}: missing column {col!r} (expected item_id, vector)")
    ids = [str(x) for x in table.column("item_id").to_pylist()]
    if len(set(ids)) != len(ids):
        raise DataFormatError(f"ID table {p}: column 'item_id' has duplicate values")
    rows = table.column("vector").to_pylist()
    dims = {len(r) if r is not None else -1 for r in rows}
    if len(dims) > 1 or -1 in dims:
        raise DataFormatError(
            f"ID table {p}: column 'vector' must hold equal-length lists of floats, got lengths {sorted(dims)}"
        )
    mat = np.asarray(rows, dtype=np.float32).reshape(len(ids), -1)
    if not np.isfinite(mat).all():
        raise DataFormatError(f"ID table {p}: column 'vector' has NaN or infinite values")
    return ids, mat


def load_id_tables(
    paths: str | Path | Sequence[str | Path] | Mapping[str, str | Path | IDTable],
) -> dict[str, IDTable]:
    """Named ID tables: a path, a list of paths (named by file stem) or ``{name: path | (ids, matrix)}``."""
    if isinstance(paths, str | Path):
        paths = [paths]
    if isinstance(paths, Mapping):
        out: dict[str, IDTable] = {}
        for name, value in paths.items():
            if isinstance(value, tuple):
                ids, mat = value
                out[str(name)] = ([str(x) for x in ids], np.asarray(mat, dtype=np.float32))
            else:
                out[str(name)] = read_id_table(value)
        return out
    result: dict[str, IDTable] = {}
    for p in paths:
        name = Path(p).name.removesuffix(".parquet")
        if name in result:
            raise DataFormatError(f"ID tables: two files are named {name!r}; pass a {{name: path}} mapping")
        result[name] = read_id_table(p)
    return result
