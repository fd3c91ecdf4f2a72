"""``jaxnn predict``: a saved model applied to new data, predictions written as CSV in the data's own labels."""

import argparse
import os
import sys
from typing import Any

import jaxnn
from jaxnn._io import atomic_write
from jaxnn.cli import options
from jaxnn.cli.options import UsageError

__all__ = ["add", "run"]


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    predict = commands.add_parser(
        "predict",
        help="predict with a saved model",
        parents=parents,
        description="Apply a checkpoint written by `jaxnn train` or `jaxnn sweep` to new data (raw features: the "
        "saved standardization is applied) and write the predictions as CSV, in the training data's labels.",
    )
    predict.add_argument("--model", required=True, metavar="FILE", help="the checkpoint (model.msgpack)")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--csv",
        metavar="FILE",
        help="features as CSV; columns are matched by their header names "
        "to the ones the model was trained on (other columns, e.g. the target, are ignored)",
    )
    source.add_argument("--npz", metavar="FILE", help="features as an array in an .npz file, columns in training order")
    predict.add_argument(
        "--no-header",
        action="store_true",
        help="the CSV has no header row: its columns are the training columns, in training order",
    )
    options.add_table_options(predict, reading_only=True)
    predict.add_argument(
        "--strict",
        action="store_true",
        help="refuse a category training never saw (default: encode it as all zeros, with a warning)",
    )
    predict.add_argument("--key", default="x", help="the array's name in the .npz file (default: x)")
    predict.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    predict.add_argument("--out", metavar="FILE", help="write the CSV here instead of to standard output")
    predict.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.csv is not None and args.key != "x":
        raise UsageError("--key names an array of an --npz file; it does nothing with --csv")
    if args.npz is not None:
        given = [
            flag
            for flag in ("--no-header", "--delimiter", "--encoding", "--strict")
            if getattr(args, flag[2:].replace("-", "_")) not in (None, False)
        ]
        if given:
            raise UsageError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for --csv files")
    if args.out is not None and os.path.exists(args.out):
        for flag, path in (("--csv", args.csv), ("--npz", args.npz), ("--model", args.model)):
            if path is not None and os.path.exists(path) and os.path.samefile(path, args.out):
                raise UsageError(
                    f"--out {args.out} is the {flag} file: the predictions would replace it; choose another file"
                )
    checkpoint = jaxnn.load(args.model)
    info = checkpoint.info
    if info is None:
        raise UsageError(
            f"{args.model} holds no dataset information (feature names, scaling); "
            "it was not written by `jaxnn train` or `jaxnn sweep`"
        )
    x = _features(args, info)
    output = jaxnn.predict(checkpoint.model, checkpoint.params, x, dataset=info, proba=args.proba)
    text = jaxnn.datasets.predictions_csv(output, info, proba=args.proba)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.out, text)
        print(f"wrote {len(output)} predictions to {args.out}", file=sys.stderr)
    return 0


def _features(args: argparse.Namespace, info: Any) -> Any:
    """The features to predict on: CSV columns matched by name to the training features, or an NPZ array."""
    if args.csv is not None:
        table = jaxnn.datasets.read_features(
            args.csv,
            info,
            header=not args.no_header,
            delimiter=args.delimiter,
            encoding=args.encoding,
            strict=args.strict,
        )
        if table.ignored:
            print(
                f"note: ignoring {len(table.ignored)} column(s) the model was not trained on: "
                f"{', '.join(table.ignored)}",
                file=sys.stderr,
            )
        return table.x
    return jaxnn.datasets.read_npz(args.npz, {"--key array": args.key})[args.key]
