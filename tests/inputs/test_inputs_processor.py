"""ItemProcessor: configuration, modalities, empty items, skip-and-report batches."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from omnivec.errors import ConfigError, EmptyItemError, ItemError, MediaDecodeError, UnknownFieldError
from omnivec.inputs import DecodedItem, Item, ItemProcessor


def test_text_only_item(processor: ItemProcessor) -> None:
    out = processor.decode("just a query", 0)
    assert out == DecodedItem(text="just a query", frames=[], audio=None, modalities=frozenset({"text"}))


def test_all_modalities_and_id_passthrough(
    tmp_path: Path, media: SimpleNamespace, processor: ItemProcessor
) -> None:
    item = Item(
        id="sku-1",
        title="t",
        images=[Image.new("RGB", (5, 5)), np.zeros((3, 3), np.uint8)],
        video=media.video(tmp_path / "v.mp4", 3),
        audio={"array": np.zeros(160, np.float32), "sampling_rate": 16_000},
    )
    out = processor.decode(item, 0)
    assert out.modalities == frozenset({"text", "image", "video", "audio"})
    assert out.num_images == 2 and len(out.frames) == 5
    assert out.id == "sku-1"


@pytest.mark.parametrize("raw", [{}, {"title": "  \t "}, {"tags": []}, {"images": []}, Item(id=3), ""])
def test_empty_items(processor: ItemProcessor, raw: object) -> None:
    with pytest.raises(EmptyItemError, match=r"^item 4: item has no text, image, video or audio$"):
        processor.decode(raw, 4)


def test_unknown_key(processor: ItemProcessor) -> None:
    with pytest.raises(UnknownFieldError, match="field 'caption'"):
        processor.decode({"caption": "x"}, 0)


def test_decode_many_skips_and_reports(processor: ItemProcessor, media: SimpleNamespace) -> None:
    good_png = media.png(Image.new("RGB", (4, 4)))
    items = ["a", {"title": "b", "image": good_png}, {"title": "c", "image": b"broken"}, {"bogus": 1}, "e"]
    decoded, errors = processor.decode_many(items, start_index=10)
    assert [d is None for d in decoded] == [False, False, True, True, False]
    assert decoded[4] is not None and decoded[4].text == "e"
    assert [(type(e), e.index, e.field) for e in errors] == [
        (MediaDecodeError, 12, "image"),
        (UnknownFieldError, 13, "bogus"),
    ]
    assert str(errors[0]).startswith("item 12, field 'image': could not decode <6 bytes>")


def test_decode_many_field_drop_is_reproducible() -> None:
    proc = ItemProcessor(image_size=8, num_frames=1, sampling_rate=16_000, field_drop_prob=0.5)
    items = [
        {"title": f"t{i}", "ocr": f"o{i}", "asr": f"a{i}", "image": np.zeros((2, 2, 3), np.uint8)}
        for i in range(20)
    ]

    def texts(seed: int) -> list[str]:
        decoded, errors = proc.decode_many(items, rng=np.random.default_rng(seed))
        assert not errors
        return [d.text for d in decoded if d is not None]

    assert texts(3) == texts(3) != texts(4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 0},
        {"num_frames": -1},
        {"sampling_rate": 1.5},
        {"field_drop_prob": 1.5},
        {"media_root": "/nonexistent/omnivec-root"},
    ],
)
def test_bad_configuration(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"image_size": 8, "num_frames": 1, "sampling_rate": 16_000}
    with pytest.raises(ConfigError):
        ItemProcessor(**{**base, **kwargs})  # type: ignore[arg-type]


def test_processor_pickles_for_dataloader_workers(processor: ItemProcessor) -> None:
    clone = pickle.loads(pickle.dumps(processor))
    assert clone.decode("x", 0).text == "x"


def test_errors_are_item_errors(processor: ItemProcessor) -> None:
    with pytest.raises(ItemError):
        processor.decode({"audio": 5}, 0)
