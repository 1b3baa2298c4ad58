"""Named entities in item text, and the entity-heavy search queries that look for them.

Real catalogues are full of names a dense embedding has never seen: a creator's handle, the title of a song
or a film, a product code. The world gives some originals (and their re-uploads) one of each kind:

- a **work title**: a made-up proper name ("Velmora Tides") appended to the item's title;
- a **product code** ("kx-4821") added to the item's tags;
- the author's **nickname** is already there (``items._nicknames``).

Three q2i tasks then search for them by name: ``nickname-q2i`` (an author's handle → that author's items),
``title-q2i`` (a work title or a fragment of it → the original and its re-uploads) and ``code-q2i`` (a code →
the items that carry it). They are held-out evaluation tasks only (no training source contains entity
queries), so they measure what a model, or a lexical index beside it, does with names it never trained on.

Everything here draws from its own random stream, so adding entities leaves every other latent, text field,
log and task of a world unchanged apart from the decorated title and tag strings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

STREAM_ENTITIES = 8

#: syllables of made-up proper names; two or three make a word, two words make a title
_ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "st", "tr", "qu"]
_VOWELS = ["a", "e", "i", "o", "u", "ae", "ou"]
_CODAS = ["", "", "n", "r", "s", "th", "x", "l"]
_CODE_LETTERS = "bcdfghjkmnpqrstvwxz"


@dataclass(frozen=True)
class EntityRates:
    """Fractions of originals that carry each entity (re-uploads copy their original's)."""

    work_title: float = 0.30
    product_code: float = 0.20


@dataclass
class Entities:
    """Per item: its work title and product code (``None`` when it has none)."""

    work_title: list[str | None]
    product_code: list[str | None]


def _word(rng: np.random.Generator) -> str:
    n = int(rng.integers(2, 4))
    parts = [
        _ONSETS[rng.integers(len(_ONSETS))]
        + _VOWELS[rng.integers(len(_VOWELS))]
        + _CODAS[rng.integers(len(_CODAS))]
        for _ in range(n)
    ]
    return "".join(parts).capitalize()


def _code(rng: np.random.Generator) -> str:
    letters = "".join(_CODE_LETTERS[i] for i in rng.integers(len(_CODE_LETTERS), size=2))
    return f"{letters}-{int(rng.integers(1000, 10000))}"


def draw_entities(
    seed: int, root: np.ndarray, has_title: np.ndarray, rates: EntityRates = EntityRates()
) -> Entities:
    """Unique work titles and product codes for a seeded subset of originals, copied to their re-uploads.

    A work title needs a title to live in, so only items with one get it.
    """
    rng = np.random.default_rng([seed, STREAM_ENTITIES])
    n = len(root)
    originals = np.flatnonzero(root == np.arange(n))
    u = rng.random((len(originals), 2))
    titles: dict[int, str] = {}
    codes: dict[int, str] = {}
    used: set[str] = set()
    for r, (ut, uc) in zip(originals.tolist(), u, strict=True):
        if ut < rates.work_title and has_title[r]:
            name = f"{_word(rng)} {_word(rng)}"
            while name.lower() in used:
                name = f"{_word(rng)} {_word(rng)}"
            used.add(name.lower())
            titles[r] = name
        if uc < rates.product_code:
            code = _code(rng)
            while code in used:
                code = _code(rng)
            used.add(code)
            codes[r] = code
    work = [titles.get(int(root[i])) if has_title[i] else None for i in range(n)]
    product = [codes.get(int(root[i])) for i in range(n)]
    return Entities(work_title=work, product_code=product)


def decorate_text(text: dict[str, list[str | None]], entities: Entities) -> None:
    """Write the entities into the items' text fields, in place: ``"<title> | <Work Title>"`` and the code
    appended to the comma-separated tags."""
    for i, (work, code) in enumerate(zip(entities.work_title, entities.product_code, strict=True)):
        if work is not None and text["title"][i] is not None:
            text["title"][i] = f"{text['title'][i]} | {work}"
        if code is not None:
            tags = text["tags"][i]
            text["tags"][i] = code if tags is None else f"{tags},{code}"


def members_by(keys: list[str | None], eligible: np.ndarray) -> dict[str, list[int]]:
    """``key -> [item index, ...]`` over the eligible items that have a key."""
    out: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        if key is not None and eligible[i]:
            out[key].append(i)
    return out


def _pick(options: list[str], u: float) -> str:
    return options[min(int(u * len(options)), len(options) - 1)]


def nickname_query(nick: str, u: np.ndarray) -> str:
    """How people type a creator's handle: bare, or with a word around it."""
    return _pick([nick, f"{nick} videos", f"latest from {nick}", nick.lower()], u[0])


def title_query(work: str, u: np.ndarray) -> str:
    """The whole work title, or one of its words with a hint (an exact fragment, as users remember it)."""
    words = work.split()
    if u[0] < 0.5:
        return work.lower() if u[1] < 0.5 else work
    return f"{_pick(words, u[1]).lower()} {'song' if u[2] < 0.5 else 'video'}"


def code_query(code: str, u: np.ndarray) -> str:
    """A product code as typed: as tagged, upper case, or without its dash."""
    return _pick([code, code.upper(), code.replace("-", " ")], u[0])
