"""Shared by the search tests: a small catalogue with text, indexed with vectors and BM25."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Items with text for the indexes hybrid-search tests run against (one code, one handle, plain titles).
TEXT_ROWS = [
    {"item_id": "code", "title": "X7-200 fast charger", "tags": ["power"], "image": "covers/beach.png"},
    {"item_id": "cable", "title": "x700 charging cable"},
    {"item_id": "phone", "title": "x7 phone", "ocr": "200 apps"},
    {"item_id": "pasta", "title": "fresh pasta recipe", "nickname": "chef anna"},
    {"item_id": "beach", "title": "sunset over the beach"},
    {"item_id": "guitar", "title": "guitar lesson for beginners"},
]


def build_text_index(model: Any, folder: Path) -> Any:
    """An opened index (vectors of the titles, plus its BM25 part) over :data:`TEXT_ROWS` in ``folder``."""
    from omnivec.index import build_index, open_index

    vectors = model.encode([{"title": r["title"]} for r in TEXT_ROWS], task="q2i", side="target")
    build_index(
        vectors,
        [r["item_id"] for r in TEXT_ROWS],
        folder,
        dim=16,
        items=TEXT_ROWS,
        task="q2i",
        recall_queries=3,
    )
    return open_index(folder)
