"""Stochastic specialization: every global step trains on one source, drawn by weight.

SAIL-Embedding §3.3.3, Fig. 6c (``papers.md`` §4.2). Built on the sentence-transformers multi-dataset
batch-sampler extension point: the trainer turns a ``DatasetDict`` of sources into a ``ConcatDataset``
plus one batch sampler per source and hands them to ``args.multi_dataset_batch_sampler``; pass
:meth:`StochasticSpecializationBatchSampler.factory` there.

How "one source per global step on every rank" is obtained: accelerate shards a batch sampler by
handing its consecutive batches round-robin to the ranks (``BatchSamplerShard``, ``split_batches=False``),
and a global (optimizer) step consumes ``world_size × gradient_accumulation_steps`` consecutive batches.
So this sampler draws one source per *group* of that many batches, all from the drawn source. Every rank
builds the same sampler from the same seed and iterates it in full, so all ranks agree on the source of
every step without communicating.

Which source each step gets is a *schedule* (:data:`SOURCE_SCHEDULES`): ``iid`` draws every step's source
independently by weight (the paper's description); ``smooth`` deals the steps out so that every prefix of
the epoch holds each source's share to within about one step (stride scheduling from a seeded random
phase). The two agree in expectation; on a short stage they do not in practice: 15 i.i.d. steps at
weight 0.3 give a source 4.5 ± 1.8 steps, so two seeds of one recipe can train on quite different mixes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import accumulate

import numpy as np
import torch
from sentence_transformers.base.sampler import MultiDatasetDefaultBatchSampler
from torch.utils.data import BatchSampler, ConcatDataset

from omnivec.errors import ConfigError
from omnivec.training.distributed import get_world_size

__all__ = ["SOURCE_SCHEDULES", "StochasticSpecializationBatchSampler", "normalise_weights"]

# Child samplers that run out mid-epoch restart with a derived epoch so they reshuffle.
_CYCLE_STRIDE = 1_000_003


def normalise_weights(
    weights: Mapping[str, float] | Sequence[float], source_names: Sequence[str] | None, n_sources: int
) -> np.ndarray:
    """Probability vector in dataset order from a name→weight mapping or a sequence of weights."""
    if isinstance(weights, Mapping):
        if source_names is None:
            raise ConfigError(
                "source_names: required with a name→weight mapping, in the order of the training DatasetDict"
            )
        names = list(source_names)
        if len(names) != n_sources:
            raise ConfigError(f"source_names: {len(names)} names for {n_sources} datasets")
        unknown = sorted(set(weights) - set(names))
        missing = [n for n in names if n not in weights]
        if unknown or missing:
            raise ConfigError(f"weights: unknown sources {unknown}, sources without a weight {missing}")
        raw = np.array([float(weights[n]) for n in names], dtype=np.float64)
    else:
        raw = np.asarray(list(weights), dtype=np.float64)
        if raw.shape != (n_sources,):
            raise ConfigError(f"weights: {raw.size} weights for {n_sources} datasets")
    if not np.isfinite(raw).all() or (raw < 0).any() or raw.sum() <= 0:
        raise ConfigError(f"weights: must be finite, >= 0 and not all 0, got {raw.tolist()}")
    return raw / raw.sum()


def iid_sources(probabilities: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Each step's source drawn independently with ``probabilities``."""
    return rng.choice(len(probabilities), size=steps, p=probabilities)


def smooth_sources(probabilities: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Stride scheduling: source ``j`` is due at times ``(k − u_j) / p_j`` for ``k = 1, 2, …`` with a seeded
    phase ``u_j`` in [0, 1), and the steps go to the sources in the order they fall due. After the step due
    at time ``T`` a source has had ``⌊p_j·T + u_j⌋`` steps, so every prefix holds each of the ``n`` sources to
    its share within ``1 + n·p_j`` steps (in practice about one); seeds change the order, not the mix. Sources
    of probability 0 are never served."""
    phase = rng.random(len(probabilities))
    times, owners = [], []
    for j, p in enumerate(probabilities):
        if p > 0:
            due = (np.arange(1, int(np.ceil(p * steps)) + 2) - phase[j]) / p
            times.append(due)
            owners.append(np.full(len(due), j, dtype=np.int64))
    order = np.argsort(np.concatenate(times), kind="stable")
    return np.concatenate(owners)[order][:steps]


#: How the steps of an epoch are dealt to the sources: name → ``(probabilities, steps, rng) -> sources``.
SOURCE_SCHEDULES: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "iid": iid_sources,
    "smooth": smooth_sources,
}


class StochasticSpecializationBatchSampler(MultiDatasetDefaultBatchSampler):
    """Yields single-source batches; the source of each global step is drawn by ``weights`` (``schedule``).

    Within a source, batches come from that source's own batch sampler (the trainer's choice:
    shuffled, no-duplicates, ...), restarted with a fresh shuffle when it runs out; only full batches
    are used, so every rank gets ``batch_size`` rows of the same source, and all batches of one global
    step come from one pass of that sampler, so no row repeats within a step (a pass too short to
    finish the step is abandoned and its remaining rows return in the next pass).

    Determinism: the order depends only on ``(seed, epoch)`` (``set_epoch``, called by the trainer each
    epoch), not on earlier epochs or on how many batches were consumed, so a run resumed mid-epoch
    (the trainer skips the batches already seen) continues with exactly the batches it would have seen.

    Args:
        dataset: the ``ConcatDataset`` of the sources (in ``DatasetDict`` order).
        batch_samplers: one batch sampler per source (same per-device ``batch_size``).
        generator: the trainer's generator (shared with the child samplers); re-seeded to
            ``seed + epoch`` at each ``__iter__``, as the sentence-transformers samplers do.
        seed: base seed; the source draws use their own RNG seeded by ``(seed, epoch)``.
        weights: sampling probability per source (normalised), a sequence in dataset order or a
            name→weight mapping together with ``source_names``.
        source_names: names of the sources in dataset order.
        num_replicas: data-parallel world size (default: from ``torch.distributed``).
        gradient_accumulation_steps: micro-batches per optimizer step per rank.
        steps_per_epoch: global steps per epoch; default ``ceil(Σ len(batch_sampler_i) / group)`` —
            one pass worth of batches over all sources.
        schedule: a key of :data:`SOURCE_SCHEDULES`: ``iid`` (default) or ``smooth``.
    """

    def __init__(
        self,
        dataset: ConcatDataset,
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        weights: Mapping[str, float] | Sequence[float],
        source_names: Sequence[str] | None = None,
        num_replicas: int | None = None,
        gradient_accumulation_steps: int = 1,
        steps_per_epoch: int | None = None,
        schedule: str = "iid",
    ) -> None:
        super().__init__(dataset, batch_samplers, generator=generator, seed=seed)
        if schedule not in SOURCE_SCHEDULES:
            raise ConfigError(
                f"schedule: {schedule!r} is unknown; expected one of {sorted(SOURCE_SCHEDULES)}"
            )
        self.schedule = schedule
        sizes = {getattr(s, "batch_size", None) for s in batch_samplers}
        if len(sizes) != 1 or None in sizes:
            raise ConfigError(
                f"batch_size: every source's batch sampler needs the same batch_size, got {sizes}"
            )
        self.probabilities = normalise_weights(weights, source_names, len(batch_samplers))
        self.source_names = list(source_names) if source_names is not None else None
        self.num_replicas = num_replicas if num_replicas is not None else get_world_size()
        for name, value in (
            ("num_replicas", self.num_replicas),
            ("gradient_accumulation_steps", gradient_accumulation_steps),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{name}: must be a positive int, got {value!r}")
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.batches_per_step = self.num_replicas * gradient_accumulation_steps
        if steps_per_epoch is None:
            total = sum(len(s) for s in batch_samplers)
            steps_per_epoch = max(1, -(-total // self.batches_per_step))
        if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
            raise ConfigError(f"steps_per_epoch: must be a positive int, got {steps_per_epoch!r}")
        self.steps_per_epoch = steps_per_epoch
        self.seed = 0 if seed is None else seed
        self._offsets = [0, *accumulate(len(d) for d in dataset.datasets)]

    @classmethod
    def factory(
        cls,
        weights: Mapping[str, float] | Sequence[float],
        source_names: Sequence[str] | None = None,
        *,
        seed: int | None = None,
        num_replicas: int | None = None,
        gradient_accumulation_steps: int = 1,
        steps_per_epoch: int | None = None,
        schedule: str = "iid",
    ) -> Callable[..., StochasticSpecializationBatchSampler]:
        """A callable for ``SentenceTransformerTrainingArguments(multi_dataset_batch_sampler=...)``.

        The trainer calls it with ``(dataset, batch_samplers=..., generator=..., seed=...)``; ``seed``
        given here overrides the trainer's ``args.seed``. Pass ``gradient_accumulation_steps`` equal
        to the training arguments' value so a whole optimizer step sees one source.
        """

        fixed_seed = seed

        def build(
            dataset: ConcatDataset,
            batch_samplers: list[BatchSampler],
            generator: torch.Generator | None = None,
            seed: int | None = 0,
        ) -> StochasticSpecializationBatchSampler:
            return cls(
                dataset,
                batch_samplers,
                generator=generator,
                seed=fixed_seed if fixed_seed is not None else (seed or 0),
                weights=weights,
                source_names=source_names,
                num_replicas=num_replicas,
                gradient_accumulation_steps=gradient_accumulation_steps,
                steps_per_epoch=steps_per_epoch,
                schedule=schedule,
            )

        return build

    def step_sources(self) -> np.ndarray:
        """Source index (dataset order) of every global step of the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, 0x5A11])
        return SOURCE_SCHEDULES[self.schedule](self.probabilities, self.steps_per_epoch, rng)

    def _restart(self, source: int, cycle: int) -> Iterator[list[int]]:
        child = self.batch_samplers[source]
        if hasattr(child, "set_epoch"):
            child.set_epoch(self.epoch if cycle == 0 else self.epoch * _CYCLE_STRIDE + cycle)
        return iter(child)

    def _next_group(
        self, source: int, iters: list[Iterator[list[int]] | None], cycles: list[int]
    ) -> list[list[int]]:
        """``batches_per_step`` full batches of ``source`` from one pass of its batch sampler.

        A pass that runs out mid-group is abandoned (its leftover rows come back in the next, reshuffled
        pass), so no row appears twice within a global step.
        """
        fresh = False
        while True:
            if iters[source] is None:
                iters[source] = self._restart(source, cycles[source])
                cycles[source] += 1
                fresh = True
            group: list[list[int]] = []
            for batch in iters[source]:  # type: ignore[union-attr]
                if len(batch) == self.batch_size:
                    group.append(list(batch))
                    if len(group) == self.batches_per_step:
                        return group
            iters[source] = None
            if fresh:
                name = self.source_names[source] if self.source_names else f"#{source}"
                raise ConfigError(
                    f"source {name}: {len(self.dataset.datasets[source])} rows cannot fill one global step "
                    f"of {self.batches_per_step} full batch(es) of {self.batch_size}; lower the batch size "
                    "or drop the source"
                )

    def __iter__(self) -> Iterator[list[int]]:
        if self.generator is not None:
            self.generator.manual_seed(self.seed + self.epoch)
        n = len(self.batch_samplers)
        iters: list[Iterator[list[int]] | None] = [None] * n
        cycles = [0] * n
        for source in self.step_sources():
            offset = self._offsets[source]
            for batch in self._next_group(int(source), iters, cycles):
                yield [i + offset for i in batch]
        # Leave the children at this epoch for anyone inspecting them.
        for child in self.batch_samplers:
            if hasattr(child, "set_epoch"):
                child.set_epoch(self.epoch)

    def __len__(self) -> int:
        return self.steps_per_epoch * self.batches_per_step
