"""A trained sequence encoder saved beside a model, read back, and used as the evaluation's user vector."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from omnivec.errors import ConfigError
from omnivec.recsys.alignment import build_sequence_encoder
from omnivec.recsys.sequence_io import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    SequenceVectors,
    load_sequence_encoder,
    save_sequence_encoder,
)

TRANSFORMER = {"kind": "transformer", "dim": 8, "heads": 2, "layers": 1, "max_len": 12}


def _trained_like(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    enc = build_sequence_encoder(TRANSFORMER)
    with torch.no_grad():  # move every weight off its initial value, as training would
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return enc.eval()


def test_transformer_round_trips_through_safetensors(tmp_path) -> None:
    enc = _trained_like()
    assert save_sequence_encoder(enc, tmp_path)
    assert (tmp_path / CONFIG_FILE).is_file() and (tmp_path / WEIGHTS_FILE).is_file()
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes leave no temporary files"
    loaded = load_sequence_encoder(tmp_path)
    assert loaded is not None and not loaded.training
    h, mask = torch.randn(4, 6, 8), torch.ones(4, 6, dtype=torch.bool)
    mask[1, 3:] = False
    with torch.no_grad():
        torch.testing.assert_close(loaded(h, mask), enc(h, mask))


@pytest.mark.parametrize("kind", ["mean", "centred"])
def test_encoders_without_learned_parameters_write_nothing(tmp_path, kind) -> None:
    enc = build_sequence_encoder({"kind": kind, "dim": 8})
    assert not save_sequence_encoder(enc, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert (
        load_sequence_encoder(tmp_path) is None
    )  # a model folder without one: the user_vector choice applies


def test_missing_or_mismatched_weights_are_named(tmp_path) -> None:
    save_sequence_encoder(_trained_like(), tmp_path)
    (tmp_path / CONFIG_FILE).write_text(
        '{"kind": "transformer", "dim": 8, "heads": 2, "layers": 2, "max_len": 12}'
    )
    with pytest.raises(ConfigError, match=r"does not fit sequence_encoder\.json"):
        load_sequence_encoder(tmp_path)
    (tmp_path / WEIGHTS_FILE).unlink()
    with pytest.raises(ConfigError, match=re.escape(f"{WEIGHTS_FILE} is missing")):
        load_sequence_encoder(tmp_path)


def test_sequence_vectors_match_the_encoder_and_mask_failed_items() -> None:
    enc = _trained_like()
    rng = np.random.default_rng(0)
    items = [rng.standard_normal(8).astype(np.float32) for _ in range(5)]
    failed = np.zeros(8, dtype=np.float32)  # an item that did not embed comes back as a zero row
    vectors = SequenceVectors(enc, 8)
    out = vectors([items[:3], [items[3], failed, items[4]], [], [failed]])
    assert out.shape == (4, 8) and out.dtype == np.float32
    with torch.no_grad():
        first = enc(torch.from_numpy(np.stack(items[:3]))[None], torch.ones(1, 3, dtype=torch.bool))[0]
        x = torch.from_numpy(np.stack([items[3], failed, items[4]]))[None]
        masked = enc(x, torch.tensor([[True, False, True]]))[0]
        unmasked = enc(x, torch.ones(1, 3, dtype=torch.bool))[0]
    np.testing.assert_allclose(out[0], first.numpy(), atol=1e-5)
    np.testing.assert_allclose(out[1], masked.numpy(), atol=1e-5)  # the failed item is masked like padding
    assert not np.allclose(out[1], unmasked.numpy(), atol=1e-3)
    assert not out[2].any() and not out[3].any(), "no usable item: a zero row, as the mean user vector gives"
    np.testing.assert_allclose(np.linalg.norm(out[:2], axis=1), 1.0, atol=1e-5)


def test_sequence_vectors_refuse_another_width() -> None:
    with pytest.raises(ConfigError, match="8-d item embeddings, but they are 4-d"):
        SequenceVectors(_trained_like(), 4)
