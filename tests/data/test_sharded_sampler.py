"""auxiliary.data.loaders.ShardedSampler: how several processes share one epoch's sampler order (the distributed
runs themselves are tests/training/test_distributed.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import (
    DataLoader,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    WeightedRandomSampler,
)

from auxiliary.data.loaders import ShardedSampler, gather_order, shard_loader
from auxiliary.training.seeding import reseed_loader


@pytest.mark.parametrize("n,world", [(10, 2), (11, 2), (7, 3), (1, 2), (24, 4)])
def test_training_shares_are_disjoint_and_evaluation_shares_gather_back_in_order(n, world):
    order = list(RandomSampler(range(n), generator=torch.Generator().manual_seed(1)))
    base = type("Fixed", (), {"__iter__": lambda self: iter(order), "__len__": lambda self: n})()
    train = [list(ShardedSampler(base, world, r, drop_last=True)) for r in range(world)]
    assert [len(s) for s in train] == [n // world] * world
    flat = [i for s in train for i in s]
    assert len(flat) == len(set(flat)) and set(flat) <= set(order)  # no position twice, only the tail left out
    evaluation = [np.array(list(ShardedSampler(base, world, r, drop_last=False))) for r in range(world)]
    assert len({len(s) for s in evaluation}) == 1  # equal shares: what all_gather needs
    assert gather_order(evaluation, n).tolist() == order


def test_every_rank_draws_the_balanced_samplers_order_of_the_epoch_after_reseeding():
    ds = TensorDataset(torch.arange(12))
    loaders = []
    for rank in (0, 1):
        weighted = WeightedRandomSampler([1.0] * 6 + [3.0] * 6, 12, generator=torch.Generator().manual_seed(0))
        loaders.append(shard_loader(DataLoader(ds, batch_size=3, sampler=weighted), 2, rank, drop_last=True))
    for epoch_seed in (11, 12):
        for loader in loaders:
            reseed_loader(loader, epoch_seed)  # reaches the sampler inside the shard
        shares = [[int(x) for (b,) in loader for x in b] for loader in loaders]
        ref = WeightedRandomSampler([1.0] * 6 + [3.0] * 6, 12, generator=torch.Generator().manual_seed(epoch_seed))
        order = list(ref)
        assert shares == [order[0::2], order[1::2]]


def test_one_process_keeps_its_loader():
    loader = DataLoader(TensorDataset(torch.arange(4)), sampler=SequentialSampler(range(4)))
    assert shard_loader(loader, 1, 0, drop_last=True) is loader
    with pytest.raises(ValueError, match="rank 2"):
        ShardedSampler(SequentialSampler(range(4)), 2, 2, drop_last=False)
