"""Fixtures of the evaluation tests: planted embedders and a small dataset folder (no world.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from eval_helpers import RandomEmbedder

from omnivec.data.schema import TaskConfig


@pytest.fixture
def random_embedder() -> RandomEmbedder:
    return RandomEmbedder()


@pytest.fixture(scope="session")
def world_truth(tiny_world: Path) -> dict[str, dict[str, Any]]:
    """item_id -> the world's hidden attributes, plus the public dup_group."""
    truth = {r["item_id"]: r for r in pq.read_table(tiny_world / "truth" / "items.parquet").to_pylist()}
    for r in pq.read_table(tiny_world / "items.parquet", columns=["item_id", "dup_group"]).to_pylist():
        truth[r["item_id"]]["dup_group"] = r["dup_group"]
    return truth


TOPICS = {
    "cooking": ["pasta recipe at home", "baking sourdough bread", "grilled salmon dinner"],
    "travel": ["beach sunset in bali", "hiking the alps trail", "city walk in tokyo"],
    "music": ["piano cover of a ballad", "drum solo practice", "guitar chords lesson"],
    "pets": ["my cat sleeping", "puppy learns a trick", "parrot says hello"],
}


@pytest.fixture(scope="session")
def mini_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user-export style folder: items.parquet + tasks/*.json|parquet; 12 text items, one with a
    missing image file (a bad item), and one task of each scored type."""
    root = tmp_path_factory.mktemp("mini") / "data"
    (root / "tasks").mkdir(parents=True)
    items, topic_of = [], {}
    for topic, titles in TOPICS.items():
        for j, title in enumerate(titles):
            iid = f"{topic[:3]}{j}"
            topic_of[iid] = topic
            items.append({"item_id": iid, "title": title, "tags": topic, "image": None, "split": "test"})
    items[0]["image"] = "media/missing.png"  # unreadable: must be reported, not dropped
    pq.write_table(pa.Table.from_pylist(items), root / "items.parquet")
    ids = list(topic_of)

    def write(cfg: TaskConfig, rows: list[dict[str, Any]]) -> None:
        (root / "tasks" / f"{cfg.name}.json").write_text(cfg.model_dump_json())
        pq.write_table(pa.Table.from_pylist(rows), root / "tasks" / cfg.file)

    same = {i: [j for j in ids if topic_of[j] == topic_of[i] and j != i] for i in ids}
    write(
        TaskConfig(name="topic-i2i", type="i2i", file="topic-i2i.parquet", query="item", metrics=["recall@1", "recall@10"]),
        [{"query_id": f"q{i}", "query_item": i, "target_item": same[i][0], "relevant": same[i], "cold": n % 3 == 0}
         for n, i in enumerate(ids)],
    )  # fmt: skip
    write(
        TaskConfig(name="topic-q2i", type="q2i", file="topic-q2i.parquet", query="text", metrics=["recall@1", "recall@10"]),
        [{"query_id": f"t{t}", "query_text": f"{t} videos", "target_item": f"{t[:3]}0",
          "relevant": [i for i in ids if topic_of[i] == t]} for t in TOPICS],
    )  # fmt: skip
    write(
        TaskConfig(name="pair-q2i", type="q2i", file="pair-q2i.parquet", query="text", metrics=["auc"], graded=True),
        [{"query_id": f"p{n}", "query_text": f"{t} videos", "target_item": i, "score": float(topic_of[i] == t),
          "label": int(topic_of[i] == t)} for n, (t, i) in enumerate((t, i) for t in TOPICS for i in ids[::2])],
    )  # fmt: skip
    write(
        TaskConfig(name="topic-cls", type="cls", file="topic-cls.parquet", query="item", labels=list(TOPICS),
                   metrics=["accuracy", "recall@2"]),
        [{"query_id": f"c{i}", "query_item": i, "target_text": topic_of[i]} for i in ids],
    )  # fmt: skip
    write(
        TaskConfig(name="next-seq", type="seq2item", file="next-seq.parquet", query="items", metrics=["recall@1", "recall@10"]),
        [{"query_id": f"s{n}", "query_items": same[i][:2], "target_item": i, "relevant": [i]} for n, i in enumerate(ids)],
    )  # fmt: skip
    (root / "truth_topics.json").write_text(json.dumps(topic_of))
    return root
