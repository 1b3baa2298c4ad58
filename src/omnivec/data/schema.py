"""The omnivec dataset format: table schemas (items, sources, tasks, logs) and source / task configs.

This module is the single definition of the on-disk format documented in ``docs/data-format.md``. The
built-in world (:mod:`omnivec.world`) writes exactly these tables; :mod:`omnivec.data.readers` reads them
back, or a user's own export in the same shape, from Parquet, JSONL or a Hugging Face ``datasets`` object.

A :class:`TableSchema` lists columns with a *kind* (``string``, ``int``, ``float``, ``bool``,
``string_list``, ``media``) and whether they are required. ``one_of`` groups say "at least one of these
columns must exist" (a source needs ``query_item`` or ``query_text``). Extra columns are kept as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

TEXT_FIELDS: tuple[str, ...] = ("title", "ocr", "asr", "nickname", "tags")
MEDIA_FIELDS: tuple[str, ...] = ("image", "video", "audio")
MODALITIES: tuple[str, ...] = ("text", "image", "video", "audio")
SPLITS: tuple[str, ...] = ("train", "test", "cold")

ColumnKind = Literal["string", "int", "float", "bool", "string_list", "media"]
Slot = Literal["text", "image", "video", "audio", "omni"]

# canonical Arrow type per kind ("media" is a string path or inline bytes; kept as found)
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float32(),
    "bool": pa.bool_(),
    "string_list": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Column:
    """One column of a table: its name, kind, whether it must exist, and what it means."""

    name: str
    kind: ColumnKind
    required: bool = False
    nullable: bool = True
    doc: str = ""


@dataclass(frozen=True)
class TableSchema:
    """A named table: its columns, the "at least one of" groups, and a one-line description."""

    name: str
    columns: tuple[Column, ...]
    doc: str = ""
    one_of: tuple[tuple[str, ...], ...] = field(default=())

    def column(self, name: str) -> Column | None:
        for col in self.columns:
            if col.name == name:
                return col
        return None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self, names: list[str] | None = None) -> pa.Schema:
        """The canonical Arrow schema of ``names`` (default: every column), in schema order."""
        keep = self.names if names is None else [n for n in self.names if n in names]
        fields = []
        for n in keep:
            col = self.column(n)
            assert col is not None
            typ = pa.string() if col.kind == "media" else ARROW_TYPES[col.kind]
            fields.append(pa.field(n, typ, nullable=col.nullable))
        return pa.schema(fields)


ITEMS = TableSchema(
    "items",
    (
        Column("item_id", "string", required=True, nullable=False, doc="unique id of the item"),
        Column("title", "string", doc="title written by the author"),
        Column("ocr", "string", doc="text read from the frames"),
        Column("asr", "string", doc="speech transcript"),
        Column("nickname", "string", doc="author's display name"),
        Column("tags", "string", doc="comma-separated hashtags, without '#'"),
        Column("image", "media", doc="cover image: path relative to the items file's folder, or bytes"),
        Column("video", "media", doc="video file: path relative to the items file's folder, or bytes"),
        Column("audio", "media", doc="audio track: path relative to the items file's folder, or bytes"),
        Column("split", "string", doc="train | test | cold (cold = new upload, no logs)"),
        Column("dup_group", "string", doc="items with the same value are re-uploads of one another"),
        Column("author_id", "string", doc="id of the uploading account"),
        Column("upload_ts", "int", doc="upload time, seconds since the Unix epoch"),
    ),
    doc="one row per item; any text or media field may be null",
)

SOURCE = TableSchema(
    "source",
    (
        Column("query_item", "string", doc="query side as an item_id reference"),
        Column("query_text", "string", doc="query side as a literal text"),
        Column("query_items", "string_list", doc="query side as a history of item_ids, oldest first"),
        Column("target_item", "string", doc="target side as an item_id reference"),
        Column("target_text", "string", doc="target side as a literal text (label, caption)"),
        Column("target_id", "string", doc="target side as a row of an ID-embedding table (ID-to-item)"),
        Column("score", "float", doc="graded similarity in [0, 1] (CoSENT-style sources)"),
        Column("label", "int", doc="1 = positive pair, 0 = negative pair"),
        Column("negatives", "string_list", doc="hard-negative item_ids for the query"),
    ),
    doc="training pairs; each row fills exactly one query_* and one target_* column",
    one_of=(("query_item", "query_text", "query_items"), ("target_item", "target_text", "target_id")),
)

TASK = TableSchema(
    "task",
    (
        Column("query_id", "string", required=True, nullable=False, doc="unique id of the query row"),
        Column("query_item", "string", doc="query is an item (i2i, cls)"),
        Column("query_text", "string", doc="query is a text (q2i)"),
        Column(
            "query_items", "string_list", doc="query is a sequence of items, oldest first (seq2item, ctr)"
        ),
        Column("user_id", "string", doc="user behind a seq2item / ctr row"),
        Column("target_item", "string", doc="the anchor positive (clicked item, next item, scored item)"),
        Column("target_text", "string", doc="gold label text (cls)"),
        Column("relevant", "string_list", doc="every corpus item that counts as a hit"),
        Column("score", "float", doc="graded relevance in [0, 1]"),
        Column("label", "int", doc="binary label (click, relevant)"),
        Column("cold", "bool", doc="the row's anchor item is a cold-start item"),
    ),
    doc="evaluation rows; which columns are filled depends on the task type",
    one_of=(("query_item", "query_text", "query_items"),),
)

BEHAVIOUR = TableSchema(
    "behaviour",
    (
        Column("user_id", "string", required=True, nullable=False),
        Column("item_id", "string", required=True, nullable=False),
        Column("ts", "int", required=True, nullable=False, doc="seconds since the Unix epoch"),
        Column("liked", "bool"),
        Column("finished", "bool", doc="watched to the end"),
        Column("watch_ratio", "float", doc="fraction of the item watched"),
    ),
    doc="one row per click (a play), sorted by user then time",
)

IMPRESSIONS = TableSchema(
    "impressions",
    (
        Column("user_id", "string", required=True, nullable=False),
        Column("item_id", "string", required=True, nullable=False),
        Column("ts", "int", required=True, nullable=False),
        Column("clicked", "bool", required=True, nullable=False),
    ),
    doc="one row per item shown in the feed, clicked or not",
)

SEARCH = TableSchema(
    "search",
    (
        Column("query_id", "string", doc="one id per search event"),
        Column("user_id", "string", required=True, nullable=False),
        Column("ts", "int", required=True, nullable=False),
        Column("query", "string", required=True, nullable=False, doc="the typed query"),
        Column("item_id", "string", required=True, nullable=False, doc="the clicked result"),
        Column("position", "int", doc="rank of the clicked result, 0-based"),
    ),
    doc="one row per (search, clicked result)",
)

USERS = TableSchema(
    "users",
    (
        Column("user_id", "string", required=True, nullable=False),
        Column("region", "string", doc="home location of the user"),
        Column("signup_ts", "int"),
    ),
    doc="one row per user",
)

TABLES: dict[str, TableSchema] = {
    s.name: s for s in (ITEMS, SOURCE, TASK, BEHAVIOUR, IMPRESSIONS, SEARCH, USERS)
}


# ---- configs ---------------------------------------------------------------------------------------------
class SourceConfig(BaseModel):
    """What a training source is: its meta-task, sides, modality patterns and label kind.

    ``patterns`` lists the (query slot, target slot) pairs that dataset-driven pattern matching may build
    for this source (paper §3.3.4); ``omni`` means every modality the item has.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    task: Literal["i2i", "q2i", "cls", "general"]
    file: str = Field(description="parquet file of pairs, relative to the config's folder")
    query: Literal["item", "text", "items"] = Field(
        description="item (an item_id), text (a literal), or items (a history: list of item_ids, oldest first)"
    )
    target: Literal["item", "text", "id"] = Field(
        description="item, text, or id (the item's vector in an ID table: ID-to-item distillation)"
    )
    patterns: list[tuple[Slot, Slot]]
    graded: bool = False
    has_negatives: bool = False
    n_pairs: int = 0
    description: str = ""


class TaskConfig(BaseModel):
    """What an evaluation task is: type, query kind, corpus, metrics.

    Retrieval corpus: the items whose ``split`` is in ``corpus_splits`` (``None`` = every item). For
    ``cls`` tasks the corpus is ``labels`` (texts). Recall@k is ``|top-k ∩ relevant| / min(k, |relevant|)``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    type: Literal["i2i", "q2i", "seq2item", "cls", "ctr"]
    file: str
    query: Literal["item", "text", "items"]
    corpus_splits: list[str] | None = None
    labels: list[str] | None = None
    metrics: list[str]
    graded: bool = False
    n_queries: int = 0
    n_cold: int = 0
    description: str = ""
