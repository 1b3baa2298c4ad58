from __future__ import annotations

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from omnivec.training.distributed import (
    average_gradients,
    gather,
    gather_with_grad,
    get_rank,
    get_world_size,
    local_offset,
)
from omnivec.training.losses import NCEMRLLoss

WORLD = 2
B, K, D_IN, D = 8, 3, 10, 12


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "xq": torch.randn(B, D_IN, generator=g),
        "xt": torch.randn(B, D_IN, generator=g),
        "xh": torch.randn(B, K, D_IN, generator=g),
        "mask": torch.rand(B, K, generator=g) > 0.3,
        # duplicates across ranks: rows 0/4 and 3/7 share a group; some HNs duplicate positives
        "tg": torch.tensor([0, 1, 2, 3, 0, 5, 6, 3]),
        "qg": torch.tensor([10, 11, 2, 13, 14, 15, 16, 17]),  # query 2 is target 2's item (i2i)
        "hg": torch.tensor([[0, 20, 21], [22, 5, 23], [24, 25, 26], [3, 27, 28]] * 2),
    }


def _setup(share: bool) -> tuple[torch.nn.Linear, NCEMRLLoss, NCEMRLLoss]:
    torch.manual_seed(1)
    encoder = torch.nn.Linear(D_IN, D)
    kw = {"dims": [4, 12], "temperatures": {"s": 0.1, "unused": 0.1}, "share_hard_negatives": share}
    return encoder, NCEMRLLoss(**kw, gather_across_processes=True), NCEMRLLoss(**kw)


def _run(enc: torch.nn.Linear, loss: NCEMRLLoss, d: dict[str, torch.Tensor], rows: slice) -> torch.Tensor:
    out = loss(
        enc(d["xq"][rows]),
        enc(d["xt"][rows]),
        source="s",
        hard_negatives=enc(d["xh"][rows]),
        hard_negative_mask=d["mask"][rows],
        query_groups=d["qg"][rows],
        target_groups=d["tg"][rows],
        hard_negative_groups=d["hg"][rows],
    )
    return out["loss"]


def _worker(rank: int, port: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        assert get_rank() == rank and get_world_size() == WORLD
        _check_gather_uneven(rank)
        d = _data()
        b = B // WORLD
        for share in (False, True):
            enc, loss_dist, loss_ref = _setup(share)
            # Reference: one process, whole batch (no gather even though a group is initialised).
            ref = _run(enc, loss_ref, d, slice(None))
            ref.backward()
            ref_grads = [p.grad.clone() for p in (*enc.parameters(), loss_ref.log_temperature["s"])]
            enc.zero_grad()
            # Distributed: each rank its half, candidates gathered from both.
            local = _run(enc, loss_dist, d, slice(rank * b, (rank + 1) * b))
            local.backward()
            # What DDP does for the model, and average_gradients for the loss's own parameters.
            params = [*enc.parameters(), loss_dist.log_temperature["s"], loss_dist.log_temperature["unused"]]
            average_gradients(params)
            assert loss_dist.log_temperature["unused"].grad is None  # no grad anywhere stays None
            grads = [p.grad for p in params[:-1]]
            mean_loss = local.detach().clone()
            dist.all_reduce(mean_loss)
            mean_loss /= WORLD
            torch.testing.assert_close(mean_loss, ref.detach(), rtol=1e-5, atol=1e-6)
            for g, r in zip(grads, ref_grads, strict=True):
                torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)
    finally:
        dist.destroy_process_group()


def _check_gather_uneven(rank: int) -> None:
    """Ranks with 3 and 5 rows: values in rank order, offsets, and a summed gradient."""
    n = 3 if rank == 0 else 5
    x = (torch.arange(n * 2, dtype=torch.float32).reshape(n, 2) + 100 * rank).requires_grad_()
    y = gather_with_grad(x)
    expected = torch.cat([torch.arange(6.0).reshape(3, 2), torch.arange(10.0).reshape(5, 2) + 100])
    torch.testing.assert_close(y.detach(), expected)
    assert local_offset(n) == (0 if rank == 0 else 3)
    torch.testing.assert_close(gather(torch.tensor([rank] * n)), torch.tensor([0, 0, 0, 1, 1, 1, 1, 1]))
    # average_gradients: a grad present on one rank only counts as zero on the others.
    p = torch.nn.Parameter(torch.zeros(2))
    p.grad = torch.full((2,), 4.0) if rank == 0 else None
    average_gradients([p])
    torch.testing.assert_close(p.grad, torch.full((2,), 2.0))
    coef = torch.arange(16.0).reshape(8, 2) * (rank + 1)  # rank-specific weights on every gathered row
    (y * coef).sum().backward()
    rows = slice(0, 3) if rank == 0 else slice(3, 8)
    torch.testing.assert_close(x.grad, (torch.arange(16.0).reshape(8, 2) * 3)[rows])  # (1 + 2) summed


def test_helpers_are_identity_without_process_group():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_with_grad(x) is x and gather(x) is x
    assert get_rank() == 0 and get_world_size() == 1 and local_offset(3) == 0


def test_gathered_loss_and_grads_equal_single_process():
    mp.spawn(_worker, args=(_free_port(),), nprocs=WORLD, join=True)
