"""What ``train`` and ``sweep`` share: reading the data the flags name, building the model, the run's output
and checkpoint directories."""

import argparse
import contextlib
import math
import os
import re
import shutil
from collections.abc import Iterator
from typing import Any

import jaxnn
import jaxnn.track
from jaxnn import resume
from jaxnn._io import staged_directory
from jaxnn.cli.options import CHECKPOINT, UsageError

__all__ = [
    "RUN_FILES",
    "checkpoint_dir",
    "describe_model",
    "early_stopping",
    "fmt",
    "keep_log",
    "live_log",
    "load_data",
    "logged",
    "model_for",
    "resumable",
    "staged_output",
    "trackers",
]

RUN_FILES = (
    "model.msgpack",
    "history.csv",
    "curves.png",
    "sweep.csv",
    "sweep.json",
    "best.msgpack",
    "best_ensemble.msgpack",
    CHECKPOINT,
    "tensorboard",
    "shard.msgpack",
    "configs.csv",
    "metrics.json",
    "confusion_matrix.png",
)
"""What a ``train``, ``sweep`` or ``evaluate`` writes into ``--out`` (a directory holding only these may be
replaced)."""


def split_of(args: argparse.Namespace) -> dict[str, Any]:
    """How the flags split the data (seed, shares, stratification): a checkpoint's metadata keeps it, so that
    ``evaluate --dataset`` scores the very rows the run held out."""
    return {
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "test_fraction": args.test_fraction,
        "stratify": not args.no_stratify,
    }


def load_data(args: argparse.Namespace) -> Any:
    """The dataset the flags name: ``--csv FILE --target COLUMN``, ``--npz FILE`` or a built-in ``--dataset``."""
    _check_source(args)
    split = {**split_of(args), "standardize": args.standardize}
    if args.csv is not None:
        return jaxnn.datasets.from_csv(
            args.csv,
            args.target,
            task=args.task,
            delimiter=args.delimiter,
            encoding=args.encoding,
            columns=args.columns,
            drop=args.drop,
            categorical=args.categorical,
            max_categories=args.max_categories,
            missing_indicator=args.missing_indicator,
            missing_values=args.missing_values,
            weight_column=args.weight_column,
            **split,
        )
    if args.npz is not None:
        return jaxnn.datasets.from_npz(args.npz, task=args.task, **split)
    return jaxnn.datasets.load(args.dataset or "digits", as_images=args.images, **split)


def _check_source(args: argparse.Namespace) -> None:
    """Refuse data flags that name two sources, or that the chosen source would ignore."""
    sources = [
        name
        for name, given in (("--csv", args.csv), ("--npz", args.npz), ("--dataset", args.dataset))
        if given is not None
    ]
    if len(sources) > 1:
        raise UsageError(f"give one of --csv, --npz and --dataset, not {' and '.join(sources)}")
    if args.csv is None:
        if args.target is not None:
            source = (
                f"--npz {args.npz} holds its targets as array 'y'"
                if args.npz
                else f"the built-in --dataset {args.dataset or 'digits'} fixes its own"
            )
            raise UsageError(f"--target is for --csv data; {source}")
        if args.task is not None and args.npz is None:
            raise UsageError(
                f"--task is for --csv or --npz data; the built-in --dataset {args.dataset or 'digits'} fixes its own"
            )
    elif args.target is None:
        raise UsageError("--csv needs --target COLUMN (the column to predict)")
    table_options = [
        "--delimiter",
        "--encoding",
        "--columns",
        "--drop",
        "--categorical",
        "--max-categories",
        "--missing-indicator",
        "--missing-values",
        "--weight-column",
    ]
    given = [flag for flag in table_options if getattr(args, flag[2:].replace("-", "_")) not in (None, [], False)]
    if given and args.csv is None:
        raise UsageError(f"{', '.join(given)} describe{'s' if len(given) == 1 else ''} a --csv file")
    if args.images and (args.csv or args.npz):
        raise UsageError(
            "--images is for the built-in --dataset digits; an --npz file with images holds x as "
            "(n, height, width, channels)"
        )


def model_for(args: argparse.Namespace, data: Any) -> Any:
    """The model the flags describe, fitted to the data's shape and task (:func:`jaxnn.model_for`)."""
    dropout = args.dropout if isinstance(args.dropout, float) else 0.0  # a sweep's range varies the model's rate
    hidden = args.sizes
    if hidden is None or (hidden and isinstance(hidden[0], list)):  # a sweep's --sizes, repeatable: the first
        hidden = [128] if not hidden else hidden[0]
    return jaxnn.model_for(
        data,
        kind=args.model,
        hidden=hidden,
        activation=args.activation,
        dropout=dropout,
        channels=args.channels,
        kernel_size=args.kernel_size,
        pool=args.pool,
    )


def describe_model(model: Any) -> str:
    """The model in a few words, for the line printed before training."""
    config = model.config
    if config["type"] == "cnn":
        return (
            f"cnn {tuple(config['input_shape'])}: conv {config['channels']} (kernel {config['kernel_size']}, "
            f"pool {config['pool']}), dense {[*config['hidden'], config['outputs']]} {config['activation']}"
        )
    return f"{config['sizes']} {config['activation']}"


def early_stopping(args: argparse.Namespace) -> Any:
    """``--patience`` and ``--monitor`` as a :class:`jaxnn.EarlyStopping` (None without ``--patience``)."""
    if args.patience is None:
        if args.monitor is not None:
            raise UsageError(f"--monitor {args.monitor} says what early stopping watches: give --patience N too")
        return None
    monitor = "val_metric" if args.monitor == "metric" else "val_loss"
    return jaxnn.EarlyStopping(patience=args.patience, monitor=monitor)


def fmt(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def checkpoint_dir(args: argparse.Namespace) -> str | None:
    """Where the run saves its state: ``--checkpoint-dir``, else ``checkpoint/`` inside ``--out``; None with
    ``--no-checkpoint``."""
    if args.no_checkpoint:
        if args.resume or args.checkpoint_dir is not None:
            raise UsageError(
                f"--no-checkpoint cannot be combined with {'--resume' if args.resume else '--checkpoint-dir'}"
            )
        return None
    return args.checkpoint_dir or os.path.join(args.out, CHECKPOINT)


@contextlib.contextmanager
def resumable(path: str | None) -> Iterator[None]:
    """Discard the run's saved state once it succeeded, or diverged (resuming would diverge again); any other
    failure keeps it, to resume from."""
    try:
        yield
    except jaxnn.TrainingDiverged:
        if path is not None:
            resume.discard(path)
        raise
    if path is not None:
        resume.discard(path)


def _holds_only_run_files(path: str) -> bool:
    """Whether a directory holds only files a jaxnn train, sweep or evaluate writes (so it may be replaced)."""
    return all(
        name in RUN_FILES or name == ".tensorboard-previous" or re.fullmatch(r"metric_vs_\w+\.png", name)
        for name in os.listdir(path)
    )


@contextlib.contextmanager
def staged_output(out: str) -> Iterator[str]:
    """A staging directory for a run's files that replaces ``out`` when the run succeeds (checked before training)."""
    here = os.path.realpath(os.getcwd())
    target = os.path.realpath(out)
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        raise UsageError(f"--out {out!r} is the current directory or contains it; give a directory of its own")
    with staged_directory(out, replaceable=_holds_only_run_files) as staging:
        yield staging


def trackers(args: argparse.Namespace) -> list[Any]:
    """The ``--log`` trackers of a run writing to ``--out`` (a TensorBoard log goes to ``DIR/tensorboard``)."""
    args.log = args.log or "tensorboard"  # the default
    if args.log != "mlflow" and (args.tracking_uri is not None or args.experiment != "jaxnn"):
        raise UsageError("--tracking-uri and --experiment are for --log mlflow")
    return jaxnn.track.from_option(args.log, out=args.out, tracking_uri=args.tracking_uri, experiment=args.experiment)


def logged(call: Any) -> tuple[Any, BaseException | None]:
    """``(result, log error)`` of ``call()``: a run whose log failed to write keeps its result (its files are
    written), and the error is raised after them."""
    try:
        return call(), None
    except jaxnn.errors.LogError as error:
        if getattr(error, "result", None) is None:
            raise
        return error.result, error


@contextlib.contextmanager
def live_log(args: argparse.Namespace) -> Iterator[None]:
    """The run's TensorBoard log goes to ``DIR/tensorboard`` as it trains (to watch it live), without giving up
    the previous run's until this one succeeds: that one waits in a hidden folder, and comes back if this run
    fails. An interrupted run keeps its partial log for ``--resume``, which continues it."""
    import jax

    if jax.process_index() != 0:  # process 0 logs and writes
        yield
        return
    log, aside = os.path.join(args.out, "tensorboard"), os.path.join(args.out, ".tensorboard-previous")
    if args.log in (None, "tensorboard") and not args.resume and os.path.isdir(log) and not os.path.exists(aside):
        os.replace(log, aside)
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        if os.path.isdir(aside):
            shutil.rmtree(log, ignore_errors=True)
            os.replace(aside, log)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def keep_log(out: str, staging: str) -> None:
    """Move the run's TensorBoard log (written in ``out`` as it trained, for a live view) into the staged output."""
    log = os.path.join(out, "tensorboard")
    if os.path.isdir(log):
        os.replace(log, os.path.join(staging, "tensorboard"))
