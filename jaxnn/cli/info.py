"""``jaxnn info`` (versions, backend, devices) and ``jaxnn demo`` (the functional API without the trainer)."""

import argparse
import os
import platform
from typing import Any

import jaxnn
from jaxnn.cli import options

__all__ = ["add"]


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    info = commands.add_parser(
        "info",
        help="versions, JAX backend and devices; or what training would do to a CSV's columns",
        parents=parents,
        description="Print versions, the JAX backend and the devices JAX sees. With --csv FILE --target COLUMN, print "
        "instead what training would do to each column of the file (kept as a number, one-hot encoded, imputed, "
        "dropped and why), fitted on the same training split as `jaxnn train` with the same options.",
    )
    table = info.add_argument_group("a CSV's columns")
    table.add_argument("--csv", metavar="FILE", help="the CSV (or Parquet) file to describe")
    table.add_argument("--target", metavar="COLUMN", help="the column to predict")
    table.add_argument("--task", metavar="TASK", help="binary, multiclass or regression (default: inferred)")
    table.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    table.add_argument("--val-fraction", type=float, default=0.15, metavar="F", help="validation share (default: 0.15)")
    table.add_argument("--test-fraction", type=float, default=0.15, metavar="F", help="test share (default: 0.15)")
    options.add_table_options(table, reading_only=False)
    info.set_defaults(run=info_command)
    demo = commands.add_parser(
        "demo",
        help="the functional API in twenty lines (jax.grad + jit + optax)",
        parents=parents,
        description="Train a [30, 16, 1] MLP on breast cancer with a hand-written jitted step "
        "(jaxnn.demo.functional_training).",
    )
    demo.add_argument(
        "--steps", type=options.positive_int, default=300, help="full-batch training steps (default: 300)"
    )
    demo.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(run=demo_command)


def info_command(args: argparse.Namespace) -> int:
    if args.csv is not None or args.target is not None:
        return _describe_columns(args)
    from importlib.metadata import PackageNotFoundError, version

    import jax

    versions = {"jaxnn": jaxnn.__version__, "python": platform.python_version()}
    for package in ("jax", "jaxlib", "optax", "flax", "chex", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    for name, value in versions.items():
        print(f"{name:>10}: {value}")
    devices = jax.devices()
    print(f"{'backend':>10}: {jax.default_backend()}")
    print(f"{'devices':>10}: {len(devices)} x {devices[0].device_kind} ({', '.join(str(d) for d in devices)})")
    print(f"{'cpu cores':>10}: {os.cpu_count()}")
    print(f"{'XLA_FLAGS':>10}: {os.environ.get('XLA_FLAGS') or '(not set)'}")
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from jaxnn import demo

    result = demo.functional_training(
        steps=args.steps, seed=args.seed, report=lambda step, loss: print(f"step {step:4d}  train loss {loss:.4f}")
    )
    print(f"test loss {result['test_loss']:.4f}  test accuracy {result['test_accuracy']:.3f}")
    return 0


def _describe_columns(args: argparse.Namespace) -> int:
    if args.csv is None or args.target is None:
        raise options.UsageError("info describes a file's columns with both --csv FILE and --target COLUMN")
    report = jaxnn.datasets.describe_csv(
        args.csv,
        args.target,
        task=args.task,
        seed=args.seed,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        delimiter=args.delimiter,
        encoding=args.encoding,
        columns=args.columns,
        drop=args.drop,
        categorical=args.categorical,
        max_categories=args.max_categories,
        missing_indicator=args.missing_indicator,
        missing_values=args.missing_values,
        weight_column=args.weight_column,
    )
    print(report.text())
    return 0
