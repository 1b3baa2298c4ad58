"""Items of the built-in world: latent attributes, near-duplicates, splits and the five text fields.

Latents are drawn with vectorised numpy from streams seeded by ``(seed, stream)``; text is formatted in
one Python pass from pre-drawn uniforms, so the same seed always yields the same strings. Re-uploads
(near-duplicates) copy the latents and most of the text of an earlier item and get small media edits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnivec.world import vocab
from omnivec.world.entities import Entities, decorate_text, draw_entities
from omnivec.world.spec import DAY, EPOCH, FUTURE_FROM_DAY, RATES, SizeSpec

STREAM_ITEMS = 1
STREAM_TEXT = 2
STREAM_TASTE = 9
SPLIT_NAMES = ("train", "test", "cold")
MEDIA_DIRS = {"image": ("images", "png"), "video": ("videos", "mp4"), "audio": ("audio", "wav")}


def item_id(index: int) -> str:
    return f"i{index:07d}"


def media_path(kind: str, index: int) -> str:
    """Relative path of an item's media file inside the world folder (1,000 files per shard folder)."""
    folder, ext = MEDIA_DIRS[kind]
    return f"media/{folder}/{index // 1000:04d}/{item_id(index)}.{ext}"


@dataclass
class Items:
    """Latent attributes (int arrays, one entry per item) and text fields of every item."""

    l1: np.ndarray
    l2: np.ndarray
    mood: np.ndarray
    style: np.ndarray
    motion: np.ndarray
    location: np.ndarray
    taste: np.ndarray
    author: np.ndarray
    popularity: np.ndarray
    quality: np.ndarray
    split: np.ndarray  # 0 train, 1 test, 2 cold
    root: np.ndarray  # index of the original upload (itself when not a re-upload)
    has_image: np.ndarray
    has_video: np.ndarray
    has_audio: np.ndarray
    audio_seconds: np.ndarray
    upload_ts: np.ndarray
    author_nick: list[str]
    text: dict[str, list[str | None]]
    entities: Entities

    @property
    def n(self) -> int:
        return len(self.l1)

    @property
    def is_dup(self) -> np.ndarray:
        return self.root != np.arange(self.n)

    @property
    def has_speech(self) -> np.ndarray:
        return np.array([a is not None for a in self.text["asr"]], dtype=bool)


def _pick(options: list[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def _nicknames(main_l1: np.ndarray, rng: np.random.Generator) -> list[str]:
    u = rng.random((len(main_l1), 4))
    out = []
    for a, l1 in enumerate(main_l1):
        first = _pick(vocab.NAME_FIRST, u[a, 0])
        handle = (
            _pick(vocab.NAME_HANDLES[l1], u[a, 1]) if u[a, 2] < 0.75 else _pick(vocab.NAME_GENERIC, u[a, 1])
        )
        forms = [f"{handle}_{first}", f"{first}{handle}{a % 97}", f"{first} the {handle}", f"{first}{a % 89}"]
        out.append(_pick(forms, u[a, 3]))
    return out


def generate_items(spec: SizeSpec, seed: int) -> Items:
    """Draw every item's latents, duplicates, split, media presence and text."""
    rng = np.random.default_rng([seed, STREAM_ITEMS])
    n = spec.n_items
    n_l1 = len(vocab.L1_NAMES)
    n_authors = max(8, n // 12)
    author_main = rng.integers(0, n_l1, n_authors)
    author_w = 1.0 / (np.arange(n_authors) + 5.0)
    author = rng.choice(n_authors, size=n, p=author_w / author_w.sum())
    l1 = np.where(rng.random(n) < RATES.author_main_topic, author_main[author], rng.integers(0, n_l1, n))
    l2 = l1 * vocab.N_L2_PER_L1 + rng.integers(0, vocab.N_L2_PER_L1, n)
    mood = rng.integers(0, len(vocab.MOODS), n)
    style = rng.integers(0, len(vocab.STYLES), n)
    motion = rng.integers(0, len(vocab.MOTIONS), n)
    location = rng.integers(0, len(vocab.LOCATION_NAMES), n)
    taste = rng.integers(0, vocab.N_TASTES, n)
    popularity = rng.lognormal(0.0, 1.0, n)
    quality = rng.normal(0.0, 1.0, n)
    has_image = rng.random(n) >= RATES.missing_image
    has_video = rng.random(n) >= RATES.missing_video
    has_audio = rng.random(n) >= RATES.missing_audio
    audio_seconds = np.round(np.minimum(2.0 + rng.exponential(1.5, n), 12.0) * 4) / 4

    # re-uploads: a random 10% of items (never among the first 5%) copy an earlier, popular original
    root = np.arange(n)
    cand = np.arange(max(1, n // 20), n)
    n_dup = round(RATES.dup_rate * n)
    dups = np.sort(rng.choice(cand, size=min(n_dup, len(cand)), replace=False))
    is_orig = np.ones(n, dtype=bool)
    is_orig[dups] = False
    orig_idx = np.flatnonzero(is_orig)
    cum = np.cumsum(popularity[orig_idx] ** 1.5)
    n_before = np.searchsorted(orig_idx, dups)  # originals with a smaller index
    r = rng.random(len(dups)) * cum[np.maximum(n_before - 1, 0)]
    root[dups] = orig_idx[np.minimum(np.searchsorted(cum, r, side="right"), np.maximum(n_before - 1, 0))]
    for arr in (l1, l2, mood, style, motion, location, taste, has_image, has_video, has_audio):
        arr[dups] = arr[root[dups]]
    audio_seconds[dups] = np.clip(audio_seconds[root[dups]] - rng.uniform(0, 0.5, len(dups)), 2.0, 12.0)
    audio_seconds = np.round(audio_seconds * 4) / 4
    popularity[dups] = popularity[root[dups]] * rng.uniform(0.3, 1.0, len(dups))
    author[dups] = np.where(
        rng.random(len(dups)) < 0.5, author[root[dups]], rng.integers(0, n_authors, len(dups))
    )

    # taste partly follows the cover's visual style (an audience gathers around a look): content carries a
    # learnable hint of the collaborative class that no content task rewards. Own stream: the other latents,
    # media and text do not depend on the rate.
    hint = np.asarray(vocab.STYLE_TASTE)[style]
    follows = (np.random.default_rng([seed, STREAM_TASTE]).random(n) < RATES.taste_follows_style) & (
        hint >= 0
    )
    taste = np.where(follows, hint, taste)
    taste[dups] = taste[root[dups]]

    u = rng.random(n)
    split = np.where(u < RATES.split_train, 0, np.where(u < RATES.split_train + RATES.split_test, 1, 2))
    # every item keeps at least one modality: an item with no media always has a title
    no_media = ~(has_image | has_video | has_audio)
    upload_day = np.where(
        split == 2, rng.uniform(FUTURE_FROM_DAY, 29.9, n), rng.uniform(-60, FUTURE_FROM_DAY - 1, n)
    )
    upload_ts = (EPOCH + np.floor(upload_day * DAY)).astype(np.int64)

    nicks = _nicknames(author_main, rng)
    text = _texts(seed, l1, l2, location, author, nicks, root, no_media)
    has_title = np.array([t is not None for t in text["title"]], dtype=bool)
    entities = draw_entities(seed, root, has_title)
    decorate_text(text, entities)
    return Items(
        l1=l1,
        l2=l2,
        mood=mood,
        style=style,
        motion=motion,
        location=location,
        taste=taste,
        author=author,
        popularity=popularity,
        quality=quality,
        split=split,
        root=root,
        has_image=has_image,
        has_video=has_video,
        has_audio=has_audio,
        audio_seconds=audio_seconds,
        upload_ts=upload_ts,
        author_nick=nicks,
        text=text,
        entities=entities,
    )


def make_title(l1: int, l2: int, u: np.ndarray) -> str:
    """A title about (l1, l2) from eight uniforms ``u``; clickbait is decided by the caller."""
    words = vocab.L2_WORDS[l2]
    w = _pick(words, u[0])
    w2 = _pick([x for x in words if x != w], u[1])
    adj = _pick(vocab.ADJECTIVES, u[3])
    return _pick(vocab.TITLE_TEMPLATES, u[2]).format(
        adj=adj,
        a_adj="the best" if adj == "best" else ("an " if adj[0] in "aeiouh" else "a ") + adj,
        w=w,
        w2=w2,
        suffix=_pick(vocab.TITLE_SUFFIXES, u[4]),
        n=1 + int(u[5] * 30),
        l1w=_pick(vocab.L1_WORDS[l1], u[6]),
    )


def _texts(
    seed: int,
    l1: np.ndarray,
    l2: np.ndarray,
    location: np.ndarray,
    author: np.ndarray,
    nicks: list[str],
    root: np.ndarray,
    no_media: np.ndarray,
) -> dict[str, list[str | None]]:
    rng = np.random.default_rng([seed, STREAM_TEXT])
    n = len(l1)
    U = rng.random((n, 44))
    U_poor = rng.random(n)
    R = RATES
    out: dict[str, list[str | None]] = {k: [None] * n for k in ("title", "ocr", "asr", "nickname", "tags")}
    for i in range(n):
        u = U[i]
        a, b, loc = int(l1[i]), int(l2[i]), int(location[i])
        words, l1w = vocab.L2_WORDS[b], vocab.L1_WORDS[a]
        locw = _pick(vocab.LOCATION_WORDS[loc], u[30])
        out["nickname"][i] = None if u[31] < R.missing_nickname else nicks[author[i]]
        r = int(root[i])
        if r != i:  # re-upload: same OCR/ASR (same footage), lightly edited title and tags
            t = out["title"][r]
            if t is not None and u[32] < 0.3:
                t = t + _pick([" (reupload)", " #2", " full version", " hd"], u[33])
            elif u[32] > 0.8:
                t = make_title(a, b, u[:8])
            out["title"][i] = t
            out["ocr"][i], out["asr"][i] = out["ocr"][r], out["asr"][r]
            tags = out["tags"][r]
            if tags is not None and u[34] < 0.5:
                parts = tags.split(",")
                tags = ",".join(parts[1:] or parts)
            out["tags"][i] = tags
            continue
        if U_poor[i] < R.text_poor:  # a generic or bait title, nothing else
            if u[9] < 0.8 or no_media[i]:
                bait = vocab.CLICKBAIT_TITLES if u[10] < 0.4 else vocab.GENERIC_TITLES
                out["title"][i] = _pick(bait, u[11])
            continue
        if u[9] >= R.missing_title or no_media[i]:
            if u[10] < R.clickbait:
                if u[11] < 0.5:
                    out["title"][i] = _pick(vocab.CLICKBAIT_TITLES, u[12])
                else:  # a title about another topic
                    other = (b + 1 + int(u[13] * (len(vocab.L2_NAMES) - 1))) % len(vocab.L2_NAMES)
                    out["title"][i] = make_title(vocab.L2_PARENT[other], other, u[:8])
            else:
                out["title"][i] = make_title(a, b, u[:8])
        if u[14] >= R.missing_ocr:
            parts = [
                _pick(vocab.OCR_TEMPLATES, u[15]).format(
                    w=_pick(words, u[16]),
                    n=1 + int(u[17] * 5),
                    l1w=_pick(l1w, u[18]),
                    suffix=_pick(vocab.TITLE_SUFFIXES, u[19]),
                )
            ]
            if u[20] < R.location_in_ocr:
                parts.append(_pick(vocab.OCR_LOCATION, u[21]).format(loc=locw))
            out["ocr"][i] = " | ".join(parts)
        if u[22] >= R.missing_asr:
            w = _pick(words, u[23])
            parts = [
                _pick(vocab.ASR_OPENERS, u[24]),
                _pick(vocab.ASR_BODIES, u[25]).format(w=w, adj=_pick(vocab.ADJECTIVES, u[26])),
            ]
            if u[27] < R.location_in_asr:
                parts.append(_pick(vocab.ASR_LOCATION, u[28]).format(loc=locw))
            parts.append(_pick(vocab.ASR_CLOSERS, u[29]))
            out["asr"][i] = " ".join(parts)
        if u[35] >= R.missing_tags:
            tags = [_pick(words, u[36])]
            if u[37] < 0.5:
                tags.append(_pick(l1w, u[38]))
            if u[39] < R.location_in_tags:
                tags.append(vocab.LOCATION_WORDS[loc][0])
            if u[40] < 0.4:
                tags.append(_pick(vocab.NOISE_TAGS, u[41]))
            out["tags"][i] = ",".join(tags)
    return out
