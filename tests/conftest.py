"""Shared fixtures: explicit PRNG keys, the built-in datasets, a compile counter, tolerances by dtype."""

import os

import jax
import jax.monitoring
import numpy as np
import pytest
from hypothesis import settings

import jaxnn

# Hypothesis explores new examples on each developer's run; CI replays the same ones every time (derandomized),
# so a red CI is a change's doing, never a newly drawn example's.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The session's devices are fixed here, before any test runs: XLA_FLAGS=--xla_force_host_platform_device_count=N
# gives N CPU devices, and without it JAX's default (one). Starting the backend now means that a test calling
# the command line in-process (whose `train` and `sweep` ask for one device per core when JAX has not started)
# cannot change the device count for the tests after it: the suite passes in any order with 1, 2 or 4 devices.
DEVICES = jax.devices()


# Under pytest-xdist each module runs whole on one worker (--dist loadscope), handed out in collection order.
# The longest modules go first (longest-processing-time-first): one of them starting last would keep a worker
# busy while the others wait (the benchmarks' smoke run alone takes about two minutes). Modules keep their
# (random) order otherwise, and tests within a module theirs.
SLOWEST_FIRST = ("test_benchmarks", "test_train", "test_cli", "test_schedulers", "test_sweep", "test_cache")


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py"), len(rank)))


@pytest.fixture(scope="session", autouse=True)
def hermetic_caches(tmp_path_factory):
    """One cache directory for the session, new each session: the built-in datasets' arrays, and JAX's persistent
    compilation cache, on for this process and for every command line the tests start (they inherit the
    environment). A program one test compiled is loaded, not compiled again, by the next test or process that
    needs the same one; compile counts are unchanged (a loaded program still counts as a compile), and the tests
    of the caches themselves use directories of their own. Under pytest-xdist the workers share it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the session's directory, above each worker's own
        root = root.parent
    saved = {name: os.environ.get(name) for name in ("JAXNN_CACHE_DIR", "JAXNN_COMPILATION_CACHE")}
    os.environ["JAXNN_CACHE_DIR"] = str(root / "jaxnn-cache")
    os.environ["JAXNN_COMPILATION_CACHE"] = "1"
    jaxnn.cache.enable_compilation_cache(root / "jaxnn-cache" / "xla")
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def key():
    """A fresh, fixed PRNG key: every test is reproducible."""
    return jax.random.key(0)


@pytest.fixture(scope="session")
def cancer():
    return jaxnn.datasets.load("breast_cancer", seed=0)


@pytest.fixture(scope="session")
def digits():
    return jaxnn.datasets.load("digits", seed=0)


@pytest.fixture(scope="session")
def iris():
    return jaxnn.datasets.load("iris", seed=0)


# Run a function eagerly and compiled: results must agree.
EAGER_AND_JIT = pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])


class CompileCounter:
    """Counts XLA backend compilations while active (``with compiles as counter: ...; counter.count``)."""

    def __init__(self):
        self.count = 0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **kwargs):
        if self.active and event == "/jax/core/compile/backend_compile_duration":
            self.count += 1

    def __enter__(self):
        self.count, self.active = 0, True
        return self

    def __exit__(self, *exc):
        self.active = False


_COUNTER = CompileCounter()  # one listener for the whole session: JAX cannot unregister them


@pytest.fixture
def compiles() -> CompileCounter:
    """The compile counter: ``with compiles as counter: ...`` then ``assert counter.count == 0``."""
    return _COUNTER


# Relative tolerances by dtype for results computed two ways (another program, another library,
# another reduction order): float32 keeps ~7 digits and a training run loses a few of them.
TOLERANCES = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


def tolerance(dtype, *, scale: float = 1.0) -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` for comparing values of ``dtype``; ``scale`` widens it for long chains.

    >>> tolerance(np.float32)
    {'rtol': 1e-05, 'atol': 1e-06}
    """
    rtol = TOLERANCES[np.dtype(dtype)] * scale
    return {"rtol": rtol, "atol": rtol / 10}


class CompiledPrograms(list):
    """The names of the jitted functions XLA compiles while active (``with compiled_programs() as names``)."""

    def __enter__(self):
        import logging

        self._handler = logging.Handler()
        self._handler.emit = self._record
        logging.getLogger("jax").addHandler(self._handler)
        self._previous = jax.config.jax_log_compiles
        jax.config.update("jax_log_compiles", True)
        return self

    def _record(self, record):
        message = record.getMessage()
        if message.startswith("Finished XLA compilation of jit("):
            self.append(message.split("jit(", 1)[1].split(")", 1)[0])

    def __exit__(self, *exc):
        import logging

        jax.config.update("jax_log_compiles", self._previous)
        logging.getLogger("jax").removeHandler(self._handler)


@pytest.fixture
def compiled_programs():
    """``with compiled_programs() as names: ...`` then e.g. ``assert names.count("advance") == 1``."""
    return CompiledPrograms
