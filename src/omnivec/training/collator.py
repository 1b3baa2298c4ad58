"""SAILCollator: turns a single-source list of pair rows into the views the objective needs.

Dataset-driven pattern matching (§3.3.4) happens here: the source's patterns name the query and target views
(``omni``, ``text``, ``image``, ``video``, ``audio``, ``vision``...). Each distinct item of the batch is
decoded once (with seeded random field drop, §3.2.2); each needed ``side/view`` is then packed once, holding
only the rows whose item has that view's modalities. A row whose query or target cannot be decoded is
dropped and reported (``skipped``), never silently.

Output (a dict the HF Trainer moves to the device as is)::

    {"source", "patterns", "views": {"query/omni": {"features", "rows"}, ...},
     "query_groups", "target_groups", ["scores"], ["negatives": {"features", "owner", "groups"}]}
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from omnivec.errors import ItemError
from omnivec.inputs import DecodedItem
from omnivec.model.prompts import render_segments
from omnivec.model.views import parse_view
from omnivec.training.data import TrainingData

logger = logging.getLogger(__name__)

#: Prompt task used for each source meta-task (the paper's Fig. 5 has i2i, q2i and cls prompts).
DEFAULT_PROMPT_TASKS = {"i2i": "i2i", "q2i": "q2i", "cls": "cls", "general": "cls"}


def view_of(item: DecodedItem, view: str) -> DecodedItem | None:
    """The part of a decoded item that ``view`` allows, or ``None`` when nothing is left."""
    mods = parse_view(view)
    images = item.frames[: item.num_images] if "image" in mods else []
    video = item.frames[item.num_images :] if "video" in mods else []
    text = item.text if "text" in mods else ""
    audio = item.audio if "audio" in mods else None
    if not images and not video and not text and audio is None:
        return None
    present = {m for m, ok in (("text", text), ("image", images), ("video", video)) if ok}
    if audio is not None:
        present.add("audio")
    return replace(item, text=text, frames=[*images, *video], audio=audio, num_images=len(images),
                   modalities=frozenset(present))  # fmt: skip


def _stable_seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


class SAILCollator:
    """Collate rows ``{"source": name, "row": i}`` of one source into objective inputs."""

    def __init__(
        self,
        model: Any,
        data: TrainingData,
        *,
        prompt_tasks: Mapping[str, str] | None = None,
        extra_views: Sequence[str] = (),
        field_drop_prob: float = 0.0,
        seed: int = 0,
        max_hard_negatives: int = 0,
        negatives: dict[str, dict[int, list[str]]] | None = None,
        patterns: Mapping[str, list[tuple[str, str]]] | None = None,
        mixed_name: str | None = None,
        id_tables: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        history_vectors: Mapping[str, np.ndarray] | None = None,
        sampling_correction: bool = False,
    ) -> None:
        self.model = model
        self.inp = model.omni_input
        self.data = data
        self.prompt_tasks = {**DEFAULT_PROMPT_TASKS, **(prompt_tasks or {})}
        self.extra_views = tuple(extra_views)  # e.g. ("vision", "text") for mICL / late fusion
        self.processor = self.inp.make_processor(field_drop_prob=field_drop_prob)
        self.seed = seed
        self.max_hard_negatives = max_hard_negatives
        self.negatives = negatives if negatives is not None else {}
        self.patterns = dict(patterns or {})
        #: set for the "no stochastic specialization" mode: rows of several sources share a batch, each keeps
        #: its own query/target kinds and prompt task; one temperature (this name); omni→omni; no CoSENT.
        self.mixed_name = mixed_name
        #: ID → item distillation: table name → {item_id: vector}
        self.id_tables = dict(id_tables or {})
        #: frozen CRE histories (``cre.history: frozen``): item_id → embedding; history items absent from it
        #: are left out of their row, as undecodable ones are when histories are embedded live
        self.history_vectors = history_vectors
        #: seq→item batches carry ``target_log_q``: log of each target's share of its source's rows
        self.sampling_correction = sampling_correction
        self._log_q: dict[str, dict[str, float]] = {}
        self.skipped: list[str] = []
        self._segments: dict[tuple[str, str], Any] = {}

    def segments(self, task: str, side: str) -> Any:
        key = (task, side)
        if key not in self._segments:
            self._segments[key] = render_segments(self.inp.prompt_config, task, side)
        return self._segments[key]

    # ------------------------------------------------------------------
    def _raw(self, kind: str, value: str) -> dict[str, Any]:
        return self.data.store.item(value) if kind == "item" else {"text": value}

    def _group(self, kind: str, value: str, text_groups: dict[str, int]) -> int:
        if kind == "item":
            return self.data.store.group_of(value)
        return len(self.data.store) + text_groups.setdefault(value, len(text_groups))

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        first = self.data.source(features[0]["source"]).config
        if self.mixed_name is None and (first.query == "items" or first.target == "id"):
            return self._collate_cre(features)
        names = [f["source"] for f in features]
        if len(set(names)) != 1 and self.mixed_name is None:
            raise ValueError(
                f"a SAIL batch must come from one source (stochastic specialization), got {set(names)}"
            )
        row_ids = [int(f["row"]) for f in features]
        rng = np.random.default_rng(_stable_seed(self.seed, names, row_ids))
        cache: dict[tuple[str, str], DecodedItem | None] = {}

        def decode(kind: str, value: str, source: str) -> DecodedItem | None:
            key = (kind, value)
            if key not in cache:
                try:
                    cache[key] = self.inp.decode(self._raw(kind, value), 0, processor=self.processor, rng=rng)
                except ItemError as err:
                    self.skipped.append(
                        f"source {source}: {kind} {value!r}: {err.reason} (field {err.field})"
                    )
                    logger.warning("skipping %s %r of source %s: %s", kind, value, source, err)
                    cache[key] = None
            return cache[key]

        kept: list[tuple[str, int, DecodedItem, DecodedItem]] = []
        text_groups: dict[str, int] = {}
        qg, tg, scores = [], [], []
        for src, r in zip(names, row_ids, strict=True):
            source = self.data.source(src)
            cfg = source.config
            row = source.rows[r]
            qv, tv = row[f"query_{cfg.query}"], row[f"target_{cfg.target}"]
            q, t = decode(cfg.query, qv, src), decode(cfg.target, tv, src)
            if q is None or t is None:
                continue
            kept.append((src, r, q, t))
            qg.append(self._group(cfg.query, qv, text_groups))
            tg.append(self._group(cfg.target, tv, text_groups))
            if cfg.graded:
                scores.append(float(row["score"]))
        name = self.mixed_name or names[0]
        cfg = self.data.source(names[0]).config
        if self.mixed_name is None:
            patterns = [tuple(p) for p in self.patterns.get(name, cfg.patterns)]
        else:
            patterns = [("omni", "omni")]
        needed = {("query", q) for q, _ in patterns} | {("target", t) for _, t in patterns}
        needed |= {(side, v) for side in ("query", "target") for v in self.extra_views}
        views: dict[str, dict[str, Any]] = {}
        for side, view in sorted(needed):
            items, rows, segs = [], [], []
            for b, (src, _, q, t) in enumerate(kept):
                part = view_of(q if side == "query" else t, view)
                if part is not None:
                    items.append(part)
                    rows.append(b)
                    segs.append(self.segments(self.prompt_tasks[self.data.source(src).config.task], side))
            if items:
                views[f"{side}/{view}"] = {
                    "features": self.inp.pack(items, segs),
                    "rows": torch.tensor(rows, dtype=torch.long),
                }
        batch: dict[str, Any] = {
            "source": name,
            "patterns": patterns,
            "views": views,
            "query_groups": torch.tensor(qg, dtype=torch.long),
            "target_groups": torch.tensor(tg, dtype=torch.long),
        }
        if cfg.graded and self.mixed_name is None:
            batch["scores"] = torch.tensor(scores, dtype=torch.float32)
        if self.max_hard_negatives:
            self._add_negatives(batch, kept, decode, patterns[0][1])
        return batch

    def _add_negatives(self, batch: dict[str, Any], kept: list, decode: Any, target_view: str) -> None:
        items, owner, groups, segs = [], [], [], []
        for b, (name, r, _, _) in enumerate(kept):
            source = self.data.source(name)
            if source.config.target != "item":
                continue
            ids = self.negatives.get(name, {}).get(r, source.rows[r].get("negatives") or [])
            for neg_id in ids[: self.max_hard_negatives]:
                d = decode("item", neg_id, name)
                part = view_of(d, target_view) if d is not None else None
                if part is None:
                    continue
                items.append(part)
                owner.append(b)
                groups.append(self.data.store.group_of(neg_id))
                segs.append(self.segments(self.prompt_tasks[source.config.task], "target"))
        if items:
            batch["negatives"] = {
                "features": self.inp.pack(items, segs),
                "owner": torch.tensor(owner, dtype=torch.long),
                "groups": torch.tensor(groups, dtype=torch.long),
            }

    # ------------------------------------------------------------------ CRE
    def target_log_q(self, name: str) -> dict[str, float]:
        """``{item_id: log(rows with it as target / rows)}`` of a sequence source (computed once)."""
        if name not in self._log_q:
            rows = self.data.source(name).rows
            counts: dict[str, int] = {}
            for row in rows:
                counts[row["target_item"]] = counts.get(row["target_item"], 0) + 1
            self._log_q[name] = {i: float(np.log(c / len(rows))) for i, c in counts.items()}
        return self._log_q[name]

    def _collate_cre(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        """Collaboration-aware batches (§3.3.5): ``seq2item`` (history of items → target item) and
        ``id2item`` (item → its vectors in the ID tables). Items use the i2i target prompt, the one the
        recommendation evaluation embeds items with."""
        name = features[0]["source"]
        if any(f["source"] != name for f in features):
            raise ValueError("a CRE batch must come from one source")
        source = self.data.source(name)
        cfg = source.config
        rows = [int(f["row"]) for f in features]
        rng = np.random.default_rng(_stable_seed(self.seed, name, rows))
        decoded: dict[str, DecodedItem | None] = {}

        def decode(item_id: str) -> DecodedItem | None:
            if item_id not in decoded:
                try:
                    decoded[item_id] = self.inp.decode(
                        self.data.store.item(item_id), 0, processor=self.processor, rng=rng
                    )
                except ItemError as err:
                    self.skipped.append(f"source {name}: item {item_id!r}: {err.reason} (field {err.field})")
                    decoded[item_id] = None
            return decoded[item_id]

        segments = self.segments("i2i", "target")
        batch: dict[str, Any] = {"source": name, "kind": "seq2item" if cfg.query == "items" else "id2item"}
        if cfg.query == "items":
            frozen = self.history_vectors
            usable = (lambda i: i in frozen) if frozen is not None else (lambda i: decode(i) is not None)
            kept, hist_ids = [], []
            for r in rows:
                row = source.rows[r]
                history = [i for i in row["query_items"] if usable(i)]
                if history and decode(row["target_item"]) is not None:
                    kept.append(row["target_item"])
                    hist_ids.append(history)
            distinct = list(dict.fromkeys(i for h in hist_ids for i in h))
            pos = {item_id: k for k, item_id in enumerate(distinct)}
            length = max((len(h) for h in hist_ids), default=1)
            index = torch.full((len(kept), length), -1, dtype=torch.long)
            for b, h in enumerate(hist_ids):
                index[b, : len(h)] = torch.tensor([pos[i] for i in h])
            if frozen is not None:
                vectors = (
                    np.stack([frozen[i] for i in distinct]) if distinct else np.zeros((0, 1), np.float32)
                )
                batch["history"] = {"vectors": torch.from_numpy(vectors.astype(np.float32)), "index": index}
            else:
                batch["history"] = {
                    "features": self.inp.pack([decoded[i] for i in distinct], segments),
                    "index": index,
                }
            batch["target"] = {"features": self.inp.pack([decoded[i] for i in kept], segments)}
            batch["target_groups"] = torch.tensor(
                [self.data.store.group_of(i) for i in kept], dtype=torch.long
            )
            if self.sampling_correction:
                log_q = self.target_log_q(name)
                batch["target_log_q"] = torch.tensor([log_q[i] for i in kept], dtype=torch.float32)
            if self.id_tables:  # a stage with ID tables: the objective may distil the targets too
                batch["id_vectors"], batch["id_mask"] = self._id_vectors(kept)
            return batch
        kept = [
            source.rows[r]["query_item"] for r in rows if decode(source.rows[r]["query_item"]) is not None
        ]
        batch["target"] = {"features": self.inp.pack([decoded[i] for i in kept], segments)}
        batch["id_vectors"], batch["id_mask"] = self._id_vectors(kept)
        return batch

    def _id_vectors(self, items: list[str]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Per ID table: the items' vectors [B, d] (zeros where an item has none) and the has-vector mask."""
        vectors_out, masks = {}, {}
        for table, vectors in self.id_tables.items():
            dim = len(next(iter(vectors.values())))
            mat = np.zeros((len(items), dim), dtype=np.float32)
            mask = np.zeros(len(items), dtype=bool)
            for b, item_id in enumerate(items):
                if item_id in vectors:
                    mat[b], mask[b] = vectors[item_id], True
            vectors_out[table] = torch.from_numpy(mat)
            masks[table] = torch.from_numpy(mask)
        return vectors_out, masks
