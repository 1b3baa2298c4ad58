"""Tower-level behaviour: perceiver token count, audio chunk rules, pooling, bidirectional fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from omnivec.model.audio import chunk_waveform, repeat_and_pad
from omnivec.model.config import PerceiverConfig
from omnivec.model.pooling import tanh_mean_pool
from omnivec.model.vision import VisualPerceiver


@pytest.mark.parametrize("frames_per_item", [[1], [3, 1], [5, 2, 7]])
@pytest.mark.parametrize("patches", [4, 16, 49])
def test_perceiver_output_count_is_fixed(frames_per_item, patches):
    torch.manual_seed(0)
    perceiver = VisualPerceiver(
        PerceiverConfig(num_latents=6, width=16, depth=1, heads=2), in_dim=12, out_dim=20
    )
    owner = torch.tensor([b for b, n in enumerate(frames_per_item) for _ in range(n)])
    index = torch.tensor([i for n in frames_per_item for i in range(n)])
    tokens, items = perceiver(torch.randn(len(owner), patches, 12), owner, index)
    assert tokens.shape == (len(frames_per_item), 6, 20)
    assert items.tolist() == list(range(len(frames_per_item)))


def test_perceiver_item_unaffected_by_other_items_frames():
    torch.manual_seed(0)
    perceiver = VisualPerceiver(PerceiverConfig(num_latents=4, width=16, depth=2, heads=2), 8, 8).eval()
    a = torch.randn(2, 9, 8)
    alone, _ = perceiver(a, torch.tensor([0, 0]), torch.tensor([0, 1]))
    batch, _ = perceiver(torch.cat([a, torch.randn(5, 9, 8)]), torch.tensor([0, 0, 1, 1, 1, 1, 1]),
                         torch.tensor([0, 1, 0, 1, 2, 3, 4]))  # fmt: skip
    torch.testing.assert_close(alone[0], batch[0], atol=1e-5, rtol=1e-5)


def test_vision_tokens_fixed_for_any_resolution_and_frame_count(tiny_model):
    n = tiny_model.omni_input.vision_tokens
    rng = np.random.default_rng(0)
    items = [
        {"image": rng.integers(0, 255, (17, 90, 3), dtype=np.uint8)},
        {"video": [rng.integers(0, 255, (64, 48, 3), dtype=np.uint8) for _ in range(7)]},
        {"images": [rng.integers(0, 255, (300, 200, 3), dtype=np.uint8)] * 3, "title": "x"},
    ]
    features = tiny_model.omni_input.preprocess(items)
    vision = tiny_model[1]
    out = vision(dict(features))
    assert out["vision_tokens"].shape == (3, n, tiny_model.fusion.width)
    assert int((features["slot_type"] == 2).sum()) == 3 * n


def test_repeat_and_pad_tiles_whole_copies_then_zero_pads():
    wave = np.array([1, 2, 3], dtype=np.float32)
    np.testing.assert_array_equal(repeat_and_pad(wave, 8), [1, 2, 3, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(repeat_and_pad(wave, 3), [1, 2, 3])
    np.testing.assert_array_equal(repeat_and_pad(wave, 4), [1, 2, 3, 0])


def test_chunk_rules_for_long_audio():
    window, tail = 10, 3
    short = np.arange(1, 5, dtype=np.float32)
    assert chunk_waveform(short, window, tail, 6).shape == (1, 10)
    exact = np.arange(20, dtype=np.float32)
    chunks = chunk_waveform(exact, window, tail, 6)
    np.testing.assert_array_equal(chunks, exact.reshape(2, 10))
    kept_tail = np.arange(24, dtype=np.float32)  # tail of 4 >= 3: repeat-and-padded and kept
    chunks = chunk_waveform(kept_tail, window, tail, 6)
    assert chunks.shape == (3, 10)
    np.testing.assert_array_equal(chunks[2], [20, 21, 22, 23, 20, 21, 22, 23, 0, 0])
    dropped_tail = np.arange(22, dtype=np.float32)  # tail of 2 < 3: dropped
    assert chunk_waveform(dropped_tail, window, tail, 6).shape == (2, 10)
    many = np.arange(100, dtype=np.float32)  # 10 windows, at most 4 kept, spread evenly
    chunks = chunk_waveform(many, window, tail, 4)
    assert chunks.shape == (4, 10)
    assert chunks[0, 0] == 0 and chunks[-1, 0] == 90


def test_audio_chunks_are_averaged_per_item(tiny_model):
    audio_tower = tiny_model[2]
    torch.manual_seed(0)
    a, b = torch.randn(1, 16000) * 0.1, torch.randn(1, 16000) * 0.1
    both = audio_tower({"audio_values": torch.cat([a, b]), "audio_owner": torch.tensor([0, 0])})
    feats = audio_tower.encoder(audio_tower.mel(torch.cat([a, b])))
    expected = audio_tower.adapter(feats.mean(0, keepdim=True))
    torch.testing.assert_close(both["audio_tokens"][:, 0], expected)
    assert both["audio_tokens"].shape == (1, 1, tiny_model.fusion.width)


def test_pooling_equals_manual_computation():
    torch.manual_seed(0)
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    pooled = tanh_mean_pool(hidden, mask)
    manual0 = torch.tanh(hidden[0, :3]).mean(0)
    manual1 = torch.tanh(hidden[1, 0])
    torch.testing.assert_close(pooled, torch.stack([manual0, manual1]))


def _fusion_hidden(model, features):
    feats = {k: v.clone() if torch.is_tensor(v) else v for k, v in features.items()}
    return model.fusion(feats)["token_embeddings"]


def test_decoder_fusion_is_bidirectional(qwen_tiny_model):
    inp = qwen_tiny_model.omni_input
    f1 = inp.preprocess([{"title": "alpha beta gamma delta"}])
    f2 = {k: v.clone() for k, v in f1.items()}
    last = int(f1["attention_mask"][0].sum()) - 1
    f2["input_ids"][0, last - 1] = (f2["input_ids"][0, last - 1] + 7) % 30000
    with torch.no_grad():
        h1, h2 = _fusion_hidden(qwen_tiny_model, f1), _fusion_hidden(qwen_tiny_model, f2)
    assert (h1[0, 0] - h2[0, 0]).abs().max() > 1e-4, "first token must see a later token"


def test_encoder_and_decoder_fusion_ignore_padding(tiny_model, qwen_tiny_model):
    for model in (tiny_model, qwen_tiny_model):
        inp = model.omni_input
        short = {"title": "short"}
        long = {"title": "a much longer title with many more words in it " * 3}
        alone = model.encode([short])
        padded = model.encode([short, long])
        np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)
        feats = inp.preprocess([short, long])
        assert feats["attention_mask"][0].sum() < feats["attention_mask"].shape[1]  # really padded


def test_plain_causal_backbone_would_fail_the_bidirectional_check(qwen_tiny_model):
    """Control for the test above: the same backbone with its default causal mask keeps token 0 unchanged."""
    inp = qwen_tiny_model.omni_input
    f1 = inp.preprocess([{"title": "alpha beta gamma delta"}])
    ids2 = f1["input_ids"].clone()
    last = int(f1["attention_mask"][0].sum()) - 1
    ids2[0, last - 1] = (ids2[0, last - 1] + 7) % 30000
    backbone = qwen_tiny_model.fusion.backbone
    flags = {m: m.is_causal for m in backbone.modules() if hasattr(m, "is_causal")}
    try:
        for m in flags:
            m.is_causal = True
        with torch.no_grad():
            h1 = backbone(input_ids=f1["input_ids"], attention_mask=f1["attention_mask"]).last_hidden_state
            h2 = backbone(input_ids=ids2, attention_mask=f1["attention_mask"]).last_hidden_state
    finally:
        for m, flag in flags.items():
            m.is_causal = flag
    torch.testing.assert_close(h1[0, 0], h2[0, 0])
