"""Model-level behaviour: every modality subset, Matryoshka, save/load equivalence, errors, prompts."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import omnivec
from omnivec.errors import ConfigError, EmptyItemError, ItemError, MediaDecodeError, UnknownFieldError


def _media(rng):
    image = rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)
    video = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(4)]
    audio = {"array": (rng.standard_normal(8000 * 3) * 0.1).astype(np.float32), "sampling_rate": 8000}
    return {"text": {"title": "a cat on a skateboard", "tags": ["cats"]}, "image": {"image": image},
            "video": {"video": video}, "audio": {"audio": audio}}  # fmt: skip


def _subset_items(rng):
    parts = _media(rng)
    items = {}
    for r in range(1, 5):
        for combo in itertools.combinations(parts, r):
            item = {}
            for name in combo:
                item.update(parts[name])
            items["+".join(combo)] = item
    return items


@pytest.mark.parametrize("fixture", ["tiny_model", "qwen_tiny_model"])
def test_every_modality_subset_encodes(fixture, request):
    model = request.getfixturevalue(fixture)
    items = _subset_items(np.random.default_rng(0))
    assert len(items) == 15
    emb = model.encode(list(items.values()))
    assert emb.shape == (15, model.dimension)
    assert np.isfinite(emb).all()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # different modality mixes give different vectors
    assert len({tuple(np.round(e, 4)) for e in emb}) == 15


def test_matryoshka_slices_are_normalised_prefixes(tiny_model):
    items = list(_subset_items(np.random.default_rng(1)).values())[:6]
    full = tiny_model.encode(items)
    for d in tiny_model.matryoshka_dims:
        sliced = tiny_model.encode(items, dimensions=d)
        assert sliced.shape == (6, d)
        np.testing.assert_allclose(np.linalg.norm(sliced, axis=1), 1.0, atol=1e-5)
        prefix = full[:, :d] / np.linalg.norm(full[:, :d], axis=1, keepdims=True)
        np.testing.assert_allclose(sliced, prefix, atol=1e-5)
    with pytest.raises(ConfigError, match="dimensions"):
        tiny_model.encode(items, dimensions=tiny_model.dimension + 1)


def test_task_and_side_choose_the_prompt(tiny_model):
    item = {"title": "sunset over the sea"}
    q = tiny_model.encode(item, task="q2i", side="query")
    t = tiny_model.encode(item, task="q2i", side="target")
    i = tiny_model.encode(item, task="i2i", side="query")
    assert q.shape == (tiny_model.dimension,)
    assert not np.allclose(q, t) and not np.allclose(q, i)
    with pytest.raises(ConfigError, match="unknown task"):
        tiny_model.encode(item, task="nope")
    # sentence-transformers' query/document convention maps onto the default task
    np.testing.assert_allclose(tiny_model.encode_query([item])[0], i, atol=1e-6)


def test_save_load_roundtrip_ours_and_sentence_transformers(tiny_model, qwen_tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    items = list(_subset_items(np.random.default_rng(2)).values())
    for name, model in (("tiny", tiny_model), ("qwen", qwen_tiny_model)):
        path = tmp_path / name
        model.save(str(path))
        assert (path / "modules.json").is_file()
        assert not list(path.rglob("*.bin")), "weights must be safetensors only"
        expected = model.encode(items, task="q2i", side="target")
        ours = omnivec.load(
            path, device=str(model.device)
        )  # same device: this checks the format, not kernels
        np.testing.assert_allclose(ours.encode(items, task="q2i", side="target"), expected, atol=1e-6)
        st = SentenceTransformer(str(path), trust_remote_code=True, device=str(model.device))
        got = st.encode(items, task="q2i", side="target", normalize_embeddings=True)
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_load_refuses_foreign_module_types(tiny_model, tmp_path):
    import json

    path = tmp_path / "m"
    tiny_model.save(str(path))
    modules = json.loads((path / "modules.json").read_text())
    modules[0]["type"] = "evil_package.Payload"
    (path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(ConfigError, match="refusing to import"):
        omnivec.load(path)


def test_bad_inputs_name_the_item_and_field(tiny_model, tmp_path):
    good = {"title": "fine"}
    corrupt = tmp_path / "bad.png"
    corrupt.write_bytes(b"not a png at all")
    cases = [
        ({}, EmptyItemError, "item 1"),
        ({"colour": "red"}, UnknownFieldError, "colour"),
        ({"image": str(corrupt)}, MediaDecodeError, "'image'"),
        ({"audio": np.zeros(100, dtype=np.float32)}, ItemError, "'audio'"),
    ]
    for bad, err, text in cases:
        with pytest.raises(err) as info:
            tiny_model.encode([good, bad])
        assert "item 1" in str(info.value) and text in str(info.value)


def test_encode_items_skips_and_reports(tiny_model, tmp_path):
    corrupt = tmp_path / "bad.wav"
    corrupt.write_bytes(b"RIFF....garbage")
    items = [{"title": "a"}, {"audio": str(corrupt)}, {"title": "c"}]
    result = tiny_model.encode_items(items)
    assert result.indices == [0, 2]
    assert result.embeddings.shape == (2, tiny_model.dimension)
    assert len(result.errors) == 1 and result.errors[0].index == 1 and result.errors[0].field == "audio"
    np.testing.assert_allclose(result.embeddings[1], tiny_model.encode({"title": "c"}), atol=1e-6)


def test_views_restrict_modalities(tiny_model):
    rng = np.random.default_rng(3)
    parts = _media(rng)
    omni = {**parts["text"], **parts["image"], **parts["audio"]}
    np.testing.assert_allclose(
        tiny_model.encode(omni, view="text"), tiny_model.encode(parts["text"]), atol=1e-6
    )
    np.testing.assert_allclose(
        tiny_model.encode(omni, view="vision"), tiny_model.encode(parts["image"]), atol=1e-6
    )
    with pytest.raises(EmptyItemError):
        tiny_model.encode(parts["text"], view="audio")
