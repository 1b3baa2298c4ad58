"""Collaboration-aware recommendation enhancement (CRE, §3.3.5) inside the stage runner.

After the content stages, a recipe's CRE stages train on two derived sources, built once per run into
``OUTPUT_DIR/cre/`` with the content model as it is at that point:

* ``seq2item`` — user-interest mining over the behaviour logs (four perspectives, ``omnivec.recsys.interests``;
  the content-aware filters use the current model's item embeddings): history of 10 items → next item;
* ``id2item`` — every item with an ID vector → that vector, in each ID table: the ID teacher trained on the
  logs (``omnivec.recsys.id_teacher``) or the user's own tables (Parquet ``item_id`` → vector).

The paper trains ID→item jointly with an auxiliary i2i task so content awareness is kept: list an i2i source
(e.g. ``copair-i2i``) in the same stage; stochastic specialization then alternates the tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnivec.errors import ConfigError
from omnivec.training.data import TrainingData
from omnivec.utils.io import read_json, write_json, write_parquet

SEQ2ITEM, ID2ITEM = "seq2item", "id2item"
CRE_SOURCES = (SEQ2ITEM, ID2ITEM)


def is_cre_stage(sources: list[str] | str) -> bool:
    """Whether a stage with these ``sources`` is a CRE stage: it lists seq2item or id2item (``all`` never does:
    the CRE sources exist only once a CRE stage has built them)."""
    return isinstance(sources, list) and bool(set(sources) & set(CRE_SOURCES))


class CRESpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interests: dict[str, Any] = Field(default_factory=dict, description="InterestConfig overrides")
    content_filter: Literal["embeddings", "tokens"] = Field(
        "embeddings",
        description="content-aware perspectives filter by the model's embeddings or by text tokens",
    )
    id_teacher: dict[str, Any] = Field(default_factory=dict, description="IDTeacherConfig overrides")
    id_tables: list[str] = Field(default_factory=list, description="your own ID tables (skip the teacher)")
    id_loss: Literal["cosine_mse", "contrastive"] = "cosine_mse"
    sequence_encoder: dict[str, Any] = Field(default_factory=lambda: {"kind": "mean"})
    sequence_grad: bool = Field(False, description="back-propagate through the history items (costly on CPU)")
    history: Literal["live", "frozen"] = Field(
        "live",
        description="history item embeddings: 'live' re-embeds them with the current weights at every step; "
        "'frozen' embeds them once, with the model at the start of CRE (no history forward per step)",
    )
    history_refresh_every: int | None = Field(
        None,
        ge=1,
        description="with history 'frozen': re-embed the history items with the current weights at the start of "
        "each seq→item stage and every N steps, so the histories the targets learn to meet stay close to the "
        "ones the trained model embeds at serving time (None: the model at the start of CRE embeds them once)",
    )
    id_init: Literal["random", "ridge"] = Field(
        "random",
        description="ID projection start: 'random' (PyTorch's default) or 'ridge', the least-squares map from "
        "the content model's item embeddings onto each ID table, so the first steps already distil",
    )
    ridge_alpha: float = Field(1.0, gt=0, description="L2 strength of the ridge start of the ID projection")
    seq_target_id_weight: float = Field(
        0.0,
        ge=0,
        description="in stages that list id2item, seq→item batches also distil their target items onto the ID "
        "tables with this weight (the targets are embedded anyway; 0: the two tasks stay on separate steps)",
    )
    sampling_correction: bool = Field(
        False,
        description="seq→item NCE subtracts each in-batch target's log frequency as a target (Yi et al. 2019), "
        "so popular items are not learned away as negatives",
    )

    negative_queue: int = Field(
        0,
        ge=0,
        description="seq→item NCE also meets the last N target embeddings of earlier steps as negatives "
        "(detached cross-batch memory); 0: in-batch negatives only",
    )

    @model_validator(mode="after")
    def _history_grad(self) -> CRESpec:
        if self.sequence_grad and self.history == "frozen":
            raise ValueError("cre.sequence_grad needs cre.history: live (frozen histories have no graph)")
        if self.history_refresh_every is not None and self.history != "frozen":
            raise ValueError(
                "cre.history_refresh_every re-embeds frozen histories; with cre.history: live they are "
                "embedded with the current weights at every step already"
            )
        if self.negative_queue and self.sampling_correction:
            raise ValueError(
                "cre.negative_queue and cre.sampling_correction do not combine: the memory's negatives would "
                "miss the log-frequency correction the in-batch ones get; pick one"
            )
        return self


def needs_centre(spec: CRESpec) -> bool:
    """Whether the registered sequence encoder subtracts a catalogue centroid (from the CRE item embeddings)."""
    from omnivec.recsys.alignment import SEQUENCE_ENCODERS

    kind = str(spec.sequence_encoder.get("kind", "mean"))
    return bool(getattr(SEQUENCE_ENCODERS.get(kind), "needs_centre", False))


def item_centroid(item_emb: dict[str, np.ndarray]) -> np.ndarray:
    """Mean of the CRE item embeddings: the centre of a ``centred`` sequence encoder."""
    if not item_emb:
        raise ConfigError(
            "cre.sequence_encoder kind 'centred' needs the CRE item embeddings (cre/content_items.parquet), "
            "and none were saved"
        )
    return np.mean(np.stack(list(item_emb.values())), axis=0)


def cre_dir(run_dir: Path) -> Path:
    return run_dir / "cre"


def prepare_cre(
    spec: CRESpec, data: TrainingData, model: Any, run_dir: Path, echo: Any = print
) -> dict[str, Any]:
    """Build (or reuse) the derived sources and ID tables; register them with ``data``. Returns stats."""
    from omnivec.recsys.id_teacher import IDTeacherConfig, train_id_teacher, write_id_table
    from omnivec.recsys.interests import InterestConfig, build_seq2item_source, content_filter_item_ids

    out = cre_dir(run_dir)
    sources = out / "sources"
    stats: dict[str, Any] = {}
    memo = ItemEmbeddings(items_path(run_dir), model, data)
    if not (sources / f"{SEQ2ITEM}.json").is_file():
        kwargs: dict[str, Any] = {}
        interests = InterestConfig(**spec.interests)
        if spec.content_filter == "embeddings":
            # only the items the content filter can compare (same pairs as embedding the whole catalogue)
            ids, emb = memo.get([i for i in content_filter_item_ids(data.root, interests) if i in data.store])
            kwargs = {"item_ids": ids, "item_emb": emb}
        stats["seq2item"] = build_seq2item_source(data.root, out, interests, **kwargs)
        echo(f"  interest mining: {stats['seq2item']}")
    if spec.history == "frozen" or needs_centre(spec):
        memo.get([i for i in history_item_ids(run_dir) if i in data.store])
    tables = id_table_paths(spec, run_dir)
    if not spec.id_tables and not tables[0].is_file():
        result = train_id_teacher(data.root, IDTeacherConfig(**spec.id_teacher), progress=True)
        write_id_table(tables[0], result.item_ids, result.item_vectors)
        echo(f"  ID teacher: {len(result.item_ids)} item vectors (dim {result.item_vectors.shape[1]})")
    if not (sources / f"{ID2ITEM}.json").is_file():
        with_ids = sorted(set().union(*(load_table(p).keys() for p in tables)))
        train = [
            i
            for i in with_ids
            if i in data.store and data.store.splits[data.store.index[i]] in (None, "train")
        ]
        write_parquet(sources / f"{ID2ITEM}.parquet", pa.table({"query_item": train, "target_id": train}))
        write_json(sources / f"{ID2ITEM}.json", {
            "name": ID2ITEM, "task": "i2i", "file": f"{ID2ITEM}.parquet", "query": "item", "target": "id",
            "patterns": [["omni", "omni"]], "n_pairs": len(train),
            "description": "ID-to-item distillation: item -> its vectors in the ID tables (§3.3.5)",
        })  # fmt: skip
    if spec.id_init == "ridge":
        memo.get(pq.read_table(sources / f"{ID2ITEM}.parquet", columns=["query_item"]).column(0).to_pylist())
    memo.save()
    data.add_sources(sources)
    return stats


def items_path(run_dir: Path) -> Path:
    return cre_dir(run_dir) / "content_items.parquet"


class ItemEmbeddings:
    """Item embeddings (i2i target prompt) by the model at the start of CRE, kept in ``cre/content_items.parquet``.

    One pass serves the content filter of interest mining, frozen histories and the ridge start of the ID
    projection. Items are embedded the first time they are asked for, with the model of that moment (the
    content model, for the quickstart recipe's CRE stages); items that fail to encode are left out.
    """

    def __init__(self, path: Path, model: Any, data: TrainingData) -> None:
        self.path, self.model, self.data = path, model, data
        self.rows: dict[str, np.ndarray] = load_table(path) if path.is_file() else {}
        self.dirty = False

    def get(self, ids: list[str]) -> tuple[list[str], np.ndarray]:
        """``(ids that encoded, their embeddings [n, D])``, in the order asked."""
        missing = [i for i in dict.fromkeys(ids) if i not in self.rows]
        if missing:
            res = self.model.encode_items([self.data.store.item(i) for i in missing], task="i2i", side="target",
                                          show_progress_bar=True)  # fmt: skip
            for k, row in zip(res.indices, res.embeddings, strict=True):
                self.rows[missing[k]] = np.asarray(row, dtype=np.float32)
            self.dirty = True
        kept = [i for i in ids if i in self.rows]
        if not kept:
            return kept, np.zeros((0, self.model.dimension), np.float32)
        return kept, np.stack([self.rows[i] for i in kept])

    def save(self) -> None:
        from omnivec.recsys.id_teacher import write_id_table

        if self.dirty and self.rows:
            write_id_table(self.path, list(self.rows), np.stack(list(self.rows.values())))
            write_json(self.path.with_suffix(".json"), {"weights": weights_fingerprint(self.model)})
            self.dirty = False


def weights_fingerprint(model: Any) -> str:
    """A short digest of the model's weights (each tensor's sum): equal before and after no training step."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            digest.update(np.float64(tensor.double().sum().item()).tobytes())
    return digest.hexdigest()[:16]


def history_item_ids(run_dir: Path) -> list[str]:
    """The distinct history items of the mined ``seq2item`` source, in first-seen order."""
    rows = pq.read_table(cre_dir(run_dir) / "sources" / f"{SEQ2ITEM}.parquet", columns=["query_items"])
    return list(dict.fromkeys(i for h in rows.column(0).to_pylist() for i in h))


class HistoryVectors(dict):
    """Frozen CRE histories that follow the model (``cre.history_refresh_every``): ``item_id → embedding``, the
    mapping the collator reads, starting from the CRE start's embeddings; :meth:`refresh` re-embeds every
    history item of the ``seq2item`` source with the model's current weights (i2i target prompt, as
    :class:`ItemEmbeddings`), in place, unless the weights are those that embedded the rows already (the first
    CRE stage starts from the model that embedded ``cre/content_items.parquet``). An item that fails to encode
    keeps its earlier vector."""

    def __init__(self, model: Any, data: TrainingData, run_dir: Path, start: dict[str, np.ndarray]) -> None:
        super().__init__(start)
        self.model, self.data = model, data
        self.ids = [i for i in history_item_ids(run_dir) if i in data.store]
        meta = items_path(run_dir).with_suffix(".json")
        self.embedded_by = read_json(meta, ConfigError)["weights"] if meta.is_file() else None
        self.refreshes = 0

    def refresh(self) -> None:
        now = weights_fingerprint(self.model)
        if now == self.embedded_by:
            return
        was_training = self.model.training
        self.model.eval()
        try:
            res = self.model.encode_items([self.data.store.item(i) for i in self.ids], task="i2i",
                                          side="target", show_progress_bar=False)  # fmt: skip
        finally:
            self.model.train(was_training)
        for k, row in zip(res.indices, res.embeddings, strict=True):
            self[self.ids[k]] = np.asarray(row, dtype=np.float32)
        self.embedded_by = now
        self.refreshes += 1


def load_item_embeddings(run_dir: Path) -> dict[str, np.ndarray]:
    """The CRE item embeddings :func:`prepare_cre` saved (empty when it saved none)."""
    path = items_path(run_dir)
    return load_table(path) if path.is_file() else {}


def id_table_paths(spec: CRESpec, run_dir: Path) -> list[Path]:
    return [Path(p) for p in spec.id_tables] or [cre_dir(run_dir) / "id_tables" / "teacher.parquet"]


def load_table(path: Path) -> dict[str, np.ndarray]:
    from omnivec.recsys.id_teacher import read_id_table

    ids, matrix = read_id_table(path)
    return dict(zip(ids, matrix, strict=True))


def load_id_tables(spec: CRESpec, run_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    return {p.stem: load_table(p) for p in id_table_paths(spec, run_dir)}
