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
from pydantic import BaseModel, ConfigDict, Field

from omnivec.training.data import TrainingData
from omnivec.utils.io import write_json, write_parquet

SEQ2ITEM, ID2ITEM = "seq2item", "id2item"
CRE_SOURCES = (SEQ2ITEM, ID2ITEM)


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
    if not (sources / f"{SEQ2ITEM}.json").is_file():
        kwargs: dict[str, Any] = {}
        interests = InterestConfig(**spec.interests)
        if spec.content_filter == "embeddings":
            store = data.store
            # only the items the content filter can compare (same pairs as embedding the whole catalogue)
            ids = [i for i in content_filter_item_ids(data.root, interests) if i in store]
            res = model.encode_items([store.item(i) for i in ids], task="i2i", side="target",
                                     show_progress_bar=True)  # fmt: skip
            kwargs = {"item_ids": [ids[i] for i in res.indices], "item_emb": res.embeddings}
        stats["seq2item"] = build_seq2item_source(data.root, out, interests, **kwargs)
        echo(f"  interest mining: {stats['seq2item']}")
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
    data.add_sources(sources)
    return stats


def id_table_paths(spec: CRESpec, run_dir: Path) -> list[Path]:
    return [Path(p) for p in spec.id_tables] or [cre_dir(run_dir) / "id_tables" / "teacher.parquet"]


def load_table(path: Path) -> dict[str, np.ndarray]:
    from omnivec.recsys.id_teacher import read_id_table

    ids, matrix = read_id_table(path)
    return dict(zip(ids, matrix, strict=True))


def load_id_tables(spec: CRESpec, run_dir: Path) -> dict[str, dict[str, np.ndarray]]:
    return {p.stem: load_table(p) for p in id_table_paths(spec, run_dir)}
