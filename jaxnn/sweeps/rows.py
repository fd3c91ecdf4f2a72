"""The compiled programs of a sweep: the loop of :mod:`jaxnn.loop` vmapped over rows (configurations x seeds).

:func:`init_rows`, :func:`run_rows` and :func:`finish_rows` are what
:mod:`jaxnn.sweeps.run` (every row to the end) and :mod:`jaxnn.sweeps.scheduled`
(rows between the stages of a scheduler) run; :func:`compile_ahead` compiles a
chunk's programs in the background while its first program runs.
"""

import concurrent.futures
import threading
from functools import partial as _partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import interrupts, loop, metrics, parallel, programs
from jaxnn.data import folds as folds_lib
from jaxnn.hyperparams import Hyperparams
from jaxnn.programs import jit_loop, jit_once
from jaxnn.spec import TrainSpec
from jaxnn.typing import Array, ArrayLike

__all__ = [
    "Rows",
    "compile_ahead",
    "finish_folds",
    "finish_rows",
    "init_folds",
    "init_rows",
    "other_metrics",
    "run_folds",
    "run_rows",
    "train_folds",
]


RowArray = Any
"""A field of :class:`Rows`: a ``jax.Array`` on the device, an ``np.ndarray`` once fetched to the host, or a
``jax.ShapeDtypeStruct`` where only shapes and dtypes are described."""


class Rows(NamedTuple):
    """Per-row outputs of a compiled sweep program, shaped ``(seeds, configs, ...)``."""

    params: Any
    history: dict[str, RowArray]
    best_epoch: RowArray
    stopped_epoch: RowArray
    status: RowArray
    test_loss: RowArray
    test_metric: RowArray
    scores: dict[str, RowArray] = {}  # the task's other metrics of each row's params on the validation split


@_partial(jit_once, static_argnames=("spec", "impl", "mesh"))
def init_rows(
    spec: TrainSpec,
    hparams: Hyperparams,
    key_data: Array,
    seeds: Array,
    data: Any,
    impl: str,
    mesh: jax.sharding.Mesh | None = None,
    variants: Array | None = None,
) -> loop.LoopState:
    """:func:`jaxnn.loop.init_state` for every (seed, configuration): row ``(s, c)`` starts from ``fold_in(key, s)``.

    ``variants`` (one per configuration) are the rows' shapes in a padded model (:mod:`jaxnn.sweeps.padding`).

    With ``mesh``, the state is laid out as :func:`run_rows` returns it (rows split over the mesh): XLA
    would leave rows that start equal (biases, the key) replicated, and that other input layout would
    compile ``run_rows`` a second time for the calls after the first."""
    # The key travels as raw data so that every process of a multi-host job can place it.
    key = jax.random.wrap_key_data(key_data, impl=impl)

    def per_seed(seed):
        def one(h, variant):
            return loop.init_state(spec, h, jax.random.fold_in(key, seed), data, variant=variant)

        return jax.vmap(one)(hparams, variants)

    state = jax.vmap(per_seed)(seeds)
    if mesh is None:
        return state
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, parallel.CONFIG_AXIS))
    return jax.lax.with_sharding_constraint(state, rows)


@_partial(jit_loop, static_argnames=("spec", "num_epochs"), donate_argnames=("state",))
def run_rows(spec: TrainSpec, state: loop.LoopState, hparams: Hyperparams, data: Any, num_epochs: int):
    """:func:`jaxnn.loop.run_epochs` for every row, one minibatch order per seed."""

    # hparams: (configs,) shared by the seeds, or (seeds, configs) when rows differ (PBT).
    per_row = jax.tree.leaves(hparams)[0].ndim == 2

    def per_seed(seed_state, hparams):
        # Every configuration of a seed has the same loop key (rows are keyed by seed), and
        # every running one has run the most epochs: shared, unbatched, they make one
        # minibatch order per seed, not one per configuration.
        key, first_epoch = seed_state.key[0], jnp.max(seed_state.epoch)

        def per_config(s, h):
            return loop.run_epochs(spec, s, h, data, num_epochs, loop_key=key, first_epoch=first_epoch, masked=True)

        return jax.vmap(per_config)(seed_state, hparams)

    return jax.vmap(per_seed, in_axes=(0, 0 if per_row else None))(state, hparams)


@_partial(jit_once, static_argnames=("spec",))
def finish_rows(spec: TrainSpec, state: loop.LoopState, data: Any):
    """Every row's best-epoch params (what its ranked columns describe), their test loss and metric, and the
    task's other metrics on the validation split (:func:`other_metrics`)."""
    plan = loop.layout(spec, data)
    names = other_metrics(spec, data)

    def one(s):
        result = loop.finish(spec, s, restore_best=True)
        if np.shape(data.x_test)[0] > 0:
            test_loss, test_metric = loop.evaluate_split(
                spec, plan, result.params, data.x_test, data.y_test, data, split="test"
            )
        else:
            test_loss = test_metric = jnp.asarray(jnp.nan, jnp.float32)
        scores = {}
        if names:
            *_, scores = loop.evaluate_split(
                spec,
                plan,
                result.params,
                data.x_val,
                data.y_val,
                data,
                getattr(data, "val_mask", None),
                split="val",
                names=names,
            )
        return result, test_loss, test_metric, scores

    return jax.vmap(jax.vmap(one))(state)


def other_metrics(spec: TrainSpec, data: Any) -> tuple[str, ...]:
    """The metrics a sweep's table shows beside its ranking metric: the task's others, on the validation split
    (none without one)."""
    if np.shape(data.x_val)[0] == 0:
        return ()
    ranking = spec.metric_for(data.task)[0]
    return tuple(name for name in metrics.for_task(data.task) if name != ranking)


_JITTED: tuple[Any, Any, Any] = (init_rows, run_rows, finish_rows)  # jitted: .trace, .lower
"""The jitted programs themselves, for :func:`compile_ahead` (whatever tests put in their names' place)."""


def compile_ahead(
    spec: TrainSpec,
    epochs_per_call: int,
    hparams: Hyperparams,
    key_data: Array,
    seeds: Array,
    data: Any,
    impl: str,
    mesh: jax.sharding.Mesh,
    variants: Array | None = None,
) -> tuple[concurrent.futures.Future, ...]:
    """A chunk's training and final programs, compiling in background threads while ``init_rows`` compiles and runs.

    Compiled one after another they made most of a small sweep's first call (2 host devices,
    a [30, 16, 1] MLP, 256 rows: ``init_rows`` 0.8 s, ``run_rows`` 2.1 s, ``finish_rows``
    0.25 s of 3.1-3.3 s). Their input is the state as ``init_rows`` lays it out (rows split
    over the mesh), known from its shapes before it exists. Compiled programs are cached by
    JAX as ``jit`` calls' are: the ``jit`` calls that follow, and a later chunk or sweep of the
    same shapes, compile nothing. ``run_rows`` is the longest, so ``finish_rows`` starts tracing
    (Python, holding the GIL) only once ``run_rows`` is lowered; their XLA compiles overlap
    (first small sweep on 2 host devices, 12 interleaved pairs: mean 2.46 -> 2.35 s, faster in 9).
    """
    init, run, finish = _JITTED
    shapes = init.trace(spec, hparams, key_data, seeds, data, impl, mesh=mesh, variants=variants).out_info
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, parallel.CONFIG_AXIS))
    state = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=rows), shapes)
    lowered = threading.Event()

    def compile_run():
        try:
            program = run.lower(spec, state, hparams, data, epochs_per_call)
        finally:
            lowered.set()
        return program.compile()

    def compile_finish():
        lowered.wait()
        return finish.lower(spec, state, data).compile()

    # Submitted first, compile_run is taken by a worker before compile_finish can wait on it (no deadlock).
    return programs.submit(compile_run), programs.submit(compile_finish)


def _unjitted(program: Any) -> Any:
    """The Python function under a jaxnn program (its ``__wrapped__``), to call inside another trace."""
    return program.__wrapped__


@_partial(jit_once, static_argnames=("spec", "impl"))
def init_folds(spec: TrainSpec, hparams: Hyperparams, key_data: Array, seeds: Array, folds: Any, impl: str):
    """:func:`init_rows` for every fold: states shaped ``(folds, seeds, configs, ...)``."""
    init = lambda data: _unjitted(init_rows)(spec, hparams, key_data, seeds, data, impl)  # noqa: E731
    return jax.vmap(init, in_axes=(folds_lib.fold_axes(folds),))(folds)


@_partial(jit_loop, static_argnames=("spec", "num_epochs"), donate_argnames=("state",))
def run_folds(spec: TrainSpec, state: loop.LoopState, hparams: Hyperparams, folds: Any, num_epochs: int):
    """:func:`run_rows` for every fold."""
    run = lambda s, data: _unjitted(run_rows)(spec, s, hparams, data, num_epochs)  # noqa: E731
    return jax.vmap(run, in_axes=(0, folds_lib.fold_axes(folds)))(state, folds)


@_partial(jit_once, static_argnames=("spec",))
def finish_folds(spec: TrainSpec, state: loop.LoopState, folds: Any):
    """:func:`finish_rows` for every fold."""
    finish = lambda s, data: _unjitted(finish_rows)(spec, s, data)  # noqa: E731
    return jax.vmap(finish, in_axes=(0, folds_lib.fold_axes(folds)))(state, folds)


def train_folds(
    spec: TrainSpec,
    chunks: Any,
    hparams: Hyperparams,
    key_data: ArrayLike,
    seeds: ArrayLike,
    folds: Any,
    impl: str,
    bar: Any,
) -> Rows:
    """One chunk of configurations on every fold (cross-validation), from start to finish, ending once every row
    has stopped; ``chunks`` a :class:`jaxnn.sweeps.plan.Plan`, ``bar`` a progress bar. Rows shaped
    ``(folds, seeds, configs, ...)``."""
    state = init_folds(spec, hparams, key_data, seeds, folds, impl)
    history, calls = [], 0
    while calls < chunks.num_calls and (calls == 0 or _any_running(spec, state)):
        interrupts.check()
        state, epochs = run_folds(spec, state, hparams, folds, chunks.epochs_per_call)
        history.append(jax.device_get(epochs))
        calls += 1
        bar.update(1)
    bar.update(chunks.num_calls - calls)
    result, test_loss, test_metric, scores = jax.device_get(finish_folds(spec, state, folds))

    def epochs_of(name: str) -> np.ndarray:
        """(folds, seeds, configs, num_epochs): NaN for epochs skipped once every row had stopped."""
        curve = np.concatenate([h[name] for h in history], axis=3)[..., : spec.num_epochs]
        return np.pad(curve, ((0, 0), (0, 0), (0, 0), (0, spec.num_epochs - curve.shape[3])), constant_values=np.nan)

    return Rows(
        result.params,
        {name: epochs_of(name) for name in loop.HISTORY_KEYS},
        result.best_epoch,
        result.stopped_epoch,
        result.status,
        test_loss,
        test_metric,
        scores,
    )


def _any_running(spec: TrainSpec, state: loop.LoopState) -> bool:
    status, epoch = jax.device_get((state.status, state.epoch))
    return bool(np.any(loop.is_running(spec, state._replace(status=status, epoch=epoch))))
