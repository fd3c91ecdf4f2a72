"""``jaxnn train``: one model, trained by ``jaxnn.fit``; its metrics printed, its files written."""

import argparse
import os
import time
from typing import Any

import jaxnn
import jaxnn.track
from jaxnn import hyperparams, plotting
from jaxnn.cli import options, runs

__all__ = ["add", "run"]


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    train = commands.add_parser(
        "train",
        help="train a model on a built-in dataset or a CSV/NPZ file",
        parents=parents,
        description="Train a model with one compiled XLA program; print train/validation/test metrics and write "
        "DIR/model.msgpack (the best validation epoch's parameters, unless --keep-last), DIR/history.csv and "
        "DIR/curves.png.",
    )
    options.add_training_options(train, sweep=False)
    train.add_argument(
        "--keep-last",
        action="store_true",
        help="save the last epoch's parameters instead of the best validation epoch's",
    )
    train.add_argument(
        "--devices",
        type=options.devices,
        default=None,
        metavar="N|all",
        help="data parallelism: split each minibatch across N devices (default: one device)",
    )
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in hyperparams.NAMES if getattr(args, name) is not None}
    given.pop("dropout", None)  # the model's own rate (runs.model_for)
    checkpoint = runs.checkpoint_dir(args)
    with runs.resumable(checkpoint), runs.staged_output(args.out) as staging, runs.live_log(args):
        data = runs.load_data(args)
        model = runs.model_for(args, data)
        print(data.describe())
        print(
            f"model: {runs.describe_model(model)}, optimizer {args.optimizer}, {args.epochs} epochs, "
            f"batch {args.batch_size or 'full'}"
        )
        trackers = runs.trackers(args)
        started = time.perf_counter()
        result, log_error = runs.logged(
            lambda: jaxnn.fit(
                model,
                data,
                key=args.seed,
                optimizer=args.optimizer,
                num_epochs=args.epochs,
                batch_size=args.batch_size,
                schedule=args.schedule,
                warmup_steps=args.warmup_steps,
                nesterov=args.nesterov,
                metric=args.metric,
                class_weight=args.class_weight,
                early_stopping=runs.early_stopping(args),
                restore_best=False if args.keep_last else None,
                progress=not args.no_progress,
                devices=args.devices,
                checkpoint_dir=checkpoint,
                checkpoint_every=args.checkpoint_every,
                resume=args.resume,
                log=trackers,
                **given,
            )
        )
        elapsed = time.perf_counter() - started
        # Every metric of the task, kept with the model; the one trained by is printed.
        metrics = {
            split: jaxnn.evaluate(model, result.params, data, split=split)
            for split in ("train", "val", "test")
            if getattr(data, f"num_{split}") > 0
        }
        metric = jaxnn.metrics.check(args.metric, data.task).name
        print(f"{result.status} after {result.stopped_epoch} epochs in {elapsed:.1f} s; {_saved(result)}")
        for split, values in metrics.items():
            label = {"val": "validation"}.get(split, split)
            print(
                f"{label + ' loss':>16} {runs.fmt(values['loss'])}   {label} {metric.replace('_', ' ')} "
                f"{runs.fmt(values[metric])}"
            )
        metadata = {
            "command": "train",
            "hyperparameters": hyperparams.Hyperparams(**given)._asdict(),
            "optimizer": args.optimizer,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "split": runs.split_of(args),
            "status": result.status,
            "best_epoch": result.best_epoch,
            "params_epoch": result.params_epoch,
            "metrics": metrics,
        }
        jaxnn.save(os.path.join(staging, "model.msgpack"), model, result.params, dataset=data, metadata=metadata)
        result.to_csv(os.path.join(staging, "history.csv"))
        plotting.plot_history(result.history, os.path.join(staging, "curves.png"), metric=metric)
        runs.keep_log(args.out, staging)
    print(f"wrote {args.out}: model.msgpack (epoch {result.params_epoch}), history.csv, curves.png")
    if log_error is not None:
        raise log_error
    for line in jaxnn.track.how_to_look(trackers):
        print(f"to look: {line}")
    return 0


def _saved(result: Any) -> str:
    """Which epoch's parameters the model file holds, and why."""
    if result.params_epoch == result.stopped_epoch and result.best_epoch == result.stopped_epoch:
        return f"the last epoch ({result.params_epoch}) was also the best"
    if result.params_epoch == result.best_epoch:
        return f"saving the best epoch, {result.best_epoch} (--keep-last saves the last)"
    return f"saving the last epoch, {result.params_epoch} (the best was {result.best_epoch})"
