"""Shared fixtures: explicit PRNG keys and the eager/jit variants."""

import jax
import pytest


@pytest.fixture
def key():
    """A fresh, fixed PRNG key: every test is reproducible."""
    return jax.random.key(0)


# Run a function eagerly and compiled: results must agree.
EAGER_AND_JIT = pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
