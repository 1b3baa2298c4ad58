from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from omnivec.errors import ConfigError
from omnivec.recsys.alignment import (
    SEQUENCE_ENCODERS,
    CentredMeanSequenceEncoder,
    IDAlignmentHead,
    IDProjection,
    MeanSequenceEncoder,
    SequenceEncoderConfig,
    TransformerSequenceEncoder,
    build_sequence_encoder,
    id_alignment_loss,
)


def test_mean_encoder_equals_manual_mean() -> None:
    torch.manual_seed(0)
    h = torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    out = build_sequence_encoder({"kind": "mean", "dim": 8})(h, mask)
    for b in range(3):
        manual = h[b, mask[b]].mean(0)
        assert torch.allclose(out[b], manual / manual.norm(), atol=1e-6)
    # all-padding row: zero vector, no NaN
    z = MeanSequenceEncoder()(h[:1], torch.zeros(1, 5, dtype=torch.bool))
    assert torch.all(z == 0)


def test_centred_encoder_subtracts_its_centre_and_saves_it() -> None:
    torch.manual_seed(0)
    h = torch.randn(3, 5, 8)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.bool)
    enc = build_sequence_encoder({"kind": "centred", "dim": 8})
    assert isinstance(enc, CentredMeanSequenceEncoder)
    with pytest.raises(ConfigError, match="set_centre"):
        enc(h, mask)  # no centre yet: refuse rather than silently act as the plain mean
    c = np.linspace(-1, 1, 8).astype(np.float32)
    enc.set_centre(c)
    out = enc(h, mask)
    for b in range(2):
        manual = h[b, mask[b]].mean(0) - torch.from_numpy(c)
        assert torch.allclose(out[b], manual / manual.norm(), atol=1e-6)
    assert torch.all(out[2] == 0)  # an all-padding row stays zero (not −c)
    # a zero centre is the plain mean; the centre is a buffer (saved with the state, never trained)
    enc.set_centre(np.zeros(8))
    assert torch.allclose(enc(h, mask)[:2], MeanSequenceEncoder()(h, mask)[:2], atol=1e-6)
    assert "centre" in enc.state_dict() and not list(enc.parameters())


def test_transformer_encoder_ignores_padding() -> None:
    torch.manual_seed(0)
    enc = build_sequence_encoder({"kind": "transformer", "dim": 16, "heads": 4})
    assert isinstance(enc, TransformerSequenceEncoder) and len(enc.encoder.layers) == 3  # paper default
    enc.eval()
    real = torch.randn(2, 4, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0]], dtype=torch.bool)
    a = torch.cat([real, torch.randn(2, 2, 16)], dim=1)
    b = torch.cat([real, 100 * torch.randn(2, 2, 16)], dim=1)
    b[0, 3] = 55.0  # the first row's padding starts at 3
    with torch.no_grad():
        out_a, out_b = enc(a, mask), enc(b, mask)
        short = enc(real[:1, :3], torch.ones(1, 3, dtype=torch.bool))
    assert out_a.shape == (2, 16)
    assert torch.allclose(out_a, out_b, atol=1e-5)
    assert torch.allclose(out_a[0], short[0], atol=1e-5)
    assert torch.allclose(out_a.norm(dim=-1), torch.ones(2), atol=1e-5)
    # gradients reach the summary token
    enc.train()
    loss = (enc(a, mask) * torch.randn(16)).sum()
    loss.backward()
    assert enc.summary.grad is not None and enc.summary.grad.abs().sum() > 0


def test_registry_and_config_errors() -> None:
    assert set(SEQUENCE_ENCODERS) >= {"mean", "centred", "transformer"}
    with pytest.raises(ConfigError, match="unknown"):
        build_sequence_encoder({"kind": "lstm"})
    with pytest.raises(ConfigError, match="divisible"):
        TransformerSequenceEncoder(SequenceEncoderConfig(kind="transformer", dim=10, heads=4))
    with pytest.raises(ConfigError):
        build_sequence_encoder({"kind": "mean", "layerz": 2})


def _linear_pair(n: int = 256, d_in: int = 16, d_id: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(n, d_in, generator=g), dim=-1)
    w = torch.randn(d_in, d_id, generator=g)
    return x, x @ w + 0.1


@pytest.fixture
def one_thread():
    """Tiny models train faster on one thread (and do not fight a busy machine's other jobs)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _train(kind: str, steps: int = 400) -> tuple[float, float]:
    torch.manual_seed(0)
    x, y = _linear_pair()
    proj = IDProjection(16, 8)
    opt = torch.optim.Adam(proj.parameters(), lr=0.05)
    first = float(id_alignment_loss(x, y, proj, kind=kind, temperature=0.1).detach())
    for _ in range(steps):
        loss = id_alignment_loss(x, y, proj, kind=kind, temperature=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return first, float(id_alignment_loss(x, y, proj, kind=kind, temperature=0.1).detach())


def test_projection_alignment_converges_on_linear_spaces(one_thread: None) -> None:
    first, last = _train("cosine_mse")
    assert first > 0.5 and last < 1e-3
    first_c, last_c = _train("contrastive")
    assert last_c < 0.5 * first_c


def test_alignment_mask_and_head() -> None:
    x, y = _linear_pair(8)
    proj = IDProjection(16, 8)
    mask = torch.tensor([1, 1, 1, 0, 0, 0, 0, 0], dtype=torch.bool)
    y_bad = y.clone()
    y_bad[~mask] = 1e3  # masked rows (cold items) never count
    assert torch.allclose(
        id_alignment_loss(x, y, proj, mask=mask), id_alignment_loss(x, y_bad, proj, mask=mask)
    )
    none = id_alignment_loss(x, y, proj, mask=torch.zeros(8, dtype=torch.bool))
    assert float(none.detach()) == 0.0 and none.requires_grad
    with pytest.raises(ConfigError, match="does not match"):
        id_alignment_loss(x, y[:, :4], proj)
    head = IDAlignmentHead(16, {"gid": 8, "aid": 4}, weights={"aid": 0.5})
    ids = {"gid": y, "aid": y[:, :4]}
    total = head(x, ids)
    parts = id_alignment_loss(x, y, head.projections["gid"]) + 0.5 * id_alignment_loss(
        x, y[:, :4], head.projections["aid"]
    )
    assert torch.allclose(total, parts)


def test_ridge_map_recovers_an_affine_map_and_init_ridge_uses_shared_items() -> None:
    from omnivec.recsys.alignment import ridge_map

    rng = np.random.default_rng(0)
    x = rng.normal(size=(260, 6))
    a, c = rng.normal(size=(6, 3)), rng.normal(size=3)
    w, b = ridge_map(x, x @ a + c, alpha=1e-6)
    np.testing.assert_allclose(w, a, atol=1e-4)
    np.testing.assert_allclose(b, c, atol=1e-4)
    w_strong, _ = ridge_map(x, x @ a + c, alpha=1e4)
    assert np.abs(w_strong).sum() < 0.2 * np.abs(a).sum()  # alpha shrinks the map
    head = IDAlignmentHead(6, {"gid": 3})
    omni = {f"i{k}": x[k].astype(np.float32) for k in range(200)}
    table = {f"i{k}": (x[k] @ a + c).astype(np.float32) for k in range(100, 260)}  # items 100-199 shared
    used = head.init_ridge(omni, {"gid": table}, alpha=1e-6)
    assert used == {"gid": 100}
    got = head.projections["gid"](torch.from_numpy(x[:5].astype(np.float32))).detach().numpy()
    np.testing.assert_allclose(got, x[:5] @ a + c, atol=1e-3)
    with pytest.raises(ConfigError, match="at least 8 items"):
        head.init_ridge({"i100": omni["i100"]}, {"gid": table})
