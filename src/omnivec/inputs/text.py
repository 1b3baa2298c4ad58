"""Text fields → one formatted string: cleaning, deduplication, labels, random field drop (SAIL §3.2.2).

The paper organises title, OCR, ASR, author nickname and tags into one text, in three steps: cleaning,
deduplication, then (training only) random dropping of fields so the model copes with fields missing
online. The output puts free ``text`` first, unlabeled, then the labeled fields in :data:`TEXT_FIELDS`
order, one per line::

    a query or caption
    title: Sunset over the bay
    ocr: SALE 50%
    tags: travel, beach

Cleaning, per line of a field: Unicode NFKC, control and invisible format characters removed (zero-width
joiners kept), whitespace runs collapsed to one space, stripped; empty lines are dropped and the lines
left are joined with a space. Deduplication removes a line that is exactly equal to a line already kept
earlier (in the same or an earlier field; first occurrence wins), and a repeated tag; a field left empty disappears.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping

import numpy as np

from omnivec.errors import MediaLimitError
from omnivec.inputs.item import TEXT_FIELDS, Item, parse_item

__all__ = ["clean_line", "clean_text", "drop_fields", "format_text", "prepare_fields", "render_fields"]

_WS_RE = re.compile(r"\s+")
_KEEP_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})  # ZWNJ / ZWJ carry meaning in several scripts


def clean_line(line: str) -> str:
    """NFKC, drop control/format/surrogate characters, collapse whitespace, strip."""
    line = unicodedata.normalize("NFKC", line)
    line = "".join(
        ch
        for ch in line
        if ch.isspace() or ch in _KEEP_FORMAT_CHARS or unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    )
    return _WS_RE.sub(" ", line).strip()


def clean_text(text: str) -> list[str]:
    """Split ``text`` into lines and clean each; empty lines are dropped."""
    return [c for c in (clean_line(line) for line in text.splitlines()) if c]


def _tag_list(tags: str | list[str] | tuple[str, ...]) -> list[str]:
    raw = [tags] if isinstance(tags, str) else list(tags)
    out: list[str] = []
    for tag in raw:
        cleaned = " ".join(clean_text(tag))
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return out


def check_text_lengths(item: Item, max_chars: int, index: int) -> None:
    """Raise :class:`MediaLimitError` naming the first raw text field longer than ``max_chars``."""
    for name in ("text", *TEXT_FIELDS):
        value = getattr(item, name)
        if value is None:
            continue
        size = (
            len(value) if isinstance(value, str) else sum(len(t) for t in value) + 2 * max(len(value) - 1, 0)
        )
        if size > max_chars:
            raise MediaLimitError(
                f"text has {size} characters, more than max_text_chars={max_chars}", index=index, field=name
            )


def prepare_fields(item: Item) -> dict[str, str]:
    """Clean and deduplicate the text fields of ``item``: ``{field: text}`` of the non-empty ones.

    Keys are ``"text"`` then :data:`TEXT_FIELDS`, in that order; fields that are missing or end up
    empty are absent.
    """
    seen: set[str] = set()
    out: dict[str, str] = {}
    for name in ("text", *TEXT_FIELDS):
        value = getattr(item, name)
        if value is None:
            continue
        lines = [", ".join(_tag_list(value))] if name == "tags" else clean_text(value)
        kept = []
        for line in lines:
            if line and line not in seen:
                seen.add(line)
                kept.append(line)
        if kept:
            out[name] = " ".join(kept)
    return out


def drop_fields(
    fields: dict[str, str], prob: float, rng: np.random.Generator, *, keep_one: bool
) -> dict[str, str]:
    """Drop each structured field (not free ``text``) with probability ``prob``.

    One uniform draw per present field, in :data:`TEXT_FIELDS` order, so a seeded ``rng`` gives the same
    result every time. With ``keep_one`` (the item has no media), if every field would go, one of the
    dropped fields, drawn at random, is kept.
    """
    if prob <= 0.0:
        return dict(fields)
    candidates = [name for name in TEXT_FIELDS if name in fields]
    dropped = {name for name in candidates if rng.random() < prob}
    if keep_one and dropped and not any(name not in dropped for name in fields):
        ordered = [name for name in candidates if name in dropped]
        dropped.discard(ordered[int(rng.integers(len(ordered)))])
    return {name: value for name, value in fields.items() if name not in dropped}


def render_fields(fields: dict[str, str]) -> str:
    """Join prepared fields: free text unlabeled first, then ``label: value`` lines in fixed order."""
    lines = [fields["text"]] if "text" in fields else []
    lines.extend(f"{name}: {fields[name]}" for name in TEXT_FIELDS if name in fields)
    return "\n".join(lines)


def format_text(item: Item | Mapping[str, object] | str, *, fields: Collection[str] | None = None) -> str:
    """The formatted text of ``item`` (cleaning + dedup + labels, no field drop); ``""`` if none.

    ``item`` may also be a dict or a str (validated with :func:`parse_item`). ``fields`` optionally
    restricts which fields are rendered (after deduplication over all of them).
    """
    if not isinstance(item, Item):
        item = parse_item(item, None)
    prepared = prepare_fields(item)
    if fields is not None:
        prepared = {name: value for name, value in prepared.items() if name in fields}
    return render_fields(prepared)
