"""format_text: cleaning, deduplication, labels, order; random field drop."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.errors import MediaLimitError
from omnivec.inputs import Item, ItemProcessor, MediaLimits, format_text


def test_labels_and_fixed_order_with_free_text_first() -> None:
    item = Item(
        tags=["beach", "travel"], nickname="ann", asr="we walk", ocr="SALE", title="Sunset", text="a query"
    )
    assert format_text(item) == (
        "a query\ntitle: Sunset\nocr: SALE\nasr: we walk\nnickname: ann\ntags: beach, travel"
    )


def test_cleaning_nfkc_controls_whitespace() -> None:
    item = Item(title="  Ｈｅｌｌｏ\u00a0\u00a0wor\u200bld\x07 \t!  ", ocr="line one\n\n  line   two \r\n")
    assert format_text(item) == "title: Hello world !\nocr: line one line two"


def test_duplicates_removed_across_fields_first_wins() -> None:
    item = Item(title="Big Sale", ocr="Big Sale\n50% off\nBig  Sale", asr="50% off", tags=["x", "x", " y "])
    assert format_text(item) == "title: Big Sale\nocr: 50% off\ntags: x, y"


def test_dedup_is_exact_not_case_folded() -> None:
    assert format_text(Item(title="Cat", ocr="cat")) == "title: Cat\nocr: cat"


def test_format_text_accepts_dicts_and_strings() -> None:
    assert format_text({"nickname": "bo", "title": "x"}) == "title: x\nnickname: bo"
    assert format_text("  plain\ttext ") == "plain text"
    assert format_text(Item(title="a", ocr="b"), fields={"ocr"}) == "ocr: b"


def test_empty_fields_vanish_and_no_text_gives_empty_string() -> None:
    assert format_text(Item(title="  ", ocr="\x00\x01", tags=[])) == ""
    assert format_text(Item(tags="solo")) == "tags: solo"


def _texts(proc: ItemProcessor, seed: int, n: int = 30) -> list[str]:
    rng = np.random.default_rng(seed)
    item = {
        "title": "t",
        "ocr": "o",
        "asr": "a",
        "nickname": "n",
        "tags": ["g"],
        "image": np.zeros((4, 4, 3), np.uint8),
    }
    return [proc.decode(item, i, rng=rng).text for i in range(n)]


def test_field_drop_is_seeded_and_random() -> None:
    proc = ItemProcessor(image_size=8, num_frames=2, sampling_rate=16_000, field_drop_prob=0.5)
    first, again, other = _texts(proc, 1), _texts(proc, 1), _texts(proc, 2)
    assert first == again
    assert first != other
    assert len(set(first)) > 5  # different subsets of fields
    assert "" in first  # an item with an image may lose every text field
    for text in first:  # order and labels survive dropping
        labels = [line.split(":")[0] for line in text.splitlines()]
        assert labels == sorted(labels, key=["title", "ocr", "asr", "nickname", "tags"].index)


def test_field_drop_rate_follows_probability() -> None:
    proc = ItemProcessor(image_size=8, num_frames=2, sampling_rate=16_000, field_drop_prob=0.3)
    texts = _texts(proc, 0, n=400)
    kept = sum(text.count("\n") + 1 for text in texts if text) / (5 * len(texts))
    assert 0.62 < kept < 0.78


def test_field_drop_needs_rng_and_never_empties_text_only_item() -> None:
    proc = ItemProcessor(image_size=8, num_frames=2, sampling_rate=16_000, field_drop_prob=1.0)
    item = {"title": "t", "ocr": "o", "text": "q"}
    assert proc.decode(item, 0).text == "q\ntitle: t\nocr: o"  # no rng: no drop
    assert proc.decode(item, 0, rng=np.random.default_rng(0)).text == "q"  # free text is never dropped
    rng = np.random.default_rng(0)
    kept = {proc.decode({"title": "t", "ocr": "o"}, i, rng=rng).text for i in range(40)}
    assert kept == {"title: t", "ocr: o"}  # exactly one field survives, chosen at random


def test_text_over_limit_is_an_error_naming_the_field() -> None:
    proc = ItemProcessor(
        image_size=8, num_frames=2, sampling_rate=16_000, limits=MediaLimits(max_text_chars=10)
    )
    assert proc.decode({"title": "x" * 10}, 0).text == "title: " + "x" * 10
    with pytest.raises(MediaLimitError) as info:
        proc.decode({"title": "ok", "asr": "y" * 11}, 3)
    assert (info.value.index, info.value.field) == (3, "asr")
    assert "max_text_chars=10" in str(info.value)
    with pytest.raises(MediaLimitError, match="field 'tags'"):
        proc.decode({"tags": ["abcde", "abcde"]}, 0)  # 5 + ", " + 5 = 12
