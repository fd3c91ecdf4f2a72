"""``jaxnn sweep``: many configurations trained by ``jaxnn.sweep`` in one compiled program; the ranked table
printed, the table, curves and the best row's model written."""

import argparse
import contextlib
import os
import time
import warnings
from typing import Any

import jaxnn
import jaxnn.track
from jaxnn import errors, hyperparams
from jaxnn.cli import config, options, runs
from jaxnn.cli.options import UsageError
from jaxnn.cluster import shards as sharding
from jaxnn.sweeps.space import python_value

__all__ = ["add", "run", "space_of"]

SCHEDULER_OPTIONS = {
    "asha": ("min_epochs", "reduction_factor"),
    "hyperband": ("min_epochs", "reduction_factor", "brackets"),
    "pbt": ("pbt_interval", "pbt_fraction", "pbt_perturb"),
}
"""Each --scheduler's own options (their argparse names)."""


PAD_SIZES = {"auto": None, "yes": True, "no": False}
"""--pad-sizes: the word -> ``jaxnn.sweep``'s ``pad_sizes``."""


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="train many hyperparameter configurations in one compiled program",
        parents=parents,
        description="A vmapped hyperparameter sweep over every CPU core (or every GPU). Writes DIR/sweep.csv, "
        "DIR/sweep.json, plots and DIR/best.msgpack (the best row's parameters: the ones its table row reports). "
        "With --seeds N, configurations rank by their mean over the seeds (shown as mean ± std, written to "
        "DIR/configs.csv) and best.msgpack holds the best configuration's best seed.",
        epilog=config.EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_training_options(sweep, sweep=True)
    group = sweep.add_argument_group("sweep")
    group.add_argument(
        "--seeds",
        type=options.positive_int,
        default=1,
        metavar="N",
        help="seeds per configuration; with several, configurations rank by their mean over the seeds (default: 1)",
    )
    group.add_argument(
        "--samples",
        type=options.positive_int,
        metavar="N",
        help="random search: configurations drawn from the distributions",
    )
    group.add_argument(
        "--max-parallel",
        type=options.positive_int,
        metavar="N",
        help="most runs trained at once (default: what memory allows)",
    )
    group.add_argument("--config", metavar="FILE", help="TOML file of options and a [space] table (format below)")
    group.add_argument(
        "--top", type=options.positive_int, default=10, metavar="N", help="rows of the table to print (default: 10)"
    )
    group.add_argument(
        "--pad-sizes",
        choices=PAD_SIZES,
        default="auto",
        help="with --sizes given more than once: train the shapes as one program padded to the widest (yes), "
        "one program per shape (no), or whichever is estimated to finish sooner (auto, the default)",
    )
    group.add_argument(
        "--ensemble",
        type=options.positive_int,
        metavar="N",
        help="also write DIR/best_ensemble.msgpack: a model averaging the predictions (probabilities "
        "for classes) of the N best rows, for jaxnn predict --model",
    )
    group.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="k-fold cross-validation: every configuration trains on each of K folds of the training data "
        "(stratified for classes) in the one program and ranks by its mean over them; best.msgpack is the "
        "best configuration refit on all the training data. The folds are the validation data (no "
        "--val-fraction split); trains in memory (no checkpoint, no --log)",
    )
    group.add_argument(
        "--yes",
        action="store_true",
        help="run a sweep whose results would take more than 1 GiB of memory (refused otherwise)",
    )
    scheduling = sweep.add_argument_group("schedulers (inside the one sweep; all rank by the validation split)")
    scheduling.add_argument(
        "--scheduler",
        choices=tuple(SCHEDULER_OPTIONS),
        help="asha: stop the worse configurations at rungs of growing epoch budgets; "
        "hyperband: several asha brackets side by side, each starting at a later rung; "
        "pbt: population-based training (default: every configuration trains every epoch)",
    )
    scheduling.add_argument(
        "--min-epochs",
        type=options.positive_int,
        metavar="N",
        help="asha, hyperband: the first rung's epochs (default: 1)",
    )
    scheduling.add_argument(
        "--reduction-factor",
        type=float,
        metavar="X",
        help="asha, hyperband: each rung keeps the best 1/X and trains X times as long (default: 3)",
    )
    scheduling.add_argument(
        "--brackets",
        type=options.positive_int,
        metavar="N",
        help="hyperband: brackets, starting at the first N rungs (default: one per rung)",
    )
    scheduling.add_argument(
        "--pbt-interval",
        type=options.positive_int,
        metavar="N",
        help="pbt: epochs between exploit-and-explore steps (default: a tenth of --epochs)",
    )
    scheduling.add_argument(
        "--pbt-fraction",
        type=float,
        metavar="X",
        help="pbt: the bottom fraction copies the top fraction (default: 0.25)",
    )
    scheduling.add_argument(
        "--pbt-perturb",
        type=options.factors,
        metavar="A,B",
        help="pbt: factors a copied hyperparameter is multiplied by (default: 0.8,1.25)",
    )
    machines = sweep.add_argument_group("several machines (see the docs' page on several machines)")
    machines.add_argument(
        "--shard",
        metavar="I/N",
        help="train only shard I of N (0-based) of the configurations and write DIR/shard.msgpack; "
        "join the N directories with jaxnn merge (a Slurm array 0-(N-1) passes "
        "$SLURM_ARRAY_TASK_ID/N)",
    )
    machines.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the shards as Ray tasks (the ray extra): without ADDRESS a local Ray; 'auto' or "
        "ray://HOST:PORT joins a cluster",
    )
    machines.add_argument(
        "--shards",
        type=options.positive_int,
        metavar="N",
        help="--ray: shards of the configurations (default: one per CPU or GPU of the cluster)",
    )
    optuna_group = sweep.add_argument_group("Optuna (the optuna extra; random search ranges such as 1e-4:1e-1:log)")
    optuna_group.add_argument(
        "--sampler",
        choices=("tpe", "random"),
        help="an Optuna sampler chooses --samples configurations, --batch at a time (seeded by --seed)",
    )
    optuna_group.add_argument(
        "--batch",
        type=options.positive_int,
        default=16,
        metavar="N",
        help="configurations per ask-and-tell round (default: 16)",
    )
    optuna_group.add_argument(
        "--storage",
        metavar="URL",
        help="share one study between processes or hosts: a database URL such as "
        "sqlite:///study.db or postgresql://user@host/db (needs --study-name)",
    )
    optuna_group.add_argument("--study-name", metavar="NAME", help="the shared study's name in --storage")
    hosts = sweep.add_argument_group("several hosts (jax.distributed)")
    hosts.add_argument(
        "--coordinator", metavar="HOST:PORT", help="address of process 0; start one jaxnn sweep per host"
    )
    hosts.add_argument("--num-processes", type=int, metavar="N", help="number of processes in the job")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1 (0 writes the files)")
    sweep.set_defaults(run=run)


def space_of(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(space, fixed hyperparameters) from the hyperparameter flags and the sweep file's [space]."""
    space: dict[str, Any] = dict(args.program_space)
    fixed: dict[str, Any] = {}
    if args.sizes is not None and len(args.sizes) > 1:  # --sizes given more than once: the architecture is swept
        space["sizes"] = list(dict.fromkeys(tuple(widths) for widths in args.sizes))
    for name in hyperparams.NAMES:
        text = getattr(args, name)
        if text is None:
            continue
        values = options.parse_range(name, text)
        if isinstance(values, list) and len(values) == 1:
            fixed[name] = values[0]
        else:
            space[name] = values
    if not space and args.seeds > 1:  # one configuration, repeated: the table is its seeds' spread
        space["learning_rate"] = [fixed.pop("learning_rate", hyperparams.BY_NAME["learning_rate"].default)]
    if not space:
        raise UsageError(
            "nothing to sweep: give a range such as --learning-rate 1e-4:1e-1:log:8, --config FILE, or --seeds N "
            "to repeat one configuration"
        )
    return space, fixed


def _scheduler(args: argparse.Namespace) -> Any:
    """The --scheduler and its options as a jaxnn.ASHA, jaxnn.Hyperband or jaxnn.PBT (None without one)."""
    for name in dict.fromkeys(name for names in SCHEDULER_OPTIONS.values() for name in names):
        users = [scheduler for scheduler, names in SCHEDULER_OPTIONS.items() if name in names]
        if getattr(args, name) is not None and args.scheduler not in users:
            raise UsageError(f"--{name.replace('_', '-')} has no effect without --scheduler {' or '.join(users)}")
    if args.scheduler in ("asha", "hyperband"):
        given = {"min_epochs": args.min_epochs, "reduction_factor": args.reduction_factor}
        if args.scheduler == "asha":
            return jaxnn.ASHA(**{name: value for name, value in given.items() if value is not None})
        given["brackets"] = args.brackets
        return jaxnn.Hyperband(**{name: value for name, value in given.items() if value is not None})
    if args.scheduler == "pbt":
        given = {"interval": args.pbt_interval, "fraction": args.pbt_fraction, "perturb": args.pbt_perturb}
        return jaxnn.PBT(**{name: value for name, value in given.items() if value is not None})
    return None


def _sampler(args: argparse.Namespace) -> Any:
    """The --sampler as an Optuna sampler seeded by --seed (None without one)."""
    if args.sampler is None:
        if args.batch != 16:
            raise UsageError("--batch has no effect without --sampler or --storage")
        return None
    from jaxnn.sweeps import bridge

    optuna = bridge._optuna()
    kind = optuna.samplers.TPESampler if args.sampler == "tpe" else optuna.samplers.RandomSampler
    return kind(seed=args.seed)


def _cluster(args: argparse.Namespace) -> Any:
    """--ray [ADDRESS] and --shards as a jaxnn.cluster.Ray (None without --ray)."""
    if args.ray is None:
        if args.shards is not None:
            raise UsageError("--shards is for --ray (a job array passes --shard I/N to each task instead)")
        return None
    return jaxnn.cluster.Ray(address=None if args.ray == "local" else args.ray, shards=args.shards)


def run(args: argparse.Namespace) -> int:
    import jax

    space, fixed = space_of(args)
    scheduler = _scheduler(args)
    if args.cv is not None:
        _cross_validated(args)
    if args.ensemble is not None:  # refused before training, not after
        num_configs, num_seeds = jaxnn.sweeps.space.space_size(space, num_samples=args.samples, seeds=args.seeds)
        if 0 < num_configs * num_seeds < args.ensemble:
            raise UsageError(f"--ensemble {args.ensemble} is more than the sweep's {num_configs * num_seeds} runs")
    shard = None if args.shard is None else sharding.parse_shard(args.shard)
    sampler = _sampler(args)
    cluster = _cluster(args)
    asks = sampler is not None or args.storage is not None or args.study_name is not None
    writes = jax.process_index() == 0  # every process holds the gathered table; process 0 writes it
    # A sampler's sweep keeps its state in its study (--storage), not in a checkpoint directory.
    checkpoint = (
        None
        if (asks and args.checkpoint_dir is None and not args.resume) or args.cv is not None
        else runs.checkpoint_dir(args)
    )
    with (
        runs.resumable(checkpoint),
        runs.staged_output(args.out) if writes else contextlib.nullcontext() as staging,
        runs.live_log(args),
    ):
        data = runs.load_data(args)
        model = runs.model_for(args, data)
        devices = jax.devices()
        print(data.describe())
        hosts = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
        folds = "" if args.cv is None else f", {args.cv}-fold cross-validated"
        print(f"sweeping {', '.join(space)}{folds} on {len(devices)} {devices[0].platform} device(s){hosts}")
        trackers = runs.trackers(args)
        if cluster is not None and trackers:  # the shards train in Ray's workers; the driver sees finished shards
            warnings.warn(f"--ray writes no --log {args.log} log: the shards train in Ray's workers", stacklevel=1)
            trackers = []
        started = time.perf_counter()
        result, log_error = runs.logged(
            lambda: jaxnn.sweep(
                model,
                data,
                space=space,
                key=args.seed,
                early_stopping=runs.early_stopping(args),
                optimizer=args.optimizer,
                num_epochs=args.epochs,
                batch_size=args.batch_size,
                schedule=args.schedule,
                warmup_steps=args.warmup_steps,
                nesterov=args.nesterov,
                seeds=args.seeds,
                num_samples=args.samples,
                max_parallel=args.max_parallel,
                metric=args.metric,
                class_weight=args.class_weight,
                progress=not args.no_progress,
                scheduler=scheduler,
                checkpoint_dir=checkpoint,
                resume=args.resume,
                force=args.yes,
                log=trackers or None,
                shard=shard,
                sampler=sampler,
                **({"batch": args.batch} if asks else {}),
                storage=args.storage,
                study_name=args.study_name,
                cluster=cluster,
                cv=args.cv,
                pad_sizes=PAD_SIZES[args.pad_sizes],
                **fixed,
            )
        )
        elapsed = time.perf_counter() - started
        if not writes:
            return 0
        assert staging is not None, "a sweep that writes has its staging directory"
        print(f"{len(result)} runs in {elapsed:.1f} s ({elapsed / len(result) * 1e3:.0f} ms per run)")
        by_mean = args.seeds > 1 and args.scheduler != "pbt"  # PBT: a configuration's seeds follow their own lineages
        if by_mean:
            print(f"configurations ranked by the mean over {args.seeds} seeds (every row is in sweep.csv):")
            print(result.format_aggregate(top=args.top))
        else:
            print(result.format(top=args.top))
        written, chosen = _write(result, staging, data, fixed, args, by_mean)
        if shard is not None:
            sharding.save_shard(result, os.path.join(staging, sharding.FILE))
            written.append(sharding.FILE)
        runs.keep_log(args.out, staging)
    print(f"wrote {args.out}: {', '.join(written)}")
    if chosen is not None:
        print(chosen)
    if shard is not None:
        print(
            f"shard {shard[0]}/{shard[1]} of {result.shard.num_configs} configurations; join the {shard[1]} "
            "shards with: jaxnn merge DIR... --out DIR"
        )
        if log_error is not None:
            raise log_error
        return 0
    if log_error is not None:
        raise log_error
    if "best.msgpack" not in written:
        raise _no_best(args, result)
    for line in jaxnn.track.how_to_look(trackers):
        print(f"to look: {line}")
    return 0


def _write(
    result: Any, staging: str, data: Any, fixed: dict[str, Any], args: argparse.Namespace, by_mean: bool
) -> tuple[list[str], str | None]:
    """Write the sweep's files (``best.msgpack`` only if not every row diverged, ``best_ensemble.msgpack`` with
    ``--ensemble``): their names, and the line that says which row ``best.msgpack`` holds (None without one)."""
    result.to_csv(os.path.join(staging, "sweep.csv"))
    result.to_json(os.path.join(staging, "sweep.json"))
    written = ["sweep.csv", "sweep.json"]
    summary = None
    if by_mean:
        summary = result.aggregate()
        result.to_csv(os.path.join(staging, "configs.csv"), aggregate=True)
        written.append("configs.csv")
    written += [os.path.basename(path) for path in result.plot(staging)]
    if result.table["status"][0] == "diverged":
        return written, None
    if args.cv is not None:
        return _write_refit(result, staging, data, fixed, args, written)
    index = int(summary["best_row"][0]) if summary is not None else 0
    best = result.row(index)
    metadata = {
        "command": "sweep",
        "row": best,
        "hyperparameters": {name: best[name] for name in result.hyperparameters} | fixed,
        "split": runs.split_of(args),
    }
    if summary is not None:
        metadata["selected"] = (
            f"the best seed of the configuration with the best mean over {args.seeds} seeds "
            f"(ranked by {', '.join(result.ranked_by)})"
        )
        metadata["configuration"] = {name: python_value(column[0]) for name, column in summary.items()}
    if args.scheduler == "pbt":
        metadata["hyperparameter_schedule"] = result.schedule(index)
    jaxnn.save(
        os.path.join(staging, "best.msgpack"),
        result.model(index),
        result.params(index),
        dataset=data,
        metadata=metadata,
    )
    written.append("best.msgpack")
    if args.ensemble is not None:  # the table's top rows (every seed a row of its own)
        model, params = result.ensemble(top=args.ensemble)
        rows = [result.row(i) for i in range(len(params))]
        jaxnn.save(
            os.path.join(staging, "best_ensemble.msgpack"),
            model,
            params,
            dataset=data,
            metadata={"command": "sweep", "ensemble_of": rows, "split": runs.split_of(args)},
        )
        written.append("best_ensemble.msgpack")
    return written, _chosen(result, best, summary)


def _no_best(args: argparse.Namespace, result: Any) -> errors.TrainingDiverged:
    """Why a finished sweep wrote no ``best.msgpack``: every row diverged, or (``--cv``) the refit did."""
    table = os.path.join(args.out, "sweep.csv")
    if args.cv is not None and result.table["status"][0] != "diverged":
        return errors.TrainingDiverged(
            None,
            result.refit,
            "the best configuration diverged when refit on all the training data (it did not on the folds), so "
            f"there is no best.msgpack; the table is in {table}. Lower --learning-rate or set --clip-norm",
        )
    return errors.AllRunsDiverged(
        result,
        f"all {len(result)} runs diverged (NaN or infinite loss), so there is no best model and no best.msgpack; "
        f"the table is in {table}. Lower --learning-rate or set --clip-norm",
    )


def _cross_validated(args: argparse.Namespace) -> None:
    """Settle the options of a ``--cv`` sweep before anything loads: the folds are the validation data, and
    it trains in memory (the options that cannot go with it are refused here or by ``jaxnn.sweep``)."""
    if args.cv < 2:
        raise UsageError(f"--cv must be a number of folds, at least 2, got {args.cv}")
    refused = [
        (args.ensemble is not None, "--ensemble", "each row's params are its folds'; the refit model is best.msgpack"),
        (args.seeds > 1, "--seeds", "the folds are each configuration's repeats: run one seed"),
        (args.checkpoint_dir is not None or args.resume, "--checkpoint-dir/--resume", "a --cv sweep trains in memory"),
        (args.log not in (None, "none"), f"--log {args.log}", "a --cv sweep's rows are means over folds, not logged"),
    ]
    for given, flag, why in refused:
        if given:
            raise UsageError(f"--cv cannot be combined with {flag}: {why}")
    args.log, args.val_fraction = "none", 0.0


def _write_refit(
    result: Any, staging: str, data: Any, fixed: dict[str, Any], args: argparse.Namespace, written: list[str]
) -> tuple[list[str], str | None]:
    """A ``--cv`` sweep's ``best.msgpack``: the best configuration (by its mean over the folds) refit on all the
    training data, and the line that says so."""
    best, refit = result.row(0), result.refit
    what = _ranking_words(result)
    if refit is None or refit.status == "diverged":  # no best.msgpack: run() says why, after the table is written
        return written, None
    selected = f"the configuration with the best mean {what} over {args.cv} folds, refit on all the training data"
    jaxnn.save(
        os.path.join(staging, "best.msgpack"),
        result.model(0),
        refit.params,
        dataset=data,
        metadata={
            "command": "sweep",
            "row": best,
            "hyperparameters": {name: best[name] for name in result.hyperparameters} | fixed,
            "selected": selected,
            "refit_epochs": int(refit.stopped_epoch),
            "split": runs.split_of(args),
        },
    )
    ranking = result.ranked_by[0]
    chosen = (
        f"best.msgpack: {selected} for {int(refit.stopped_epoch)} epochs ({_config_words(result, best)}; "
        f"{runs.fmt(best[ranking])} ± {runs.fmt(best[f'{ranking}_std'])} over the folds)"
    )
    return [*written, "best.msgpack"], chosen


def _ranking_words(result: Any) -> str:
    """What the table ranks by, in words (``validation accuracy``)."""
    return (
        result.ranked_by[0]
        .removeprefix("best_")
        .replace("val_", "validation ")
        .replace("_", " ")
        .replace("metric", result.metric.replace("_", " "))
    )


def _config_words(result: Any, row: dict[str, Any]) -> str:
    """A row's hyperparameters as ``name=value, ...``."""
    return ", ".join(
        f"{name}={row[name]:.4g}" if isinstance(row[name], float) else f"{name}={row[name]}"
        for name in result.hyperparameters
    )


def _chosen(result: Any, best: dict[str, Any], summary: dict[str, Any] | None) -> str:
    """Which row best.msgpack holds, in words."""
    ranking = result.ranked_by[0]
    what = _ranking_words(result)
    config = _config_words(result, best)
    if summary is None:
        return f"best.msgpack: the first row ({config}, seed {best['seed']}; {what} {runs.fmt(best[ranking])})"
    mean, std = summary[f"{ranking}_mean"][0], summary[f"{ranking}_std"][0]
    diverged = f", {summary['num_diverged'][0]} diverged" if summary["num_diverged"][0] else ""
    return (
        f"best.msgpack: the best configuration by its mean {what} over {summary['count'][0]} seeds{diverged} "
        f"({config}; "
        f"{runs.fmt(float(mean))} ± {runs.fmt(float(std))}), its best seed {best['seed']} "
        f"({what} {runs.fmt(best[ranking])})"
    )
