"""Training sources of the built-in world, mirroring Table 1 of the SAIL-Embedding paper.

Every source uses only ``train`` items and only the logged period. Each is a table of pairs in the
:data:`omnivec.data.schema.SOURCE` format plus a :class:`~omnivec.data.schema.SourceConfig`. They differ
on purpose in how well they match the evaluation tasks (``style-i2i`` matches none of them, ``general``
is large and noisy), so multi-source balancing has something to find.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa

from omnivec.data.schema import SourceConfig
from omnivec.world import vocab
from omnivec.world.items import Items, item_id
from omnivec.world.users import Feed, GroupSampler, Searches

STREAM_SOURCES = 6
OMNI = ("omni", "omni")


def graded_relevance(
    l2: np.ndarray, loc: np.ndarray, mood: np.ndarray, items: Items, item: np.ndarray
) -> np.ndarray:
    """Ground-truth relevance of ``item`` to a query intent (l2, location or -1, mood or -1).

    1.0 = same L2 and every named location / mood matches; 0.6 = same L2 only; 0.3 = same L1; else 0.
    """
    same_l2 = items.l2[item] == l2
    full = same_l2 & ((loc < 0) | (items.location[item] == loc)) & ((mood < 0) | (items.mood[item] == mood))
    same_l1 = items.l1[item] == np.asarray(vocab.L2_PARENT)[l2]
    return np.where(full, 1.0, np.where(same_l2, 0.6, np.where(same_l1, 0.3, 0.0)))


def label_texts() -> tuple[list[str], list[str]]:
    """Classification label texts: L1 names and "l1 / l2" paths."""
    l2 = [f"{vocab.L1_NAMES[vocab.L2_PARENT[k]]} / {name}" for k, name in enumerate(vocab.L2_NAMES)]
    return list(vocab.L1_NAMES), l2


def _ids(idx: np.ndarray) -> list[str]:
    return [item_id(int(i)) for i in idx]


def source_table(
    query_item: np.ndarray | None = None,
    query_text: list[str] | None = None,
    target_item: np.ndarray | None = None,
    target_text: list[str] | None = None,
    score: np.ndarray | None = None,
    negatives: list[list[str]] | None = None,
) -> pa.Table:
    n = len(query_item) if query_item is not None else len(query_text or [])
    none: list[str | None] = [None] * n
    cols: dict[str, pa.Array] = {
        "query_item": pa.array(_ids(query_item) if query_item is not None else none, pa.string()),
        "query_text": pa.array(query_text if query_text is not None else none, pa.string()),
        "target_item": pa.array(_ids(target_item) if target_item is not None else none, pa.string()),
        "target_text": pa.array(target_text if target_text is not None else none, pa.string()),
    }
    if score is not None:
        cols["score"] = pa.array(np.asarray(score, dtype=np.float32), pa.float32())
        cols["label"] = pa.array((np.asarray(score) >= 0.5).astype(np.int64), pa.int64())
    if negatives is not None:
        cols["negatives"] = pa.array(negatives, pa.list_(pa.string()))
    table = pa.table(cols)
    keys = [(k, "ascending") for k in ("query_item", "query_text", "target_item", "target_text")]
    return table.sort_by(keys)


def _pairs(
    a: np.ndarray, b: np.ndarray, items: Items, cap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct unordered pairs of different, non-duplicate items; the most frequent first, at most cap."""
    ok = (a != b) & (items.root[a] != items.root[b])
    lo, hi = np.minimum(a[ok], b[ok]), np.maximum(a[ok], b[ok])
    key, counts = np.unique(lo * items.n + hi, return_counts=True)
    order = np.lexsort((rng.random(len(key)), -counts))[:cap]
    key = key[order]
    lo, hi = key // items.n, key % items.n
    flip = rng.random(len(lo)) < 0.5  # random direction: i2i pairs are symmetric
    return np.where(flip, hi, lo), np.where(flip, lo, hi)


def _partner(
    keys: np.ndarray, n_keys: int, pool: np.ndarray, query: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    sampler = GroupSampler(keys, np.ones(len(keys)), n_keys, pool)
    q = query[sampler.nonempty(keys[query])]
    return np.stack([q, sampler.sample(keys[q], rng)])


def build_sources(
    items: Items, feed: Feed, searches: Searches, seed: int
) -> dict[str, tuple[pa.Table, SourceConfig]]:
    rng = np.random.default_rng([seed, STREAM_SOURCES])
    train = items.split == 0
    tr_idx = np.flatnonzero(train)
    n_tr = len(tr_idx)
    out: dict[str, tuple[pa.Table, SourceConfig]] = {}

    def add(name: str, table: pa.Table, **cfg: object) -> None:
        out[name] = (table, SourceConfig(name=name, file=f"{name}.parquet", n_pairs=table.num_rows, **cfg))

    # copair-i2i: engaged clicks of one user at most 3 plays apart
    past = feed.past & feed.clicked & (feed.liked | feed.finished)
    u, it = feed.user[past], feed.item[past]
    a_list, b_list = [], []
    for lag in (1, 2, 3):
        same = (u[:-lag] == u[lag:]) & train[it[:-lag]] & train[it[lag:]]
        a_list.append(it[:-lag][same])
        b_list.append(it[lag:][same])
    qa, qb = _pairs(np.concatenate(a_list), np.concatenate(b_list), items, 6 * n_tr, rng)
    add("copair-i2i", source_table(qa, target_item=qb), task="i2i", query="item", target="item", patterns=[OMNI],
        description="co-consumption: items engaged by one user within 3 plays (behaviour logs)")  # fmt: skip

    # search-i2i and search-q2i: clicks on train items from the logged searches
    sp = searches.past & train[searches.item]
    q_codes = {q: k for k, q in enumerate(sorted(set(searches.query)))}
    code = np.array([q_codes[q] for q in searches.query], dtype=np.int64)[sp]
    s_item = searches.item[sp]
    order = np.lexsort((s_item, code))
    code, s_item = code[order], s_item[order]
    bounds = np.flatnonzero(np.diff(code)) + 1
    a_list, b_list = [], []
    for grp in np.split(s_item, bounds):
        g = np.unique(grp)
        if len(g) >= 2:
            ia, ib = np.triu_indices(len(g), 1)
            sel = rng.permutation(len(ia))[:10]
            a_list.append(g[ia[sel]])
            b_list.append(g[ib[sel]])
    if a_list:
        qa, qb = _pairs(np.concatenate(a_list), np.concatenate(b_list), items, 3 * n_tr, rng)
    else:
        qa = qb = np.zeros(0, dtype=np.int64)
    add("search-i2i", source_table(qa, target_item=qb), task="i2i", query="item", target="item", patterns=[OMNI],
        description="items clicked for the same search query (search logs)")  # fmt: skip

    texts = [searches.query[i] for i in np.flatnonzero(sp)]
    pairs = sorted({(t, int(i)) for t, i in zip(texts, searches.item[sp], strict=True)})
    qt = [p[0] for p in pairs]
    ti = np.array([p[1] for p in pairs], dtype=np.int64)
    neg_keys = items.l1 * len(vocab.L2_NAMES) + items.l2
    neg_pool = GroupSampler(items.l1, np.ones(items.n), len(vocab.L1_NAMES), train)
    negs = neg_pool.sample(np.repeat(items.l1[ti], 3), rng).reshape(-1, 3)
    negatives = [
        [item_id(int(x)) for x in row if neg_keys[x] != neg_keys[t]] for row, t in zip(negs, ti, strict=True)
    ]
    add("search-q2i", source_table(query_text=qt, target_item=ti, negatives=negatives), task="q2i", query="text",
        target="item", patterns=[("text", "omni")], has_negatives=True,
        description="search query -> clicked item; negatives: same L1, other L2")  # fmt: skip

    # score-q2i: graded (query, item) pairs; relevance from the query intent, with label noise
    ev = np.flatnonzero(sp)
    ev = ev[rng.permutation(len(ev))[: 2 * n_tr // 4 + 1]]
    l2, loc, mood = (
        np.repeat(searches.l2[ev], 4),
        np.repeat(searches.location[ev], 4),
        np.repeat(searches.mood[ev], 4),
    )
    by_l2 = GroupSampler(items.l2, np.ones(items.n), len(vocab.L2_NAMES), train)
    by_l1 = GroupSampler(items.l1, np.ones(items.n), len(vocab.L1_NAMES), train)
    anyone = GroupSampler(np.zeros(items.n, dtype=np.int64), np.ones(items.n), 1, train)
    kind = np.tile(np.arange(4), len(ev))
    cand = np.where(kind == 0, np.repeat(searches.item[ev], 4), 0)
    cand = np.where(kind == 1, by_l2.sample(l2, rng), cand)
    cand = np.where(kind == 2, by_l1.sample(np.asarray(vocab.L2_PARENT)[l2], rng), cand)
    cand = np.where(kind == 3, anyone.sample(np.zeros(len(l2), dtype=np.int64), rng), cand)
    score = graded_relevance(l2, loc, mood, items, cand) + rng.normal(0, 0.07, len(cand))
    score = np.round(np.clip(score, 0.0, 1.0), 2)
    qtexts = [searches.query[i] for i in np.repeat(ev, 4)]
    add("score-q2i", source_table(query_text=qtexts, target_item=cand, score=score), task="q2i", query="text",
        target="item", patterns=[("text", "omni")], graded=True,
        description="query -> item with a graded relevance score in [0, 1] (intent match, noisy)")  # fmt: skip

    # summary-i2i: same L2 and same mood or same location (what n-gram filtered summaries would pair)
    n_l2, n_mood, n_loc = len(vocab.L2_NAMES), len(vocab.MOODS), len(vocab.LOCATION_NAMES)
    half = rng.random(n_tr) < 0.5
    p1 = _partner(items.l2 * n_mood + items.mood, n_l2 * n_mood, train, tr_idx[half], rng)
    p2 = _partner(items.l2 * n_loc + items.location, n_l2 * n_loc, train, tr_idx[~half], rng)
    pr = np.concatenate([p1, p2], axis=1)
    qa, qb = _pairs(pr[0], pr[1], items, 2 * n_tr, rng)
    add("summary-i2i", source_table(qa, target_item=qb), task="i2i", query="item", target="item",
        patterns=[OMNI, ("video", "video"), ("text", "text")],
        description="content pairs: same L2 topic and same mood or location (simulated summary n-grams)")  # fmt: skip

    # tag-i2i: items sharing a hashtag (tags include noise like 'fyp')
    _add_pairs_by(add, "tag-i2i", items, tr_idx, rng, _tag_keys(items, tr_idx, rng), [OMNI, ("text", "text")],
                  "items sharing a user-written hashtag")  # fmt: skip
    _add_pairs_by(
        add, "author-i2i", items, tr_idx, rng, items.author, [OMNI], "items uploaded by the same author"
    )
    _add_pairs_by(add, "style-i2i", items, tr_idx, rng, items.style, [("image", "image")],
                  "covers of the same visual style (matches no evaluation task)")  # fmt: skip

    # cls: item -> L1 and L1/L2 label texts
    l1_labels, l2_labels = label_texts()
    ci = np.concatenate([tr_idx, tr_idx])
    ct = [l1_labels[items.l1[i]] for i in tr_idx] + [l2_labels[items.l2[i]] for i in tr_idx]
    add("cls", source_table(ci, target_item=None, target_text=ct), task="cls", query="item", target="text",
        patterns=[("omni", "text")], description="item -> topic label text, two levels (L1, L1 / L2)")  # fmt: skip

    # general: weak captions, eight per item (three in a million-item world), often wrong
    gi, gt = _captions(items, tr_idx, rng)
    add("general", source_table(gi, target_text=gt), task="general", query="item", target="text",
        patterns=[("image", "text"), ("video", "text"), ("omni", "text")],
        description="weak machine captions (style, motion, topic), ~25% wrong per slot; the largest source, noisy")  # fmt: skip
    return out


def _tag_keys(items: Items, tr_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    vocab_ids: dict[str, int] = {}
    keys = np.full(items.n, -1, dtype=np.int64)
    for i in tr_idx:
        tags = items.text["tags"][i]
        if tags:
            parts = tags.split(",")
            tag = parts[int(rng.integers(len(parts)))]
            keys[i] = vocab_ids.setdefault(tag, len(vocab_ids))
    return keys


def _add_pairs_by(
    add: Callable[..., None],
    name: str,
    items: Items,
    tr_idx: np.ndarray,
    rng: np.random.Generator,
    keys: np.ndarray,
    patterns: list[tuple[str, str]],
    description: str,
) -> None:
    has = tr_idx[keys[tr_idx] >= 0]
    pool = np.zeros(items.n, dtype=bool)
    pool[has] = True
    safe = np.maximum(keys, 0)
    pr = _partner(safe, int(safe.max()) + 1, pool, has, rng)
    qa, qb = _pairs(pr[0], pr[1], items, len(tr_idx), rng)
    add(name, source_table(qa, target_item=qb), task="i2i", query="item", target="item", patterns=patterns,
        description=description)  # fmt: skip


def _captions(items: Items, tr_idx: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    idx = np.repeat(tr_idx, 8 if len(tr_idx) <= 200_000 else 3)
    u = rng.random((len(idx), 9))

    def pick(opts: list[str], x: float) -> str:
        return opts[min(int(x * len(opts)), len(opts) - 1)]

    texts = []
    for k, i in enumerate(idx):
        r = u[k]
        l2 = int(items.l2[i]) if r[0] >= 0.25 else int(r[1] * len(vocab.L2_NAMES))
        style = int(items.style[i]) if r[2] >= 0.2 else int(r[3] * len(vocab.STYLES))
        motion = int(items.motion[i]) if r[4] >= 0.2 else int(r[5] * len(vocab.MOTIONS))
        texts.append(
            pick(vocab.CAPTION_TEMPLATES, r[6]).format(
                w=pick(vocab.L2_WORDS[l2], r[7]),
                l1w=pick(vocab.L1_WORDS[vocab.L2_PARENT[l2]], r[8]),
                style=pick(vocab.STYLE_WORDS[style], r[7]),
                motion=pick(vocab.MOTION_WORDS[motion], r[8]),
            )
        )
    return idx, texts
