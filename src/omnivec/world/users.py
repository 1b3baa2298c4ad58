"""Users of the built-in world and the logs they leave: feed impressions, clicks, likes, finishes, searches.

Each user has an interest distribution over L2 topics, a mood preference, a home region and a *taste*
class. A click depends on interest, taste match (strongly), mood, region and item quality, so the logs carry a
collaborative signal (taste) that content shows only in part: an item's taste follows its cover style
``RATES.taste_follows_style`` of the time (mono covers never), and no content field shows the rest. The clock runs 30 days: days
``[0, FUTURE_FROM_DAY)`` are written to ``logs/``; the rest is held out to build evaluation tasks. Cold
items (new uploads) appear only in the held-out period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from omnivec.world import vocab
from omnivec.world.items import Items
from omnivec.world.spec import DAY, EPOCH, FUTURE_FROM_DAY, N_DAYS, SizeSpec

STREAM_USERS = 3
STREAM_FEED = 4
STREAM_SEARCH = 5
FUTURE_TS = EPOCH + FUTURE_FROM_DAY * DAY


def user_id(index: int) -> str:
    return f"u{index:06d}"


@dataclass
class Users:
    interest: np.ndarray  # (n_users, n_l2) rows sum to 1
    mood_pref: np.ndarray  # (n_users, n_moods)
    taste: np.ndarray
    region: np.ndarray
    activity: np.ndarray
    signup_ts: np.ndarray

    @property
    def n(self) -> int:
        return len(self.taste)


@dataclass
class Feed:
    """Every impression (past and held-out), sorted by user then time."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    clicked: np.ndarray
    liked: np.ndarray
    finished: np.ndarray
    watch_ratio: np.ndarray

    @property
    def past(self) -> np.ndarray:
        return self.ts < FUTURE_TS


@dataclass
class Searches:
    """One row per (search event, clicked result), sorted by user then time."""

    event: np.ndarray
    user: np.ndarray
    ts: np.ndarray
    l2: np.ndarray
    location: np.ndarray  # -1 when the query names no location
    mood: np.ndarray  # -1 when the query names no mood
    query: list[str]
    item: np.ndarray
    position: np.ndarray

    @property
    def past(self) -> np.ndarray:
        return self.ts < FUTURE_TS


class GroupSampler:
    """Draw items of a given group (an int key per item) with probability proportional to a weight."""

    def __init__(self, keys: np.ndarray, weights: np.ndarray, n_keys: int, eligible: np.ndarray) -> None:
        idx = np.flatnonzero(eligible)
        order = idx[np.argsort(keys[idx], kind="stable")]
        self.items = order
        sk = keys[order]
        self.cw = np.cumsum(weights[order])
        self.start = np.searchsorted(sk, np.arange(n_keys), side="left")
        self.end = np.searchsorted(sk, np.arange(n_keys), side="right")
        cw0 = np.concatenate([[0.0], self.cw])
        self.lo, self.hi = cw0[self.start], cw0[self.end]

    def nonempty(self, key: np.ndarray) -> np.ndarray:
        return self.end[key] > self.start[key]

    def sample(self, key: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        r = self.lo[key] + rng.random(len(key)) * (self.hi[key] - self.lo[key])
        pos = np.searchsorted(self.cw, r, side="right")
        pos = np.clip(pos, self.start[key], np.maximum(self.end[key] - 1, self.start[key]))
        return self.items[np.minimum(pos, len(self.items) - 1)]


def generate_users(spec: SizeSpec, seed: int) -> Users:
    rng = np.random.default_rng([seed, STREAM_USERS])
    n = spec.n_users
    n_l1, per = len(vocab.L1_NAMES), vocab.N_L2_PER_L1
    l1_int = rng.dirichlet(np.full(n_l1, 0.35), n)
    l2_int = rng.dirichlet(np.full(per, 0.6), (n, n_l1))
    interest = (l1_int[:, :, None] * l2_int).reshape(n, n_l1 * per)
    interest = 0.97 * interest + 0.03 / interest.shape[1]
    mood_pref = rng.dirichlet(np.full(len(vocab.MOODS), 0.7), n)
    taste = rng.integers(0, vocab.N_TASTES, n)
    region = rng.integers(0, len(vocab.LOCATION_NAMES), n)
    activity = rng.lognormal(0.0, 0.5, n)
    activity /= activity.mean()
    signup = (EPOCH - rng.uniform(30, 900, n) * DAY).astype(np.int64)
    return Users(interest, mood_pref, taste, region, activity, signup)


def _user_topics(users: Users, user: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One L2 topic per row, drawn from that row's user's interests."""
    k = users.interest.shape[1]
    flat = (np.cumsum(users.interest, axis=1) / users.interest.sum(1, keepdims=True)).ravel()
    flat = flat + np.repeat(np.arange(users.n, dtype=np.float64), k)
    r = user + rng.random(len(user)) * 0.999999
    return np.minimum(np.searchsorted(flat, r, side="right") - user * k, k - 1)


def _sorted_times(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    user = np.repeat(np.arange(len(counts)), counts)
    ts = EPOCH + np.floor(rng.random(len(user)) * N_DAYS * DAY).astype(np.int64)
    order = np.lexsort((ts, user))
    return user[order], ts[order]


def simulate_feed(items: Items, users: Users, spec: SizeSpec, seed: int) -> Feed:
    rng = np.random.default_rng([seed, STREAM_FEED])
    counts = np.maximum(5, rng.poisson(spec.impressions_per_user * users.activity))
    user, ts = _sorted_times(counts, rng)
    future = ts >= FUTURE_TS
    n_l2 = len(vocab.L2_NAMES)
    pop = items.popularity
    cold = items.split == 2
    item = np.empty(len(user), dtype=np.int64)
    topic = _user_topics(users, user, rng)
    by_topic = rng.random(len(user)) < 0.6
    for fut in (False, True):
        eligible = np.ones(items.n, dtype=bool) if fut else ~cold
        w = pop * np.where(cold, 3.0, 1.0) if fut else pop
        topical = GroupSampler(items.l2, w, n_l2, eligible)
        popular = GroupSampler(np.zeros(items.n, dtype=np.int64), w, 1, eligible)
        rows = np.flatnonzero(future == fut)
        t_rows = rows[by_topic[rows] & topical.nonempty(topic[rows])]
        p_rows = np.setdiff1d(rows, t_rows)
        item[t_rows] = topical.sample(topic[t_rows], rng)
        item[p_rows] = popular.sample(np.zeros(len(p_rows), dtype=np.int64), rng)
    taste_match = users.taste[user] == items.taste[item]
    aff = np.log(users.interest[user, items.l2[item]] * n_l2 + 0.05)
    mood = np.log(users.mood_pref[user, items.mood[item]] * len(vocab.MOODS) + 0.1)
    region = users.region[user] == items.location[item]
    logit = -1.0 + 0.5 * aff + np.where(taste_match, 1.6, -0.9) + 0.4 * items.quality[item] + 0.4 * mood
    logit += 0.3 * region
    clicked = rng.random(len(user)) < 1 / (1 + np.exp(-logit))
    like_logit = -1.8 + 1.6 * taste_match + 0.5 * items.quality[item] + 0.5 * mood
    liked = clicked & (rng.random(len(user)) < 1 / (1 + np.exp(-like_logit)))
    fin_logit = 0.2 + 0.8 * mood + 0.6 * taste_match - 0.15 * items.audio_seconds[item]
    finished = clicked & (rng.random(len(user)) < 1 / (1 + np.exp(-fin_logit)))
    watch = np.where(finished, 1.0, np.where(clicked, rng.uniform(0.05, 0.95, len(user)), 0.0))
    return Feed(user, item, ts, clicked, liked, finished, np.round(watch, 3).astype(np.float32))


def _query_text(l2: int, loc: int, mood: int, u: np.ndarray) -> str:
    def pick(opts: list[str], x: float) -> str:
        return opts[min(int(x * len(opts)), len(opts) - 1)]

    w = pick(vocab.L2_WORDS[l2], u[0])
    l1w = pick(vocab.L1_WORDS[vocab.L2_PARENT[l2]], u[1])
    if mood >= 0:
        q = pick(vocab.QUERY_MOOD, u[2]).format(mood=pick(vocab.MOOD_WORDS[mood], u[3]), w=w)
    else:
        q = pick(vocab.QUERY_TEMPLATES, u[2]).format(w=w, l1w=l1w)
    if loc >= 0:
        q = pick(vocab.QUERY_LOCATION, u[4]).format(w=q, loc=pick(vocab.LOCATION_WORDS[loc], u[5]))
    return q


def simulate_searches(items: Items, users: Users, spec: SizeSpec, seed: int) -> Searches:
    rng = np.random.default_rng([seed, STREAM_SEARCH])
    counts = rng.poisson(spec.searches_per_user * users.activity)
    user, ts = _sorted_times(counts, rng)
    n = len(user)
    l2 = _user_topics(users, user, rng)
    n_loc, n_mood, n_l2 = len(vocab.LOCATION_NAMES), len(vocab.MOODS), len(vocab.L2_NAMES)
    loc = np.where(
        rng.random(n) < 0.3,
        np.where(rng.random(n) < 0.7, users.region[user], rng.integers(0, n_loc, n)),
        -1,
    )
    mood_draw = (np.cumsum(users.mood_pref[user], axis=1) < rng.random((n, 1))).sum(1)
    mood = np.where(rng.random(n) < 0.3, np.minimum(mood_draw, n_mood - 1), -1)
    u = rng.random((n, 6))
    query = [
        _query_text(int(a), int(b), int(c), u[i])
        for i, (a, b, c) in enumerate(zip(l2, loc, mood, strict=True))
    ]
    # results: finest non-empty group among (l2, loc, mood), (l2, loc), (l2, mood), (l2)
    future = ts >= FUTURE_TS
    n_clicks = np.where(rng.random(n) < 0.7, 1, 2)
    ev = np.repeat(np.arange(n), n_clicks)
    item = np.full(len(ev), -1, dtype=np.int64)
    eloc, emood, el2 = loc[ev], mood[ev], l2[ev]
    keysets = [
        (items.l2 * n_loc + items.location) * n_mood + items.mood,
        items.l2 * n_loc + items.location,
        items.l2 * n_mood + items.mood,
        items.l2,
    ]
    qkeys = [(el2 * n_loc + eloc) * n_mood + emood, el2 * n_loc + eloc, el2 * n_mood + emood, el2]
    applies = [
        (eloc >= 0) & (emood >= 0),
        (eloc >= 0) & (emood < 0),
        (eloc < 0) & (emood >= 0),
        np.ones(len(ev), bool),
    ]
    sizes = [n_l2 * n_loc * n_mood, n_l2 * n_loc, n_l2 * n_mood, n_l2]
    tw = np.exp(1.2 * (users.taste[user[ev]][:, None] == np.arange(vocab.N_TASTES)[None, :]))
    for fut in (False, True):
        eligible = np.ones(items.n, dtype=bool) if fut else items.split != 2
        for keys, qk, ok, size in zip(keysets, qkeys, applies, sizes, strict=True):
            sampler = GroupSampler(keys, items.popularity, size, eligible)
            rows = np.flatnonzero((item < 0) & (future[ev] == fut) & ok)
            rows = rows[sampler.nonempty(np.maximum(qk[rows], 0))]
            # taste-biased choice among 4 popularity-weighted candidates
            cands = np.stack([sampler.sample(qk[rows], rng) for _ in range(4)], axis=1)
            score = np.log(tw[rows[:, None], items.taste[cands]]) + rng.gumbel(size=cands.shape)
            item[rows] = cands[np.arange(len(rows)), np.argmax(score, axis=1)]
        # a row whose fine group is empty falls through to the (l2) group
    keep = item >= 0
    ev, item = ev[keep], item[keep]
    # drop a repeated click on the same item within one event
    _, first = np.unique(ev * (items.n + 1) + item, return_index=True)
    first = np.sort(first)
    ev, item = ev[first], item[first]
    position = np.minimum(rng.geometric(0.35, len(ev)) - 1, 9)
    return Searches(
        event=ev,
        user=user[ev],
        ts=ts[ev],
        l2=l2[ev],
        location=loc[ev],
        mood=mood[ev],
        query=[query[e] for e in ev],
        item=item,
        position=position,
    )
