"""auxiliary.training.seeding: the saved RNG state restores every generator."""

from __future__ import annotations

import random

import numpy as np
import torch

from auxiliary.training import seeding


def test_rng_state_round_trip():
    seeding.seed_all(3)
    saved = seeding.rng_state()
    a = (random.random(), float(np.random.rand()), float(torch.rand(())))
    seeding.seed_all(99)
    seeding.set_rng_state(saved)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == a
