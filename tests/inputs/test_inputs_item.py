"""parse_item: accepted shapes, unknown keys, wrong types."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from omnivec.errors import ItemError, UnknownFieldError
from omnivec.inputs import TEXT_FIELDS, Item, parse_item


def test_text_fields_order_is_fixed() -> None:
    assert TEXT_FIELDS == ("title", "ocr", "asr", "nickname", "tags")


def test_str_becomes_text_item() -> None:
    assert parse_item("red shoes", 0) == Item(text="red shoes")


def test_dict_and_item_are_equivalent() -> None:
    raw = {"title": "t", "tags": ["a", "b"], "id": 7, "image": Image.new("RGB", (4, 4))}
    item = parse_item(raw, 0)
    assert isinstance(item, Item)
    assert (item.title, item.tags, item.id) == ("t", ["a", "b"], 7)
    same = Item(title="t", tags=["a", "b"], id=7)
    assert parse_item(same, 1) is same


def test_unknown_key_names_the_key() -> None:
    with pytest.raises(UnknownFieldError) as info:
        parse_item({"title": "x", "thumbnail": "a.jpg"}, 4)
    assert info.value.field == "thumbnail"
    assert info.value.index == 4
    assert str(info.value).startswith("item 4, field 'thumbnail': unknown key 'thumbnail'")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"title": 5}, "title"),
        ({"tags": ["a", 3]}, "tags"),
        ({"tags": {"a": 1}}, "tags"),
        ({"image": 3.5}, "image"),
        ({"images": "a.jpg"}, "images"),
        ({"images": ["a.jpg", 1]}, "images"),
        ({"video": 12}, "video"),
        ({"video": np.zeros((4, 4))}, "video"),
        ({"audio": [0.1, 0.2]}, "audio"),
        ({"audio": {"array": np.zeros(3), "rate": 8000}}, "audio"),
        ({"audio": {"sampling_rate": 8000}}, "audio"),
        ({"sampling_rate": -1}, "sampling_rate"),
        ({"sampling_rate": True}, "sampling_rate"),
        ({"id": 1.5}, "id"),
    ],
)
def test_wrong_types_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ItemError) as info:
        parse_item(raw, 2)
    assert info.value.field == field
    assert info.value.index == 2
    assert f"field '{field}'" in str(info.value)


def test_non_item_object_is_refused() -> None:
    with pytest.raises(ItemError, match="item 0: expected a dict"):
        parse_item(42, 0)


def test_item_instance_is_validated_too() -> None:
    with pytest.raises(ItemError) as info:
        parse_item(Item(nickname=["x"]), 1)  # type: ignore[arg-type]
    assert info.value.field == "nickname"
