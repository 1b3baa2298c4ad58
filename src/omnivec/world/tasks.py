"""Evaluation tasks of the built-in world, mirroring Tables 2–5 of the SAIL-Embedding paper.

Queries are anchored on held-out items (``test``: in the logs, never in a source; ``cold``: new uploads
with no logs at all); the ``cold`` column flags rows whose anchor is a cold item. Relevance comes from the
hidden latents (content tasks) or from the held-out period of the simulated logs (behaviour tasks).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

from omnivec.data.schema import TaskConfig
from omnivec.world import vocab
from omnivec.world.entities import STREAM_ENTITIES, code_query, members_by, nickname_query, title_query
from omnivec.world.items import Items, item_id
from omnivec.world.sources import graded_relevance, label_texts
from omnivec.world.spec import SizeSpec
from omnivec.world.users import Feed, GroupSampler, Searches, user_id

STREAM_TASKS = 7
STREAM_SEQ_FUTURE = 10  # its own stream: adding the task in generator 1.2 left every other task unchanged
RETRIEVAL = ["recall@1", "recall@10", "recall@50", "recall@100"]


def _ids(idx: np.ndarray | list[int]) -> list[str]:
    return [item_id(int(i)) for i in idx]


def task_table(rows: dict[str, list], n: int) -> pa.Table:
    types = {
        "query_id": pa.string(),
        "query_item": pa.string(),
        "query_text": pa.string(),
        "query_items": pa.list_(pa.string()),
        "user_id": pa.string(),
        "target_item": pa.string(),
        "target_text": pa.string(),
        "relevant": pa.list_(pa.string()),
        "score": pa.float32(),
        "label": pa.int64(),
        "cold": pa.bool_(),
    }
    return pa.table({k: pa.array(rows[k], t) for k, t in types.items() if k in rows})


class _Builder:
    def __init__(self, items: Items, spec: SizeSpec, seed: int) -> None:
        self.items = items
        self.rng = np.random.default_rng([seed, STREAM_TASKS])
        self.q = spec.max_task_queries
        self.cold = items.split == 2
        self.held = items.split > 0
        self.corpus_splits = None if items.n <= 100_000 else ["test", "cold"]
        self.in_corpus = np.ones(items.n, dtype=bool) if self.corpus_splits is None else self.held
        self.out: dict[str, tuple[pa.Table, TaskConfig]] = {}

    def take(self, candidates: np.ndarray, k: int | None = None) -> np.ndarray:
        k = self.q if k is None else k
        return np.sort(candidates[self.rng.permutation(len(candidates))[:k]])

    def add(self, name: str, rows: dict[str, list], **cfg: object) -> None:
        n = len(rows["query_id"])
        cold = rows.get("cold", [False] * n)
        cfg.setdefault("corpus_splits", self.corpus_splits)
        table = task_table(rows, n)
        self.out[name] = (
            table,
            TaskConfig(name=name, file=f"{name}.parquet", n_queries=n, n_cold=int(sum(cold)), **cfg),
        )

    def group_i2i(self, name: str, keys: np.ndarray, description: str) -> None:
        """i2i task: relevant = other corpus items with the same key."""
        it = self.items
        members: dict[int, list[int]] = defaultdict(list)
        for i in np.flatnonzero(self.in_corpus):
            members[int(keys[i])].append(int(i))
        cand = np.array(
            [i for i in np.flatnonzero(self.held) if len(members[int(keys[i])]) >= 2], dtype=np.int64
        )
        rows: dict[str, list] = {k: [] for k in ("query_id", "query_item", "target_item", "relevant", "cold")}
        for i in self.take(cand):
            rel = [j for j in members[int(keys[i])] if j != i]
            rows["query_id"].append(f"{name}:{item_id(int(i))}")
            rows["query_item"].append(item_id(int(i)))
            rows["target_item"].append(item_id(rel[int(self.rng.integers(len(rel)))]))
            rows["relevant"].append(_ids(rel))
            rows["cold"].append(bool(self.cold[i]))
        del it
        self.add(name, rows, type="i2i", query="item", metrics=RETRIEVAL, description=description)

    def rel_i2i(
        self, name: str, candidates: np.ndarray, relevant_of: Callable[[int], set[int]], description: str
    ) -> None:
        """i2i task from observed co-occurrence: relevant = corpus items observed with the query (never a
        re-upload of the query itself)."""
        root = self.items.root
        rows: dict[str, list] = {k: [] for k in ("query_id", "query_item", "target_item", "relevant", "cold")}
        for i in self.take(candidates):
            i = int(i)
            r = sorted(j for j in relevant_of(i) if self.in_corpus[j] and root[j] != root[i])
            if not r:
                continue
            rows["query_id"].append(f"{name}:{item_id(i)}")
            rows["query_item"].append(item_id(i))
            rows["target_item"].append(item_id(r[int(self.rng.integers(len(r)))]))
            rows["relevant"].append(_ids(r))
            rows["cold"].append(bool(self.cold[i]))
        self.add(name, rows, type="i2i", query="item", metrics=RETRIEVAL, description=description)


def build_tasks(
    items: Items, feed: Feed, searches: Searches, spec: SizeSpec, seed: int
) -> dict[str, tuple[pa.Table, TaskConfig]]:
    b = _Builder(items, spec, seed)
    it = items
    n_mood, n_loc = len(vocab.MOODS), len(vocab.LOCATION_NAMES)
    b.group_i2i(
        "content-i2i", it.l2 * n_mood + it.mood, "same L2 topic and same mood (needs text/image + audio)"
    )
    b.group_i2i(
        "location-i2i",
        it.location * len(vocab.L1_NAMES) + it.l1,
        "same location and L1 topic (needs OCR/ASR)",
    )
    b.group_i2i("dup-i2i", it.root, "re-uploads of the same original (near-duplicate retrieval)")

    fut = ~feed.past & feed.clicked
    u, fi = feed.user[fut], feed.item[fut]
    co: dict[int, set[int]] = defaultdict(set)
    for lag in (1, 2, 3):
        same = u[:-lag] == u[lag:]
        for x, y in zip(fi[:-lag][same].tolist(), fi[lag:][same].tolist(), strict=True):
            co[x].add(y)
            co[y].add(x)
    cand = np.array(sorted(i for i in co if b.held[i]), dtype=np.int64)
    b.rel_i2i("copair-i2i", cand, lambda i: co[i], "co-consumed (within 3 plays) in the held-out period")

    sf = ~searches.past
    intent = (searches.l2 * (n_loc + 1) + searches.location + 1) * (n_mood + 1) + searches.mood + 1
    groups: dict[int, set[int]] = defaultdict(set)
    intents_of: dict[int, set[int]] = defaultdict(set)
    for k, i in zip(intent[sf].tolist(), searches.item[sf].tolist(), strict=True):
        groups[k].add(i)
        intents_of[i].add(k)
    cand = np.array(
        sorted(i for i, ks in intents_of.items() if b.held[i] and any(len(groups[k]) > 1 for k in ks)),
        dtype=np.int64,
    )
    b.rel_i2i(
        "search-i2i",
        cand,
        lambda i: set().union(*(groups[k] for k in intents_of[i])),
        "clicked for the same (normalised) query in the held-out period",
    )
    _q2i(b, searches)
    _seq2item(b, feed)
    _cls(b)
    _ctr(b, feed)
    _entity_q2i(b, seed)
    _seq2item_future(b, feed, seed)
    return b.out


def _q2i(b: _Builder, searches: Searches) -> None:
    it = b.items
    ev = np.flatnonzero(~searches.past & b.held[searches.item] & b.in_corpus[searches.item])
    seen: set[tuple[str, int]] = set()
    uniq = []
    for e in ev:
        key = (searches.query[e], int(searches.item[e]))
        if key not in seen:
            seen.add(key)
            uniq.append(e)
    ev = b.take(np.array(uniq, dtype=np.int64))
    corpus = np.flatnonzero(b.in_corpus)
    rows: dict[str, list] = {k: [] for k in ("query_id", "query_text", "target_item", "relevant", "cold")}
    for k, e in enumerate(ev):
        rel = graded_relevance(
            np.full(len(corpus), searches.l2[e]), np.full(len(corpus), searches.location[e]),
            np.full(len(corpus), searches.mood[e]), it, corpus,
        )  # fmt: skip
        target = int(searches.item[e])
        relevant = sorted(set(corpus[rel >= 1.0].tolist()) | {target})
        rows["query_id"].append(f"search-q2i:{k:06d}")
        rows["query_text"].append(searches.query[e])
        rows["target_item"].append(item_id(target))
        rows["relevant"].append(_ids(relevant))
        rows["cold"].append(bool(b.cold[target]))
    b.add("search-q2i", rows, type="q2i", query="text", metrics=RETRIEVAL,
          description="held-out query -> clicked item; relevant = every item matching the query intent")  # fmt: skip

    # graded pairs for AUC: the clicked item, a same-L2 item, a same-L1 item, a random held-out item
    ev = ev[: max(1, b.q // 2)]
    held = b.held & b.in_corpus
    by_l2 = GroupSampler(it.l2, np.ones(it.n), len(vocab.L2_NAMES), held)
    by_l1 = GroupSampler(it.l1, np.ones(it.n), len(vocab.L1_NAMES), held)
    anyone = GroupSampler(np.zeros(it.n, dtype=np.int64), np.ones(it.n), 1, held)
    l2 = np.repeat(searches.l2[ev], 4)
    kind = np.tile(np.arange(4), len(ev))
    cand = np.repeat(searches.item[ev], 4)
    cand = np.where(kind == 1, by_l2.sample(l2, b.rng), cand)
    cand = np.where(kind == 2, by_l1.sample(np.asarray(vocab.L2_PARENT)[l2], b.rng), cand)
    cand = np.where(kind == 3, anyone.sample(np.zeros(len(l2), dtype=np.int64), b.rng), cand)
    score = graded_relevance(
        l2, np.repeat(searches.location[ev], 4), np.repeat(searches.mood[ev], 4), it, cand
    )
    rows = {
        "query_id": [f"score-q2i-cls:{k:06d}" for k in range(len(cand))],
        "query_text": [searches.query[e] for e in np.repeat(ev, 4)],
        "target_item": _ids(cand),
        "score": score.astype(np.float32).tolist(),
        "label": (score >= 0.5).astype(int).tolist(),
        "cold": b.cold[cand].tolist(),
    }
    b.add("score-q2i-cls", rows, type="q2i", query="text", metrics=["auc"], graded=True,
          description="(query, item) pairs with graded relevance; AUC of cosine vs label (score >= 0.5)")  # fmt: skip


def _per_user(feed: Feed) -> Iterator[tuple[int, np.ndarray]]:
    """Each user's rows of the feed (sorted by user, then time)."""
    users = np.unique(feed.user)
    starts = np.searchsorted(feed.user, users)
    ends = np.searchsorted(feed.user, users, side="right")
    for u, s, e in zip(users, starts, ends, strict=True):
        yield int(u), np.arange(s, e)


def _seq_users(b: _Builder, feed: Feed) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Users with ≥ 10 past plays and a held-out click on a corpus item: (user, past play rows, held-out
    clicked items in time order), the candidates of both seq2item tasks."""
    clicks, past = feed.clicked, feed.past  # `past` is computed on access: once, not per user
    out = []
    for u, rows_u in _per_user(feed):
        hist = rows_u[clicks[rows_u] & past[rows_u]]
        futr = feed.item[rows_u[clicks[rows_u] & ~past[rows_u]]]
        futr = futr[b.in_corpus[futr]]
        if len(hist) >= 10 and len(futr):
            out.append((u, hist, futr))
    return out


def _seq2item(b: _Builder, feed: Feed) -> None:
    it = b.items
    cand = [(u, hist, int(futr[0])) for u, hist, futr in _seq_users(b, feed)]
    pick = b.take(np.arange(len(cand)))
    for name in ("seq2item", "seq2item-filtered"):
        rows: dict[str, list] = {
            k: [] for k in ("query_id", "user_id", "query_items", "target_item", "relevant", "cold")
        }
        for k in pick:
            u, hist, target = cand[k]
            h = feed.item[hist][-100:]
            if name == "seq2item":
                seq = h[np.sort(b.rng.permutation(len(h))[:10])]
            else:  # engaged plays of the target's L1 topic, latest 10
                eng = (feed.liked | feed.finished)[hist][-100:]
                seq = h[eng & (it.l1[h] == it.l1[target])][-10:]
                if len(seq) < 3:
                    continue
            rows["query_id"].append(f"{name}:{user_id(u)}")
            rows["user_id"].append(user_id(u))
            rows["query_items"].append(_ids(seq))
            rows["target_item"].append(item_id(target))
            rows["relevant"].append([item_id(target)])
            rows["cold"].append(bool(b.cold[target]))
        desc = (
            "10 random plays of the last 100 -> next item (held-out period)"
            if name == "seq2item"
            else "last 10 engaged plays of the target's L1 topic -> next item"
        )
        b.add(
            name,
            rows,
            type="seq2item",
            query="items",
            metrics=["recall@1", "recall@10", "recall@25"],
            description=desc,
        )


def _seq2item_future(b: _Builder, feed: Feed, seed: int) -> None:
    """History → *every* item the user clicks in the held-out period, over all eligible users.

    ``seq2item`` has one relevant item per query and at most ``max_task_queries`` users, so a difference of a
    point or two between two models is inside its interval. Scoring the whole held-out period
    (``|top-k ∩ clicked| / min(k, |clicked|)``) over every user with ≥ 10 past plays measures the same skill
    with several times less noise. ``cold`` flags users whose *next* item is a cold-start item, as in
    ``seq2item``.
    """
    rng = np.random.default_rng([seed, STREAM_SEQ_FUTURE])
    keys = ("query_id", "user_id", "query_items", "target_item", "relevant", "cold")
    rows: dict[str, list] = {k: [] for k in keys}
    for u, hist_rows, futr in _seq_users(b, feed):
        hist = feed.item[hist_rows][-100:]
        rows["query_id"].append(f"seq2item-future:{user_id(u)}")
        rows["user_id"].append(user_id(u))
        rows["query_items"].append(_ids(hist[np.sort(rng.permutation(len(hist))[:10])]))
        rows["target_item"].append(item_id(int(futr[0])))
        rows["relevant"].append(_ids(np.unique(futr)))
        rows["cold"].append(bool(b.cold[futr[0]]))
    b.add(
        "seq2item-future",
        rows,
        type="seq2item",
        query="items",
        metrics=["recall@10", "recall@25", "recall@50"],
        description="10 random plays of the last 100 -> every item clicked in the held-out period (all users)",
    )


def _cls(b: _Builder) -> None:
    it = b.items
    l1_labels, l2_labels = label_texts()
    q = b.take(np.flatnonzero(b.held))
    for name, labels, gold in (("cls-l1", l1_labels, it.l1), ("cls-l2", l2_labels, it.l2)):
        rows = {
            "query_id": [f"{name}:{item_id(int(i))}" for i in q],
            "query_item": _ids(q),
            "target_text": [labels[gold[i]] for i in q],
            "cold": b.cold[q].tolist(),
        }
        b.add(name, rows, type="cls", query="item", labels=labels, metrics=["accuracy"], corpus_splits=None,
              description=f"item -> {'L1' if name == 'cls-l1' else 'L1 / L2'} topic label text")  # fmt: skip


def _ctr(b: _Builder, feed: Feed) -> None:
    past = feed.past
    history: dict[int, list[str]] = {}
    for u, r in _per_user(feed):
        h = r[feed.clicked[r] & past[r]]
        if len(h) >= 3:
            history[u] = _ids(feed.item[h][-20:])
    imp = np.flatnonzero(~past & np.isin(feed.user, np.array(sorted(history), dtype=np.int64)))
    imp = b.take(imp, 20 * b.q)
    rows = {
        "query_id": [f"ctr:{k:07d}" for k in range(len(imp))],
        "user_id": [user_id(int(feed.user[k])) for k in imp],
        "query_items": [history[int(feed.user[k])] for k in imp],
        "target_item": _ids(feed.item[imp]),
        "label": feed.clicked[imp].astype(int).tolist(),
        "cold": b.cold[feed.item[imp]].tolist(),
    }
    b.add("ctr", rows, type="ctr", query="items", metrics=["auc"], corpus_splits=None,
          description="held-out impressions: user's last 20 plays + shown item -> clicked?")  # fmt: skip


def _entity_q2i(b: _Builder, seed: int) -> None:
    """Entity-heavy search (:mod:`omnivec.world.entities`): a name typed by a user → the items carrying it.

    Queries are drawn from held-out items' entities (so the answer set has a test or cold item); relevance
    is every corpus item with that entity. Own random stream: the other tasks are unchanged by these.
    """
    it = b.items
    rng = np.random.default_rng([seed, STREAM_ENTITIES, 1])
    shown_nick = [it.author_nick[int(it.author[i])] if it.text["nickname"][i] else None for i in range(it.n)]
    kinds = {
        "nickname-q2i": (shown_nick, nickname_query, "creator handle -> that creator's items showing it"),
        "title-q2i": (it.entities.work_title, title_query, "work title or a word of it -> the work's items"),
        "code-q2i": (it.entities.product_code, code_query, "product code -> the items tagged with it"),
    }
    for name, (keys, phrase, description) in kinds.items():
        members = members_by(keys, b.in_corpus)
        anchors = sorted(
            {keys[i] for i in np.flatnonzero(b.held) if keys[i] is not None and keys[i] in members}
        )
        picked = [anchors[j] for j in sorted(rng.permutation(len(anchors))[: b.q].tolist())]
        rows: dict[str, list] = {k: [] for k in ("query_id", "query_text", "target_item", "relevant", "cold")}
        for k, key in enumerate(picked):
            rel = members[key]
            held = [i for i in rel if b.held[i]]
            target = held[int(rng.integers(len(held)))]
            text = phrase(key, rng.random(3))
            rows["query_id"].append(f"{name}:{k:06d}")
            rows["query_text"].append(text)
            rows["target_item"].append(item_id(target))
            rows["relevant"].append(_ids(rel))
            rows["cold"].append(bool(b.cold[target]))
        b.add(name, rows, type="q2i", query="text", metrics=RETRIEVAL, description=description)
