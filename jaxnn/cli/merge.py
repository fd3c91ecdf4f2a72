"""``jaxnn merge``: the shards of a sweep (``jaxnn sweep --shard I/N --out DIR``) joined into the whole sweep's
output: its table printed, the table, curves, plots and the best row's model written."""

import argparse
import os
import shutil
from typing import Any

from jaxnn import errors
from jaxnn.cli import options, runs
from jaxnn.cluster import shards as sharding

__all__ = ["add", "run"]


def add(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    merge = commands.add_parser(
        "merge",
        help="join the shards of a sweep (jaxnn sweep --shard I/N) into the whole sweep's output",
        parents=parents,
        description="Join the output directories of jaxnn sweep --shard 0/N ... --shard N-1/N into the whole sweep's: "
        "DIR/sweep.csv, DIR/sweep.json, plots and DIR/best.msgpack, ranked as the whole sweep ranks them. Shards of "
        "another sweep, a shard given twice and a missing shard are refused.",
    )
    merge.add_argument("shards", nargs="+", metavar="SHARD_DIR", help="the shards' output directories (e.g. runs/s*)")
    merge.add_argument("--out", required=True, metavar="DIR", help="where to write the whole sweep's files")
    merge.add_argument(
        "--top", type=options.positive_int, default=10, metavar="N", help="rows of the table to print (default: 10)"
    )
    merge.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    with runs.staged_output(args.out) as staging:
        result = sharding.merge(args.shards)
        num_seeds = len(set(result.table["seed"].tolist()))
        print(f"{len(args.shards)} shards, {len(result)} runs")
        written = ["sweep.csv", "sweep.json"]
        result.to_csv(os.path.join(staging, "sweep.csv"))
        result.to_json(os.path.join(staging, "sweep.json"))
        if num_seeds > 1:  # as jaxnn sweep --seeds N: configurations by their mean over the seeds
            print(f"configurations ranked by the mean over {num_seeds} seeds (every row is in sweep.csv):")
            print(result.format_aggregate(top=args.top))
            result.to_csv(os.path.join(staging, "configs.csv"), aggregate=True)
            written.append("configs.csv")
        else:
            print(result.format(top=args.top))
        written += [os.path.basename(path) for path in result.plot(staging)]
        best = _best_file(args.shards, result, num_seeds)
        if best is not None:
            shutil.copyfile(best, os.path.join(staging, "best.msgpack"))
            written.append("best.msgpack")
    print(f"wrote {args.out}: {', '.join(written)}")
    if best is None:
        raise errors.AllRunsDiverged(
            result,
            f"all {len(result)} runs diverged (NaN or infinite loss), so there is no "
            f"best model; the table is in {os.path.join(args.out, 'sweep.csv')}",
        )
    return 0


def _best_file(directories: list[str], result: Any, num_seeds: int) -> str | None:
    """The ``best.msgpack`` of the shard holding the merged sweep's best configuration: every seed of a
    configuration is in one shard, so that shard chose the same row (``jaxnn sweep`` chooses by the mean over
    the seeds when there are several)."""
    if result.table["status"][0] == "diverged":
        return None
    index = int(result.aggregate()["best_row"][0]) if num_seeds > 1 else 0
    config = int(result.table["config"][index])
    for directory in directories:
        info = sharding.load_shard(directory, model=result.models).shard
        assert info is not None, "load_shard gives a shard's result"
        if config in info.config_ids:
            path = os.path.join(directory, "best.msgpack")
            return path if os.path.exists(path) else None
    return None
