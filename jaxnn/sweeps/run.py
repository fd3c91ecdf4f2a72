"""Running a sweep: every configuration of a space trained by one compiled program per setting.

``sweep`` expands the space, groups configurations by the settings that change
the program (optimizer, batch size, epochs, schedule), and for each group runs
:func:`init_rows`, :func:`run_rows` and :func:`finish_rows` — the functions of
:mod:`jaxnn.loop`, vmapped over configurations and seeds and sharded over
devices — in chunks of rows that fit in memory.

Randomness is shared on purpose: every configuration with seed ``s`` trains
from the key ``fold_in(key, s)``, exactly like ``fit(..., key=fold_in(key, s))``.
Configurations with the same seed therefore start from the same initial
weights and see the same minibatches (a paired comparison), adding
configurations never changes the others, and the shared minibatches let XLA
compute the first layer of all configurations as one flat matmul.
"""

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import _checks, errors, interrupts, loop, metrics, parallel, programs, track
from jaxnn import hyperparams as hyperparams_lib
from jaxnn import resume as resume_lib
from jaxnn.data import folds as folds_lib
from jaxnn.hyperparams import Hyperparams
from jaxnn.models import Model, footprint
from jaxnn.spec import EarlyStopping, TrainSpec, check_metric_defined, class_weights, zeros_of
from jaxnn.sweeps import architecture, padding, scheduled, schedulers
from jaxnn.sweeps import plan as planning
from jaxnn.sweeps import rows as sweep_rows
from jaxnn.sweeps.result import RANKED_BY_TRAINING, RANKED_BY_VALIDATION, SweepResult, as_column
from jaxnn.sweeps.rows import Rows
from jaxnn.sweeps.schedulers import ASHA, PBT, Hyperband
from jaxnn.sweeps.space import (
    ARCHITECTURE_KEY,
    PROGRAM_KEYS,
    SWEEPABLE,
    check_sizes,
    expand_space,
    sizes_text,
    space_size,
)
from jaxnn.track import describe as describe_run
from jaxnn.track import rows as track_rows
from jaxnn.train import check_data
from jaxnn.typing import Array, PRNGKey

__all__ = ["MAX_RESULT_BYTES", "run_configs", "sweep"]

ConfigsById = Sequence[dict[str, Any]] | Mapping[int, dict[str, Any]]
"""Configurations by id: a list, or (a sampler's trials) a dict of trial number to configuration."""


def sweep(
    model: Model,
    data: Any,
    *,
    space: dict[str, Any] | Sequence[dict[str, Any]],
    key: PRNGKey | int,
    optimizer: str = "adam",
    num_epochs: int = 100,
    batch_size: int | None = 32,
    seeds: int | Sequence[int] = 1,
    num_samples: int | None = None,
    early_stopping: EarlyStopping | None = None,
    max_parallel: int | None = None,
    devices: Sequence[Any] | int | str | None = None,
    loss: str | Callable | None = None,
    metric: str | None = None,
    class_weight: str | Mapping[Any, float] | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    nesterov: bool = False,
    num_chunks: int = 10,
    progress: bool = True,
    scheduler: str | ASHA | Hyperband | PBT | None = None,
    sampler: Any = None,
    batch: int = 16,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool | None = None,
    hyperparams: Hyperparams | None = None,
    force: bool = False,
    pad_sizes: bool | None = None,
    log: Any = None,
    cv: Any = None,
    refit: bool = True,
    shard: tuple[int, int] | None = None,
    study: Any = None,
    storage: Any = None,
    study_name: str | None = None,
    cluster: Any = None,
    **defaults: Any,
) -> SweepResult:
    """Train every configuration of ``space`` (times ``seeds``) in one compiled program.

    Args:
        model: the model to train (a :class:`jaxnn.Model`, Flax models included).
        data: a :class:`jaxnn.Dataset`.
        space: hyperparameter name -> list of values (a grid: the cartesian
            product) or a distribution (:class:`loguniform`, :class:`uniform`,
            :class:`choice`; random search with ``num_samples``). Names:
            the fields of :class:`jaxnn.Hyperparams` (``learning_rate``,
            ``weight_decay``, ``momentum``, ``b1``, ``b2``, ``dropout``,
            ``init_scale``, ``decay_rate``, ``final_fraction``, ``clip_norm``),
            ``seed``, and ``optimizer``, ``batch_size``, ``num_epochs``,
            ``schedule``, which change the program: each value then gets its own
            compiled program and the tables are merged. ``sizes`` varies the
            hidden layer widths of a model built by :func:`jaxnn.mlp`,
            :func:`jaxnn.cnn` or :func:`jaxnn.model_for`: a tuple per value, e.g.
            ``[(32,), (64,), (128, 64)]`` or ``choice([...])``; the shapes
            train as one padded program or one program each (``pad_sizes``), the
            table has a ``sizes`` column, and ``result.model(i)`` / ``result.params(i)`` are
            the row's own model and params. Or a list of configurations, each a
            dict of the same names to one value (what a search that draws its own
            candidates gives).
        key: an int seed or a PRNG key; seed ``s`` trains from ``fold_in(key, s)``.
        optimizer, num_epochs, batch_size, loss, metric, class_weight, schedule, warmup_steps,
        nesterov, early_stopping: as in :func:`jaxnn.fit`, for every row. The rows are ranked by
            ``metric`` in its direction (ascending for a lower-is-better metric such as ``log_loss``),
            and the table also holds the task's other metrics on the validation split
            (``val_<name>``, of each row's returned parameters).
        seeds: how many seeds per configuration (0..n-1), or the list of seeds.
        num_samples: configurations to draw when the space has distributions.
        max_parallel: most rows trained at once; memory follows it, not the
            number of rows. Default: as many as fit in half the free memory, and
            on CPUs about 32 MiB of rows per device, which keeps each chunk's
            working set in the caches (see :data:`jaxnn.sweeps.plan.CPU_ROW_BYTES_PER_DEVICE`).
        devices: devices to shard the configurations over (default: all local
            devices; see :func:`jaxnn.parallel.use_cpu_devices` for CPUs).
        num_chunks: the epochs run in this many pieces on the host, so the
            progress bar moves and the sweep ends once every row has stopped.
        progress: show a progress bar.
        scheduler: ``None`` (every row trains every epoch), ``"asha"`` or
            :class:`jaxnn.ASHA` (rows train in rungs of growing epoch budgets and
            only the best configurations of a rung go on; the program shrinks to
            them), ``"hyperband"`` or :class:`jaxnn.Hyperband` (the configurations
            dealt to ASHA brackets that start at successive rungs, trained side by
            side: tasks whose good configurations start slowly are still found),
            ``"pbt"`` or :class:`jaxnn.PBT` (every ``interval`` epochs the
            worst rows of each seed copy the state of the best and perturb their
            hyperparameters). All need a validation split; see
            :mod:`jaxnn.sweeps.schedulers`. Under ASHA and Hyperband a
            :class:`jaxnn.errors.RankingNoiseWarning` says when a rung ranked
            validation accuracies that differ by no more than noise.
        sampler: an Optuna sampler (e.g. ``optuna.samplers.TPESampler(seed=0)``;
            needs the ``optuna`` extra). The sweep then asks it for ``batch``
            configurations at a time from the space's distributions (lists are
            categorical), trains them in one program, tells it each one's best
            validation metric (the mean over seeds; failed if any seed diverged),
            and repeats until
            ``num_samples`` configurations have run. The study is ``result.study``; the table's
            ``config`` column holds the trials' numbers. ``sizes`` is a categorical too (its
            choices written ``"128,64"``); a round trains each shape's configurations in one program,
            as many rows as the next power of two, so a shape compiles a few programs, not one per count.
        batch: configurations per ask-and-tell round of ``sampler``.
        study: an existing ``optuna.Study`` to ask and tell instead of a new one in memory (its own sampler
            is used, so ``sampler`` may be left out). Its trials must have drawn from ``space``.
        storage, study_name: share one study between processes or hosts (Optuna's distributed mode): a
            database URL (``"sqlite:///study.db"``, ``"postgresql://user@host/db"``) or an Optuna storage, and
            the study's name in it (created if new, joined if it exists). Every process asks it ``batch``
            configurations at a time and trains ``num_samples`` of them, so the study ends with the trials
            of all. With ``storage`` and no ``sampler``, Optuna's default sampler (TPE). See
            :mod:`jaxnn.sweeps.bridge`.
        checkpoint_dir: a directory to save the sweep's progress in, atomically, between
            compiled calls: every finished chunk of rows, the running chunk's loop states
            after each of its ``num_chunks`` calls, and under a scheduler the population
            between the pieces of each rung (ASHA, Hyperband) or interval (PBT) and the running piece's
            states after each call. If it holds the progress of a sweep
            with the same arguments, the sweep continues from there and its table, curves
            and params are bitwise the uninterrupted sweep's (on the same devices); another
            sweep's directory is refused with a message naming the difference. Not with
            ``sampler``. See :mod:`jaxnn.resume`.
        resume: with ``checkpoint_dir``, as in :func:`jaxnn.fit`: ``None`` continues a saved sweep if
            there is one, ``True`` requires one, ``False`` refuses one.
        hyperparams: a :class:`jaxnn.Hyperparams` with values for the hyperparameters the space does
            not vary, instead of (or beside, for other fields) keywords.
        force: run a sweep whose results (every row's parameters and curves) would take more than
            :data:`~jaxnn.sweeps.run.MAX_RESULT_BYTES` of memory; without it such a sweep is refused before it starts.
        log: where to log the sweep as it runs (:mod:`jaxnn.track`): None (no log), a
            directory path (a TensorBoard log), :class:`jaxnn.track.TensorBoard`,
            :class:`jaxnn.track.MLflow`, or a list of them. Every row is logged once it is
            final: after each chunk of rows (under a scheduler, after each group), written
            in the background while the next chunk trains. The log is opened (and checked)
            before training; a resumed sweep (or the same sweep again) adds only the rows
            the log is missing.
        cv: k-fold cross-validation: the number of folds (stratified by class for a classification
            task, shuffled with the seed of ``key``), or a scikit-learn splitter (``KFold(5)``,
            ``GroupKFold`` with its groups bound, ...). Every configuration trains on every fold in
            the same compiled program (folds are one more vmapped axis; folds of unequal sizes are
            padded and the padding masked out). The table holds each measure's mean over the folds
            (``best_val_metric`` is the mean of the folds' best validation metric, and ranks the
            rows) and its ``<name>_std``; ``result.folds`` holds the values per fold. The data must
            have no validation split (the folds are the validation). Runs on the first of
            ``devices``. Not with ``scheduler``, ``sampler``, ``checkpoint_dir`` or ``log``.
        pad_sizes: with ``sizes`` in the space (an MLP's), how the shapes train: ``True`` as one program
            padded to the widest shape (masked units and skipped layers contribute exactly nothing),
            ``False`` as one program per shape, ``None`` (default) whichever is estimated to finish
            sooner (:func:`jaxnn.sweeps.padding.partition`: compiles saved against rows trained at a
            wider shape's cost; shapes of similar cost may share a padded program and others train alone). Rows are the same either way up to float rounding and
            dropout's random numbers; a scheduler or ``cv`` trains each shape as its own program.
        refit: with ``cv``, train the best configuration again on all the training data
            (``result.refit``, a :class:`jaxnn.TrainResult`; its test metric is the honest one).
        shard: ``(i, n)``: train only the ``i``-th (0-based) of ``n`` contiguous slices of the configurations,
            with the rows, seeds, initial weights and minibatches they have in the whole sweep; the result's
            ``shard`` says which (with a fingerprint of the sweep), and :func:`jaxnn.merge` joins the ``n``
            results into the whole sweep's. The slices depend on the arguments only, so the shards can run
            on any machines (a job array). Not with ``sampler`` (share a study instead) or ``scheduler``.
            See :mod:`jaxnn.cluster.shards`.
        **defaults: values for the hyperparameters the space does not vary
            (e.g. ``momentum=0.9``), as in :func:`jaxnn.fit`. A hyperparameter that no optimizer
            of the sweep reads is refused, and so is one given here and varied by the space.

    Returns:
        A :class:`SweepResult`, best row first.

    Raises:
        ConfigError, DataError: an empty space, unknown names (the valid ones are
            listed), values out of range, a distribution without ``num_samples``,
            ``max_parallel`` beyond the available memory, a scheduler that does
            not fit the sweep (no validation split, program settings in the space,
            a budget or interval not shorter than the run), a program setting of the
            space that does not fit the data — all before anything trains.
        CheckpointError: ``checkpoint_dir`` holds another sweep, a damaged one, or is in use.
        jaxnn.errors.LogError: before training, ``log`` cannot be written (an unwritable
            directory, an unreachable MLflow server); after training, writing the log failed
            (the sweep's result is the error's ``.result``).
        jaxnn.errors.MissingExtraError: ``log`` needs an extra that is not installed.
    """
    given = dict(locals())  # the call as made, for the shards of a cluster
    check_data(data)
    key = loop.as_key(key)
    scheduler = schedulers.resolve(scheduler)
    stacked = None
    if cv is not None:  # from here on `data` is one fold (for the checks); `stacked` holds them all
        stacked = _folds(
            cv,
            data,
            key,
            scheduler=scheduler,
            sampler=sampler,
            checkpoint_dir=checkpoint_dir,
            log=log,
            shard=shard,
            study=study,
            storage=storage,
            cluster=cluster,
        )
        data, full_data = folds_lib.fold(stacked, 0), data
    _check_early_stopping(early_stopping, data, scheduler)
    base, named = hyperparams_lib.resolve(hyperparams, defaults)
    asks = sampler is not None or study is not None or storage is not None or study_name is not None
    if asks:
        from jaxnn.sweeps import bridge

        bridge.check(sampler, scheduler, data, num_samples, batch, study=study)
    if shard is not None:
        shard = _check_shard(shard, asks, scheduler)
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
        class_weight=class_weights(class_weight, data),
    )
    check_metric_defined(spec, data)  # and that the metric fits the task
    space, explicit = _explicit_configs(space)
    num_configs, num_seeds = space_size(
        space if explicit is None else {name: [value] for name, value in explicit[0].items()},
        num_samples=num_samples,
        seeds=seeds,
    )
    num_configs = num_configs if explicit is None else len(explicit)
    _check_size(
        spec,
        data,
        num_configs * (1 if stacked is None else stacked.x_train.shape[0]),
        num_seeds,
        force,
        sizes=space.get(ARCHITECTURE_KEY),
    )
    if explicit is not None:  # each configuration checked as a space of its own (never the product of all values)
        checked = [
            expand_space({name: [value] for name, value in config.items()}, num_samples=None, seeds=seeds, key=key)
            for config in explicit
        ]  # each value is one value (a tuple of sizes too), never a list of them
        expanded = checked[0]._replace(configs=[c.configs[0] for c in checked])
    else:
        expanded = (
            bridge.expand_checked(space, seeds=seeds, key=key)
            if asks
            else expand_space(space, num_samples=num_samples, seeds=seeds, key=key)
        )
    job = _Job(
        data=data,
        seeds=expanded.seeds,
        swept=[name for name in space if name != "seed"],
        log_scaled=expanded.log_scaled,
        base=base,
        key=key,
        devices=parallel.resolve_devices(devices, global_devices=True),
        max_parallel=None if max_parallel is None else _checks.positive_int("max_parallel", max_parallel),
        num_chunks=_checks.positive_int("num_chunks", num_chunks),
        progress=progress,
        scheduler=scheduler,
        shard=shard,
        round_widths=asks and ARCHITECTURE_KEY in space,
        shapes=_space_shapes(space, expanded.configs),
    )
    job = job._replace(pad_sizes=_check_pad_sizes(pad_sizes, spec.model, job.shapes, scheduler, cv))
    _check_settings(spec, job, space, named, expanded.configs)
    _check_scheduler(scheduler, spec, job, space, len(expanded.configs), expanded.configs)
    if checkpoint_dir is not None and asks:
        raise errors.ConfigError(
            f"{errors.arg('checkpoint_dir')} cannot be combined with {errors.arg('sampler')}: the configurations are "
            "the sampler's choices as it goes, which a checkpoint cannot replay. To survive a restart, keep the study "
            f"in a database ({errors.arg('storage')} and {errors.arg('study_name')}): a restarted process joins the "
            "same study, whose finished trials stay in it and steer its next choices"
        )
    if stacked is not None:
        return _cross_validated(spec, job, expanded.configs, full_data, stacked, refit)
    if cluster is not None:
        return _on_cluster(cluster, given, len(expanded.configs))
    if asks:  # opened (and checked against the space) before anything trains
        study = bridge.open_study(
            space,
            sampler=sampler,
            study=study,
            storage=storage,
            study_name=study_name,
            higher_is_better=spec.metric_for(data.task)[2],
        )
    arguments = None if checkpoint_dir is None and shard is None else _run_arguments(spec, job, space, num_samples)
    config_ids = list(range(len(expanded.configs)))
    if shard is not None:
        from jaxnn.cluster import shards as sharding

        config_ids = sharding.shard_ids(len(expanded.configs), *shard)
    advice = f"lower {errors.arg('max_parallel')} (rows trained at once) or use a smaller model"
    with (
        resume_lib.open_run(checkpoint_dir, "sweep", arguments, resume=resume) as store,
        programs.out_of_memory("the sweep's rows", advice),
        interrupts.deferred(),
    ):
        job = job._replace(store=store)
        if log is not None:  # opened (and checked) before training
            if asks:
                assert num_samples is not None, "bridge.check requires num_samples with a sampler"
                num_rows = num_samples * len(expanded.seeds)
            else:
                num_rows = len(expanded.configs) * len(expanded.seeds)
            job = job._replace(log=track.open_log(log, _run_info(spec, job, space, num_samples, study, num_rows)))

        def train() -> SweepResult:
            if asks:
                assert num_samples is not None, "bridge.check requires num_samples with a sampler"
                return bridge.ask_and_tell(
                    lambda configs, ids: run_configs(spec, job, configs, ids),
                    space,
                    study=study,
                    num_samples=num_samples,
                    batch=batch,
                )
            result = run_configs(spec, job, expanded.configs, config_ids)
            if shard is not None:
                assert arguments is not None, "a shard's run arguments are always built"
                result.shard = sharding.ShardInfo(
                    index=shard[0],
                    count=shard[1],
                    fingerprint=sharding.fingerprint(arguments),
                    arguments=arguments,
                    num_configs=len(expanded.configs),
                    config_ids=config_ids,
                    seeds=list(expanded.seeds),
                    group_rank=_group_ranks(spec, expanded.configs),
                )
            return result

        return track.logged(job.log, train, lambda result: _outcome(spec, job, result))


def _explicit_configs(space: Any) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    """A list of configurations as ``(space, configs)``: the space of every name's values (for the checks and
    the columns) and the configurations themselves; a dict space as ``(space, None)``."""
    if isinstance(space, dict) or not isinstance(space, (list, tuple)):
        return space, None
    if not space or not all(isinstance(config, dict) for config in space):
        raise errors.ConfigError(f"`space` as a list must hold configurations (dicts of name to value), got {space!r}")
    names = list(space[0])
    for config in space:
        if list(config) != names:
            raise errors.ConfigError(
                f"every configuration of `space` must name the same hyperparameters: {names} and {list(config)} differ"
            )
        if "seed" in config:
            raise errors.ConfigError("a list of configurations takes its seeds from seeds=, not from 'seed' entries")
    values = {name: list(dict.fromkeys(config[name] for config in space)) for name in names}
    return values, [dict(config) for config in space]


def _folds(cv: Any, data: Any, key: PRNGKey, **others: Any) -> Any:
    """The folds of ``cv`` stacked (checked against the data and the options it cannot be combined with),
    before anything compiles; an int ``cv`` shuffles with a seed drawn from ``key``."""
    given = [name for name, value in others.items() if value is not None]
    if given:
        raise errors.ConfigError(
            f"{errors.arg('cv')} cannot be combined with {errors.arg(given[0])} (yet): "
            "a cross-validated sweep trains every row to the end, in memory"
        )
    seed = int(np.asarray(jax.random.key_data(jax.random.fold_in(key, 0xC5))).ravel()[-1] % (2**31))
    return folds_lib.stack(data, folds_lib.split(data, cv, seed=seed))


def _cross_validated(
    spec: TrainSpec, job: "_Job", configs: list[dict[str, Any]], data: Any, stacked: Any, refit: bool
) -> SweepResult:
    """Every configuration on every fold (see :mod:`jaxnn.sweeps.crossval`), and the best refit on ``data``."""
    from jaxnn.sweeps import crossval

    with (
        programs.out_of_memory("the sweep's rows and folds", f"lower {errors.arg('max_parallel')} or use fewer folds"),
        interrupts.deferred(),
    ):
        helpers = SimpleNamespace(columns=_hyperparameter_columns, table=_table)
        result = crossval.run_cv(spec, job, configs, list(range(len(configs))), stacked, helpers)
        if refit:
            result.refit = crossval.refit(spec, job, data, result)
    return result


def _run_info(
    spec: TrainSpec, job: "_Job", space: dict[str, Any], num_samples: int | None, sampler: Any, num_rows: int
) -> track.RunInfo:
    """The sweep as its log describes it (see :class:`jaxnn.track.RunInfo`)."""
    arguments = _run_arguments(spec, job, space, num_samples)
    if sampler is not None:  # the sampler's choices are its own: never taken for another run's rows
        arguments["sampler"] = f"{type(sampler).__name__}@{id(sampler)}"
    changing: tuple[str, ...] = ()
    if isinstance(job.scheduler, PBT):
        changing = job.scheduler.names_for(job.swept, job.base, spec.optimizer, spec.schedule)
    names = list(dict.fromkeys((*job.swept, *changing)))
    fixed = {name: value for name, value in job.base._asdict().items() if value is not None and name not in names}
    settings = describe_run.settings(
        spec,
        job.data,
        scheduler=job.scheduler,
        seeds=job.seeds,
        key=resume_lib.describe(job.key),
        num_samples=num_samples,
        **fixed,
    )
    logged_space = dict(space)
    if ARCHITECTURE_KEY in space:  # the log's values are numbers and words: sizes as "128,64"
        given = space[ARCHITECTURE_KEY]
        logged_space[ARCHITECTURE_KEY] = [sizes_text(v) for v in getattr(given, "values", given)]
    domains = describe_run.domains(logged_space, names, seeds=job.seeds, changing=changing)
    if isinstance(job.scheduler, PBT):
        domains["lineage"] = None
    metric, _, higher_is_better = spec.metric_for(job.data.task)
    return track.RunInfo(
        kind="sweep",
        fingerprint=describe_run.fingerprint("sweep", arguments),
        settings=settings,
        hyperparameters=domains,
        metric=metric,
        higher_is_better=higher_is_better,
        num_epochs=spec.num_epochs,
        num_rows=num_rows,
        measures=sweep_rows.other_metrics(spec, job.data),
    )


def _outcome(spec: TrainSpec, job: "_Job", result: SweepResult) -> track.Outcome:
    """A finished sweep's outcome for its log: the best row's name, model, params and data (none if all diverged)."""
    if not len(result) or result.table["status"][0] == "diverged":
        return track.Outcome("finished")
    best = int(result.table["config"][0]) * len(job.seeds) + job.seeds.index(int(result.table["seed"][0]))
    assert job.log is not None, "only a logged sweep has an outcome to log"
    return track.Outcome(
        "finished", track_rows.row_name(best, job.log.run.num_rows), result.model(0), result.params(0), job.data
    )


MAX_RESULT_BYTES = 1 << 30
"""The most memory a sweep's results (every row's parameters and curves) may take without ``force=True``."""


def _run_arguments(spec: TrainSpec, job: "_Job", space: dict[str, Any], num_samples: int | None) -> dict[str, str]:
    """Everything that makes the sweep the one it is, as short strings: a resumed sweep must match every one."""
    options = (
        "num_epochs",
        "batch_size",
        "optimizer",
        "loss",
        "metric",
        "schedule",
        "warmup_steps",
        "nesterov",
        "early_stopping",
    ) + (("class_weight",) if spec.class_weight is not None else ())
    return {
        "model": resume_lib.model_description(spec.model),
        "data": resume_lib.data_digest(job.data),
        "key": resume_lib.describe(job.key),
        "space": resume_lib.describe(space),
        "seeds": resume_lib.describe(job.seeds),
        "num_samples": resume_lib.describe(num_samples),
        "scheduler": resume_lib.describe(job.scheduler),
        "devices": str(len(job.devices)),
        "fixed": resume_lib.describe(job.base._asdict()),
        **{name: resume_lib.describe(getattr(spec, name)) for name in options},
        **({} if job.shard is None else {"shard": f"{job.shard[0]}/{job.shard[1]}"}),
    }


def _on_cluster(cluster: Any, given: dict[str, Any], num_configs: int) -> SweepResult:
    """The sweep's shards run on ``cluster`` (:class:`jaxnn.cluster.Ray`), merged."""
    from jaxnn.cluster import ray

    return ray.run_sweep(cluster, given, num_configs)


def _check_shard(shard: Any, asks: bool, scheduler: Any) -> tuple[int, int]:
    """``shard`` checked, and against the options it does not combine with."""
    from jaxnn.cluster import shards as sharding

    shard = sharding.check_shard(shard)
    if asks:
        raise errors.ConfigError(
            f"{errors.arg('shard')} splits a fixed list of configurations, but "
            f"{errors.arg('sampler')} chooses them as it goes: let the processes share one "
            f"Optuna study instead ({errors.arg('storage')} and {errors.arg('study_name')})"
        )
    if scheduler is not None:
        raise errors.ConfigError(
            f"{errors.arg('shard')} trains a slice of the configurations, but {type(scheduler).__name__} compares "
            "each configuration with all the others: run a scheduled sweep whole (on several hosts with "
            "jax.distributed), or shard a sweep without a scheduler"
        )
    return shard


def _group_ranks(spec: TrainSpec, configs: list[dict[str, Any]]) -> list[int]:
    """Per configuration, the rank of its group (program setting and shape) in the order the sweep trains them."""
    ranks: dict[tuple, int] = {}
    return [ranks.setdefault(architecture.group_key(spec, c), len(ranks)) for c in configs]


def _check_settings(
    spec: TrainSpec, job: "_Job", space: dict[str, Any], named: frozenset[str], configs: list[dict[str, Any]]
) -> None:
    """Everything about the space's settings that can be checked before training: a hyperparameter both fixed
    and varied, settings that no optimizer of the sweep reads, and every program setting against the data."""
    both = sorted(named & set(space))
    if both:
        raise errors.ConfigError(
            f"{errors.arg(both[0])} is both varied by the space and given a fixed value; give it in one place"
        )
    settings = _program_settings(spec, space, configs)
    swept = {name for name in space if name in SWEEPABLE}
    hyperparams_lib.check_used(
        named | swept,
        optimizers=sorted({s.optimizer for s in settings}),
        schedules=sorted({s.schedule for s in settings}),
        nesterov=spec.nesterov,
        warmup_steps=spec.warmup_steps,
    )
    for setting in settings:  # e.g. an unknown optimizer or a batch too large, before any group trains
        loop.layout(setting, job.data)
    if "dropout" in swept and not spec.model.uses_dropout:
        raise errors.ConfigError(
            "the space varies dropout but the model has no dropout layers (build it with jaxnn.mlp)"
        )
    for sizes in dict.fromkeys(config[ARCHITECTURE_KEY] for config in configs if ARCHITECTURE_KEY in config):
        architecture.with_sizes(spec.model, sizes)  # every shape's model can be built, before anything trains


def _program_settings(spec: TrainSpec, space: dict[str, Any], configs: list[dict[str, Any]]) -> list[TrainSpec]:
    """The distinct specs the sweep's configurations run (one per value of the space's program keys)."""
    values = {name: space[name] for name in PROGRAM_KEYS if name in space}
    if not values:
        return [spec]
    for name, given in values.items():  # distributions (a sampler's choice) hold their values in .values
        values[name] = list(getattr(given, "values", given)) if not isinstance(given, (str, int)) else [given]
    combos = {tuple(config.get(name, getattr(spec, name)) for name in PROGRAM_KEYS) for config in configs}
    if not configs:  # a sampler asks later: every combination of the choices
        import itertools

        combos = set(itertools.product(*(values.get(name, [getattr(spec, name)]) for name in PROGRAM_KEYS)))
    return [spec.replace(**dict(zip(PROGRAM_KEYS, combo, strict=False))) for combo in sorted(combos, key=repr)]


def _space_shapes(space: dict[str, Any], configs: list[dict[str, Any]]) -> tuple[tuple[int, ...], ...]:
    """The shapes a sweep may train, in the space's order (an explicit list's, in its configurations' order)."""
    if ARCHITECTURE_KEY in space:
        given = space[ARCHITECTURE_KEY]
        return tuple(dict.fromkeys(check_sizes(value) for value in getattr(given, "values", given)))
    return tuple(dict.fromkeys(config[ARCHITECTURE_KEY] for config in configs if ARCHITECTURE_KEY in config))


def _check_pad_sizes(
    pad_sizes: Any, model: Model, shapes: tuple[tuple[int, ...], ...], scheduler: Any, cv: Any
) -> bool | None:
    """``pad_sizes`` checked: a bool or None; True only where the space's shapes of ``model`` can share a program."""
    if pad_sizes is not None and not isinstance(pad_sizes, bool):
        raise errors.ArgumentTypeError(f"{errors.arg('pad_sizes')} must be True, False or None, got {pad_sizes!r}")
    if pad_sizes:
        if not shapes:
            raise errors.ConfigError(
                f"{errors.setting('pad_sizes', True)} pads the shapes of space['sizes'], which this sweep does not vary"
            )
        if not padding.can_pad(model, shapes):
            raise errors.ConfigError(
                f"{errors.setting('pad_sizes', True)} needs an MLP built by jaxnn.mlp (or model_for) with one hidden "
                f"activation, and sizes with at least one hidden layer each; got a "
                f"{model.config.get('type', 'model')!r} model and sizes {[tuple(shape) for shape in shapes]}"
            )
        if scheduler is not None or cv is not None:
            why = (
                "a scheduler prunes (or copies) each shape's rows among themselves"
                if scheduler is not None
                else "cross-validation trains each shape on every fold as a program of its own"
            )
            raise errors.ConfigError(
                f"{errors.setting('pad_sizes', True)} pads every shape into one program, but {why}; "
                f"leave {errors.arg('pad_sizes')} unset"
            )
    return pad_sizes


def _check_size(spec: TrainSpec, data: Any, num_configs: int, num_seeds: int, force: bool, sizes: Any = None) -> None:
    """Refuse, unless ``force``, a sweep whose results would take more than :data:`~jaxnn.sweeps.run.MAX_RESULT_BYTES`
    (counted for the largest of the space's ``sizes``)."""
    rows = num_configs * num_seeds
    models = [spec.model]
    if sizes is not None:
        values = getattr(sizes, "values", sizes)
        models = [architecture.with_sizes(spec.model, check_sizes(value)) for value in values]
    params = max(footprint(model, tuple(np.shape(data.x_train)[1:])).num_params for model in models)
    size = rows * 4 * (params + len(loop.HISTORY_KEYS) * spec.num_epochs + 16)
    if size > MAX_RESULT_BYTES and not force:
        raise errors.ConfigError(
            f"this sweep has {rows:,} rows ({num_configs:,} configurations x {num_seeds} seeds), whose results "
            f"(every row's parameters and curves) take about {size / 2**20:,.0f} MiB; sample fewer configurations, or "
            f"pass {errors.setting('force', True)} to run it anyway"
        )


def run_configs(spec: TrainSpec, job: "_Job", configs: ConfigsById, config_ids: list[int]) -> SweepResult:
    """Train ``configs[i]`` for ``i`` in ``config_ids``: one program per distinct program setting and shape (or, where
    the shapes of a setting are padded, one for all of them), tables merged."""
    groups: dict[tuple, list[int]] = {}  # (program setting, shape) -> configurations, in the order they first come
    for index in config_ids:
        groups.setdefault(architecture.group_key(spec, configs[index]), []).append(index)
    settings: dict[tuple, list[int]] = {}  # program setting -> configurations, in their order
    for index in config_ids:
        settings.setdefault(architecture.group_key(spec, configs[index])[:-1], []).append(index)
    everyone = list(configs.values()) if isinstance(configs, Mapping) else list(configs)  # a shard's too
    plans = {  # decided on the whole sweep's configurations, so that every shard decides alike
        setting: _shape_groups(
            spec.replace(**dict(zip(PROGRAM_KEYS, setting, strict=False))),
            job,
            [config for config in everyone if architecture.group_key(spec, config)[:-1] == setting],
        )
        for setting in settings
    }
    if job.store is not None:  # a resumed sweep keeps how it trained its shapes (another machine may estimate anew)
        saved = job.store.read("padding")
        if saved is not None:
            plans = {
                setting: [tuple(tuple(int(w) for w in shape) for shape in group) for group in groups] or None
                for setting, groups in zip(settings, saved["groups"], strict=True)
            }
        job.store.write("padding", {"groups": [[list(map(list, g)) for g in plan or []] for plan in plans.values()]})
    units: list[tuple[tuple, list[int], padding.Padded | None]] = []
    emitted: set[tuple] = set()
    for key, indices in groups.items():  # a padded group trains where its first shape would have
        setting, shape = key[:-1], key[-1]
        group = next((g for g in plans[setting] or [] if shape in g), (shape,))
        if len(group) == 1:
            units.append((setting, indices, None))
        elif (setting, group) not in emitted:
            emitted.add((setting, group))
            members = [i for i in settings[setting] if configs[i][ARCHITECTURE_KEY] in group]
            units.append((setting, members, padding.Padded(spec.model, group)))
    try:
        results = [
            result
            for number, (setting, indices, padded) in enumerate(units)
            for result in _sweep_group(
                spec.replace(
                    **dict(zip(PROGRAM_KEYS, setting, strict=False)),
                    model=architecture.model_of(spec.model, configs[indices[0]]) if padded is None else padded.model,
                ),
                job,
                configs,
                indices,
                f"group{number}",
                padded,
            )
        ]
    finally:  # also when interrupted (Ctrl-C): the newest state written whole
        if job.store is not None:
            job.store.flush()
    return results[0] if len(results) == 1 else SweepResult.concat(results)


def _shape_groups(
    spec: TrainSpec, job: "_Job", configs: list[dict[str, Any]]
) -> list[tuple[tuple[int, ...], ...]] | None:
    """How the configurations of one program setting train their shapes: groups of shapes, each of two or more
    one padded program (:func:`jaxnn.sweeps.padding.partition` decides unless the sweep was told), or None for
    one program per shape."""
    if job.pad_sizes is False or job.scheduler is not None or not job.shapes:
        return None
    counts: dict[tuple[int, ...], int] = {}
    for config in configs:
        counts[config[ARCHITECTURE_KEY]] = counts.get(config[ARCHITECTURE_KEY], 0) + 1
    if len(counts) < 2 or not padding.can_pad(spec.model, job.shapes):
        return None
    if job.pad_sizes:  # every shape of the space: the same program for every round of a sampler
        return [job.shapes]
    groups = padding.partition(
        spec.model,
        counts,
        num_seeds=len(job.seeds),
        num_examples=int(np.shape(job.data.x_train)[0] + np.shape(job.data.x_val)[0] / 3),
        num_epochs=spec.num_epochs,
        devices=job.devices,
    )
    if job.round_widths and len(groups) == 1:  # a sampler's round: one program for whichever shapes it drew
        return [job.shapes]
    return groups


class _Job(NamedTuple):
    """What every group of a sweep shares."""

    data: Any
    seeds: list[int]
    swept: list[str]
    log_scaled: set[str]
    base: Hyperparams
    key: PRNGKey
    devices: list[Any]
    max_parallel: int | None
    num_chunks: int
    progress: bool
    scheduler: ASHA | Hyperband | PBT | None
    shard: tuple[int, int] | None = None
    store: resume_lib.RunDirectory | None = None
    log: track.Log | None = None
    round_widths: bool = False  # a group's rows padded to a power of two (a sampler's rounds of several shapes)
    shapes: tuple[tuple[int, ...], ...] = ()  # the space's sizes, in its order (empty: it does not vary them)
    pad_sizes: bool | None = None  # the shapes of a program setting in one padded program (None: if it is sooner)


def _check_scheduler(
    scheduler: ASHA | Hyperband | PBT | None,
    spec: TrainSpec,
    job: _Job,
    space: dict[str, Any],
    num_configs: int,
    configs: list[dict[str, Any]] | None = None,
) -> None:
    """The scheduler against the sweep, before anything compiles."""
    if scheduler is None:
        return
    name = type(scheduler).__name__
    if job.data.num_val == 0:
        raise errors.ConfigError(
            f"{name} ranks rows by their validation metric, but the data has no validation split "
            "(give it val_fraction > 0)"
        )
    varied = [key for key in space if key in PROGRAM_KEYS]
    if varied:
        raise errors.ConfigError(
            f"{name} compares rows of one program, but the space varies {', '.join(varied)}; "
            "run one scheduled sweep per value and combine them with SweepResult.concat"
        )
    shapes: dict[Any, int] = {}  # each shape's configurations: a shape's rows are pruned (or copied) among themselves
    if configs is not None and ARCHITECTURE_KEY in space:
        for config in configs:
            shapes[config[ARCHITECTURE_KEY]] = shapes.get(config[ARCHITECTURE_KEY], 0) + 1
    if isinstance(scheduler, ASHA):
        scheduler.rungs(spec.num_epochs)
    elif isinstance(scheduler, Hyperband):
        for sizes, count in shapes.items() or [(None, num_configs)]:  # the rungs, the brackets, a config per bracket
            try:
                scheduler.sizes(count, spec.num_epochs)
            except errors.ConfigError as error:
                if sizes is None:
                    raise
                raise errors.ConfigError(
                    f"Hyperband's brackets split each shape's configurations, and sizes {sizes} has {count}: {error}"
                ) from None
    else:
        scheduler.interval_for(spec.num_epochs)
        scheduler.names_for(job.swept, job.base, spec.optimizer, spec.schedule)
        if num_configs < 2:
            raise errors.ConfigError(f"PBT needs a population of at least 2 configurations per seed, got {num_configs}")
        if shapes:  # each shape is a population: copies never cross shapes
            small = {sizes: count for sizes, count in shapes.items() if count < 2}
            if small:
                sizes, count = next(iter(small.items()))
                raise errors.ConfigError(
                    f"PBT copies weights only between rows of one shape, so each of space['sizes'] needs at least 2 "
                    f"configurations per seed; sizes {sizes} has {count}"
                )


def _check_early_stopping(early_stopping: EarlyStopping | None, data: Any, scheduler: Any = None) -> None:
    if early_stopping is not None and not early_stopping.restore_best:
        raise errors.ConfigError(
            "a sweep always returns each row's best-epoch parameters (the ones its table ranks); "
            "EarlyStopping(restore_best=False) is not supported here"
        )
    if data.num_val == 0 and scheduler is None:
        warnings.warn(
            "the data has no validation split, so the sweep ranks its rows by training loss, which rewards "
            "overfitting; give the data a validation split (val_fraction > 0) to rank by held-out data",
            stacklevel=3,
        )


def _hyperparameter_columns(spec: TrainSpec, job: _Job, configs: list[dict[str, Any]]) -> Hyperparams:
    """One (configs,) float32 column per hyperparameter: swept values, or the fixed value repeated."""
    swept = [name for name in job.swept if name in SWEEPABLE]
    columns: dict[str, Any] = {}  # (configs,) float32 columns, or None for a static field
    for name in hyperparams_lib.NAMES:
        if name in swept:
            columns[name] = np.asarray([config[name] for config in configs], np.float32)
        else:
            value = getattr(job.base, name)
            columns[name] = None if value is None else np.full(len(configs), value, np.float32)
    return Hyperparams(**columns)


def _sweep_group(
    spec: TrainSpec,
    job: _Job,
    all_configs: ConfigsById,
    config_ids: list[int],
    name: str = "group0",
    padded: "padding.Padded | None" = None,
) -> list[SweepResult]:
    """Train the configurations ``config_ids`` (which share one program) in chunks; their ranked result (one per
    shape when the program is ``padded``: each shape's rows with their own model and params).

    ``name`` prefixes the group's files in the checkpoint directory."""
    from tqdm.auto import tqdm

    configs = [all_configs[i] for i in config_ids]
    loop.layout(spec, job.data)  # the data against the spec, before anything compiles
    columns = _hyperparameter_columns(spec, job, configs)
    spec = spec.replace(zeros=zeros_of(columns._asdict()))
    row_bytes = planning.bytes_per_row(spec.model, job.data, spec.batch_size)
    chunks = planning.plan(
        # A sampler's round splits its configurations among the shapes anew each time: as powers of two, the
        # counts a shape meets are few (at most 5 programs per shape for rounds of 16), not one per count.
        num_configs=1 << (len(configs) - 1).bit_length() if job.round_widths else len(configs),
        num_seeds=len(job.seeds),
        row_bytes=row_bytes,
        devices=job.devices,
        max_parallel=job.max_parallel,
        num_epochs=spec.num_epochs,
        num_chunks=job.num_chunks,
    )
    if job.store is not None:  # a resumed sweep keeps the chunks it started with (free memory may differ now)
        saved = job.store.read(f"{name}-plan")
        chunks = chunks if saved is None else planning.Plan(*(int(saved[field]) for field in planning.Plan._fields))
        job.store.write(f"{name}-plan", chunks._asdict())
    mesh = parallel.config_mesh(job.devices)
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    placed_data = job.data.on(replicated)
    placed_key, placed_seeds = jax.device_put(
        (np.asarray(jax.random.key_data(job.key)), np.asarray(job.seeds, np.uint32)), replicated
    )
    shared = (placed_data, placed_key, placed_seeds)
    total = math.ceil(len(configs) / chunks.chunk) * chunks.num_calls
    with tqdm(total=total, disable=not job.progress, unit="chunk", leave=False) as bar:
        if job.scheduler is not None:
            context = scheduled.Context(
                mesh, *shared, str(jax.random.key_impl(job.key)), chunks.chunk, bar, job.store, name
            )
            return [_scheduled_group(spec, job, configs, config_ids, columns, context)]
        variants = None if padded is None else padding.variants(configs, padded.shapes)
        pieces = []
        for number, start in enumerate(range(0, len(configs), chunks.chunk)):
            saver = None if job.store is None else _ChunkFiles(job.store, f"{name}-chunk{number}", f"{name}-running")
            finished = (
                None
                if saver is None
                else saver.finished(
                    spec,
                    len(job.seeds),
                    min(chunks.chunk, len(configs) - start),
                    sweep_rows.other_metrics(spec, job.data),
                )
            )
            if finished is not None:
                pieces.append(finished)
                bar.update(chunks.num_calls)
            else:
                take = np.arange(start, start + chunks.chunk).clip(max=len(configs) - 1)  # the last chunk repeats a row
                hparams = parallel.shard_leading_axis(
                    jax.tree.map(lambda column, take=take: column[take], columns), mesh
                )
                rows = _train_chunk(
                    spec,
                    chunks,
                    hparams,
                    *shared,
                    str(jax.random.key_impl(job.key)),
                    bar,
                    saver,
                    first=not pieces,
                    variants=None if variants is None else parallel.shard_leading_axis(variants[take], mesh),
                )
                end = len(configs) - start
                pieces.append(jax.tree.map(lambda leaf, end=end: np.asarray(leaf)[:, :end], rows))
                if saver is not None:
                    saver.finish(pieces[-1])
            stop = start + pieces[-1].status.shape[1]  # the chunk's rows are final: log them (in the background)
            _log_rows(spec, job, configs[start:stop], config_ids[start:stop], pieces[-1])
    rows = jax.tree.map(lambda *parts: np.concatenate(parts, axis=1), *pieces)
    if padded is None or variants is None:
        return [_ranked(spec, job, configs, config_ids, rows)]
    return _ranked_shapes(spec, job, configs, config_ids, rows, padded, variants)


def _ranked_shapes(
    spec: TrainSpec,
    job: _Job,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    rows: Rows,
    padded: padding.Padded,
    variants: np.ndarray,
) -> list[SweepResult]:
    """The rows of a padded program as one ranked result per shape: each shape's rows cut to their own shape."""
    results = []
    for variant in dict.fromkeys(variants.tolist()):
        take = np.flatnonzero(variants == variant)
        shape = padded.shapes[variant]
        own = jax.tree.map(lambda leaf, take=take: leaf[:, take], rows)
        own = own._replace(params=padding.unpad(own.params, shape))
        own_spec = spec.replace(model=architecture.with_sizes(padded.base, shape))
        results.append(_ranked(own_spec, job, [configs[i] for i in take], [config_ids[i] for i in take], own))
    return results


def _mesh_of(column: Any) -> jax.sharding.Mesh:
    """The mesh a column placed by :func:`jaxnn.parallel.shard_leading_axis` lies on (its NamedSharding's)."""
    return column.sharding.mesh


def _train_chunk(
    spec: TrainSpec,
    chunks: planning.Plan,
    hparams: Hyperparams,
    data: Any,
    key_data: Array,
    seeds: Array,
    impl: str,
    bar: Any,
    saver: "_ChunkFiles | None" = None,
    first: bool = True,
    variants: Array | None = None,
) -> Rows:
    """One chunk of rows from start to finish (or from the state ``saver`` holds), ending early once every
    row has stopped; ``saver`` saves the state after every call; the ``first`` chunk of a group compiles
    its programs side by side (:func:`~jaxnn.sweeps.rows.compile_ahead`); ``variants`` are the rows' shapes in a
    padded model (:mod:`jaxnn.sweeps.padding`)."""
    mesh = _mesh_of(hparams.learning_rate)
    # The first chunk of a group compiles its programs side by side; the others, of the same shapes, reuse them.
    ahead = (
        sweep_rows.compile_ahead(spec, chunks.epochs_per_call, hparams, key_data, seeds, data, impl, mesh, variants)
        if first
        else ()
    )
    state = sweep_rows.init_rows(spec, hparams, key_data, seeds, data, impl, mesh=mesh, variants=variants)
    history: list[Any] = []
    calls = 0
    if saver is not None:
        state, history, calls = saver.running(state)
        bar.update(calls)
    # A fresh chunk's rows are all running: no host sync before its first call (it would wait for init_rows).
    while calls < chunks.num_calls and (calls == 0 or _any_running(spec, state)):
        interrupts.check()  # Ctrl-C or SIGTERM stops the sweep here, between calls
        if ahead:
            ahead[0].result()  # compiled: the call below finds it in jit's cache
        state, epochs = sweep_rows.run_rows(spec, state, hparams, data, chunks.epochs_per_call)
        history.append(parallel.to_host(epochs))
        calls += 1
        bar.update(1)
        if saver is not None:
            saver.save_running(state, history, calls)
    bar.update(chunks.num_calls - calls)
    if ahead:
        ahead[1].result()
    result, test_loss, test_metric, scores = parallel.to_host(sweep_rows.finish_rows(spec, state, data))

    def epochs_of(name: str) -> np.ndarray:
        """(seeds, configs, num_epochs): NaN for epochs skipped once every row had stopped."""
        curve = np.concatenate([h[name] for h in history], axis=2)[..., : spec.num_epochs]
        return np.pad(curve, ((0, 0), (0, 0), (0, spec.num_epochs - curve.shape[2])), constant_values=np.nan)

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
    status, epoch = parallel.to_host((state.status, state.epoch))  # checked on the host: no eager device ops
    return bool(np.any(loop.is_running(spec, state._replace(status=status, epoch=epoch))))


class _ChunkFiles(NamedTuple):
    """A chunk's files in the checkpoint directory: its rows once finished, its states while it runs."""

    store: resume_lib.RunDirectory
    name: str
    running_name: str

    def finished(self, spec: TrainSpec, num_seeds: int, num_configs: int, names: tuple[str, ...]) -> Rows | None:
        """The chunk's rows if it finished before, else None."""
        saved = self.store.read(self.name)
        if saved is None:
            return None
        like = _rows_like(spec, num_seeds, num_configs, names)
        return resume_lib.restore_leaves(self.store.file(self.name), like, saved["rows"])

    def finish(self, rows: Rows) -> None:
        self.store.write(self.name, {"rows": resume_lib.leaves_of(rows)})
        self.store.remove(self.running_name)

    def running(self, state: loop.LoopState) -> tuple[loop.LoopState, list, int]:
        """The chunk's saved state, history and calls done (``state``, none and 0 if nothing is saved)."""
        saved = self.store.read(self.running_name)
        if saved is None or saved["chunk"] != self.name:
            return state, [], 0
        restored = resume_lib.restore_leaves(self.store.file(self.running_name), state, saved["state"])
        return resume_lib.place_like(state, restored), [saved["history"]], int(saved["calls"])

    def save_running(self, state: loop.LoopState, history: list, calls: int) -> None:
        joined = {name: np.concatenate([h[name] for h in history], axis=2) for name in loop.HISTORY_KEYS}
        self.store.write(
            self.running_name,
            {"chunk": self.name, "calls": calls, "history": joined, "state": resume_lib.leaves_of(state)},
        )


def _rows_like(spec: TrainSpec, num_seeds: int, num_configs: int, names: tuple[str, ...]) -> Rows:
    """Shapes and dtypes of a chunk's :class:`Rows` on the host."""
    rows = lambda shape=(), dtype=np.float32: jax.ShapeDtypeStruct((num_seeds, num_configs, *shape), dtype)  # noqa: E731
    params = jax.tree.map(lambda leaf: rows(leaf.shape, leaf.dtype), jax.eval_shape(spec.model.init, jax.random.key(0)))
    counter = rows(dtype=np.int32)
    return Rows(
        params,
        {name: rows((spec.num_epochs,)) for name in loop.HISTORY_KEYS},
        counter,
        counter,
        counter,
        rows(),
        rows(),
        {name: rows() for name in names},
    )


def _scheduled_group(
    spec: TrainSpec,
    job: _Job,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    columns: Hyperparams,
    context: scheduled.Context,
) -> SweepResult:
    """A group trained under ``job.scheduler``: its ranked result with the scheduler's columns."""
    _, _, higher_is_better = spec.metric_for(job.data.task)
    perturbed: tuple[str, ...] = ()
    if isinstance(job.scheduler, PBT):
        perturbed = job.scheduler.names_for(job.swept, job.base, spec.optimizer, spec.schedule)
    seed = int(np.asarray(jax.random.key_data(jax.random.fold_in(job.key, 0x9B7))).ravel()[-1])
    noise = scheduled.NoiseCheck(spec.metric_for(job.data.task)[0], job.data.num_val)  # a scheduled sweep is one group
    assert job.scheduler is not None, "only a scheduled sweep's groups come here"
    out = scheduled.train_scheduled(
        spec,
        job.scheduler,
        columns,
        len(job.seeds),
        context,
        higher_is_better=higher_is_better,
        perturbed=perturbed,
        rng_seed=seed,
        noise=noise,
    )
    rows = Rows(
        out.result.params,
        out.curves,
        out.result.best_epoch,
        out.result.stopped_epoch,
        out.result.status,
        out.test_loss,
        out.test_metric,
        out.scores,
    )
    extra = dict(out.columns)
    owners = None
    if "lineage" in extra:  # owners per interval -> configuration ids, repeats collapsed: "3>7>12"
        ids = np.asarray(config_ids)
        owners = ids[np.asarray(extra["lineage"])]  # (seeds, configs, intervals), for the log
        extra["lineage"] = np.asarray(
            [
                [
                    ">".join(str(ids[o]) for i, o in enumerate(chain) if i == 0 or o != chain[i - 1])
                    for chain in seed_rows
                ]
                for seed_rows in extra["lineage"]
            ],
            dtype=object,
        )
    if out.hparams is not None:  # PBT: the values each row ended with
        for name in dict.fromkeys((*job.swept, *perturbed)):
            if name in SWEEPABLE:
                extra[name] = getattr(out.hparams, name)
    job = job._replace(swept=list(dict.fromkeys((*job.swept, *perturbed))))
    _log_rows(spec, job, configs, config_ids, rows, extra, out.schedules, owners)
    return _ranked(spec, job, configs, config_ids, rows, extra, out.schedules)


def _log_rows(
    spec: TrainSpec,
    job: _Job,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    rows: Rows,
    extra: dict[str, np.ndarray] | None = None,
    schedules: list | None = None,
    owners: np.ndarray | None = None,
) -> None:
    """Hand the final rows of a chunk (or of a scheduled group) to the sweep's log, as its table has them."""
    if job.log is None or not job.log:
        return
    table, curves = _table(spec, job, configs, config_ids, rows._replace(params=()), extra)
    if ARCHITECTURE_KEY in table:  # the log's values are numbers and words: sizes as "128,64"
        table[ARCHITECTURE_KEY] = np.asarray([sizes_text(sizes) for sizes in table[ARCHITECTURE_KEY]])
    if schedules is not None:
        assert owners is not None, "PBT groups log their schedules with their owners"
        schedules = [schedules[s][c] for c in range(len(configs)) for s in range(len(job.seeds))]
        owners = np.swapaxes(owners, 0, 1).reshape(len(table["config"]), -1)
    metric, _, _ = spec.metric_for(job.data.task)
    job.log.rows(
        track_rows.sweep_rows(
            table,
            curves,
            hyperparameters=job.swept,
            metric=metric,
            seeds=job.seeds,
            num_rows=job.log.run.num_rows,
            schedules=schedules,
            owners=owners,
        )
    )


def _ranked(
    spec: TrainSpec,
    job: _Job,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    rows: Rows,
    extra: dict[str, np.ndarray] | None = None,
    schedules: list | None = None,
) -> SweepResult:
    """The table of a group's rows (configuration-major: row = config * num_seeds + seed), ranked.

    ``extra`` holds columns shaped ``(seeds, configs)`` that are added or replace the defaults;
    ``schedules`` each row's hyperparameter schedule, indexed ``[seed][config]``.
    """
    table, curves = _table(spec, job, configs, config_ids, rows._replace(params=()), extra)
    num_rows = len(configs) * len(job.seeds)
    params = jax.tree.map(lambda leaf: np.swapaxes(leaf, 0, 1).reshape(num_rows, *leaf.shape[2:]), rows.params)
    if schedules is not None:
        schedules = [schedules[s][c] for c in range(len(configs)) for s in range(len(job.seeds))]
    metric_name, _, higher_is_better = spec.metric_for(job.data.task)
    settings = {
        name: getattr(spec, name)
        for name in ("optimizer", "batch_size", "num_epochs", "schedule", "warmup_steps", "nesterov")
    }
    settings |= {name: value for name, value in job.base._asdict().items() if name not in job.swept}
    return SweepResult(
        table=table,
        curves=curves,
        params=params,
        model=spec.model,
        metric=metric_name,
        higher_is_better=higher_is_better,
        hyperparameters=job.swept,
        log_scaled=job.log_scaled,
        ranked_by=RANKED_BY_VALIDATION if job.data.num_val > 0 else RANKED_BY_TRAINING,
        schedules=schedules,
        settings=settings,
        task=job.data.task,
    )


def _table(
    spec: TrainSpec,
    job: _Job,
    configs: list[dict[str, Any]],
    config_ids: list[int],
    rows: Rows,
    extra: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The table of rows (configuration-major: row = config * num_seeds + seed) and their curves, unranked."""
    num_rows = len(configs) * len(job.seeds)
    flat = jax.tree.map(lambda leaf: np.swapaxes(leaf, 0, 1).reshape(num_rows, *leaf.shape[2:]), rows)
    epochs = flat.history["val_loss"].shape[1]

    def at_epoch(name: str, epoch: np.ndarray) -> np.ndarray:
        """history[name] at each row's 1-based ``epoch`` (NaN where it is 0: no such epoch)."""
        index = np.clip(epoch - 1, 0, epochs - 1)
        values = np.take_along_axis(flat.history[name], index[:, None], axis=1)[:, 0].astype(np.float64)
        return np.where(epoch > 0, values, np.nan)

    table: dict[str, np.ndarray] = {
        name: as_column([c.get(name, getattr(job.base, name, None)) for c in configs for _ in job.seeds])
        for name in job.swept
    }
    table["seed"] = np.asarray(job.seeds * len(configs))
    table["config"] = np.repeat(np.asarray(config_ids), len(job.seeds))
    table["status"] = np.asarray([loop.STATUS[int(code)] for code in flat.status])
    table["best_epoch"] = flat.best_epoch.astype(np.int64)
    table["stopped_epoch"] = flat.stopped_epoch.astype(np.int64)
    table["epochs_run"] = flat.stopped_epoch.astype(np.int64)
    table["best_train_loss"] = at_epoch("train_loss", flat.best_epoch)
    table["best_val_loss"] = at_epoch("val_loss", flat.best_epoch)
    table["final_val_loss"] = at_epoch("val_loss", flat.stopped_epoch)
    table["best_val_metric"] = at_epoch("val_metric", flat.best_epoch)
    table["final_val_metric"] = at_epoch("val_metric", flat.stopped_epoch)
    table["test_loss"] = flat.test_loss.astype(np.float64)
    table["test_metric"] = flat.test_metric.astype(np.float64)
    for name in sorted(
        flat.scores, key=list(metrics.METRICS).index
    ):  # the task's other metrics, on the validation split
        table[f"val_{name}"] = flat.scores[name].astype(np.float64)
    for name, column in (extra or {}).items():
        table[name] = np.swapaxes(np.asarray(column), 0, 1).reshape(num_rows)
    return table, flat.history
