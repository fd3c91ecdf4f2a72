"""Search spaces: grids, random search and seeds, turned into a list of configurations.

A space maps names to a list of values (a grid: the cartesian product) or a
distribution (:class:`loguniform`, :class:`uniform`, :class:`choice`: random
search with ``num_samples`` draws). Names are the hyperparameters of
:data:`jaxnn.hyperparams.TABLE`, ``seed``, the program settings of
:data:`PROGRAM_KEYS`, each value of which compiles its own program, and
``sizes`` (:data:`ARCHITECTURE_KEY`): the hidden layer widths, a tuple per
value, each of which builds its own model.
"""

import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import _checks, errors, hyperparams
from jaxnn.typing import PRNGKey

__all__ = [
    "ARCHITECTURE_KEY",
    "MODEL_KEYS",
    "PROGRAM_KEYS",
    "SWEEPABLE",
    "Space",
    "check_sizes",
    "choice",
    "expand_space",
    "loguniform",
    "python_value",
    "sizes_text",
    "space_size",
    "uniform",
]

SWEEPABLE = hyperparams.NAMES
# These change the compiled program: one program per distinct value, results merged.
PROGRAM_KEYS = ("optimizer", "batch_size", "num_epochs", "schedule")
# The hidden layer widths: each value builds its own model (and compiles its own program).
ARCHITECTURE_KEY = "sizes"
# These change the model itself: build one model per value and sweep each.
MODEL_KEYS = ("activation", "hidden", "layers", "output_activation")


class loguniform(NamedTuple):
    """Sample uniformly in log space between ``low`` and ``high`` (both > 0)."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
        return np.exp(rng.uniform(np.log(self.low), np.log(self.high), num))


class uniform(NamedTuple):
    """Sample uniformly between ``low`` and ``high``."""

    low: float
    high: float

    def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, num)


class choice(NamedTuple):
    """Sample uniformly from a list of values."""

    values: Sequence[Any]

    def sample(self, rng: np.random.Generator, num: int) -> np.ndarray:
        values = np.empty(len(self.values), dtype=object)  # 1-D even for values that are tuples (layer sizes)
        values[:] = list(self.values)
        return values[rng.integers(0, len(self.values), num)]


Distribution = loguniform | uniform | choice


def _check_distribution(name: str, dist: Distribution) -> None:
    if isinstance(dist, (loguniform, uniform)):
        low, high = float(dist.low), float(dist.high)
        if not (np.isfinite(low) and np.isfinite(high)) or low > high:
            raise errors.ConfigError(
                f"space[{name!r}]: {type(dist).__name__} needs finite low <= high, got ({low}, {high})"
            )
        if isinstance(dist, loguniform) and low <= 0:
            raise errors.ConfigError(f"space[{name!r}]: loguniform needs low > 0, got {low}")
    elif isinstance(dist, choice):
        if len(dist.values) == 0:
            raise errors.ConfigError(f"space[{name!r}]: choice needs at least one value")
        if name == ARCHITECTURE_KEY:
            for value in dist.values:
                check_sizes(value)


class Space(NamedTuple):
    """What :func:`expand_space` returns.

    Attributes:
        configs: one dict per configuration (without the seed).
        seeds: the seeds every configuration is trained with.
        log_scaled: the names whose values span a log scale (for plots).
    """

    configs: list[dict[str, Any]]
    seeds: list[int]
    log_scaled: set[str]


def expand_space(space: dict[str, Any], *, num_samples: int | None, seeds: int | Sequence[int], key: PRNGKey) -> Space:
    """The configurations a space describes, checked: names, values, ranges and seeds.

    Random draws come from ``key`` (so the same key draws the same configurations)
    and do not depend on the order of the space's names.

    Raises:
        ValueError, TypeError: an empty space, unknown or model-changing names, values
            out of range, a distribution without ``num_samples`` (or a grid with one),
            repeated seeds.
    """
    _check_names(space)
    space = dict(space)
    seed_list = _seed_list(space.pop("seed", None), seeds)
    distributions = {name: v for name, v in space.items() if isinstance(v, (loguniform, uniform, choice))}
    space = {name: values if name in distributions else _value_list(name, values) for name, values in space.items()}
    for name, dist in distributions.items():
        _check_distribution(name, dist)
    if distributions:
        configs = _draw(space, distributions, num_samples, key)
    elif num_samples is not None:
        raise errors.ConfigError(
            f"{errors.arg('num_samples')} is for random search: the space has no distributions (it is a grid)"
        )
    else:
        names = list(space)
        configs = [
            dict(zip(names, map(python_value, combo), strict=False)) for combo in itertools.product(*space.values())
        ]
    for config in configs:
        for name, value in config.items():
            if name in SWEEPABLE:
                hyperparams.check_value(name, value)
        if ARCHITECTURE_KEY in config:
            config[ARCHITECTURE_KEY] = check_sizes(config[ARCHITECTURE_KEY])
    return Space(configs, seed_list, _log_scaled(space, distributions))


def space_size(space: dict[str, Any], *, num_samples: int | None, seeds: int | Sequence[int]) -> tuple[int, int]:
    """``(configurations, seeds)`` a space describes, counted without drawing or expanding it (so a space of
    a billion configurations is refused before it takes the memory)."""
    _check_names(space)
    num_seeds = len(_seed_list(space.get("seed"), seeds))
    values = {name: v for name, v in space.items() if name != "seed"}
    if any(isinstance(v, (loguniform, uniform, choice)) for v in values.values()):
        return (num_samples if isinstance(num_samples, int) and num_samples > 0 else 0), num_seeds
    return math.prod(len(_value_list(name, v)) for name, v in values.items()), num_seeds


def _check_names(space: Any) -> None:
    if not isinstance(space, dict) or not space:
        raise errors.ConfigError(
            f"`space` must be a non-empty dict from hyperparameter name to values, got {space!r}; "
            f"e.g. {{'learning_rate': [1e-3, 1e-2]}}"
        )
    valid = (*SWEEPABLE, "seed", *PROGRAM_KEYS, ARCHITECTURE_KEY)
    for name in space:
        if name in MODEL_KEYS:
            raise errors.ConfigError(
                f"{name!r} changes the model itself and cannot vary inside one sweep: build one model per value "
                f"and call jaxnn.sweep for each, then combine the tables with SweepResult.concat"
            )
        if name not in valid:
            raise _checks.unknown_name("hyperparameter", name, valid)


def check_sizes(value: Any) -> tuple[int, ...]:
    """A value of ``space["sizes"]`` as a tuple of hidden widths, each a positive int.

    Raises:
        ArgumentTypeError: not a sequence of ints (a bare int is refused: ``(32,)`` is one layer of 32).
        ConfigError: a width below 1.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise errors.ArgumentTypeError(
            f"space['sizes'] values are tuples of hidden layer widths such as (64,) or (128, 64), got {value!r}"
        )
    for width in value:
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
            raise errors.ArgumentTypeError(f"space['sizes'] widths must be ints, got {width!r} in {tuple(value)!r}")
        if width < 1:
            raise errors.ConfigError(
                f"space['sizes'] widths must be >= 1, got {int(width)} in {tuple(map(int, value))!r}"
            )
    return tuple(int(width) for width in value)


def sizes_text(sizes: Sequence[int]) -> str:
    """Hidden widths as the command line writes them: ``"128,64"`` (``"none"`` for no hidden layer)."""
    return ",".join(map(str, sizes)) or "none"


def _seed_list(seed_values: Any, seeds: int | Sequence[int]) -> list[int]:
    """The seeds: ``space["seed"]`` if given, else ``range(seeds)`` or the list ``seeds``."""
    if seed_values is not None:
        if isinstance(seed_values, int) or not all(isinstance(s, (int, np.integer)) for s in seed_values):
            raise errors.ArgumentTypeError(f"space['seed'] must be a list of ints, got {seed_values!r}")
        if seeds != 1:
            raise errors.ConfigError("give either seeds=n or space['seed'], not both")
        seed_list = [int(s) for s in seed_values]
    elif isinstance(seeds, int):
        seed_list = list(range(_checks.positive_int("seeds", seeds)))
    else:
        seed_list = [int(s) for s in seeds]
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise errors.ConfigError(f"seeds must be distinct and non-empty, got {seed_list}")
    return seed_list


def _value_list(name: str, values: Any) -> Sequence[Any]:
    """A grid entry as a non-empty list (a single value is a list of one); numbers for hyperparameters."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        values = [values]
    if len(values) == 0:
        raise errors.ConfigError(f"space[{name!r}] is empty: give at least one value")
    if name in SWEEPABLE:
        for value in values:
            if isinstance(value, (str, bytes, bool)) or not isinstance(value, (int, float, np.number)):
                raise errors.ArgumentTypeError(f"space[{name!r}] values must be numbers, got {value!r}")
    if name == ARCHITECTURE_KEY:
        values = [check_sizes(value) for value in values]
    return values


def _draw(space: dict[str, Any], distributions: dict[str, Any], num_samples: int | None, key: PRNGKey) -> list[dict]:
    """``num_samples`` random configurations; grid entries are drawn uniformly from their lists."""
    if num_samples is None:
        raise errors.ConfigError(
            f"the space has distributions ({', '.join(sorted(distributions))}): pass "
            f"{errors.setting('num_samples', errors.placeholder('N'))} for random search"
        )
    num_samples = _checks.positive_int("num_samples", num_samples)
    seed = int(np.asarray(jax.random.key_data(jax.random.fold_in(key, 0x5EED))).ravel()[-1])
    rng = np.random.default_rng(seed)
    columns = {}
    for name in sorted(space):  # sorted: the draws don't depend on dict order
        dist = space[name] if name in distributions else choice(list(space[name]))
        columns[name] = dist.sample(rng, num_samples)
    return [{name: python_value(columns[name][i]) for name in space} for i in range(num_samples)]


def _log_scaled(space: dict[str, Any], distributions: dict[str, Any]) -> set[str]:
    """Log-uniform names, and grids of positive numbers spanning two decades or more."""
    log_scaled = {name for name, v in distributions.items() if isinstance(v, loguniform)}
    for name, values in space.items():
        if name not in distributions and name in SWEEPABLE:
            numbers = np.asarray(values, dtype=np.float64)
            if numbers.size > 2 and np.all(numbers > 0) and numbers.max() / numbers.min() >= 100:
                log_scaled.add(name)
    return log_scaled


def python_value(value: Any) -> Any:
    """NumPy scalars to plain Python (for the table, CSV and JSON)."""
    return value.item() if isinstance(value, np.generic) else value
