from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from omnivec.errors import ConfigError
from omnivec.training.losses import (
    CoSENTLoss,
    LateFusionLoss,
    MICLLoss,
    NCEMRLLoss,
    SAILInputs,
    SAILLoss,
    combine_losses,
)
from omnivec.training.losses.functional import info_nce


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _manual_nce(q: torch.Tensor, cands: list[list[torch.Tensor]], tau: float) -> float:
    """-mean_i log softmax over cands[i] (first candidate = positive), by hand with floats."""
    total = 0.0
    for qi, row in zip(q, cands, strict=True):
        qn = qi / qi.norm()
        sims = [float(qn @ (c / c.norm())) / tau for c in row]
        total += -(sims[0] - math.log(sum(math.exp(s) for s in sims)))
    return total / len(cands)


# ---------------------------------------------------------------- NCE-MRL


def test_nce_matches_hand_computed_3x3():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.1], [0.2, 1.0], [-1.0, 1.0]])
    loss = NCEMRLLoss([2], {"s": 0.1})(q, t, source="s")
    cands = [[t[i]] + [t[j] for j in range(3) if j != i] for i in range(3)]
    assert loss["loss"].item() == pytest.approx(_manual_nce(q, cands, 0.1), rel=1e-5)
    assert loss["negatives_per_query"].item() == 2.0
    assert loss["temperature"].item() == pytest.approx(0.1)


def test_sampling_bias_correction_subtracts_log_q_from_in_batch_logits():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.1], [0.2, 1.0], [-1.0, 1.0]])
    nce = NCEMRLLoss([2], {"s": 0.1})
    plain = nce(q, t, source="s")["loss"].item()
    # one constant for every candidate shifts each row's softmax by nothing
    assert nce(q, t, source="s", target_log_q=torch.full((3,), -2.0))["loss"].item() == pytest.approx(plain)
    log_q = torch.tensor([-0.5, -3.0, -6.0])  # target 0 is popular, target 2 rare
    got = nce(q, t, source="s", target_log_q=log_q)["loss"].item()
    tau, total = 0.1, 0.0
    for i in range(3):  # by hand: logit_ij / tau - log q_j, softmax over j, positive j = i
        qn = q[i] / q[i].norm()
        z = [float(qn @ (t[j] / t[j].norm())) / tau - float(log_q[j]) for j in range(3)]
        total += -(z[i] - math.log(sum(math.exp(v) for v in z)))
    assert got == pytest.approx(total / 3, rel=1e-5)
    assert got != pytest.approx(plain)


def _popularity_gap(correct: bool, seed: int) -> float:
    """Train item vectors with in-batch NCE where every user picks items by popularity alone (item 0 six times as
    often as each other); return how much more the users score item 0 than the rest, in cosine."""
    g = torch.Generator().manual_seed(seed)
    n_items, dim, batch = 6, 8, 4
    users = F.normalize(torch.randn(32, dim, generator=g) + torch.randn(dim, generator=g), dim=-1)
    items = torch.nn.Parameter(torch.randn(n_items, dim, generator=g) * 0.1)
    pop = torch.tensor([6.0] + [1.0] * (n_items - 1))
    draws = [torch.multinomial(pop, batch, replacement=False, generator=g) for _ in range(300)]
    share = torch.bincount(torch.cat(draws), minlength=n_items).float()
    log_q = (share / share.sum()).log()  # each item's share of the targets, as the collator computes it
    nce, opt = NCEMRLLoss([dim], {"s": 0.1}), torch.optim.Adam([items], lr=0.05)
    for it in draws:
        us = torch.randint(0, len(users), (batch,), generator=g)
        loss = nce(users[us], items[it], source="s", target_log_q=log_q[it] if correct else None)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    scores = users @ F.normalize(items.detach(), dim=-1).T
    return float(scores[:, 0].mean() - scores[:, 1:].mean())


@pytest.mark.parametrize("seed", [0, 1])
def test_sampling_correction_lets_the_embedding_learn_popularity(seed):
    """Plain in-batch NCE draws the popular item as a negative as often as it is a positive, so it learns the
    popularity away (PMI); with log q subtracted the users come to prefer it, as their choices do."""
    plain, corrected = _popularity_gap(False, seed), _popularity_gap(True, seed)
    assert corrected > plain + 0.03  # seeds 0-5 give 0.037-0.054; the same run without log q: -0.04 to +0.01


def test_mrl_is_sum_of_renormalised_slices():
    q, t = _rand(6, 12, seed=1), _rand(6, 12, seed=2)
    full = NCEMRLLoss([4, 8, 12], {"s": 0.07})(q, t, source="s")
    singles = [NCEMRLLoss([d], {"s": 0.07})(q[:, :d], t[:, :d], source="s")["loss"] for d in (4, 8, 12)]
    torch.testing.assert_close(full["loss"], sum(singles))
    for d, single in zip((4, 8, 12), singles, strict=True):
        torch.testing.assert_close(full[f"loss_dim_{d}"], single)
    # Each slice is re-normalised: rescaling the tail of the vectors leaves the 4-d term unchanged.
    q2 = q.clone()
    q2[:, 4:] *= 10
    again = NCEMRLLoss([4, 8, 12], {"s": 0.07})(q2, t, source="s")
    torch.testing.assert_close(again["loss_dim_4"], full["loss_dim_4"])
    assert not torch.allclose(again["loss_dim_12"], full["loss_dim_12"])


def test_temperatures_are_per_source_learnable_and_exist_upfront():
    loss = NCEMRLLoss([4], {"a": 0.02, "b": None}, default_temperature=0.07)
    assert set(dict(loss.named_parameters())) == {"log_temperature.a", "log_temperature.b"}
    assert loss.temperature("a").item() == pytest.approx(0.02)
    assert loss.temperature("b").item() == pytest.approx(0.07)
    q, t = _rand(5, 4, seed=3), _rand(5, 4, seed=4)
    loss(q, t, source="a")["loss"].backward()
    assert loss.log_temperature["a"].grad is not None and loss.log_temperature["a"].grad.abs() > 0
    assert loss.log_temperature["b"].grad is None
    with pytest.raises(ConfigError, match="'c'"):
        loss(q, t, source="c")


def test_temperature_settings_validated_and_clamped():
    frozen = NCEMRLLoss([4], {"a": 0.05}, learnable_temperature=False)
    assert not frozen.log_temperature["a"].requires_grad
    clamp = NCEMRLLoss([4], {"a": 0.05}, min_temperature=0.01)
    with torch.no_grad():
        clamp.log_temperature["a"].fill_(math.log(0.001))
    assert clamp.temperature("a").item() == pytest.approx(0.01)
    with pytest.raises(ConfigError, match=r"temperatures\.a"):
        NCEMRLLoss([4], {"a": 0.001}, min_temperature=0.005)
    with pytest.raises(ConfigError, match="temperatures"):
        NCEMRLLoss([4], {"train": 0.05})  # would shadow nn.Module.train
    with pytest.raises(ConfigError, match="dims"):
        NCEMRLLoss([8, 4], {"a": 0.05})
    with pytest.raises(ConfigError, match="dims"):
        NCEMRLLoss([4, 16], {"a": 0.05})(_rand(2, 8), _rand(2, 8), source="a")


def test_aligned_embeddings_give_near_zero_loss_at_low_temperature():
    x = torch.eye(6) * 3
    out = NCEMRLLoss([6], {"s": 0.01})(x, x.clone(), source="s")
    assert out["loss"].item() < 1e-6


def test_group_masking_removes_false_negatives():
    q, t = _rand(3, 4, seed=5), _rand(3, 4, seed=6)
    groups = torch.tensor([7, 7, 1])  # targets 0 and 1 are duplicates
    out = NCEMRLLoss([4], {"s": 0.1})(q, t, source="s", target_groups=groups)
    cands = [[t[0], t[2]], [t[1], t[2]], [t[2], t[0], t[1]]]
    assert out["loss"].item() == pytest.approx(_manual_nce(q, cands, 0.1), rel=1e-5)
    assert out["negatives_per_query"].item() == pytest.approx(4 / 3)
    # Negative group ids mean "no group": nothing is masked.
    plain = NCEMRLLoss([4], {"s": 0.1})(q, t, source="s")
    none = NCEMRLLoss([4], {"s": 0.1})(q, t, source="s", target_groups=torch.tensor([-1, -1, -1]))
    torch.testing.assert_close(plain["loss"], none["loss"])


def test_query_groups_mask_the_query_item_among_targets():
    q, t = _rand(3, 4, seed=7), _rand(3, 4, seed=8)
    # i2i: query 0 is item 5, which is also target 2 -> target 2 is not a negative of query 0.
    out = NCEMRLLoss([4], {"s": 0.1})(
        q, t, source="s", query_groups=torch.tensor([5, 6, 7]), target_groups=torch.tensor([1, 2, 5])
    )
    cands = [[t[0], t[1]], [t[1], t[0], t[2]], [t[2], t[0], t[1]]]
    assert out["loss"].item() == pytest.approx(_manual_nce(q, cands, 0.1), rel=1e-5)


def test_hard_negatives_mask_and_groups():
    q, t, hn = _rand(3, 4, seed=9), _rand(3, 4, seed=10), _rand(3, 2, 4, seed=11)
    loss = NCEMRLLoss([4], {"s": 0.1})
    mask = torch.tensor([[True, False], [True, True], [False, False]])
    hn_groups = torch.tensor([[9, 9], [1, 8], [8, 8]])  # query 1's first HN duplicates its positive
    out = loss(
        q,
        t,
        source="s",
        hard_negatives=hn,
        hard_negative_mask=mask,
        target_groups=torch.tensor([0, 1, 2]),
        hard_negative_groups=hn_groups,
    )
    others = [[t[j] for j in range(3) if j != i] for i in range(3)]
    cands = [[t[0], *others[0], hn[0, 0]], [t[1], *others[1], hn[1, 1]], [t[2], *others[2]]]
    assert out["loss"].item() == pytest.approx(_manual_nce(q, cands, 0.1), rel=1e-5)
    assert out["negatives_per_query"].item() == pytest.approx((3 + 3 + 2) / 3)
    # All hard negatives masked out == no hard negatives.
    off = loss(q, t, source="s", hard_negatives=hn, hard_negative_mask=torch.zeros(3, 2, dtype=torch.bool))
    torch.testing.assert_close(off["loss"], loss(q, t, source="s")["loss"])


def test_shared_hard_negatives_are_candidates_of_every_query():
    q, t, hn = _rand(3, 4, seed=12), _rand(3, 4, seed=13), _rand(3, 2, 4, seed=14)
    out = NCEMRLLoss([4], {"s": 0.1}, share_hard_negatives=True)(q, t, source="s", hard_negatives=hn)
    flat = list(hn.reshape(6, 4))
    cands = [[t[i]] + [t[j] for j in range(3) if j != i] + flat for i in range(3)]
    assert out["loss"].item() == pytest.approx(_manual_nce(q, cands, 0.1), rel=1e-5)
    assert out["negatives_per_query"].item() == 8.0


# ---------------------------------------------------------------- CoSENT


def _brute_cosent(q: torch.Tensor, t: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    c = F.cosine_similarity(q, t, dim=-1).tolist()
    acc = 1.0
    for i in range(len(c)):
        for j in range(len(c)):
            if y[i] > y[j]:
                acc += math.exp(scale * (c[j] - c[i]))
    return math.log(acc)


def test_cosent_matches_sentence_transformers_and_brute_force():
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss as STCoSENTLoss

    q, t = _rand(9, 8, seed=15), _rand(9, 8, seed=16)
    y = torch.tensor([0.1, 0.5, 0.5, 1.0, 0.0, 0.3, 0.5, 0.9, 0.1])  # with ties
    ours = CoSENTLoss(scale=20.0)(q, t, y)
    theirs = STCoSENTLoss(model=None, scale=20.0).compute_loss_from_embeddings([q, t], y)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    assert ours.item() == pytest.approx(_brute_cosent(q, t, y, 20.0), rel=1e-5)
    yb = y > 0.4
    torch.testing.assert_close(
        CoSENTLoss()(q, t, yb), STCoSENTLoss(model=None).compute_loss_from_embeddings([q, t], yb)
    )


def test_cosent_zero_without_ordered_pairs_and_lower_when_order_agrees():
    q, t = _rand(4, 8, seed=17), _rand(4, 8, seed=18)
    assert CoSENTLoss()(q, t, torch.full((4,), 0.7)).item() == 0.0
    base = _rand(4, 8, seed=19)
    noise = _rand(4, 8, seed=20)
    targets = torch.stack([base[i] + noise[i] * s for i, s in enumerate([0.0, 0.5, 1.0, 3.0])])
    agree = CoSENTLoss()(base, targets, torch.tensor([3.0, 2.0, 1.0, 0.0]))
    disagree = CoSENTLoss()(base, targets, torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert agree < disagree


# ---------------------------------------------------------------- mICL


def test_micl_is_sum_of_modality_nce_and_masks_rows_out():
    qv, tv, qt, tt = (_rand(5, 6, seed=s) for s in (21, 22, 23, 24))
    loss = MICLLoss(temperature=0.1)
    torch.testing.assert_close(loss(qv, tv, qt, tt), info_nce(qv, tv, 0.1) + info_nce(qt, tt, 0.1))
    vm = torch.tensor([True, False, True, True, False])
    torch.testing.assert_close(
        loss(qv, tv, qt, tt, vision_mask=vm), info_nce(qv[vm], tv[vm], 0.1) + info_nce(qt, tt, 0.1)
    )
    # < 2 valid rows: that term is exactly 0.
    one = torch.tensor([False, False, True, False, False])
    torch.testing.assert_close(loss(qv, tv, qt, tt, vision_mask=one), info_nce(qt, tt, 0.1))
    # Masked rows get no gradient (neither anchors nor candidates).
    qv_g = qv.clone().requires_grad_()
    loss(qv_g, tv, qt, tt, vision_mask=vm).backward()
    assert torch.all(qv_g.grad[~vm] == 0) and torch.all(qv_g.grad[vm].abs().sum(-1) > 0)


# ---------------------------------------------------------------- late fusion


def test_late_fusion_gate_limits_and_gradients():
    v, m = _rand(4, 6, seed=25), _rand(4, 6, seed=26)
    lf = LateFusionLoss(6, temperature=0.1)
    torch.testing.assert_close(lf.fuse(v, m), (v + m) / 2)  # zero init: g = 1/2
    with torch.no_grad():
        lf.gate.bias.fill_(50.0)
    torch.testing.assert_close(lf.fuse(v, m), v)
    with torch.no_grad():
        lf.gate.bias.fill_(-50.0)
    torch.testing.assert_close(lf.fuse(v, m), m)
    lf = LateFusionLoss(6, temperature=0.1)
    tv, tm = _rand(4, 6, seed=27), _rand(4, 6, seed=28)
    out = lf(v, m, tv, tm)
    torch.testing.assert_close(out, info_nce(lf.fuse(v, m), lf.fuse(tv, tm), 0.1))
    out.backward()
    assert lf.gate.weight.grad is not None and lf.gate.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- total


def test_combine_losses_weights_and_laziness():
    nce = torch.tensor(1.25, requires_grad=True)
    called = []

    def cosent() -> torch.Tensor:
        called.append("cosent")
        return torch.tensor(2.0)

    total, logged = combine_losses(
        {"nce_mrl": nce, "cosent": cosent, "micl": torch.tensor(3.0), "late_fusion": None},
        {"cosent": 0.0, "micl": None, "late_fusion": 0.5},
    )
    assert total is nce and called == []  # disabled terms add nothing and are never computed
    assert set(logged) == {"loss", "loss/nce_mrl"}
    total, logged = combine_losses(
        {"nce_mrl": nce, "cosent": cosent, "micl": torch.tensor(3.0)}, {"cosent": 0.5, "micl": 0.25}
    )
    assert total.item() == pytest.approx(1.25 + 0.5 * 2.0 + 0.25 * 3.0) and called == ["cosent"]
    assert logged["loss/cosent"].item() == 2.0
    with pytest.raises(ConfigError, match="micl"):
        combine_losses({"nce_mrl": nce, "micl": torch.tensor(1.0)}, {})
    with pytest.raises(ConfigError, match="coesnt"):
        combine_losses({"nce_mrl": nce}, {"coesnt": 1.0})


def _sail_inputs() -> SAILInputs:
    return SAILInputs(
        source="s",
        query=_rand(6, 8, seed=30).requires_grad_(),
        target=_rand(6, 8, seed=31),
        scores=torch.tensor([0.0, 1.0, 2.0, 0.5, 1.5, 2.5]),
        q_vision=_rand(6, 8, seed=32),
        t_vision=_rand(6, 8, seed=33),
        q_text=_rand(6, 8, seed=34),
        t_text=_rand(6, 8, seed=35),
    )


def test_sail_loss_disabled_terms_are_bitwise_absent_and_get_no_gradient():
    x = _sail_inputs()
    nce = NCEMRLLoss([4, 8], {"s": 0.05})
    lf = LateFusionLoss(8)
    loss = SAILLoss(nce, CoSENTLoss(), MICLLoss(), lf, weights={"cosent": 0, "micl": 0, "late_fusion": 0})
    out = loss(x)
    ref = nce(x.query, x.target, source="s")["loss"]
    assert torch.equal(out["loss"], ref)
    out["loss"].backward()
    assert lf.gate.weight.grad is None and lf.gate.bias.grad is None
    assert "nce_mrl/negatives_per_query" in out and "loss/cosent" not in out


def test_sail_loss_weighted_sum_and_applicability():
    x = _sail_inputs()
    nce, cos, micl, lf = NCEMRLLoss([8], {"s": 0.05}), CoSENTLoss(), MICLLoss(), LateFusionLoss(8)
    loss = SAILLoss(nce, cos, micl, lf, weights={"cosent": 0.5, "micl": 0.25, "late_fusion": 0.125})
    out = loss(x)
    expected = (
        nce(x.query, x.target, source="s")["loss"]
        + 0.5 * cos(x.query, x.target, x.scores)
        + 0.25 * micl(x.q_vision, x.t_vision, x.q_text, x.t_text)
        + 0.125 * lf(x.q_vision, x.query, x.t_vision, x.target)
    )
    torch.testing.assert_close(out["loss"], expected)
    out["loss"].backward()
    assert lf.gate.weight.grad is not None
    # A source without graded scores simply has no CoSENT term.
    x.scores = None
    assert "loss/cosent" not in loss(x)
    with pytest.raises(ConfigError, match="micl"):
        SAILLoss(nce, weights={"micl": 1.0})
