"""Running a sweep under a scheduler (:mod:`jaxnn.sweeps.schedulers`).

The rows' training states live on the host between stages, as one population
shaped ``(seeds, configs, ...)``. A stage trains some columns of it with the
compiled :func:`~jaxnn.sweeps.run.run_rows` — in chunks that fit in memory,
each padded to a multiple of the device count — and brings the states back.
Between stages the scheduler works on host arrays: ASHA keeps the best columns
(so the next stage's program is compacted to the survivors: pruned rows cost
nothing more), Hyperband does so within each of its brackets (whose rows at the
same epoch train in the same pieces), PBT gathers each seed's rows from their sources and perturbs the
copied hyperparameters. Every stage's program depends only on shapes, so new
values never recompile; a stage's rows all share one epoch count, so rows of a
seed still share their minibatches.
"""

import dataclasses
import json
import math
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import errors, interrupts, loop, parallel, resume
from jaxnn import programs as jaxnn_programs
from jaxnn.hyperparams import Hyperparams
from jaxnn.spec import TrainSpec
from jaxnn.sweeps import rows
from jaxnn.sweeps.schedulers import ASHA, PBT, Hyperband, ranking_is_noise

__all__ = ["NoiseCheck", "Scheduled", "train_scheduled"]

PRUNED = "pruned"  # the table's status of a row that ASHA or Hyperband stopped at a rung


class Context(NamedTuple):
    """What every stage of a scheduled group uses: placed data, keys, the chunk size and the progress bar."""

    mesh: Any
    data: Any
    key_data: Any
    seeds: Any
    impl: str
    chunk: int
    bar: Any
    store: Any = None  # the sweep's jaxnn.resume.RunDirectory, or None
    name: str = "group0"  # the group's prefix in it


class Scheduled(NamedTuple):
    """A scheduled group's outcome, all per row ``(seeds, configs, ...)`` on the host.

    Attributes:
        state: the final loop states; result, test_loss, test_metric: what ``finish_rows`` made of them.
        curves: history name -> ``(seeds, configs, num_epochs)``, each row's lineage's curve under PBT.
        columns: extra table columns, ``(seeds, configs)`` each (``rung`` for ASHA and Hyperband, ``bracket`` for
            Hyperband, ``lineage`` for PBT,
            ``status`` where a scheduler overrides it).
        hparams: the hyperparameters each row ended with (PBT) or None.
        schedules: per (seed, config), the ``(first_epoch, {name: value})`` segments of its lineage (PBT) or None.
        scores: the task's other metrics on the validation split, ``(seeds, configs)`` each (see ``finish_rows``).
    """

    result: loop.TrainResult
    test_loss: np.ndarray
    test_metric: np.ndarray
    curves: dict[str, np.ndarray]
    columns: dict[str, np.ndarray]
    hparams: Hyperparams | None
    schedules: list[list[list]] | None
    scores: dict[str, np.ndarray] = {}


def train_scheduled(
    spec: TrainSpec,
    scheduler: ASHA | Hyperband | PBT,
    columns: Hyperparams,
    num_seeds: int,
    ctx: Context,
    *,
    higher_is_better: bool,
    perturbed: tuple[str, ...] = (),
    rng_seed: int = 0,
    noise: "NoiseCheck | None" = None,
) -> Scheduled:
    """Train a group's configurations (``columns``, each ``(configs,)``) under ``scheduler``; ``noise`` judges
    the rankings of ASHA and Hyperband."""
    num_configs = np.shape(columns.learning_rate)[0]
    hparams = jax.tree.map(lambda column: np.tile(np.asarray(column, np.float32), (num_seeds, 1)), columns)
    population = _Population(
        _init(spec, columns, ctx),
        hparams,
        {name: np.full((num_seeds, num_configs, spec.num_epochs), np.nan, np.float32) for name in loop.HISTORY_KEYS},
    )
    compiled = _Programs(spec, population, ctx)
    if isinstance(scheduler, (ASHA, Hyperband)):
        extra = _successive_halving(spec, scheduler, population, ctx, compiled, higher_is_better, noise)
        schedules = None
    else:
        extra, schedules = _population_based(
            spec, scheduler, population, ctx, compiled, higher_is_better, perturbed, rng_seed
        )
    result, test_loss, test_metric, scores = _finish(spec, population.state, ctx, compiled)
    return Scheduled(
        result,
        test_loss,
        test_metric,
        population.curves,
        extra,
        population.hparams if isinstance(scheduler, PBT) else None,
        schedules,
        scores,
    )


@dataclasses.dataclass
class _Population:
    """The rows between stages, on the host: states (the key as raw key data), hyperparameters, curves."""

    state: loop.LoopState
    hparams: Hyperparams  # (seeds, configs) columns
    curves: dict[str, np.ndarray]  # (seeds, configs, num_epochs)


class _Programs:
    """The programs of a scheduled group, compiled ahead of time in background threads.

    Under ASHA on a GPU every rung has its own number of rows and so its own program;
    compiled one after another when each rung starts, they would take longer than the
    rungs themselves. Submitted together at the start, they compile side by side while
    the first rung trains, and the final evaluation's program with them. Compiled
    programs are kept (:func:`jaxnn.programs.compiled`) by everything they depend on — the
    spec, the epochs per call and the shapes, dtypes and shardings of their arguments — so a
    later sweep of the same shapes neither traces nor compiles them again.
    """

    def __init__(self, spec: TrainSpec, population: "_Population", ctx: Context):
        self._spec, self._ctx, self._population = spec, ctx, population
        self._futures: dict[tuple, Future] = {}

    def _abstract(self, size: int) -> tuple[Any, Any]:
        """Shapes and shardings of a ``size``-column piece of the state and of the hyperparameters."""
        sharding = jax.sharding.NamedSharding(self._ctx.mesh, jax.sharding.PartitionSpec(None, parallel.CONFIG_AXIS))

        def like(leaf, dtype=None):
            return jax.ShapeDtypeStruct(  # noqa: E731
                (leaf.shape[0], size, *leaf.shape[2:]), dtype or leaf.dtype, sharding=sharding
            )

        state = self._population.state
        key_dtype = jax.random.key(0, impl=self._ctx.impl).dtype
        abstract_state = jax.tree.map(like, state)._replace(key=like(state.key[..., 0], key_dtype))
        return abstract_state, jax.tree.map(like, self._population.hparams)

    def _submit(self, kind: str, size: int, epochs_per_call: int) -> None:
        if (kind, size) in self._futures:
            return
        state, hparams = self._abstract(size)
        signature = jax.tree.map(
            lambda a: (a.shape, a.dtype, getattr(a, "sharding", None)), (state, hparams, self._ctx.data)
        )
        key = (kind, self._spec, epochs_per_call, jax.tree.structure(signature), tuple(jax.tree.leaves(signature)))

        def compile_program():
            if kind == "run":
                return rows.run_rows.lower(self._spec, state, hparams, self._ctx.data, epochs_per_call).compile()
            return rows.finish_rows.lower(self._spec, state, self._ctx.data).compile()

        self._futures[kind, size] = jaxnn_programs.compiled(key, compile_program)

    def submit_run(self, sizes: list[int], epochs_per_call: int) -> None:
        for size in sizes:
            self._submit("run", size, epochs_per_call)

    def submit_finish(self, sizes: list[int]) -> None:
        for size in sizes:
            self._submit("finish", size, 0)

    def program(self, kind: str, size: int, epochs_per_call: int = 0) -> Callable[..., Any]:
        """The compiled program for ``size`` columns: submitted ones once compiled, others through ``jit``."""
        future = self._futures.get((kind, size))
        if future is not None:
            return future.result()
        if kind == "run":
            return lambda state, hparams, data: rows.run_rows(self._spec, state, hparams, data, epochs_per_call)
        return lambda state, data: rows.finish_rows(self._spec, state, data)


def _padded_sizes(count: int, ctx: Context, width: int | None = None) -> list[int]:
    return sorted({len(padded) for _, padded in _pieces(np.arange(count), ctx, width)}, reverse=True)


def _rung_width(last_count: int, ctx: Context) -> int | None:
    """The piece width of every rung on CPUs: the last rung's row count (at least 2, a multiple of the
    device count); None elsewhere.

    Every distinct width is a program to compile (about 2 s each for a small MLP on 2 cores),
    while a CPU's cost per row barely depends on how many rows share a call (digits
    [64, 128, 10], ms per epoch for 1, 2, 8, 22, 64 rows: 4.0, 5.3, 16, 42, 113). So on CPUs
    every rung runs in pieces of one narrow program: ASHA over 64 configurations compiles one
    program instead of five, and its rungs cost what their rows cost. Other backends (wide
    programs are nearly free per row there) compile one program per rung, side by side.
    """
    if ctx.mesh.devices.flat[0].platform != "cpu":
        return None
    return -(-max(last_count, 2) // ctx.mesh.size) * ctx.mesh.size  # 2 rows cost 1.3x one row: worth it


def _successive_halving(
    spec: TrainSpec,
    scheduler: ASHA | Hyperband,
    population: _Population,
    ctx: Context,
    programs: _Programs,
    higher_is_better: bool,
    noise: "NoiseCheck | None" = None,
) -> dict[str, np.ndarray]:
    """ASHA (one bracket) or Hyperband (brackets starting at successive rungs): every stage trains the rows still
    active in any bracket from one rung's budget to the next, side by side in the same calls; after it, each
    bracket that has reached its first rung keeps its best ``1/η``."""
    rungs = scheduler.rungs(spec.num_epochs)
    num_seeds, num_configs = np.shape(population.hparams.learning_rate)
    bracket = (
        scheduler.assign(num_configs, spec.num_epochs)
        if isinstance(scheduler, Hyperband)
        else np.zeros(num_configs, np.int64)
    )
    active, rung = np.arange(num_configs), np.zeros(num_configs, np.int64)
    counts = np.zeros((int(bracket.max()) + 1, len(rungs)), np.int64)  # (brackets, stages): rows each trains
    for b in range(len(counts)):
        counts[b, : b + 1] = np.sum(bracket == b)
        for k in range(b + 1, len(rungs)):
            counts[b, k] = scheduler.survivors(counts[b, k - 1])
    totals = counts.sum(axis=0)
    epochs_per_call = math.gcd(*(b - a for a, b in zip((0, *rungs), rungs, strict=False)))
    widths = [_rung_width(int(totals[-1]), ctx)] * len(rungs)
    if widths[0] is None:  # one program per stage: compile them side by side
        programs.submit_run([size for count in totals for size in _padded_sizes(int(count), ctx)], epochs_per_call)
    programs.submit_finish(_padded_sizes(num_configs, ctx))
    ctx.bar.reset(
        total=sum(
            len(list(_pieces(np.arange(n), ctx, width))) * (b - a) // epochs_per_call
            for n, width, a, b in zip(totals, widths, (0, *rungs), rungs, strict=False)
        )
    )
    saver = _Saver(ctx, population)
    first_stage, done = 0, 0
    saved = saver.load()
    if saved is not None:
        first_stage, done, active, rung = (
            saved["stage"],
            saved["pieces"],
            np.array(saved["active"]),
            np.array(saved["rung"]),
        )
    for k in range(first_stage, len(rungs)):
        clock, budget = (0, *rungs)[k], rungs[k]
        saver.enter(k, clock, epochs_per_call, lambda: {"active": active, "rung": rung})  # noqa: B023 (read at save time: the values then)
        _advance(
            spec,
            population,
            active,
            clock,
            budget - clock,
            epochs_per_call,
            ctx,
            programs,
            widths[k],
            skip=done if k == first_stage else 0,
            saver=saver,
        )
        rung[active] = k
        if k + 1 < len(rungs):
            # Only configurations with a seed still training compete: one that stopped early
            # (or diverged) keeps its rung and its best weights, and takes no survivor's slot.
            running = np.any(population.state.status[:, active] == loop.RUNNING, axis=0)
            competing = active[running]
            scores = _best_scores(population, higher_is_better).mean(axis=1)  # over seeds: (2, configs)
            kept = []
            for b in range(min(k, len(counts) - 1) + 1):  # brackets that have reached a rung of theirs
                rows = competing[bracket[competing] == b]
                order = np.lexsort((rows, scores[1][rows], scores[0][rows]))
                kept.append(rows[order[: counts[b, k + 1]]])
                if noise is not None and k == b:  # a bracket's first ranking: the one that prunes the most
                    noise.check(
                        rows,
                        population,
                        scheduler,
                        bracket=b if isinstance(scheduler, Hyperband) else None,
                        rung=k,
                        epochs=budget,
                        higher_is_better=higher_is_better,
                    )
            waiting = active[running & (bracket[active] > k)]  # brackets that start at a later rung: all go on
            active = np.sort(np.concatenate([*kept, waiting]))
            saver.save(k + 1, 0, {"active": active, "rung": rung})
            if not len(active):
                break
    status = np.asarray([[loop.STATUS[int(code)] for code in row] for row in population.state.status], dtype=object)
    pruned = (rung < len(rungs) - 1)[None, :] & (population.state.status == loop.RUNNING)
    columns = {"rung": np.broadcast_to(rung, (num_seeds, num_configs)), "status": np.where(pruned, PRUNED, status)}
    if isinstance(scheduler, Hyperband):
        columns["bracket"] = np.broadcast_to(bracket, (num_seeds, num_configs))
    return columns


class NoiseCheck:
    """Warns once per sweep when a bracket's first ranking is noise (:func:`~jaxnn.sweeps.schedulers.ranking_is_noise`).

    Only for accuracy (its sampling noise is binomial, known from the validation split's size)."""

    def __init__(self, metric: str, num_val: int):
        self.metric, self.num_val, self.warned = metric, num_val, False

    def check(
        self,
        rows: np.ndarray,
        population: _Population,
        scheduler: ASHA | Hyperband,
        *,
        bracket: int | None,
        rung: int,
        epochs: int,
        higher_is_better: bool,
    ) -> None:
        """Judge the ranking of the configurations ``rows`` at ``rung`` (``epochs`` epochs) of ``bracket`` (None
        under ASHA) and warn, once, if it is noise; nothing for other metrics or when nobody is pruned there."""
        if self.warned or self.metric != "accuracy" or len(rows) <= scheduler.survivors(len(rows)):
            return
        metric = _best_scores(population, higher_is_better)[0].mean(axis=0)[rows] * (-1 if higher_is_better else 1)
        num_seeds = population.state.status.shape[0]
        found = ranking_is_noise(metric, self.num_val, num_seeds)
        if not found.noise:
            return
        self.warned = True
        where = f"rung {rung} ({epochs} epoch{'s' if epochs != 1 else ''})"
        if bracket is not None:
            where = f"bracket {bracket}'s first rung ({epochs} epoch{'s' if epochs != 1 else ''})"
            advice = (
                f"the brackets that start later still rank longer curves; if this is the task's usual pace, "
                f"give {errors.arg('Hyperband.min_epochs')} past the point where good curves separate"
            )
        else:
            advice = (
                f"the configurations pruned there may be as good as the survivors: use scheduler='hyperband' "
                f"(brackets that start later), or give {errors.arg('ASHA.min_epochs')} past the point where good "
                "curves separate (a short sweep without a scheduler shows where)"
            )
        errors.warn(
            f"the ranking at {where} may be noise: the {len(rows)} configurations' validation accuracies spread by "
            f"{found.spread:.3f} (standard deviation), no more than the validation split's sampling noise "
            f"({found.sampling:.3f} for {self.num_val} examples); {advice}",
            errors.RankingNoiseWarning,
        )


class _Saver:
    """A scheduled group's progress in the sweep's checkpoint directory: the population, the stage and pieces
    done in it, and the scheduler's own variables. Does nothing without a directory."""

    def __init__(self, ctx: Context, population: _Population):
        self.store, self.population = ctx.store, population
        self.name = f"{ctx.name}-population"
        self.path = "" if self.store is None else self.store.file(self.name)

    def _tree(self) -> tuple:
        population = self.population
        return population.state, population.hparams, population.curves

    def load(self) -> dict[str, Any] | None:
        """The saved fields (``stage``, ``pieces``, the scheduler's), with the population restored in place; or None."""
        saved = None if self.store is None else self.store.read(self.name)
        if saved is None:
            return None
        state, hparams, curves = resume.restore_leaves(self.path, self._tree(), saved.pop("population"))
        self.population.state, self.population.hparams, self.population.curves = state, hparams, curves
        return saved

    def save(self, stage: int, pieces: int, fields: dict[str, Any]) -> None:
        """The population after ``pieces`` pieces of ``stage``, with the scheduler's ``fields``."""
        if self.store is not None:
            self.store.write(
                self.name, {"stage": stage, "pieces": pieces, **fields, "population": resume.leaves_of(self._tree())}
            )
            self.store.remove(f"{self.name}-piece")  # after the population that holds it (writes keep their order)

    def enter(self, stage: int, clock: int, epochs_per_call: int, fields: Callable[[], dict[str, Any]]) -> None:
        """Start ``stage`` (from epoch ``clock``); ``fields()`` gives the scheduler's variables to save with it."""
        self.stage, self.clock, self.epochs_per_call, self.fields = stage, clock, epochs_per_call, fields

    def piece_done(self, pieces: int) -> None:
        self.save(self.stage, pieces, self.fields())

    def call_done(self, number: int, calls: int, state: loop.LoopState, columns: np.ndarray) -> None:
        """Piece ``number`` (the population's ``columns``) has run ``calls`` calls of this stage: its state
        (``state``, on the devices) and its curves so far."""
        if self.store is not None:
            stop = self.clock + calls * self.epochs_per_call
            curves = {name: curve[:, columns, self.clock : stop] for name, curve in self.population.curves.items()}
            self.store.write(
                f"{self.name}-piece",
                {
                    "stage": self.stage,
                    "piece": number,
                    "calls": calls,
                    "curves": curves,
                    "state": resume.leaves_of(state),
                },
            )

    def resume_piece(self, number: int, state: loop.LoopState, columns: np.ndarray) -> tuple[loop.LoopState, int]:
        """Piece ``number``'s state and calls done if they were saved in this stage (its curves restored in
        place), else ``state`` and 0."""
        name = f"{self.name}-piece"
        saved = None if self.store is None else self.store.read(name)
        if saved is None or (saved["stage"], saved["piece"]) != (self.stage, number):
            return state, 0
        stop = self.clock + saved["calls"] * self.epochs_per_call
        for curve_name, values in saved["curves"].items():
            self.population.curves[curve_name][:, columns, self.clock : stop] = values
        return resume.place_like(state, resume.restore_leaves(self.store.file(name), state, saved["state"])), saved[
            "calls"
        ]


def _best_scores(population: _Population, higher_is_better: bool) -> np.ndarray:
    """``(2, seeds, configs)``: each row's best-epoch validation metric (lower is better) and loss; inf if unusable."""
    best = population.state.best_epoch

    def at_best(name):
        return np.take_along_axis(population.curves[name], np.maximum(best - 1, 0)[..., None], axis=2)[..., 0]  # noqa: E731

    metric = at_best("val_metric") * (-1 if higher_is_better else 1)
    usable = (best > 0) & (population.state.status != loop.DIVERGED)
    return np.stack([np.where(usable & np.isfinite(v), v, np.inf) for v in (metric, at_best("val_loss"))])


def _population_based(
    spec: TrainSpec,
    pbt: PBT,
    population: _Population,
    ctx: Context,
    programs: _Programs,
    higher_is_better: bool,
    perturbed: tuple[str, ...],
    rng_seed: int,
) -> tuple[dict[str, np.ndarray], list]:
    num_seeds, num_configs = np.shape(population.hparams.learning_rate)
    if num_configs < 2:
        raise errors.ConfigError("PBT needs a population of at least 2 configurations per seed")
    interval = pbt.interval_for(spec.num_epochs)
    bounds = [*range(0, spec.num_epochs, interval), spec.num_epochs]
    epochs_per_call = math.gcd(*(b - a for a, b in zip(bounds, bounds[1:], strict=False)))
    programs.submit_finish(_padded_sizes(num_configs, ctx))
    ctx.bar.reset(total=math.ceil(num_configs / ctx.chunk) * spec.num_epochs // epochs_per_call)
    rng = np.random.default_rng(rng_seed)
    everyone = np.arange(num_configs)
    used: list[Hyperparams] = []
    sources: list[np.ndarray] = []
    saver = _Saver(ctx, population)

    def progress() -> dict[str, Any]:
        return {
            "rng": json.dumps(rng.bit_generator.state),
            "used": resume.leaves_of(tuple(used)),
            "num_used": len(used),
            "sources": np.asarray(sources, np.int64).reshape(len(sources), num_seeds, num_configs),
        }

    first_stage, done = 0, 0
    saved = saver.load()
    if saved is not None:
        first_stage, done = saved["stage"], saved["pieces"]
        rng.bit_generator.state = json.loads(saved["rng"])
        like = tuple([population.hparams] * saved["num_used"])
        used = list(resume.restore_leaves(saver.path, like, saved["used"]))
        sources = list(saved["sources"])
    for k in range(first_stage, len(bounds) - 1):
        start, stop = bounds[k], bounds[k + 1]
        if len(used) == k:
            used.append(population.hparams)
        saver.enter(k, start, epochs_per_call, progress)
        _advance(
            spec,
            population,
            everyone,
            start,
            stop - start,
            epochs_per_call,
            ctx,
            programs,
            skip=done if k == first_stage else 0,
            saver=saver,
        )
        if k + 2 == len(bounds):
            break
        finished = population.state.status == loop.EARLY_STOPPED
        source = pbt.exploit(_latest_scores(population, stop, higher_is_better), rng, finished)
        sources.append(source)
        _exploit_and_explore(pbt, population, source, perturbed, rng)
        saver.save(k + 1, 0, progress())
    owners, schedules = _lineages(used, sources, bounds, perturbed)
    return {"lineage": owners}, schedules


def _exploit_and_explore(
    pbt: PBT, population: _Population, source: np.ndarray, perturbed: tuple[str, ...], rng: np.random.Generator
) -> None:
    """Every row takes the state, curves and hyperparameters of its ``source`` row (``(seeds, configs)``
    indices); a row that copied another perturbs the ``perturbed`` hyperparameters."""
    num_seeds, num_configs = source.shape
    copied = source != np.arange(num_configs)[None, :]
    take = lambda leaf: leaf[np.arange(num_seeds)[:, None], source]  # noqa: E731
    hparams = jax.tree.map(take, population.hparams)
    population.hparams = hparams._replace(
        **{
            name: np.where(copied, pbt.explore(getattr(hparams, name), name, rng), getattr(hparams, name))
            for name in perturbed
        }
    )
    population.state = jax.tree.map(take, population.state)
    population.curves = {name: take(curve) for name, curve in population.curves.items()}


def _latest_scores(population: _Population, epochs: int, higher_is_better: bool) -> np.ndarray:
    """``(seeds, configs)``: each row's validation metric at epoch ``epochs`` (lower is better; inf if unusable)."""
    metric = population.curves["val_metric"][..., epochs - 1] * (-1 if higher_is_better else 1)
    return np.where(np.isfinite(metric) & (population.state.status != loop.DIVERGED), metric, np.inf)


def _lineages(
    used: list[Hyperparams], sources: list[np.ndarray], bounds: list[int], perturbed: tuple[str, ...]
) -> tuple[np.ndarray, list[list[list]]]:
    """Each row's owners (the configuration that trained each interval of its lineage) and its schedule.

    A row's state at the start of interval ``k + 1`` is the state of ``sources[k]`` of it, so its
    lineage is followed backwards from the last interval. The schedule gives every hyperparameter
    at epoch 0 and the perturbed ones at each later interval: the values that trained its weights.
    """
    num_seeds, num_configs = np.shape(used[0].learning_rate)
    owners = np.zeros((num_seeds, num_configs, len(used)), np.int64)
    schedules: list[list[list]] = [[[] for _ in range(num_configs)] for _ in range(num_seeds)]
    for s in range(num_seeds):
        for c in range(num_configs):
            chain = [c]
            for source in reversed(sources):
                chain.append(int(source[s, chain[-1]]))
            owners[s, c] = chain[::-1]
            for k, (owner, hparams) in enumerate(zip(owners[s, c], used, strict=False)):
                names = [n for n, v in hparams._asdict().items() if v is not None] if k == 0 else perturbed
                schedules[s][c].append([bounds[k], {n: float(getattr(hparams, n)[s, owner]) for n in names}])
    return owners, schedules


def _pieces(columns: np.ndarray, ctx: Context, width: int | None = None):
    """``columns`` in pieces of at most ``width`` (default ``ctx.chunk``), each with its padded form
    (the last column repeated up to ``width`` when one is given, so every piece runs one program,
    else up to a multiple of the device count): ``(piece, padded)`` pairs."""
    num_devices, limit = ctx.mesh.size, min(width or ctx.chunk, ctx.chunk)
    for start in range(0, len(columns), limit):
        piece = columns[start : start + limit]
        size = limit if width else -(-len(piece) // num_devices) * num_devices
        yield piece, np.concatenate([piece, np.full(size - len(piece), piece[-1])])


def _to_host(state: loop.LoopState) -> loop.LoopState:
    return parallel.to_host(state._replace(key=jax.random.key_data(state.key)))


def _to_device(state: loop.LoopState, columns: np.ndarray, ctx: Context) -> loop.LoopState:
    placed = parallel.shard_leading_axis(jax.tree.map(lambda leaf: leaf[:, columns], state), ctx.mesh, axis=1)
    return placed._replace(key=jax.random.wrap_key_data(placed.key, impl=ctx.impl))


def _concat_pieces(parts: list[Any]) -> Any:
    return jax.tree.map(lambda *leaves: np.concatenate(leaves, axis=1), *parts)


def _init(spec: TrainSpec, columns: Hyperparams, ctx: Context) -> loop.LoopState:
    parts = []
    for piece, padded in _pieces(np.arange(np.shape(columns.learning_rate)[0]), ctx):
        hparams = parallel.shard_leading_axis(
            jax.tree.map(lambda column, padded=padded: np.asarray(column)[padded], columns), ctx.mesh
        )
        state = rows.init_rows(spec, hparams, ctx.key_data, ctx.seeds, ctx.data, ctx.impl)
        n = len(piece)
        parts.append(jax.tree.map(lambda leaf, n=n: leaf[:, :n], _to_host(state)))
    return _concat_pieces(parts)


def _advance(
    spec: TrainSpec,
    population: _Population,
    active: np.ndarray,
    clock: int,
    num_epochs: int,
    epochs_per_call: int,
    ctx: Context,
    programs: _Programs,
    width: int | None = None,
    *,
    skip: int = 0,
    saver: "_Saver | None" = None,
) -> None:
    """Train the columns ``active`` of the population ``num_epochs`` more epochs (from epoch ``clock``), in place:
    all but the first ``skip`` pieces (trained before a resume), telling ``saver`` (entered into this stage)
    after every call and every piece."""

    calls = num_epochs // epochs_per_call
    for number, (piece, padded) in enumerate(_pieces(active, ctx, width)):
        if number < skip:
            ctx.bar.update(calls)
            continue
        state = _to_device(population.state, padded, ctx)
        hparams = parallel.shard_leading_axis(
            jax.tree.map(lambda c, padded=padded: c[:, padded], population.hparams), ctx.mesh, axis=1
        )
        run = programs.program("run", len(padded), epochs_per_call)
        done = 0
        if saver is not None:
            state, done = saver.resume_piece(number, state, piece)
            ctx.bar.update(done)
        for call in range(done, calls):
            interrupts.check()  # Ctrl-C or SIGTERM stops the sweep here, between calls
            state, epochs = run(state, hparams, ctx.data)
            first = clock + call * epochs_per_call
            for name, values in parallel.to_host(epochs).items():
                population.curves[name][:, piece, first : first + epochs_per_call] = values[:, : len(piece)]
            ctx.bar.update(1)
            if saver is not None:
                saver.call_done(number, call + 1, state, piece)
            status, epoch = parallel.to_host((state.status, state.epoch))
            if not np.any(loop.is_running(spec, state._replace(status=status, epoch=epoch))):
                ctx.bar.update(calls - call - 1)
                break
        for dst, src in zip(jax.tree.leaves(population.state), jax.tree.leaves(_to_host(state)), strict=False):
            dst[:, piece] = src[:, : len(piece)]
        if saver is not None:
            saver.piece_done(number + 1)


def _finish(spec: TrainSpec, state: loop.LoopState, ctx: Context, programs: _Programs):

    parts = []
    for piece, padded in _pieces(np.arange(state.epoch.shape[1]), ctx):
        out = parallel.to_host(programs.program("finish", len(padded))(_to_device(state, padded, ctx), ctx.data))
        n = len(piece)
        parts.append(jax.tree.map(lambda leaf, n=n: leaf[:, :n], out))
    return _concat_pieces(parts)
