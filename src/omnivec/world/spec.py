"""Sizes, rates and the attribute table of the built-in world.

The attribute table is the world's documentation of *where information lives*: each latent attribute is
carried by some modalities and missing from others, so no single modality recovers everything and the
fusion of text, image, video and audio does best. ``check_world`` measures it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from omnivec.world import vocab

WORLD_FORMAT = "omnivec-world/1"
# bump when the generator changes its output for a given (size, seed)
GENERATOR_VERSION = "1.2"  # 1.1: taste partly follows the cover style; 1.2: + the seq2item-future task

# 2025-01-01T00:00:00Z; the log clock starts here. Fixed so files never depend on "now".
EPOCH = 1_735_689_600
DAY = 86_400
N_DAYS = 30
FUTURE_FROM_DAY = 23  # days [0, 23) are logged (training); [23, 30) are held out for evaluation tasks


@dataclass(frozen=True)
class SizeSpec:
    """How big a world is."""

    name: str
    n_items: int
    n_users: int
    impressions_per_user: int
    searches_per_user: int
    media: Literal["files", "lazy"]
    max_task_queries: int


SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec("tiny", 200, 150, 90, 6, "files", 120),
    "small": SizeSpec("small", 3_000, 1_000, 150, 8, "files", 600),
    "medium": SizeSpec("medium", 30_000, 8_000, 150, 8, "files", 2_000),
    "large": SizeSpec("large", 1_000_000, 100_000, 100, 5, "lazy", 2_000),
}


@dataclass(frozen=True)
class Rates:
    """Rates of missing fields, noise and duplicates (fractions of items)."""

    split_train: float = 0.8
    split_test: float = 0.1  # the rest is cold
    dup_rate: float = 0.10  # items that are re-uploads of an earlier item
    clickbait: float = 0.08  # titles that are generic bait or name another topic
    text_poor: float = 0.20  # items whose only text is a generic / bait title and the nickname
    missing_title: float = 0.04
    missing_ocr: float = 0.40
    missing_asr: float = 0.45
    missing_nickname: float = 0.03
    missing_tags: float = 0.30
    missing_image: float = 0.04
    missing_video: float = 0.12
    missing_audio: float = 0.12
    generic_cover: float = 0.15  # covers with no topic glyph (a face, a logo)
    generic_video: float = 0.20  # videos with no topic glyph (talking head)
    author_main_topic: float = 0.8  # an author posts in their main L1 topic this often
    location_in_ocr: float = 0.55
    location_in_asr: float = 0.65
    location_in_tags: float = 0.30
    taste_follows_style: float = (
        0.6  # an item's taste is its style's taste this often (mono: never), else uniform
    )


RATES = Rates()


@dataclass(frozen=True)
class Attribute:
    """A latent attribute: its classes and the modalities (fields) that carry it."""

    name: str
    classes: list[str]
    carried_by: list[str]
    missing_from: list[str]
    note: str


ATTRIBUTES: list[Attribute] = [
    Attribute(
        "topic_l1",
        vocab.L1_NAMES,
        ["title", "ocr", "asr", "tags", "nickname", "image", "video"],
        ["audio"],
        "text names it (synonyms; clickbait titles lie); cover and video show a glyph per L1 "
        "(absent from generic covers/videos)",
    ),
    Attribute(
        "topic_l2",
        vocab.L2_NAMES,
        ["title", "ocr", "asr", "tags", "image", "video"],
        ["audio", "nickname"],
        "text names it; image and video add a corner marker whose corner is the L2 index within its L1",
    ),
    Attribute(
        "mood",
        vocab.MOODS,
        ["audio"],
        ["title", "ocr", "asr", "tags", "nickname", "image", "video"],
        "only the soundtrack carries it: tempo, register, timbre, scale, percussion",
    ),
    Attribute(
        "style",
        vocab.STYLES,
        ["image"],
        ["text", "video", "audio"],
        "colour palette of the cover only (the video footage has its own colours)",
    ),
    Attribute(
        "motion",
        vocab.MOTIONS,
        ["video"],
        ["text", "image", "audio"],
        "camera motion of the video frames",
    ),
    Attribute(
        "location",
        vocab.LOCATION_NAMES,
        ["ocr", "asr", "tags"],
        ["title", "nickname", "image", "video", "audio"],
        "named in OCR / ASR / tags at set rates, otherwise nowhere",
    ),
    Attribute(
        "taste",
        [f"taste{k}" for k in range(vocab.N_TASTES)],
        ["behaviour", "image"],
        ["text", "video", "audio"],
        "collaborative factor: users of a taste click items of that taste; 60 % of the time (not for mono covers) "
        "it is the cover style's taste (vocab.STYLE_TASTE), otherwise no content reveals it",
    ),
]

PROBE_ATTRIBUTES = ["topic_l1", "topic_l2", "mood", "style", "motion", "location"]


def attribute_table() -> list[dict]:
    """The attribute table as plain dicts (for world.json and docs)."""
    return [asdict(a) for a in ATTRIBUTES]


def size_spec(size: str) -> SizeSpec:
    from omnivec.errors import ConfigError

    if size not in SIZES:
        raise ConfigError(f"world size {size!r} is unknown; expected one of {sorted(SIZES)}")
    return SIZES[size]
