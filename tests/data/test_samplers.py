from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from sentence_transformers.base.sampler import DefaultBatchSampler
from torch.utils.data import ConcatDataset, RandomSampler, TensorDataset

from omnivec.data.samplers import StochasticSpecializationBatchSampler
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
