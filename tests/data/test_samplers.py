from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from sentence_transformers.base.sampler import DefaultBatchSampler
from torch.utils.data import ConcatDataset, RandomSampler, TensorDataset

from omnivec.data.samplers import SOURCE_SCHEDULES, StochasticSpecializationBatchSampler, smooth_sources
from omnivec.errors import ConfigError

SIZES = {"video": 40, "ecom": 24, "music": 16}
BATCH = 4


def _trainer_parts(seed: int = 0, sizes: dict[str, int] = SIZES, batch: int = BATCH):
    """What SentenceTransformerTrainer builds for a DatasetDict: a ConcatDataset and per-source samplers."""
    generator = torch.Generator().manual_seed(seed)
    datasets = [TensorDataset(torch.arange(n)) for n in sizes.values()]
    samplers = [
        DefaultBatchSampler(
            RandomSampler(d, generator=generator),
            batch_size=batch,
            drop_last=False,
            generator=generator,
            seed=seed,
        )
        for d in datasets
    ]
    return ConcatDataset(datasets), samplers, generator


def _sampler(seed: int = 0, **kw) -> StochasticSpecializationBatchSampler:
    dataset, samplers, generator = _trainer_parts(seed)
    kw.setdefault("weights", {"video": 0.5, "ecom": 0.3, "music": 0.2})
    kw.setdefault("source_names", list(SIZES))
    return StochasticSpecializationBatchSampler(dataset, samplers, generator=generator, seed=seed, **kw)


def _source_of(batch: list[int]) -> int:
    bounds = np.cumsum(list(SIZES.values()))
    sources = {int(np.searchsorted(bounds, i, side="right")) for i in batch}
    assert len(sources) == 1, f"mixed batch {batch}"
    return sources.pop()


def test_batches_are_single_source_full_and_frequencies_match_weights():
    sampler = _sampler(steps_per_epoch=3000)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3000
    assert all(len(b) == BATCH for b in batches)
    counts = np.bincount([_source_of(b) for b in batches], minlength=3)
    assert chisquare(counts, 3000 * np.array([0.5, 0.3, 0.2])).pvalue > 0.001
    np.testing.assert_array_equal(counts, np.bincount(sampler.step_sources(), minlength=3))


def test_exhausted_sources_restart_with_a_new_shuffle():
    sampler = _sampler(weights=[0.0, 0.0, 1.0], steps_per_epoch=8)  # music: 16 rows = 4 batches per pass
    batches = list(sampler)
    first = sorted(i for b in batches[:4] for i in b)
    second = sorted(i for b in batches[4:] for i in b)
    assert first == second == list(range(64, 80))  # each pass covers the source exactly once
    assert batches[:4] != batches[4:]


def test_same_seed_same_order_and_set_epoch_changes_it():
    a, b, other = _sampler(seed=3), _sampler(seed=3), _sampler(seed=4)
    first = list(a)
    assert first == list(b)
    assert first != list(other)
    sources0 = a.step_sources()
    a.set_epoch(1)
    epoch1 = list(a)
    assert epoch1 != first
    assert not np.array_equal(a.step_sources(), sources0)  # the source draws change too, not only shuffles
    # A resumed run: a fresh sampler put at epoch 1 replays epoch 1 exactly, whatever came before.
    fresh = _sampler(seed=3)
    fresh.set_epoch(1)
    assert list(fresh) == epoch1
    a.set_epoch(0)
    assert list(a) == first


def test_every_rank_sees_the_same_source_each_step():
    world, accum = 2, 2
    sampler = _sampler(num_replicas=world, gradient_accumulation_steps=accum, steps_per_epoch=50)
    batches = list(sampler)
    assert len(sampler) == len(batches) == 50 * world * accum
    # accelerate's BatchSamplerShard (split_batches=False) gives batch i to rank i % world.
    ranks = [batches[r::world] for r in range(world)]
    for step, source in enumerate(sampler.step_sources()):
        micro = [rank[step * accum : (step + 1) * accum] for rank in ranks]
        assert {_source_of(b) for m in micro for b in m} == {source}
        rows = [i for m in micro for b in m for i in b]
        assert len(rows) == len(set(rows))  # ranks get disjoint rows within a step


def test_factory_plugs_into_the_trainer_call():
    dataset, samplers, generator = _trainer_parts(seed=7)
    build = StochasticSpecializationBatchSampler.factory({"video": 1, "ecom": 1, "music": 2}, list(SIZES))
    sampler = build(dataset, batch_samplers=samplers, generator=generator, seed=7)
    assert sampler.seed == 7
    np.testing.assert_allclose(sampler.probabilities, [0.25, 0.25, 0.5])
    assert len(sampler) == sum(len(s) for s in samplers)  # one pass worth of batches per epoch
    assert len(list(sampler)) == len(sampler)


def _prefix_gaps(sources: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per source, the largest |steps of it so far − its share of them| over every prefix of ``sources``."""
    counts = np.cumsum(np.eye(len(p))[sources], axis=0)
    return np.abs(counts - p * np.arange(1, len(sources) + 1)[:, None]).max(axis=0)


def _max_prefix_gap(sources: np.ndarray, p: np.ndarray) -> float:
    return float(_prefix_gaps(sources, p).max())


def test_smooth_schedule_holds_every_prefix_to_its_share():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 8))
        p = rng.random(n) ** 2
        p[rng.random(n) < 0.2] = 0.0
        if p.sum() == 0:
            continue
        p /= p.sum()
        steps = int(rng.integers(1, 300))
        sources = smooth_sources(p, steps, np.random.default_rng(trial))
        assert len(sources) == steps
        assert (_prefix_gaps(sources, p) < 1 + n * p).all()  # the stride bound, n sources
        assert not np.isin(np.flatnonzero(p == 0), sources).any()  # weight 0: never served
    # i.i.d. draws of the same length wander much further (why short stages want 'smooth').
    p = np.array([0.5, 0.15, 0.1, 0.15, 0.1])
    iid = [_max_prefix_gap(SOURCE_SCHEDULES["iid"](p, 15, np.random.default_rng(s)), p) for s in range(50)]
    smooth = [_max_prefix_gap(smooth_sources(p, 15, np.random.default_rng(s)), p) for s in range(50)]
    assert max(smooth) < 2.0 < max(iid)
    assert np.mean(smooth) < np.mean(iid)


def test_smooth_sampler_keeps_the_mix_and_seeds_change_only_the_order():
    a, b = _sampler(seed=0, schedule="smooth"), _sampler(seed=1, schedule="smooth")
    p = np.array([0.5, 0.3, 0.2])
    first, second = a.step_sources(), b.step_sources()
    assert not np.array_equal(first, second)
    assert _max_prefix_gap(first, p) < 2.0 and _max_prefix_gap(second, p) < 2.0
    batches = list(a)  # the batches follow the schedule, still single-source and full
    np.testing.assert_array_equal([_source_of(x) for x in batches], first)
    assert all(len(x) == BATCH for x in batches)
    with pytest.raises(ConfigError, match="schedule: 'zigzag' is unknown"):
        _sampler(schedule="zigzag")


def test_configuration_errors():
    with pytest.raises(ConfigError, match="source_names"):
        _sampler(source_names=None)
    with pytest.raises(ConfigError, match="weights"):
        _sampler(weights={"video": 1.0, "ecom": -1.0, "music": 1.0})
    with pytest.raises(ConfigError, match="weights"):
        _sampler(weights={"video": 1.0, "ecom": 1.0})
    dataset, samplers, generator = _trainer_parts(sizes={"a": 8, "tiny": 3})
    sampler = StochasticSpecializationBatchSampler(
        dataset, samplers, generator=generator, weights=[0, 1], source_names=["a", "tiny"]
    )
    with pytest.raises(ConfigError, match="tiny"):
        list(sampler)
