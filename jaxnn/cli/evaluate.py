"""``jaxnn evaluate``: a saved model scored on labelled data; every metric printed, and for classes the
confusion matrix, as a table and a PNG."""

import argparse
import json
import math
import os
from typing import Any

import jaxnn
from jaxnn._io import atomic_write
from jaxnn.cli import options
from jaxnn.cli.options import UsageError
from jaxnn.data import NAMES

__all__ = ["add", "run"]

SPLITS = ("train", "val", "test", "all")


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score a saved model on labelled data",
        parents=parents,
        description="Score a checkpoint written by `jaxnn train` or `jaxnn sweep` on labelled data: a CSV (or "
        "Parquet) file, prepared exactly as for `jaxnn predict` (the training's column plan and scaling), an .npz "
        "file of labelled arrays, or a built-in dataset. "
        "Prints every metric of the task and, for classes, the confusion matrix (also written as "
        "a PNG with --out or --confusion-png).",
    )
    evaluate.add_argument("--model", required=True, metavar="FILE", help="the checkpoint (model.msgpack)")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--csv",
        metavar="FILE",
        help="labelled rows as CSV (or Parquet: by extension); columns are "
        "matched by their header names to the ones the model was trained on (others are ignored)",
    )
    source.add_argument(
        "--npz",
        metavar="FILE",
        help="labelled arrays in an .npz file, as `jaxnn train --npz` reads them: features 'x' (columns in training "
        "order), targets 'y'; every row is scored",
    )
    source.add_argument("--dataset", choices=NAMES, metavar="NAME", help=f"a built-in dataset: {', '.join(NAMES)}")
    evaluate.add_argument("--target", metavar="COLUMN", help="--csv: the target column (default: the training's)")
    options.add_table_options(evaluate, reading_only=True)
    evaluate.add_argument(
        "--weight-column",
        metavar="COLUMN",
        help="--csv: a column of per-row weights (numbers >= 0) that weigh the rows in every metric",
    )
    evaluate.add_argument(
        "--strict",
        action="store_true",
        help="refuse a category training never saw (default: encode it as all zeros, with a warning)",
    )
    built_in = evaluate.add_argument_group("a built-in dataset's split (--dataset)")
    built_in.add_argument(
        "--split", choices=SPLITS, default="test", help="the rows to score: train, val, test or all (default: test)"
    )
    built_in.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seed of the split (default: the seed the checkpoint was trained with, else 0)",
    )
    for flag, share in (("--val-fraction", "validation"), ("--test-fraction", "test")):
        built_in.add_argument(
            flag, type=float, metavar="F", help=f"{share} share (default: the checkpoint's, else 0.15)"
        )
    output = evaluate.add_argument_group("output")
    output.add_argument(
        "--out", metavar="DIR", help="write DIR/metrics.json and, for classes, DIR/confusion_matrix.png"
    )
    output.add_argument("--confusion-png", metavar="PATH", help="write the confusion matrix as a PNG here")
    evaluate.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _check_options(args)
    checkpoint = jaxnn.load(args.model)
    info = checkpoint.info
    if info is None:
        raise UsageError(
            f"{args.model} holds no dataset information (feature names, scaling, classes); "
            "it was not written by `jaxnn train` or `jaxnn sweep`"
        )
    data, source, split = _data(args, checkpoint)
    metrics = jaxnn.evaluate(checkpoint.model, checkpoint.params, data, split=split)
    print(f"{args.model} on {source}: {metrics.get('num_examples', '?')} examples, {info.describe_task()}")
    width = max(len(name) for name in metrics)
    for name, value in metrics.items():
        if name != "num_examples":
            print(f"{name:>{width}}  {_number(value)}")
    written = []
    if args.out is not None:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "metrics.json")
        atomic_write(
            path, json.dumps({"model": os.fspath(args.model), "data": source, "metrics": _clean(metrics)}, indent=1)
        )
        written.append(path)
    if info.is_classification:
        matrix = jaxnn.confusion_matrix(checkpoint.model, checkpoint.params, data, split=split)
        print("confusion matrix (rows: true class, columns: predicted class):")
        print(matrix.format())
        for png in (args.confusion_png, None if args.out is None else os.path.join(args.out, "confusion_matrix.png")):
            if png is not None:
                written.append(matrix.plot(png))
    if written:
        print(f"wrote {', '.join(written)}")
    return 0


def _check_options(args: argparse.Namespace) -> None:
    """Options that belong to the other kind of data."""
    if args.dataset is None:
        file = "--csv" if args.csv is not None else "--npz"
        given = [
            flag
            for flag, value, default in (
                ("--split", args.split, "test"),
                ("--seed", args.seed, None),
                ("--val-fraction", args.val_fraction, None),
                ("--test-fraction", args.test_fraction, None),
            )
            if value != default
        ]
        if given:
            raise UsageError(
                f"{', '.join(given)} {'selects' if len(given) == 1 else 'select'} the rows of a built-in "
                f"--dataset; a {file} file is scored whole"
            )
    if args.csv is None:
        given = [
            flag
            for flag in ("--target", "--delimiter", "--encoding", "--strict", "--weight-column")
            if getattr(args, flag[2:].replace("-", "_")) not in (None, False)
        ]
        if given:
            raise UsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --csv files")


def _data(args: argparse.Namespace, checkpoint: Any) -> tuple[Any, str, str]:
    """(the data, what it is in words, the split to score)."""
    info = checkpoint.info
    if args.csv is not None:
        data = jaxnn.datasets.read_labelled(
            args.csv,
            info,
            target=args.target,
            delimiter=args.delimiter,
            encoding=args.encoding,
            strict=args.strict,
            weight_column=args.weight_column,
        )
        return data, args.csv, "test"
    if args.npz is not None:  # every row, as the training data was prepared (its scaling, its classes)
        whole = jaxnn.datasets.from_npz(
            args.npz, task=info.task, val_fraction=0.0, test_fraction=0.0, standardize=False, stratify=False
        )
        return _all_rows(jaxnn.datasets.as_trained(whole, info)), args.npz, "test"
    # The run's own split unless told otherwise: a `train` or `sweep` checkpoint records it (older `train` ones
    # only their seed), so the test split is the rows that run held out.
    metadata = checkpoint.metadata or {}
    given = {"seed": args.seed, "val_fraction": args.val_fraction, "test_fraction": args.test_fraction}
    split_options = (
        {"seed": metadata.get("seed", 0)}
        | (metadata.get("split") or {})
        | {name: value for name, value in given.items() if value is not None}
    )  # what is in none of them: jaxnn.datasets.load's defaults
    seed = split_options["seed"]
    images = len(info.input_shape) > 1
    loaded = jaxnn.datasets.load(args.dataset, **split_options, as_images=images and args.dataset == "digits")
    data = jaxnn.datasets.as_trained(loaded, info)
    if args.split == "all":
        data = _all_rows(data)
    split = "test" if args.split == "all" else args.split
    return data, f"{args.dataset} ({args.split} split{'s' if args.split == 'all' else ''}, seed {seed})", split


def _all_rows(data: Any) -> Any:
    """The dataset with every row in its test split."""
    import numpy as np

    x = np.concatenate([data.x_train, data.x_val, data.x_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    return data.replace(
        x_test=x,
        y_test=y,
        x_train=data.x_train[:0],
        y_train=data.y_train[:0],
        x_val=data.x_val[:0],
        y_val=data.y_val[:0],
    )


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics as JSON values (NaN as null)."""
    return {
        name: None if isinstance(value, float) and not math.isfinite(value) else value
        for name, value in metrics.items()
    }
