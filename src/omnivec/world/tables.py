"""Arrow tables of a world: items, hidden truth, users and logs, in the public schemas.

Visible tables follow :mod:`omnivec.data.schema`. ``truth/`` holds what a platform would not know (the
latent attributes, taste classes, user interests); it exists for ``check_world``, for building tasks and
for rendering media on demand, and must never be used as training input.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from omnivec.data.schema import BEHAVIOUR, IMPRESSIONS, ITEMS, SEARCH, USERS
from omnivec.world import vocab
from omnivec.world.items import SPLIT_NAMES, Items, item_id, media_path
from omnivec.world.users import Feed, Searches, Users, user_id


def items_table(items: Items) -> pa.Table:
    n = items.n
    ids = [item_id(i) for i in range(n)]
    cols: dict[str, list] = {"item_id": ids}
    for f in ("title", "ocr", "asr", "nickname", "tags"):
        cols[f] = items.text[f]
    for kind, has in (("image", items.has_image), ("video", items.has_video), ("audio", items.has_audio)):
        cols[kind] = [media_path(kind, i) if has[i] else None for i in range(n)]
    cols["split"] = [SPLIT_NAMES[s] for s in items.split]
    cols["dup_group"] = [ids[r] for r in items.root]
    cols["author_id"] = [f"a{a:06d}" for a in items.author]
    cols["upload_ts"] = items.upload_ts.tolist()
    return pa.table(cols, schema=ITEMS.arrow_schema())


def truth_table(items: Items) -> pa.Table:
    """Hidden latents per item (names, not codes), plus what the media renderer needs."""
    return pa.table(
        {
            "item_id": [item_id(i) for i in range(items.n)],
            "topic_l1": [vocab.L1_NAMES[k] for k in items.l1],
            "topic_l2": [vocab.L2_NAMES[k] for k in items.l2],
            "mood": [vocab.MOODS[k] for k in items.mood],
            "style": [vocab.STYLES[k] for k in items.style],
            "motion": [vocab.MOTIONS[k] for k in items.motion],
            "location": [vocab.LOCATION_NAMES[k] for k in items.location],
            "taste": pa.array(items.taste, pa.int64()),
            "root": [item_id(int(r)) for r in items.root],
            "popularity": pa.array(items.popularity, pa.float32()),
            "quality": pa.array(items.quality, pa.float32()),
            "has_image": pa.array(items.has_image, pa.bool_()),
            "has_video": pa.array(items.has_video, pa.bool_()),
            "has_audio": pa.array(items.has_audio, pa.bool_()),
            "has_speech": pa.array(items.has_speech, pa.bool_()),
            "audio_seconds": pa.array(items.audio_seconds, pa.float32()),
        }
    )


def users_table(users: Users) -> pa.Table:
    return pa.table(
        {
            "user_id": [user_id(i) for i in range(users.n)],
            "region": [vocab.LOCATION_NAMES[r] for r in users.region],
            "signup_ts": users.signup_ts.tolist(),
        },
        schema=USERS.arrow_schema(),
    )


def users_truth_table(users: Users) -> pa.Table:
    return pa.table(
        {
            "user_id": [user_id(i) for i in range(users.n)],
            "taste": pa.array(users.taste, pa.int64()),
            "activity": pa.array(users.activity, pa.float32()),
            "interest": pa.array(list(users.interest.astype(np.float32)), pa.list_(pa.float32())),
            "mood_pref": pa.array(list(users.mood_pref.astype(np.float32)), pa.list_(pa.float32())),
        }
    )


def _uid(idx: np.ndarray) -> list[str]:
    return [user_id(int(i)) for i in idx]


def _iid(idx: np.ndarray) -> list[str]:
    return [item_id(int(i)) for i in idx]


def log_tables(feed: Feed, searches: Searches) -> dict[str, pa.Table]:
    """The logged period only: ``impressions``, ``behaviour`` (plays) and ``search`` (clicked results)."""
    p = feed.past
    imp = pa.table(
        {
            "user_id": _uid(feed.user[p]),
            "item_id": _iid(feed.item[p]),
            "ts": feed.ts[p].tolist(),
            "clicked": feed.clicked[p].tolist(),
        },
        schema=IMPRESSIONS.arrow_schema(),
    )
    c = p & feed.clicked
    beh = pa.table(
        {
            "user_id": _uid(feed.user[c]),
            "item_id": _iid(feed.item[c]),
            "ts": feed.ts[c].tolist(),
            "liked": feed.liked[c].tolist(),
            "finished": feed.finished[c].tolist(),
            "watch_ratio": feed.watch_ratio[c].tolist(),
        },
        schema=BEHAVIOUR.arrow_schema(),
    )
    s = np.flatnonzero(searches.past)
    search = pa.table(
        {
            "query_id": [f"s{int(e):07d}" for e in searches.event[s]],
            "user_id": _uid(searches.user[s]),
            "ts": searches.ts[s].tolist(),
            "query": [searches.query[i] for i in s],
            "item_id": _iid(searches.item[s]),
            "position": searches.position[s].tolist(),
        },
        schema=SEARCH.arrow_schema(),
    )
    return {"impressions": imp, "behaviour": beh, "search": search}
