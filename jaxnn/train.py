"""Training as one compiled program: ``make_train`` builds it, ``fit`` drives it.

``make_train(model, ...)`` returns a pure ``train(hparams, key, data) ->
TrainResult``: the functions of :mod:`jaxnn.loop` composed, epochs and
minibatches inside ``lax.scan``, early stopping and divergence as masks, so the
same function runs unchanged under ``jax.vmap`` (one program for a whole
hyperparameter sweep). Everything a sweep varies travels in
:class:`Hyperparams` as traced arrays: a new learning rate never recompiles.

``fit`` runs the same functions, compiled, in chunks of epochs so a progress bar
can move and a stopped run ends on the host without computing the remaining epochs.

>>> import jax, jaxnn
>>> data = jaxnn.datasets.load("breast_cancer", seed=0)
>>> model = jaxnn.mlp([data.num_features, 16, 1])
>>> result = jaxnn.fit(model, data, optimizer="sgd", learning_rate=0.1, momentum=0.9,
...                    num_epochs=30, batch_size=32, key=0, progress=False)
>>> result.status
'completed'
"""

import collections
import contextlib
import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxnn import _checks, errors, interrupts, loop, parallel, programs, track
from jaxnn import hyperparams as hyperparams_lib
from jaxnn import metrics as metrics_lib
from jaxnn import resume as resume_lib
from jaxnn.data import DataInfo, Dataset, check_finite_features
from jaxnn.data.labelled import labelled_data
from jaxnn.data.prepare import check_sample_weight
from jaxnn.errors import TrainingDiverged
from jaxnn.hyperparams import Hyperparams
from jaxnn.loop import DIVERGED, HISTORY_KEYS, RUNNING, STATUS, TrainResult, as_key
from jaxnn.models import Model, footprint
from jaxnn.programs import jit_loop
from jaxnn.spec import (
    DEFAULT_LOSS,
    EarlyStopping,
    TrainSpec,
    check_metric_defined,
    class_weights,
    loss_for,
    zeros_of,
)
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "EarlyStopping",
    "HISTORY_KEYS",
    "Hyperparams",
    "STATUS",
    "CVScores",
    "TrainResult",
    "TrainSpec",
    "TrainingDiverged",
    "check_data",
    "check_outputs",
    "evaluate",
    "fit",
    "make_train",
    "predict",
]


def make_train(
    model: Model,
    *,
    num_epochs: int,
    batch_size: int | None = 32,
    optimizer: str = "adam",
    loss: str | Callable | None = None,
    metric: str | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    nesterov: bool = False,
    early_stopping: EarlyStopping | None = None,
    restore_best: bool | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
    class_weight: Sequence[float] | None = None,
) -> Callable[[Hyperparams, PRNGKey, Any], TrainResult]:
    """Build the pure training function ``train(hparams, key, data) -> TrainResult``.

    Args:
        model: what to train.
        num_epochs: passes over the training split (static).
        batch_size: minibatch size; ``None`` is full-batch gradient descent. The
            last partial minibatch is padded and masked, so every example counts
            exactly once per epoch.
        optimizer: a name from :data:`jaxnn.optim.OPTIMIZERS` (static).
        loss: a name from :data:`jaxnn.losses.LOSSES` or a function
            ``(outputs, targets, *, mask) -> scalar``; by default chosen from the
            data's task.
        metric: the validation metric's name (see :mod:`jaxnn.metrics`); by default from the task.
        schedule: learning-rate schedule name (see :func:`jaxnn.schedule`).
        warmup_steps: for ``"warmup_cosine"``.
        nesterov: Nesterov momentum for sgd/rmsprop.
        early_stopping: an :class:`EarlyStopping`, or None to run every epoch.
        restore_best: return the best epoch's parameters (default: when the data has a
            validation split; see :class:`jaxnn.TrainSpec`).
        reduce_on_plateau: options for ``optax.contrib.reduce_on_plateau``,
            evaluated on the epoch's training loss.
        class_weight: a weight per class index multiplying each example's loss, or None
            (:func:`jaxnn.spec.class_weights` makes one from ``"balanced"`` or a mapping).

    Returns:
        A pure function: jit it, vmap it over ``hparams`` and ``key``.

    Raises:
        ConfigError: a setting out of range or one that would do nothing (``nesterov`` with
            adam, ``warmup_steps`` without ``"warmup_cosine"``).
    """
    spec = TrainSpec(
        model,
        num_epochs=num_epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        loss=loss,
        metric=metric,
        schedule=schedule,
        warmup_steps=warmup_steps,
        nesterov=nesterov,
        early_stopping=early_stopping,
        restore_best=restore_best,
        reduce_on_plateau=reduce_on_plateau,
        class_weight=None if class_weight is None else tuple(class_weight),
    )
    hyperparams_lib.check_used(
        (),
        optimizers=[spec.optimizer],
        schedules=[spec.schedule],
        nesterov=spec.nesterov,
        warmup_steps=spec.warmup_steps,
        names_known=False,  # the hyperparameters come with each call
    )
    return functools.partial(loop.train, spec)


def check_data(data: Any) -> None:
    """Raise :class:`~jaxnn.errors.DataTypeError` unless ``data`` is a :class:`jaxnn.Dataset`."""
    if not isinstance(data, Dataset):
        raise errors.DataTypeError(
            f"data must be a jaxnn.Dataset, got {type(data).__name__}; wrap arrays with "
            f"jaxnn.datasets.from_arrays(x, y) or load one with jaxnn.datasets.load(name)"
        )


class _Splitter(Protocol):
    """A scikit-learn cross-validation splitter (e.g. ``KFold(5)``), as ``fit`` and ``sweep`` take for ``cv``."""

    def split(self, *args: Any, **kwargs: Any) -> Any: ...


@overload
def fit(
    model: Model,
    data: Any,
    *,
    key: PRNGKey | int,
    hyperparams: Hyperparams | None = None,
    optimizer: str = "adam",
    num_epochs: int = 100,
    batch_size: int | None = 32,
    nesterov: bool = False,
    schedule: str = "constant",
    warmup_steps: int = 0,
    loss: str | Callable | None = None,
    metric: str | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    early_stopping: EarlyStopping | None = None,
    restore_best: bool | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
    progress: bool = True,
    on_divergence: str = "raise",
    num_chunks: int | None = None,
    params: Params | None = None,
    devices: Any = None,
    hyperparameter_schedule: Sequence[tuple[int, dict[str, float]]] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool | None = None,
    log: Any = None,
    cv: None = None,
    refit: bool = True,
    **hyperparameters: Any,
) -> TrainResult: ...


@overload
def fit(
    model: Model,
    data: Any,
    *,
    key: PRNGKey | int,
    hyperparams: Hyperparams | None = None,
    optimizer: str = "adam",
    num_epochs: int = 100,
    batch_size: int | None = 32,
    nesterov: bool = False,
    schedule: str = "constant",
    warmup_steps: int = 0,
    loss: str | Callable | None = None,
    metric: str | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    early_stopping: EarlyStopping | None = None,
    restore_best: bool | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
    progress: bool = True,
    on_divergence: str = "raise",
    num_chunks: int | None = None,
    params: Params | None = None,
    devices: Any = None,
    hyperparameter_schedule: Sequence[tuple[int, dict[str, float]]] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool | None = None,
    log: Any = None,
    cv: int | _Splitter,
    refit: bool = True,
    **hyperparameters: Any,
) -> "CVScores": ...


def fit(
    model: Model,
    data: Any,
    *,
    key: PRNGKey | int,
    hyperparams: Hyperparams | None = None,
    optimizer: str = "adam",
    num_epochs: int = 100,
    batch_size: int | None = 32,
    nesterov: bool = False,
    schedule: str = "constant",
    warmup_steps: int = 0,
    loss: str | Callable | None = None,
    metric: str | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    early_stopping: EarlyStopping | None = None,
    restore_best: bool | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
    progress: bool = True,
    on_divergence: str = "raise",
    num_chunks: int | None = None,
    params: Params | None = None,
    devices: Any = None,
    hyperparameter_schedule: Sequence[tuple[int, dict[str, float]]] | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool | None = None,
    log: Any = None,
    cv: Any = None,
    refit: bool = True,
    **hyperparameters: Any,
) -> "TrainResult | CVScores":
    """Train ``model`` on ``data`` and return the trained parameters and history.

    The whole run is one compiled program (epochs and minibatches in ``lax.scan``) that ``fit``
    calls in chunks of epochs, so a progress bar moves, Ctrl-C stops it within about a second
    (at the next chunk boundary), and an early-stopped run ends without computing the remaining
    epochs. How a run is chunked never changes its result: the same arguments give bitwise the
    same parameters with any ``num_chunks``, with or without ``checkpoint_dir``, resumed or not.
    Calling ``fit`` again with other hyperparameter values reuses the compiled program.

    Args:
        model: a :class:`jaxnn.Model`.
        data: a :class:`jaxnn.Dataset` (see :mod:`jaxnn.datasets`).
        key: an int seed or a PRNG key; it fixes the initialization, the
            shuffling and dropout, so the same key reproduces the run bitwise.
        hyperparams: a :class:`jaxnn.Hyperparams` with the run's hyperparameters, instead of (or
            beside, for other fields) the keywords below.
        optimizer: ``"gd"``, ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` or ``"adagrad"``.
        num_epochs: passes over the training split.
        batch_size: minibatch size, or None for full-batch gradient descent.
        nesterov: Nesterov momentum (sgd, rmsprop).
        schedule, warmup_steps: the learning-rate schedule (see :func:`jaxnn.schedule`).
        loss: by default chosen from ``data.task``.
        metric: the validation metric (a name of :data:`jaxnn.metrics.METRICS` that fits ``data.task``),
            computed in the compiled program every epoch: what ``early_stopping`` with
            ``monitor="val_metric"`` follows in its direction. Default: accuracy for classes, mean
            squared error for a regression (in the target's units).
        class_weight: ``"balanced"`` (each class weighs the same in the loss: ``n / (num_classes *
            count)`` over the training rows) or a mapping from class label to weight (1 for classes left
            out); it multiplies each example's training and validation loss (and its sample weight,
            ``data.w_train``), not the metrics. None: every class weighs 1.
        early_stopping: a :class:`EarlyStopping` or None.
        restore_best: return the parameters of the epoch with the best validation loss (or the
            monitored value) instead of the last epoch's. Default: yes when the data has a
            validation split (as a sweep does), unless ``early_stopping`` says otherwise.
            ``result.params_epoch`` says which epoch the parameters are from.
        reduce_on_plateau: options for ``optax.contrib.reduce_on_plateau``.
        progress: show a tqdm progress bar.
        on_divergence: ``"raise"`` (:class:`TrainingDiverged`) or ``"return"``
            (status ``"diverged"`` with the best finite parameters).
        num_chunks: how many compiled calls the run is split into (default: enough that each
            takes well under a second on any machine, by the model's arithmetic, and at least 20
            with a progress bar; calls are queued ahead, so each costs ~0.1 ms).
        params: start from these parameters instead of a fresh initialization
            (``init_scale`` is then not applied); the key still drives shuffling and dropout.
        devices: data parallelism. None trains on the default device; an int n
            (the first n local devices), ``"all"`` or a list of devices splits
            every minibatch across them while params and optimizer state stay
            replicated (XLA all-reduces the gradient). A batch that does not
            divide evenly is padded with masked slots, so the result equals the
            single-device run up to float rounding.
        hyperparameter_schedule: hyperparameters that change during the run, as
            ``(first_epoch, {name: value})`` pairs in increasing epoch order: from
            ``first_epoch`` on, the named hyperparameters take these values (an entry
            at epoch 0 replaces the keyword values). This is what
            :meth:`jaxnn.SweepResult.schedule` gives for a PBT row, so the row can be
            trained again here. New values never recompile.
        checkpoint_dir: a directory to save the run's loop state in (params, optimizer
            state, best params, early-stopping counters, status, epoch, key and the
            history so far), atomically, every ``checkpoint_every`` epochs. If it holds
            the state of a run with the same arguments, ``fit`` continues from there
            (see ``resume``), and the result is bitwise the uninterrupted run's (on the same
            devices); a finished run's state returns its result without training. A
            directory of a run with other arguments is refused with a message naming them,
            and one in use by another running process is refused naming the process. A run
            that fails before its first save leaves the directory as it found it.
        checkpoint_every: epochs between saves (default: a twentieth of the run).
        resume: with ``checkpoint_dir``: ``None`` continues a saved run if there is one and
            starts one otherwise; ``True`` requires a saved run; ``False`` refuses a directory
            that holds one (so nothing is continued by accident).
        log: where to log the run (:mod:`jaxnn.track`): None (no log), a directory path (a
            TensorBoard log), :class:`jaxnn.track.TensorBoard`, :class:`jaxnn.track.MLflow`, or a
            list of them. The log is opened (and checked) before training and written once the
            run has ended: its hyperparameters, its history per epoch, its best and final values,
            and for MLflow the model file. The same run again (a resumed one, or the same
            arguments) adds nothing the log holds already.
        cv: k-fold cross-validation instead of one run: the number of folds (stratified for classes) or
            a scikit-learn splitter. The folds train side by side in one compiled program (as
            :func:`jaxnn.sweep` with ``cv=``), and ``fit`` returns a :class:`jaxnn.train.CVScores`
            with each fold's best validation metric and loss. The data must have no validation split.
            Not with ``checkpoint_dir``, ``log``, ``params``, ``devices`` or ``hyperparameter_schedule``.
        refit: with ``cv``, also train on all the training data (``scores.refit``, a :class:`TrainResult`).
        **hyperparameters: the fields of :class:`jaxnn.Hyperparams` (``learning_rate``,
            ``weight_decay``, ``momentum``, ``b1``, ``b2``, ``dropout``, ``init_scale``,
            ``decay_rate``, ``final_fraction``, ``clip_norm``), defaults from
            :data:`jaxnn.hyperparams.TABLE`. One that the optimizer or schedule does not read
            (``momentum`` with adam) is refused.

    Returns:
        A :class:`TrainResult` whose history covers the epochs that ran.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (unless on_divergence="return").
        ConfigError, DataError: bad arguments or data, named in the message, before anything compiles: e.g. a
            ``metric`` that does not fit the task, ``"roc_auc"`` with a validation split that lacks a class.
        CheckpointError: ``checkpoint_dir`` holds another run's state, a damaged one, or is in use.
        Interrupted: Ctrl-C (a ``KeyboardInterrupt``) arrived; with ``checkpoint_dir`` the state so
            far is saved there.
        jaxnn.errors.LogError: before training, ``log`` cannot be written (an unwritable directory, an
            unreachable MLflow server); after training, writing it failed (``.result`` holds the result).
        jaxnn.errors.MissingExtraError: ``log`` needs an extra that is not installed.
    """
    check_data(data)
    if cv is not None:
        others = {
            "checkpoint_dir": checkpoint_dir,
            "log": log,
            "params": params,
            "devices": devices,
            "hyperparameter_schedule": hyperparameter_schedule,
        }
        given = [name for name, value in others.items() if value is not None]
        if given:
            raise errors.ConfigError(f"{errors.arg('cv')} cannot be combined with {errors.arg(given[0])} (yet)")
        options = {
            "optimizer": optimizer,
            "num_epochs": num_epochs,
            "batch_size": batch_size,
            "nesterov": nesterov,
            "schedule": schedule,
            "warmup_steps": warmup_steps,
            "loss": loss,
            "metric": metric,
            "early_stopping": early_stopping,
        }
        return _fit_folds(model, data, key, cv, refit, hyperparams, options, progress, hyperparameters)
    if on_divergence not in ("raise", "return"):
        raise errors.ConfigError(f"{errors.arg('on_divergence')} must be 'raise' or 'return', got {on_divergence!r}")
    values, named = hyperparams_lib.resolve(hyperparams, hyperparameters)
    segments = _segments(scalar_hyperparams(values), hyperparameter_schedule, num_epochs)
    spec = TrainSpec(
        model,
        num_epochs=num_epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        loss=loss,
        metric=metric,
        schedule=schedule,
        warmup_steps=warmup_steps,
        nesterov=nesterov,
        early_stopping=early_stopping,
        restore_best=restore_best,
        reduce_on_plateau=reduce_on_plateau,
        class_weight=class_weights(class_weight, data),
        data_devices=None if devices is None else tuple(parallel.resolve_devices(devices)),
        zeros=zeros_of({name: [getattr(h, name) for _, h in segments] for name in ("momentum", "weight_decay")}),
    )
    scheduled = {
        name
        for _, h in segments
        for name, row in hyperparams_lib.BY_NAME.items()
        if not hyperparams_lib.is_default(name, getattr(h, name))
    }
    hyperparams_lib.check_used(
        named | scheduled,
        optimizers=[spec.optimizer],
        schedules=[spec.schedule],
        nesterov=spec.nesterov,
        warmup_steps=spec.warmup_steps,
    )
    plan = loop.layout(spec, data)  # the data against the spec, before anything compiles
    check_metric_defined(spec, data)
    params = None if params is None else _checked_params(model, params)
    chunk = _epochs_per_call(spec, data, num_chunks, progress, checkpoint_dir is not None, checkpoint_every)
    arguments = None if checkpoint_dir is None else _run_arguments(spec, segments, data, key, params)
    advice = f"use a smaller model or a smaller {errors.arg('batch_size')}"
    # Ctrl-C and SIGTERM wait for a boundary between compiled calls (never land inside XLA or a compile).
    with (
        resume_lib.open_run(checkpoint_dir, "fit", arguments, resume=resume) as store,
        programs.out_of_memory("training this model", advice),
        interrupts.deferred(),
    ):
        run_log = None if log is None else _open_log(log, spec, segments, data, key, params)
        placed_data, placed, placed_params = _place(spec, data, tuple(h for _, h in segments), params)

        def train() -> TrainResult:
            return _run(
                spec,
                [(first, h) for (first, _), h in zip(segments, placed, strict=False)],
                _seed_or_key(key),
                placed_data,
                placed_params,
                chunk,
                progress,
                store,
                spec.restores_best(plan.has_val),
            )

        result = track.logged(run_log, train, lambda result: _log_outcome(run_log, spec, segments, data, result))
    if result.status == STATUS[DIVERGED] and on_divergence == "raise":
        raise TrainingDiverged(result.stopped_epoch, result)
    return result


def _open_log(
    log: Any, spec: TrainSpec, segments: list[tuple[int, Hyperparams]], data: Any, key: Any, params: Params | None
) -> Any:
    """The fit's log (:mod:`jaxnn.track`), opened before training."""
    from jaxnn.track import describe  # imports jaxnn.sweeps, which imports this module

    hparams = _logged_hyperparameters(segments)
    metric, _, higher_is_better = spec.metric_for(data.task)
    schedule = [(first, _logged_hyperparameters([(0, h)])) for first, h in segments[1:]]
    settings = describe.settings(
        spec,
        data,
        key=resume_lib.describe(as_key(key)),
        hyperparameter_schedule=str(schedule) if schedule else None,
        params="initialized" if params is None else "given",
    )
    run = track.RunInfo(
        kind="fit",
        fingerprint=describe.fingerprint("fit", _run_arguments(spec, segments, data, key, params)),
        settings=settings,
        hyperparameters={name: [value] for name, value in hparams.items()},
        metric=metric,
        higher_is_better=higher_is_better,
        num_epochs=spec.num_epochs,
        num_rows=1,
    )
    return track.open_log(log, run)


def _logged_hyperparameters(segments: list[tuple[int, Hyperparams]]) -> dict[str, Any]:
    """The first segment's hyperparameters that are on, as the log shows them."""
    from jaxnn.track.describe import loggable

    return {name: loggable(np.float32(value)) for name, value in segments[0][1]._asdict().items() if value is not None}


def _log_outcome(
    run_log: Any, spec: TrainSpec, segments: list[tuple[int, Hyperparams]], data: Any, result: TrainResult
) -> Any:
    """Hand the finished fit to its log as one row; its outcome (no model file of a run that diverged)."""
    from jaxnn.track.rows import fit_row  # imports jaxnn.sweeps, which imports this module

    metric, _, _ = spec.metric_for(data.task)
    run_log.rows(
        [
            fit_row(
                jax.device_get(result.history),
                hyperparameters=_logged_hyperparameters(segments),
                status=result.status,
                best_epoch=int(result.best_epoch),
                stopped_epoch=int(result.stopped_epoch),
                metric=metric,
            )
        ]
    )
    if result.status == STATUS[DIVERGED]:
        return track.Outcome("finished")
    return track.Outcome("finished", ".", spec.model, result.params, data)


SECONDS_PER_CALL = 0.5
"""The longest a compiled call of ``fit`` should take, for Ctrl-C to stop a run about this fast."""

SLOWEST_FLOPS = 1e9
"""Floating-point operations per second that :func:`_epochs_per_call` assumes (slower than any machine
jaxnn runs on: small models reach 10 GFLOP/s on a laptop core, larger ones 100 and more)."""


def _epochs_per_call(
    spec: TrainSpec, data: Any, num_chunks: int | None, progress: bool, checkpointed: bool, checkpoint_every: int | None
) -> int:
    """Epochs per compiled call of ``fit``: ``checkpoint_every`` when it saves (a save follows every call;
    default a twentieth of the run), ``num_epochs / num_chunks`` when given, else few enough epochs that
    a call takes at most :data:`SECONDS_PER_CALL` at :data:`SLOWEST_FLOPS` (and at least 20 calls with a
    progress bar). The chunking never changes the result (tested bitwise)."""
    num_epochs = spec.num_epochs
    if checkpointed:
        if checkpoint_every is None:
            return math.ceil(num_epochs / 20)
        return _checks.positive_int("checkpoint_every", checkpoint_every)
    if num_chunks is not None:
        return math.ceil(num_epochs / min(_checks.positive_int("num_chunks", num_chunks), num_epochs))
    calls = math.ceil(num_epochs * _epoch_flops(spec, data) / SLOWEST_FLOPS / SECONDS_PER_CALL)
    calls = min(max(calls, 20 if progress else 1), num_epochs)
    return math.ceil(num_epochs / calls)


def _epoch_flops(spec: TrainSpec, data: Any) -> float:
    """An epoch's arithmetic: forward, backward (twice the forward) on the training split, forward on the validation split."""
    forward = footprint(spec.model, tuple(np.shape(data.x_train)[1:])).flops
    return forward * (3 * np.shape(data.x_train)[0] + np.shape(data.x_val)[0])


def _run(
    spec: TrainSpec,
    segments: list[tuple[int, Hyperparams]],
    key: Any,
    data: Any,
    params: Params | None,
    chunk: int,
    progress: bool,
    store: "resume_lib.RunDirectory | None",
    restore_best: bool,
) -> TrainResult:
    """The run of ``fit``: initialize, the epochs in calls of ``chunk`` (shorter where a segment of ``segments``
    ends), finish; host ints for the epochs and the status's name."""
    state = loop.init_state_jit(spec, segments[0][1], key, data, params)
    if spec.data_devices is not None and len(spec.data_devices) == 1:  # committed as every later call's state is,
        state = jax.device_put(state, spec.data_devices[0])  # or the loop would compile a second program
    state, history = _run_in_chunks(spec, state, segments, data, chunk, progress, store)
    result = loop.finish_jit(spec, state, restore_best)
    best_epoch, stopped_epoch, status, params_epoch = map(
        int, jax.device_get((result.best_epoch, result.stopped_epoch, result.status, result.params_epoch))
    )
    return result._replace(
        history=history,
        best_epoch=best_epoch,
        stopped_epoch=stopped_epoch,
        status=STATUS[status],
        params_epoch=params_epoch,
    )


def _run_arguments(
    spec: TrainSpec, segments: list[tuple[int, Hyperparams]], data: Any, key: Any, params: Params | None
) -> dict[str, str]:
    """What makes a fit the run it is, as short strings: a resumed run must match every one."""
    options = {
        name: getattr(spec, name)
        for name in (
            "num_epochs",
            "batch_size",
            "optimizer",
            "loss",
            "metric",
            "schedule",
            "warmup_steps",
            "nesterov",
            "early_stopping",
            "reduce_on_plateau",
        )
    }
    if spec.class_weight is not None:  # only when given: the runs saved before class weights existed still match
        options["class_weight"] = spec.class_weight
    values = lambda h: {name: str(np.float32(v)) for name, v in h._asdict().items() if v is not None}  # noqa: E731
    return {
        "model": resume_lib.model_description(spec.model),
        "data": resume_lib.data_digest(data),
        "key": resume_lib.describe(as_key(key)),
        "params": "initialized" if params is None else resume_lib.tree_digest(params),
        "devices": str(1 if spec.data_devices is None else len(spec.data_devices)),
        **values(segments[0][1]),
        "hyperparameter_schedule": resume_lib.describe([(first, values(h)) for first, h in segments[1:]]),
        **{name: resume_lib.describe(value) for name, value in options.items()},
    }


def _segments(hparams: Hyperparams, schedule: Any, num_epochs: int) -> list[tuple[int, Hyperparams]]:
    """``(first_epoch, hparams)`` of each stretch of a run: ``hparams`` changed by ``schedule``.

    Raises:
        ArgumentTypeError, ConfigError: an entry that is not a ``(first_epoch, {name: value})`` pair, epochs not
            increasing or not inside the run, unknown names, values out of range, ``init_scale`` after
            epoch 0, or a hyperparameter that is off (None) at the start turned on later.
    """
    segments = [(0, hparams)]
    if schedule is None:
        return segments
    previous = -1
    for entry in schedule:
        if not (isinstance(entry, Sequence) and len(entry) == 2 and isinstance(entry[1], dict)):
            raise errors.ArgumentTypeError(
                f"each {errors.arg('hyperparameter_schedule')} entry must be a "
                f"(first_epoch, {{name: value}}) pair, got {entry!r}"
            )
        first, values = _checks.positive_int("hyperparameter_schedule epoch", entry[0], minimum=0), entry[1]
        if first <= previous or first >= num_epochs:
            raise errors.ConfigError(
                f"{errors.arg('hyperparameter_schedule')} epochs must increase and lie in "
                f"[0, num_epochs={num_epochs}); got {first} after {previous}"
            )
        previous, current = first, segments[-1][1]
        for name, value in values.items():
            if name not in hyperparams_lib.NAMES:
                raise _checks.unknown_name("hyperparameter", name, hyperparams_lib.NAMES)
            if first > 0 and name == "init_scale":
                raise errors.ConfigError("init_scale only acts when the weights are initialized: set it at epoch 0")
            if first > 0 and getattr(current, name) is None:
                raise errors.ConfigError(
                    f"{name} is off (None) at the start of the run and cannot be turned on at "
                    f"epoch {first}; give it a value from epoch 0"
                )
            hyperparams_lib.check_value(name, value)
        changed = scalar_hyperparams(current._replace(**values))
        segments[-1:] = [(0, changed)] if first == 0 else [segments[-1], (first, changed)]
    return segments


def scalar_hyperparams(hparams: Hyperparams) -> Hyperparams:
    """One configuration's (checked) :class:`Hyperparams` as float32 host scalars.

    Raises:
        ConfigError: a value that is not a scalar (``jaxnn.sweep`` takes many values).
    """
    for name in hyperparams_lib.NAMES:
        value = getattr(hparams, name)
        if value is not None and np.ndim(value) != 0:
            raise errors.ConfigError(
                f"{errors.arg(name)} must be a scalar in fit (got shape {np.shape(value)}); "
                "use jaxnn.sweep for many values"
            )
    return jax.tree.map(np.float32, hparams)  # host scalars: placed on the device with the data, in one transfer


def _seed_or_key(key: PRNGKey | int) -> PRNGKey | np.int32:
    """An int seed that fits int32 stays a seed (the key is made inside the compiled init, which saves a
    device call); anything else becomes a key here (the same key either way)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < 2**31:
        return np.int32(key)
    return as_key(key)


def _checked_params(model: Model, params: Params) -> Params:
    """``params`` cast to the model's dtypes, or a ConfigError showing the expected shapes."""
    expected = jax.eval_shape(model.init, jax.random.key(0))
    if jax.tree.structure(params) != jax.tree.structure(expected) or any(  # type: ignore[operator]  # jaxlib's stub leaves PyTreeDef unresolved; it compares with !=
        np.shape(a) != b.shape for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(expected), strict=False)
    ):
        raise errors.ConfigError(
            f"{errors.arg('params')} do not fit the model: expected shapes {jax.tree.map(lambda a: a.shape, expected)}, "
            f"got {jax.tree.map(np.shape, params)}"
        )
    return jax.tree.map(lambda a, b: jnp.asarray(a, b.dtype), params, expected)


def _place(spec: TrainSpec, data: Any, hparams: tuple[Hyperparams, ...], params: Params | None):
    """Put the data, hyperparameters and params on the spec's devices (replicated for data parallelism)."""
    if spec.data_devices is not None and len(spec.data_devices) > 1:
        replicated = NamedSharding(parallel.data_mesh(spec.data_devices), PartitionSpec())
        return (data.on(replicated), *jax.device_put((hparams, params), replicated))
    # Host scalars go into the compiled call as they are: its own transfer of them is the cheapest.
    return data.on(None if spec.data_devices is None else spec.data_devices[0]), hparams, params


class _Call(NamedTuple):
    """A compiled call of :func:`_run_in_chunks` in flight: its history and counters (not yet read)."""

    history: dict[str, Array]
    counters: Array  # [epoch, status] after the call
    state: loop.LoopState | None  # the state after it, when a checkpoint will save it


def _run_in_chunks(
    spec: TrainSpec,
    state: loop.LoopState,
    segments: list[tuple[int, Hyperparams]],
    data: Any,
    chunk: int,
    progress: bool,
    store: "resume_lib.RunDirectory | None",
) -> tuple[loop.LoopState, dict[str, np.ndarray]]:
    """Run the epochs in calls of ``chunk`` epochs (shorter where a segment of ``segments`` ends), moving a
    progress bar and saving the state to ``store`` after each call; continue from the state ``store`` holds;
    stop once the run has stopped.

    Without a store, the next call is queued before the last one's results are read (the device never
    waits for the host: a call then costs ~0.1 ms instead of ~0.4); a call queued after the run stopped
    trains nothing (a stopped run skips its epochs). With a store, each call's state is saved before the
    next starts (the next call consumes it).
    """
    starts = [first for first, _ in segments]
    epoch, status, done = 0, RUNNING, {name: np.zeros(0, np.float32) for name in HISTORY_KEYS}
    saved = None if store is None else store.read("state")
    if saved is not None:
        assert store is not None  # only a store holds a saved state
        state = resume_lib.place_like(state, resume_lib.restore_leaves(store.file("state"), state, saved["state"]))
        epoch, status, done = int(saved["epoch"]), int(saved["status"]), saved["history"]
    queued: collections.deque[_Call]
    rows, queued, planned = [done], collections.deque(), epoch
    depth = 1 if store is not None else 2
    with _progress_bar(spec.num_epochs, progress) as bar, _flushed(store), _drained(queued), interrupts.deferred():
        bar.update(epoch)
        while True:
            interrupts.check()  # Ctrl-C or SIGTERM stops the run here, between calls
            while status == RUNNING and planned < spec.num_epochs and len(queued) < depth:
                segment = max(i for i, first in enumerate(starts) if first <= planned)
                length = chunk if segment + 1 == len(starts) else min(chunk, starts[segment + 1] - planned)
                state, history, counters = loop.advance_jit(spec, state, segments[segment][1], data, length)
                queued.append(_Call(history, counters, state if store is not None else None))
                planned += length
            if not queued:
                break
            call = queued.popleft()
            history, (new_epoch, status) = jax.device_get((call.history, call.counters))
            rows.append({name: history[name][: int(new_epoch) - epoch] for name in HISTORY_KEYS})
            epoch, status = int(new_epoch), int(status)
            bar.update(epoch - bar.n)
            if len(rows[-1]["train_loss"]):
                bar.set_postfix(
                    {name: f"{rows[-1][name][-1]:.4g}" for name in ("train_loss", "val_loss", "val_metric")}
                )
            if store is not None:
                history = {name: np.concatenate([row[name] for row in rows]) for name in HISTORY_KEYS}
                store.write(
                    "state",
                    {"epoch": epoch, "status": status, "history": history, "state": resume_lib.leaves_of(call.state)},
                )
                rows = [history]
    return state, {name: np.concatenate([row[name] for row in rows])[:epoch] for name in HISTORY_KEYS}


@contextlib.contextmanager
def _drained(queued: collections.deque) -> Any:
    """On the way out of an interrupted run, wait for the calls still queued on the device (at most a chunk
    or two): a process must not exit while XLA still runs its programs."""
    try:
        yield
    except BaseException:
        for call in queued:
            with contextlib.suppress(Exception):
                jax.block_until_ready(call.counters)
        raise


@contextlib.contextmanager
def _flushed(store: "resume_lib.RunDirectory | None") -> Any:
    """Wait for the run's state to reach the disk on the way out, also when interrupted (Ctrl-C)."""
    try:
        yield
    finally:
        if store is not None:
            store.flush()


def _progress_bar(total: int, progress: bool) -> Any:
    """A tqdm bar over epochs, or a stand-in that costs nothing when there is no bar to show."""
    if progress:
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="epoch", leave=False)
    return _NoBar()


class _NoBar:
    """The part of tqdm's interface that ``fit`` uses, doing nothing but count."""

    n = 0

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        """Nothing to close."""

    def update(self, count: int) -> None:
        self.n += count

    def set_postfix(self, values: dict[str, str]) -> None:
        """Nothing to show."""


def _infer_task(outputs: Array, y: np.ndarray) -> str:
    if outputs.ndim > 1 and outputs.shape[-1] > 1:
        return "multiclass"
    values = np.unique(np.asarray(y))
    return "binary" if np.all(np.isin(values, (0, 1))) else "regression"


def evaluate(
    model: Model,
    params: Params,
    data_or_xy: Any,
    *,
    split: str = "test",
    loss: str | Callable | None = None,
    metric: str | Sequence[str] | None = None,
    sample_weight: ArrayLike | None = None,
    task: str | None = None,
    dataset: Any = None,
    target: str | None = None,
) -> dict[str, float]:
    """The loss and metrics of ``params`` on a dataset split, on ``(x, y)``, or on a labelled file.

    Args:
        model: the model the params belong to.
        params: trained parameters.
        data_or_xy: a :class:`jaxnn.Dataset` (``split`` selects ``"train"``,
            ``"val"`` or ``"test"``; its sample weights weigh the rows), a tuple ``(x, y)`` of prepared
            arrays (class indices or standardized targets, as a Dataset holds them), or the path of a CSV or
            Parquet file of labelled rows (every row is scored; needs ``dataset``), read and prepared
            as :func:`jaxnn.datasets.read_labelled` does.
        loss: by default chosen from the task.
        metric: a metric's name (see :mod:`jaxnn.metrics`), a list of names, or None for every metric
            that fits the task.
        sample_weight: with ``(x, y)``: a weight per row ``(n,)`` for the loss and the metrics.
        task: with ``(x, y)``: ``"binary"``, ``"multiclass"`` or ``"regression"`` (inferred from the
            outputs and labels when None).
        dataset: the :class:`jaxnn.datasets.DataInfo` (``checkpoint.info``) or :class:`jaxnn.Dataset`
            the model was trained on. Needed for a file, whose columns are prepared with its column
            plan and scaling; with a Dataset of other data (another split of a built-in, say), that
            data is first prepared like the training data (:func:`jaxnn.datasets.as_trained`).
        target: a file's target column (default: the training's).

    Returns:
        ``{"loss": ..., <metric name>: ..., ..., "num_examples": n}``: a key per metric, in the order of
        :data:`jaxnn.metrics.METRICS` (or of ``metric``). A regression's metrics are in the target's
        original units. With ``metric=None``, a metric the split cannot score (``roc_auc`` where a class
        has no example) is NaN, with a :class:`~jaxnn.errors.DataWarning` saying why.

    Raises:
        ConfigError: a metric that does not fit the task (the message names those that do); a file
            without ``dataset``.
        DataError: an empty split, mismatched rows or weights, or a metric named in ``metric`` that the
            split cannot score (``roc_auc`` with one class); the file lacks the target column or a column
            the model was trained on; a label the model does not know; the model's outputs do not fit
            the data's task (3 outputs for a binary task).

    >>> checkpoint = jaxnn.load("runs/train/model.msgpack")  # doctest: +SKIP
    >>> jaxnn.evaluate(checkpoint.model, checkpoint.params, "new.csv", dataset=checkpoint.info)  # doctest: +SKIP
    """
    data_or_xy = labelled_data(data_or_xy, dataset, target=target)
    weights = None
    if isinstance(data_or_xy, Dataset):
        x, y = data_or_xy.split(split)
        weights = data_or_xy.weights(split)
        task, y_scale = data_or_xy.task, float(data_or_xy.y_scale)
        num_classes, class_names = data_or_xy.num_classes, data_or_xy.class_names
        if sample_weight is not None:
            raise errors.ConfigError(
                f"{errors.arg('sample_weight')} is for (x, y); a Dataset's splits carry their "
                "weights (from_arrays(..., sample_weight=...))"
            )
    elif isinstance(data_or_xy, (tuple, list)) and len(data_or_xy) == 2:
        x, y = data_or_xy
        y_scale, class_names = 1.0, ()
        if np.shape(x)[0] != np.shape(y)[0]:
            raise errors.DataError(f"x has {np.shape(x)[0]} rows but y has {np.shape(y)[0]}")
        if sample_weight is not None:
            weights = check_sample_weight(sample_weight, np.shape(x)[0]).astype(np.float32)
    else:
        raise errors.DataTypeError(
            f"data_or_xy must be a jaxnn.Dataset or a tuple (x, y), got {type(data_or_xy).__name__}"
        )
    if np.shape(x)[0] == 0:
        raise errors.DataError(f"there are no examples to evaluate (the {split!r} split is empty)")
    if isinstance(data_or_xy, Dataset):
        check_outputs(model, params, x, data_or_xy.info)
    if task is None:
        outputs = jax.eval_shape(model.apply, params, jnp.asarray(x))
        task = _infer_task(outputs, y)
    _checks.lookup("task", task, DEFAULT_LOSS)
    if not isinstance(data_or_xy, Dataset):
        num_classes = (
            0
            if task == "regression"
            else 2
            if task == "binary"
            else int(jax.eval_shape(model.apply, params, jnp.asarray(x)).shape[-1])
        )
    _, loss_fn = loss_for(loss, task)
    names = _metric_names(metric, task)
    undefined = set()
    if task != "regression":
        where = f"the {split!r} split" if isinstance(data_or_xy, Dataset) else "y"
        for name in names:
            try:
                metrics_lib.check_defined([name], y, weights, num_classes, where=where, class_names=class_names)
            except errors.DataError as error:
                if metric is not None:
                    raise
                undefined.add(name)
                errors.warn(f"{error} (reported as NaN)")
    loss_value, values = jax.device_get(_loss_and_metrics(model, loss_fn, task, names, params, x, y, weights, y_scale))
    values = {name: float("nan") if name in undefined else float(values[name]) for name in names}
    return {"loss": float(loss_value), **values, "num_examples": int(np.shape(x)[0])}


def check_outputs(model: Model, params: Params, x: Any, info: DataInfo) -> None:
    """Raise a :class:`~jaxnn.errors.DataError` unless the model's outputs fit the task of ``info``: one per
    example for binary classification (the logit of the second class) and regression, one per class for
    multiclass."""
    outputs = jax.eval_shape(model.apply, params, jax.ShapeDtypeStruct(np.shape(x), jnp.float32))
    width = outputs.shape[-1] if len(outputs.shape) > 1 else 1
    expected = info.num_classes if info.task == "multiclass" else 1
    if width != expected:
        what = {
            "binary": "1 (the logit of the second class)",
            "regression": "1",
            "multiclass": f"{expected}, one per class",
        }
        raise errors.DataError(
            f"the model has {width} output{'s' if width != 1 else ''} per example but the data "
            f"({info.name!r}) is {info.describe_task()}, which needs {what[info.task]}"
        )


def _metric_names(metric: str | Sequence[str] | None, task: str) -> tuple[str, ...]:
    """The checked metric names that ``metric`` asks for (every one of the task's when None)."""
    if metric is None:
        return metrics_lib.for_task(task)
    if isinstance(metric, str):
        return (metrics_lib.check(metric, task).name,)
    if not isinstance(metric, Sequence) or not metric:
        raise errors.ArgumentTypeError(
            f"{errors.arg('metric')} must be a metric's name, a list of names or None, got {metric!r}"
        )
    return tuple(dict.fromkeys(metrics_lib.check(name, task).name for name in metric))


@functools.partial(jit_loop, static_argnames=("model", "loss_fn", "task", "names"))
def _loss_and_metrics(
    model: Model,
    loss_fn: Callable,
    task: str,
    names: tuple[str, ...],
    params: Params,
    x: Any,
    y: Any,
    weights: Any,
    y_scale: Any,
):
    """One compiled call for the model's outputs, loss and metrics (eagerly they are dozens of dispatches)."""
    outputs = model.apply(params, x)
    y = jnp.asarray(y)
    loss_value = loss_fn(outputs, y) if weights is None else loss_fn(outputs, y, mask=weights)
    return loss_value, loop.scores(outputs, y, task=task, names=names, y_scale=y_scale, weights=weights)


def predict(
    model: Model,
    params: Params,
    x: ArrayLike,
    *,
    task: str | None = None,
    dataset: Any = None,
    proba: bool = False,
) -> np.ndarray:
    """Predictions for ``x``: class labels by default, probabilities or values on request.

    Args:
        model: the model the params belong to.
        params: trained parameters.
        x: inputs ``(n, features)`` (``(n, *input_shape)`` for images), finite; or one example
            (``(features,)``), whose prediction comes back without the batch axis. With ``dataset``, ``x``
            is raw data and is standardized with the statistics fitted on the training split.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``; taken from
            ``dataset`` when given, inferred from the output width otherwise
            (one output is ambiguous: pass ``task``).
        dataset: the :class:`jaxnn.Dataset` the model was trained on, or its
            :class:`jaxnn.datasets.DataInfo` (what a checkpoint holds).
        proba: return class probabilities ``(n,)`` for binary (of class 1) and
            ``(n, num_classes)`` for multiclass instead of labels.

    Returns:
        A NumPy array. Classification: with ``dataset``, the original labels
        (``dataset.class_labels``: ints, floats or strings, as in the data the
        model was trained on); without, class indices ``0..K-1`` (int64).
        Regression: values, in the target's original units when ``dataset`` is
        given. ``proba=True``: probabilities in class-index order.

    Raises:
        ValueError: ``x`` holds NaN or infinite values (the message names the
            first one's row and column), ``task`` is unknown or missing, or
            ``proba=True`` on a regression task.
    """
    if isinstance(dataset, Dataset):
        dataset = dataset.info
    if dataset is not None and not isinstance(dataset, DataInfo):
        raise errors.DataTypeError(f"dataset must be a jaxnn.Dataset or a DataInfo, got {type(dataset).__name__}")
    example_shape = tuple(dataset.input_shape if dataset is not None else model.input_shape)
    if example_shape and np.shape(x) == example_shape:  # one example: predicted as a batch of one
        return predict(model, params, np.asarray(x)[None], task=task, dataset=dataset, proba=proba)[0]
    if _checks.is_concrete(x):
        x = np.asarray(x)
        if np.ndim(x) >= 2 and x.dtype.kind in "biuf":
            names: Sequence[str] = dataset.feature_names if dataset is not None else ()
            if len(names) != math.prod(x.shape[1:]):
                names = [f"x{i}" for i in range(math.prod(x.shape[1:]))]
            check_finite_features("x", x, names)
    if dataset is not None:
        x = dataset.transform(x)
        task = task or dataset.task
    outputs = model.apply(params, jnp.asarray(x))
    if task is None:
        if outputs.ndim > 1 and outputs.shape[-1] > 1:
            task = "multiclass"
        else:
            raise errors.ConfigError(
                f"one output per example is ambiguous: pass {errors.setting('task', 'binary')} or "
                f"{errors.setting('task', 'regression')} (or dataset=)"
            )
    _checks.lookup("task", task, DEFAULT_LOSS)
    if task == "regression":
        if proba:
            raise errors.ConfigError(
                f"{errors.setting('proba', True)} gives class probabilities, but this is a regression task"
            )
        values = outputs[:, 0] if outputs.ndim == 2 and outputs.shape[-1] == 1 else outputs
        host = np.asarray(values)
        return np.asarray(dataset.inverse_transform_y(host)) if dataset is not None else host
    if proba:
        if task == "binary":
            return np.asarray(jax.nn.sigmoid(outputs.reshape(outputs.shape[0])))
        return np.asarray(jax.nn.softmax(outputs, axis=-1))
    if task == "binary":
        indices = np.asarray(outputs.reshape(outputs.shape[0]) > 0).astype(np.int64)
    else:
        indices = np.asarray(jnp.argmax(outputs, axis=-1)).astype(np.int64)
    if dataset is not None and dataset.class_labels:
        return np.asarray(dataset.class_labels)[indices]
    return indices


class CVScores(NamedTuple):
    """What ``jaxnn.fit(..., cv=k)`` returns: one configuration's scores on each fold.

    Attributes:
        scores: ``(folds,)`` each fold's best-epoch validation metric (``metric``).
        losses: ``(folds,)`` each fold's best-epoch validation loss.
        best_epochs: ``(folds,)`` each fold's best epoch (1-based).
        status: each fold's status (``"completed"``, ``"early_stopped"``, ``"diverged"``).
        metric: the metric's name; ``higher_is_better`` its direction.
        refit: the :class:`jaxnn.TrainResult` of training on all the training data (None with ``refit=False``).
    """

    scores: np.ndarray
    losses: np.ndarray
    best_epochs: np.ndarray
    status: np.ndarray
    metric: str
    higher_is_better: bool
    refit: Any = None

    @property
    def mean(self) -> float:
        """The mean of :attr:`scores`."""
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        """The standard deviation of :attr:`scores`."""
        return float(np.std(self.scores))


def _fit_folds(
    model: Model,
    data: Any,
    key: Any,
    cv: Any,
    refit: bool,
    hyperparams: Hyperparams | None,
    options: dict[str, Any],
    progress: bool,
    hyperparameters: dict[str, Any],
) -> CVScores:
    """``fit(..., cv=cv)``: the folds trained side by side by the fold programs of a cross-validated sweep (as
    its row of seed 0: from ``fold_in(key, 0)``), each fold's best epoch scored; the refit is a plain ``fit``."""
    from jaxnn.data import folds as folds_lib
    from jaxnn.sweeps import plan as planning
    from jaxnn.sweeps import rows as sweep_rows

    key = loop.as_key(key)
    values, named = hyperparams_lib.resolve(hyperparams, hyperparameters)
    spec = TrainSpec(
        model, zeros=zeros_of({name: [getattr(values, name)] for name in ("momentum", "weight_decay")}), **options
    )
    hyperparams_lib.check_used(
        named,
        optimizers=[spec.optimizer],
        schedules=[spec.schedule],
        nesterov=spec.nesterov,
        warmup_steps=spec.warmup_steps,
    )
    if spec.early_stopping is not None and not spec.early_stopping.restore_best:
        raise errors.ConfigError(
            "cross-validation scores each fold's best epoch; EarlyStopping(restore_best=False) is not supported with cv"
        )
    seed = int(np.asarray(jax.random.key_data(jax.random.fold_in(key, 0xC5))).ravel()[-1] % (2**31))
    stacked = folds_lib.stack(data, folds_lib.split(data, cv, seed=seed))
    loop.layout(spec, folds_lib.fold(stacked, 0))
    columns = jax.tree.map(lambda value: None if value is None else np.full(1, value, np.float32), values)
    epochs_per_call = spec.num_epochs
    chunks = planning.Plan(1, epochs_per_call, 1)
    with (
        programs.out_of_memory("training the folds", f"use fewer folds or a smaller {errors.arg('batch_size')}"),
        interrupts.deferred(),
        _progress_bar(1, progress) as bar,
    ):
        rows = sweep_rows.train_folds(
            spec,
            chunks,
            columns,
            np.asarray(jax.random.key_data(key)),
            np.zeros(1, np.uint32),
            stacked,
            str(jax.random.key_impl(key)),
            bar,
        )
    best = np.asarray(rows.best_epoch)[:, 0, 0]

    def at_best(name):
        return np.asarray(
            [
                rows.history[name][k, 0, 0, max(b - 1, 0)] if b > 0 else np.nan  # noqa: E731
                for k, b in enumerate(best)
            ],
            np.float64,
        )

    _, _, higher_is_better = spec.metric_for(data.task)
    result = None
    if refit:
        result = fit(
            model,
            data,
            key=jax.random.fold_in(key, 0),
            hyperparams=values,
            progress=False,
            on_divergence="return",
            **options,
        )
    return CVScores(
        scores=at_best("val_metric"),
        losses=at_best("val_loss"),
        best_epochs=best.astype(np.int64),
        status=np.asarray([STATUS[int(code)] for code in np.asarray(rows.status)[:, 0, 0]]),
        metric=spec.metric_for(data.task)[0],
        higher_is_better=higher_is_better,
        refit=result,
    )
