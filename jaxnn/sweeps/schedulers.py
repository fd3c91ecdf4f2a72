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
* :class:`Hyperband`: several successive-halving brackets side by side, each
  starting at another rung of ASHA's schedule (the first prunes after
  ``min_epochs``, the last trains its configurations to the end), so a task whose
  good learning curves separate late is still covered by the brackets that start
  long. The configurations are dealt to the brackets; rows of every bracket at the
  same epoch train in the same compiled calls.
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
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from jaxnn import _checks, errors, hyperparams

if TYPE_CHECKING:
    from jax.typing import ArrayLike  # annotations only: this module does not import jax

__all__ = ["ASHA", "Hyperband", "PBT", "PERTURBABLE", "RankingNoise", "Scheduler", "ranking_is_noise", "resolve"]

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
        _check_halving(type(self).__name__, self.min_epochs, self.reduction_factor)

    def rungs(self, num_epochs: int) -> tuple[int, ...]:
        """The rung budgets (cumulative epochs), ending with ``num_epochs``.

        Raises:
            ValueError: ``min_epochs`` is not below ``num_epochs`` (no room for a second rung).
        """
        return _rungs(type(self).__name__, self.min_epochs, self.reduction_factor, num_epochs)

    def survivors(self, count: int) -> int:
        """How many of ``count`` configurations go on to the next rung."""
        return max(1, int(count // self.reduction_factor))


def _check_halving(name: str, min_epochs: Any, reduction_factor: Any) -> None:
    _checks.positive_int(f"{name}.min_epochs", min_epochs)
    eta = reduction_factor
    if isinstance(eta, bool) or not isinstance(eta, numbers.Real) or not math.isfinite(eta) or eta <= 1:
        raise errors.ConfigError(f"{errors.arg(f'{name}.reduction_factor')} must be a number > 1, got {eta!r}")


def _rungs(name: str, min_epochs: int, reduction_factor: float, num_epochs: int) -> tuple[int, ...]:
    """ASHA's rung budgets ``min_epochs * reduction_factor**k`` (rounded, never repeated) below ``num_epochs``,
    then ``num_epochs``; ``name`` is the scheduler's, for the error."""
    if min_epochs >= num_epochs:
        raise errors.ConfigError(
            f"{errors.arg(f'{name}.min_epochs')} (={min_epochs}) must be less than {errors.arg('num_epochs')} "
            f"(={num_epochs}): otherwise there is only one rung and nothing is pruned"
        )
    budgets: list[int] = []
    k = 0
    while (budget := round(min_epochs * reduction_factor**k)) < num_epochs:
        if not budgets or budget > budgets[-1]:
            budgets.append(budget)
        k += 1
    return (*budgets, num_epochs)


@dataclasses.dataclass(frozen=True)
class Hyperband:
    """Hyperband inside one sweep: successive-halving brackets of different starting budgets, side by side.

    The rungs are ASHA's (``min_epochs * η**k`` epochs, the last ``num_epochs``). Bracket ``b``
    starts at rung ``b``: its configurations all train ``rungs[b]`` epochs, then the best ``1/η``
    go on at each later rung, as under :class:`ASHA`. Bracket 0 is ASHA itself (it prunes after
    ``min_epochs``); the last bracket of the full set trains its few configurations to the end (a
    plain random search). The sweep's configurations are dealt to the brackets in Hyperband's
    proportions (``η**s / (s + 1)`` for a bracket of ``s`` halvings, so each bracket spends about
    the same epochs), interleaved in the order the space lists them, so a grid's values spread over
    every bracket. A configuration whose good learning curve starts late is cut by the early
    brackets but kept by the ones that start long: no single ``min_epochs`` guess decides.

    Rows of every bracket that are at the same epoch train in the same compiled calls (the same
    program as ASHA's), so brackets cost what their rows cost.

    Attributes:
        min_epochs: the first rung's budget (where bracket 0 ranks first).
        reduction_factor: η; rung ``k`` trains to ``min_epochs * η**k`` epochs; each rung of a
            bracket keeps its best ``1/η`` (at least one).
        brackets: how many brackets, starting at rungs ``0 .. brackets - 1`` (default: one per
            rung, the last training to the end). Limiting it drops the brackets that start longest.
    """

    min_epochs: int = 1
    reduction_factor: float = 3
    brackets: int | None = None

    def __post_init__(self) -> None:
        _check_halving(type(self).__name__, self.min_epochs, self.reduction_factor)
        if self.brackets is not None:
            _checks.positive_int("Hyperband.brackets", self.brackets)

    def rungs(self, num_epochs: int) -> tuple[int, ...]:
        """The rung budgets (cumulative epochs) shared by every bracket, ending with ``num_epochs``.

        Raises:
            ValueError: ``min_epochs`` is not below ``num_epochs``.
        """
        return _rungs(type(self).__name__, self.min_epochs, self.reduction_factor, num_epochs)

    def num_brackets(self, num_epochs: int) -> int:
        """How many brackets a run of ``num_epochs`` has.

        Raises:
            ValueError: more ``brackets`` than the epoch budget has rungs to start them at.
        """
        rungs = self.rungs(num_epochs)
        if self.brackets is None:
            return len(rungs)
        if self.brackets > len(rungs):
            raise errors.ConfigError(
                f"{errors.arg('Hyperband.brackets')} (={self.brackets}) is more than {errors.arg('num_epochs')} "
                f"(={num_epochs}) can hold: with {errors.arg('Hyperband.min_epochs')} (={self.min_epochs}) and "
                f"{errors.arg('Hyperband.reduction_factor')} (={self.reduction_factor:g}) there are {len(rungs)} rungs "
                f"({', '.join(map(str, rungs))} epochs), one per bracket to start at; give at most {len(rungs)}"
            )
        return self.brackets

    def sizes(self, num_configs: int, num_epochs: int) -> tuple[int, ...]:
        """How many of ``num_configs`` configurations each bracket gets (at least one each).

        Raises:
            ValueError: fewer configurations than brackets.
        """
        count = self.num_brackets(num_epochs)
        if num_configs < count:
            raise errors.ConfigError(
                f"Hyperband has {count} brackets here but the sweep has only {num_configs} configuration"
                f"{'s' if num_configs != 1 else ''}: every bracket needs one; give the space at least {count} "
                f"(Hyperband is meant for many: tens per bracket) or fewer {errors.arg('Hyperband.brackets')}"
            )
        halvings = len(self.rungs(num_epochs)) - 1 - np.arange(count)
        weights = float(self.reduction_factor) ** halvings / (halvings + 1)
        quota = weights / weights.sum() * num_configs
        sizes = np.maximum(1, np.floor(quota)).astype(np.int64)
        while sizes.sum() < num_configs:  # largest remainders first
            sizes[np.argmax(quota - sizes)] += 1
        while sizes.sum() > num_configs:  # only where the floor of 1 pushed a bracket over its quota
            sizes[np.argmax(np.where(sizes > 1, sizes - quota, -np.inf))] -= 1
        return tuple(int(size) for size in sizes)

    def assign(self, num_configs: int, num_epochs: int) -> np.ndarray:
        """``(num_configs,)`` ints: each configuration's bracket, dealt in :meth:`sizes` proportions and
        interleaved (smooth weighted round-robin) so that every bracket samples the whole list."""
        sizes = np.asarray(self.sizes(num_configs, num_epochs), np.int64)
        credit, bracket = np.zeros(len(sizes), np.int64), np.empty(num_configs, np.int64)
        for index in range(num_configs):
            credit += sizes
            bracket[index] = chosen = int(np.argmax(credit))  # ties: the earlier bracket
            credit[chosen] -= num_configs
        return bracket

    def survivors(self, count: int) -> int:
        """How many of ``count`` configurations of a bracket go on to its next rung."""
        return max(1, int(count // self.reduction_factor))


NOISE_LEVEL = 0.05
"""The p-value above which :func:`ranking_is_noise` calls a rung's ranking noise."""
NOISE_MIN_CONFIGS = 8
"""The fewest configurations a rung must rank for :func:`ranking_is_noise` to judge it (fewer: too little power)."""


class RankingNoise(NamedTuple):
    """What :func:`ranking_is_noise` found: the verdict, the p-value of the dispersion test, the standard
    deviation of the accuracies and that of the validation split's sampling noise."""

    noise: bool
    p_value: float
    spread: float
    sampling: float


def ranking_is_noise(accuracies: np.ndarray, num_val: int, num_seeds: int = 1) -> RankingNoise:
    """Whether the validation accuracies a rung ranks differ no more than the validation split's sampling noise.

    Under the hypothesis that every configuration is equally good, each accuracy (mean over
    ``num_seeds``) is its true value plus binomial noise of variance ``p (1 - p) / (num_val *
    num_seeds)``, so their dispersion ``sum((a - mean)**2) / variance`` follows a chi-square
    distribution with ``len(accuracies) - 1`` degrees of freedom. If that hypothesis cannot be
    rejected (p-value above ``NOISE_LEVEL``), the survivors differ from the pruned rows by
    no more than chance would: which of them go on is noise. Rows that share a validation split
    and a start are correlated, which only narrows their spread, so the test errs towards warning.

    Args:
        accuracies: ``(configs,)`` the competing configurations' accuracies (finite values are used).
        num_val: validation examples each accuracy is measured on.
        num_seeds: seeds averaged into each accuracy.

    Returns:
        A :class:`RankingNoise`; its verdict is False (and its numbers NaN) with fewer than
        ``NOISE_MIN_CONFIGS`` finite values.
    """
    from scipy import special

    values = np.asarray(accuracies, np.float64)
    values = values[np.isfinite(values)]
    if len(values) < NOISE_MIN_CONFIGS or num_val < 1:
        return RankingNoise(False, math.nan, math.nan, math.nan)
    mean = float(values.mean())
    variance = max(mean * (1 - mean), 1 / num_val) / (num_val * num_seeds)  # never zero: one example's worth
    dispersion = float(np.sum((values - mean) ** 2) / variance)
    p_value = float(special.gammaincc((len(values) - 1) / 2, dispersion / 2))  # chi-square survival function
    return RankingNoise(p_value > NOISE_LEVEL, p_value, float(values.std(ddof=1)), math.sqrt(variance))


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
            raise errors.ConfigError(
                f"{errors.arg('PBT.fraction')} must be in (0, 0.5] (the bottom and top parts may not overlap), "
                f"got {fraction!r}"
            )
        factors = tuple(self.perturb) if isinstance(self.perturb, Sequence) else ()
        if not factors or not all(
            isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 < f < math.inf for f in factors
        ):
            raise errors.ConfigError(
                f"{errors.arg('PBT.perturb')} must be a non-empty sequence of positive factors, got {self.perturb!r}"
            )
        object.__setattr__(self, "perturb", tuple(float(f) for f in factors))
        if self.hyperparameters is not None:
            names = (self.hyperparameters,) if isinstance(self.hyperparameters, str) else tuple(self.hyperparameters)
            for name in names:
                if name not in PERTURBABLE:
                    if name in hyperparams.NAMES:
                        raise errors.ConfigError(
                            f"PBT cannot perturb {name!r}: it only acts when the weights are initialized"
                        )
                    raise _checks.unknown_name("hyperparameter to perturb", name, PERTURBABLE)
            object.__setattr__(self, "hyperparameters", names)

    def interval_for(self, num_epochs: int) -> int:
        """The interval in epochs for a run of ``num_epochs``.

        Raises:
            ValueError: the interval is not shorter than the run (PBT would never act).
        """
        interval = self.interval if self.interval is not None else max(1, num_epochs // 10)
        if interval >= num_epochs:
            raise errors.ConfigError(
                f"{errors.arg('PBT.interval')} (={interval}) must be shorter than {errors.arg('num_epochs')} "
                f"(={num_epochs})"
            )
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
            raise errors.ConfigError(
                f"PBT would perturb {name!r}, which only the {user} reads (this sweep: {optimizer}, {schedule})"
            )
        for name in names:
            if name not in swept and getattr(base, name) is None:
                raise errors.ConfigError(
                    f"PBT cannot perturb {name!r}: it is off (None) in this sweep; give it a value"
                )
        return names

    def exploit(self, scores: np.ndarray, rng: np.random.Generator, finished: "ArrayLike | None" = None) -> np.ndarray:
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
            top, bottom = order[:count], order[len(order) - count :]
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


Scheduler = ASHA | Hyperband | PBT
_BY_NAME = {"asha": ASHA, "hyperband": Hyperband, "pbt": PBT}


def resolve(scheduler: Any) -> Scheduler | None:
    """``None``, ``"asha"``, ``"hyperband"``, ``"pbt"``, or an :class:`ASHA` / :class:`Hyperband` / :class:`PBT`
    instance, as an instance (or None).

    Raises:
        ValueError: an unknown name. TypeError: anything else.
    """
    if scheduler is None or isinstance(scheduler, (ASHA, Hyperband, PBT)):
        return scheduler
    if isinstance(scheduler, str):
        return _checks.lookup("scheduler", scheduler, _BY_NAME)()
    raise errors.ArgumentTypeError(
        f"scheduler must be None, 'asha', 'hyperband', 'pbt', jaxnn.ASHA(...), "
        f"jaxnn.Hyperband(...) or jaxnn.PBT(...), got {scheduler!r}"
    )
