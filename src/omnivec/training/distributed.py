"""Small helpers for data-parallel training: rank, world size and differentiable all-gather.

Everything degrades to the single-process case when ``torch.distributed`` is not initialised, so the
losses call these helpers unconditionally.

Gradient scaling (why cross-rank losses stay correct under DDP)
----------------------------------------------------------------
With ``W`` ranks of ``b`` rows each, rank ``r`` computes ``L_r`` = the *mean* over its own ``b`` queries,
scored against the candidates gathered from every rank. The backward of :func:`gather_with_grad` sums
the incoming gradients over ranks (all-reduce, then each rank keeps its slice), so the embeddings of rank
``r`` receive ``∂(Σ_r' L_r')/∂x_r = W · ∂L/∂x_r`` where ``L`` is the mean loss of one process over the
whole global batch of ``W·b`` rows. DDP then *averages* parameter gradients over ranks, dividing by ``W``
again, so every parameter ends with exactly ``∂L/∂θ``: the same gradient as one process on the global
batch. Parameters used only locally (e.g. the learnable temperature) get ``∂L_r/∂θ`` per rank and their
DDP average is again ``∂L/∂θ`` — **provided they are averaged**: parameters that live in a loss module
(temperatures, the late-fusion gate) are not inside the DDP-wrapped model, so call
:func:`average_gradients` on them once per optimizer step (e.g. from a ``TrainerCallback``'s
``on_pre_optimizer_step``), or the ranks' copies drift apart. With unequal per-rank batch sizes (the last batch of an epoch) the mean
of per-rank means is not the global mean; the difference is one batch per epoch and is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "average_gradients",
    "gather",
    "gather_with_grad",
    "get_rank",
    "get_world_size",
    "is_distributed",
    "local_offset",
]


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialised (and has more than zero members)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """Rank of this process, or 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes, or 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def _gather_sizes(n: int, device: torch.device) -> list[int]:
    local = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(local) for _ in range(get_world_size())]
    dist.all_gather(sizes, local)
    return [int(s.item()) for s in sizes]


def _gather_padded(x: Tensor, sizes: list[int]) -> Tensor:
    """All-gather ``x`` along dim 0 where ranks may hold different numbers of rows."""
    x = x.contiguous()
    longest = max(sizes)
    if x.shape[0] < longest:
        pad = x.new_zeros((longest - x.shape[0], *x.shape[1:]))
        x = torch.cat([x, pad], dim=0)
    parts = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(parts, x)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)], dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums the gradient over ranks and returns this rank's slice.

    This is the semantics of ``torch.distributed.nn.functional.all_gather`` (reduce-scatter of the
    gradient), written with ``all_reduce`` so it works on every backend (gloo has no reduce-scatter)
    and with ranks holding different numbers of rows.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        sizes = _gather_sizes(x.shape[0], x.device)
        rank = get_rank()
        ctx.start = sum(sizes[:rank])
        ctx.stop = ctx.start + sizes[rank]
        return _gather_padded(x, sizes)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.start : ctx.stop]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0 (rank order), keeping the autograd graph.

    The result has ``Σ_r n_r`` rows; this rank's rows start at :func:`local_offset`. Gradients that
    reach any copy of this rank's rows, on any rank, flow back to ``x`` (summed): see the module
    docstring for how this combines with DDP averaging. Identity when not distributed. Every rank
    must call it the same number of times (it is a collective).
    """
    if not is_distributed() or get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


def gather(x: Tensor) -> Tensor:
    """Like :func:`gather_with_grad` but without a gradient path (for ids, masks, groups).

    The local rows are the original tensor, so a gradient still reaches this rank's own ``x``.
    """
    if not is_distributed() or get_world_size() == 1:
        return x
    sizes = _gather_sizes(x.shape[0], x.device)
    out = _gather_padded(x.detach(), sizes)
    rank = get_rank()
    start = sum(sizes[:rank])
    if x.requires_grad:
        out = torch.cat([out[:start], x, out[start + sizes[rank] :]], dim=0)
    return out


def local_offset(n_local: int, device: torch.device | None = None) -> int:
    """Index of this rank's first row in a gathered tensor whose ranks hold ``n_local`` rows each.

    Ranks may hold different counts, so this is itself a (cheap) collective; call it on every rank.
    """
    if not is_distributed() or get_world_size() == 1:
        return 0
    sizes = _gather_sizes(n_local, device or torch.device("cpu"))
    return sum(sizes[: get_rank()])


def average_gradients(parameters: Iterable[Tensor]) -> None:
    """Average ``.grad`` over ranks in place, as DDP does for the wrapped model's parameters.

    For parameters outside the DDP module (loss temperatures, late-fusion gate). A parameter that has
    a gradient on some ranks only is treated as zero elsewhere; one without a gradient on every rank
    keeps ``grad = None`` (so optimizers skip it). Two collectives in all, whatever the number of
    parameters; every rank must call it with the same parameters in the same order. No-op when not
    distributed.
    """
    params = list(parameters)
    if not params or not is_distributed() or get_world_size() == 1:
        return
    device = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.int32, device=device)
    dist.all_reduce(has, op=dist.ReduceOp.SUM)
    active = [p for p, n in zip(params, has.tolist(), strict=True) if n > 0]
    if not active:
        return
    flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in active])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= get_world_size()
    start = 0
    for p in active:
        n = p.numel()
        p.grad = flat[start : start + n].view_as(p).to(p.dtype).clone()
        start += n
