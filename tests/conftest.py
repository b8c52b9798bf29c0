"""Shared test setup: a hypothesis profile for CI, and a seed fixture that prints its seed."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# CI: a fixed, modest example count and no deadline (the machines are shared and noisy: timing is
# never a test criterion here). Locally the default profile runs a few more examples.
settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("many", max_examples=2000, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def seed(request) -> int:
    """A per-test seed (from PUREVAE_TEST_SEED, else 12345), printed so that a failure can be replayed."""
    value = int(os.environ.get("PUREVAE_TEST_SEED", "12345"))
    print(f"{request.node.name}: seed {value}")
    return value


@pytest.fixture
def rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)
