"""Sweep schedulers: which rows of a sweep keep training, decided between compiled chunks.

Hyperparameters are traced data, so stopping a row, or copying a winner's
weights into a loser's slot and changing its learning rate, is an array
operation on the population of rows, never a recompile.

* :class:`ASHA` (successive halving on ASHA's rung schedule): rows train to
  rung budgets ``min_epochs * reduction_factor**k``; at each rung only the top
  ``1 / reduction_factor`` configurations go on, and the program is compacted to
  the survivors, so pruned rows stop costing compute. Inside one program the rows
  of a rung finish together, so the asynchronous promotion of ASHA's paper buys
  nothing here: its rungs are run synchronously.
* :class:`PBT` (population-based training): every ``interval`` epochs the
  bottom ``fraction`` of each seed's population copies the whole training state
  of a row from the top ``fraction`` (exploit) and multiplies its perturbable
  hyperparameters by a factor drawn from ``perturb`` (explore).

Pure NumPy decisions on host arrays: each rule here is testable on its own.
"""

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn import _checks, hyperparams
from jaxnn import errors

__all__ = ["ASHA", "PBT", "PERTURBABLE", "Scheduler", "resolve"]

# Hyperparameters PBT may change mid-run: all but init_scale, which only acts at initialization.
PERTURBABLE = tuple(name for name in hyperparams.NAMES if name != "init_scale")


@dataclasses.dataclass(frozen=True)
class ASHA:
    """Successive halving on ASHA's rung schedule, inside one sweep.

    Attributes:
        min_epochs: the first rung's budget (epochs every configuration trains).
        reduction_factor: η; rung ``k`` trains to ``min_epochs * η**k`` epochs (the
            last rung to ``num_epochs``), and after each rung the best ``1/η`` of the
            configurations (at least one) go on, ranked like the table (best
            validation metric, ties broken by validation loss; the mean over seeds).
    """

    min_epochs: int = 1
    reduction_factor: float = 3

    def __post_init__(self) -> None:
        _checks.positive_int("ASHA.min_epochs", self.min_epochs)
        eta = self.reduction_factor
        if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not math.isfinite(eta) or eta <= 1:
            raise errors.ConfigError(f"{errors.arg('ASHA.reduction_factor')} must be a number > 1, got {eta!r}")

    def rungs(self, num_epochs: int) -> tuple[int, ...]:
        """The rung budgets (cumulative epochs), ending with ``num_epochs``.

        Raises:
            ValueError: ``min_epochs`` is not below ``num_epochs`` (no room for a second rung).
        """
        if self.min_epochs >= num_epochs:
            raise errors.ConfigError(
                f"{errors.arg('ASHA.min_epochs')} (={self.min_epochs}) must be less than {errors.arg('num_epochs')} "
                f"(={num_epochs}): "
                "otherwise there is only one rung and nothing is pruned"
            )
        budgets, k = [], 0
        while (budget := round(self.min_epochs * self.reduction_factor**k)) < num_epochs:
            if not budgets or budget > budgets[-1]:
                budgets.append(budget)
            k += 1
        return (*budgets, num_epochs)

    def survivors(self, count: int) -> int:
        """How many of ``count`` configurations go on to the next rung."""
        return max(1, int(count // self.reduction_factor))


@dataclasses.dataclass(frozen=True)
class PBT:
    """Population-based training, inside one sweep (each seed's configurations are one population).

    Attributes:
        interval: epochs between exploit-and-explore steps (default: a tenth of the run, at least 1).
        fraction: the bottom ``fraction`` of the population copies rows of the top
            ``fraction`` (at least one row each; at most half the population).
        perturb: explore factors; each perturbed hyperparameter of a copying row is
            multiplied by one of them, drawn uniformly, and clipped to its valid range.
        hyperparameters: the names to perturb (default: the swept ones PBT can change;
            ``init_scale`` only acts at initialization and cannot be).
    """

    interval: int | None = None
    fraction: float = 0.25
    perturb: tuple[float, ...] = (0.8, 1.25)
    hyperparameters: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.interval is not None:
            _checks.positive_int("PBT.interval", self.interval)
        fraction = self.fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 0.5:
            raise errors.ConfigError(f"{errors.arg('PBT.fraction')} must be in (0, 0.5] (the bottom and top parts may not overlap), "
                                     f"got {fraction!r}")
        factors = tuple(self.perturb) if isinstance(self.perturb, Sequence) else ()
        if not factors or not all(isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 < f < math.inf for f in factors):
            raise errors.ConfigError(f"{errors.arg('PBT.perturb')} must be a non-empty sequence of positive factors, "
                                     f"got {self.perturb!r}")
        object.__setattr__(self, "perturb", tuple(float(f) for f in factors))
        if self.hyperparameters is not None:
            names = (self.hyperparameters,) if isinstance(self.hyperparameters, str) else tuple(self.hyperparameters)
            for name in names:
                if name not in PERTURBABLE:
                    if name in hyperparams.NAMES:
                        raise errors.ConfigError(f"PBT cannot perturb {name!r}: it only acts when the weights are initialized")
                    raise _checks.unknown_name("hyperparameter to perturb", name, PERTURBABLE)
            object.__setattr__(self, "hyperparameters", names)

    def interval_for(self, num_epochs: int) -> int:
        """The interval in epochs for a run of ``num_epochs``.

        Raises:
            ValueError: the interval is not shorter than the run (PBT would never act).
        """
        interval = self.interval if self.interval is not None else max(1, num_epochs // 10)
        if interval >= num_epochs:
            raise errors.ConfigError(f"{errors.arg('PBT.interval')} (={interval}) must be shorter than {errors.arg('num_epochs')} "
                                     f"(={num_epochs})")
        return interval

    def names_for(self, swept: Sequence[str], base: Any, optimizer: str, schedule: str) -> tuple[str, ...]:
        """The hyperparameters to perturb, checked against the sweep.

        Raises:
            ValueError: none to perturb, one that is off (``None``), or one the optimizer or schedule does not read.
        """
        names = self.hyperparameters
        if names is None:
            names = tuple(name for name in swept if name in PERTURBABLE)
            if not names:
                raise errors.ConfigError(
                    f"PBT perturbs the swept hyperparameters, but the space sweeps none it can perturb "
                    f"({', '.join(swept) or 'none'}); sweep one of {', '.join(PERTURBABLE)} as well"
                )
        for name, user in hyperparams.unused(names, optimizer=optimizer, schedule=schedule):
            raise errors.ConfigError(f"PBT would perturb {name!r}, which only the {user} reads (this sweep: {optimizer}, {schedule})")
        for name in names:
            if name not in swept and getattr(base, name) is None:
                raise errors.ConfigError(f"PBT cannot perturb {name!r}: it is off (None) in this sweep; give it a value")
        return names

    def exploit(self, scores: np.ndarray, rng: np.random.Generator, finished: np.ndarray | None = None) -> np.ndarray:
        """Each row's source for the next interval, per seed: itself, or for the bottom rows a top row.

        Args:
            scores: ``(seeds, configs)``, lower is better (``inf`` for diverged rows: they are replaced).
            finished: ``(seeds, configs)`` rows that stopped early; they keep their state and are
                neither copied nor replaced (their best weights stay in the result).

        Returns:
            ``(seeds, configs)`` ints: the configuration whose state each row continues from.
        """
        seeds, size = scores.shape
        finished = np.zeros(scores.shape, bool) if finished is None else np.asarray(finished, bool)
        source = np.tile(np.arange(size), (seeds, 1))
        for s in range(seeds):
            rows = np.flatnonzero(~finished[s])
            count = min(max(1, int(size * self.fraction)), len(rows) // 2)
            if count == 0:
                continue
            order = rows[np.lexsort((rows, scores[s, rows]))]  # best first, ties by index
            top, bottom = order[:count], order[len(order) - count:]
            source[s, bottom] = rng.choice(top, size=count)
        return source

    def explore(self, values: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
        """``values`` of hyperparameter ``name`` times factors drawn from ``perturb``, clipped to the valid range."""
        row = hyperparams.BY_NAME[name]
        factors = rng.choice(np.asarray(self.perturb), size=np.shape(values))
        new = np.asarray(values, np.float64) * factors
        low = -np.inf if row.low is None else row.low
        high = np.inf if row.high is None else row.high
        new = np.clip(new, low, high).astype(np.float32)
        if row.low is not None and row.low_open:
            new = np.where(new <= row.low, np.nextafter(np.float32(row.low), np.float32(np.inf)), new)
        if row.high is not None and row.high_open:
            new = np.where(new >= row.high, np.nextafter(np.float32(row.high), np.float32(-np.inf)), new)
        return new.astype(np.float32)


Scheduler = ASHA | PBT
_BY_NAME = {"asha": ASHA, "pbt": PBT}


def resolve(scheduler: Any) -> Scheduler | None:
    """``None``, ``"asha"``, ``"pbt"``, or an :class:`ASHA` / :class:`PBT` instance, as an instance (or None).

    Raises:
        ValueError: an unknown name. TypeError: anything else.
    """
    if scheduler is None or isinstance(scheduler, (ASHA, PBT)):
        return scheduler
    if isinstance(scheduler, str):
        return _checks.lookup("scheduler", scheduler, _BY_NAME)()
    raise errors.ArgumentTypeError(f"scheduler must be None, 'asha', 'pbt', jaxnn.ASHA(...) or jaxnn.PBT(...), got {scheduler!r}")
