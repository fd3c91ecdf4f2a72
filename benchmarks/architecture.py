"""Architecture sweeps: grouping by shape against padding to the widest shape, and ensembles of the best rows.

``python -m benchmarks.architecture grouping [--rounds N] [--epochs E]`` times, each in a fresh
process and in shuffled rounds, on digits (E epochs, default 5; batch 64, adam), the sweep
``space={"sizes": 3 widths x 2 depths, "learning_rate": 8 values}`` (48 rows):

* ``grouped``: one program per shape (``pad_sizes=False``);
* ``padded``: one program, every row padded to the widest shape with masks (``pad_sizes=True``);
* ``auto``: what ``jaxnn.sweep`` does by default (``pad_sizes=None``; the table names its programs' shapes);
* ``widest``: the widest shape's 8 rows alone (the issue's yardstick: an architecture sweep
  should cost at most 1.5x this).

Each prints the first sweep's wall time (compiles included) and the median of 3 more (compiled).

``python -m benchmarks.architecture ensemble`` compares, on digits and breast_cancer, the test
metric of the best row with that of an ensemble of the top 5 (:meth:`jaxnn.SweepResult.ensemble`).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

WIDTHS, DEPTHS = (32, 64, 128), (1, 2)
RATES = [1e-4 * 10 ** (k / 2.5) for k in range(8)]  # 1e-4 .. ~6e-2
OPTIONS = dict(optimizer="adam", batch_size=64, progress=False)
PAD_SIZES = {"grouped": False, "padded": True, "auto": None}


def _one(mode: str, epochs: int) -> dict:
    import jax

    import jaxnn
    from jaxnn.sweeps import padding

    data = jaxnn.datasets.load("digits", seed=0)
    shapes = [(w,) * d for d in DEPTHS for w in WIDTHS]
    widest = (max(WIDTHS),) * max(DEPTHS)
    extra = {}
    if mode == "widest":
        model, space = jaxnn.mlp([64, *widest, 10]), {"learning_rate": RATES}
    else:
        model, space = jaxnn.mlp([64, 32, 10]), {"sizes": shapes, "learning_rate": RATES}
        extra = {"pad_sizes": PAD_SIZES[mode]}
    times = []
    for repeat in range(4):
        started = time.perf_counter()
        result = jaxnn.sweep(model, data, space=space, key=repeat, num_epochs=epochs, **OPTIONS, **extra)
        times.append(time.perf_counter() - started)
    chosen = None
    if mode == "auto":  # what the sweep chose, asked the way it asks: the shapes of each program
        counts = {shape: len(RATES) for shape in shapes}
        examples = int(data.x_train.shape[0] + data.x_val.shape[0] / 3)
        chosen = padding.partition(
            model, counts, num_seeds=1, num_examples=examples, num_epochs=epochs, devices=jax.devices()
        )
    return {
        "mode": mode,
        "rows": len(result),
        "first_s": times[0],
        "compiled_s": statistics.median(times[1:]),
        "programs": None if chosen is None else [[list(shape) for shape in group] for group in chosen],
    }


def grouping(rounds: int, epochs: int) -> None:
    samples: dict[str, list[dict]] = {}
    for _ in range(rounds):
        modes = ["grouped", "padded", "auto", "widest"]
        random.shuffle(modes)
        for mode in modes:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.architecture", "one", mode, "--epochs", str(epochs)],
                capture_output=True,
                text=True,
                check=True,
                env=dict(os.environ, JAXNN_COMPILATION_CACHE="0"),  # every first sweep compiles
            )
            samples.setdefault(mode, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    widest = {key: statistics.median(s[key] for s in samples["widest"]) for key in ("first_s", "compiled_s")}
    print(f"{epochs} epochs, {rounds} rounds (medians; each sample its own process)")
    print("| mode | rows | first sweep (s) | compiled sweep (s) | x widest (first) | x widest (compiled) |")
    print("|---|---|---|---|---|---|")
    for mode in ["widest", "grouped", "padded", "auto"]:
        runs = samples[mode]
        first = statistics.median(r["first_s"] for r in runs)
        compiled = statistics.median(r["compiled_s"] for r in runs)
        name = mode
        if mode == "auto":  # the default's programs: their shapes, padded where a program has several
            groups = runs[0]["programs"]
            name = (
                f"auto ({len(groups)} program(s): "
                + "; ".join(" ".join(",".join(map(str, shape)) for shape in group) for group in groups)
                + ")"
            )
        print(
            f"| {name} | {runs[0]['rows']} | {first:.2f} | {compiled:.2f} | {first / widest['first_s']:.2f} | "
            f"{compiled / widest['compiled_s']:.2f} |"
        )


def ensemble() -> None:
    import warnings

    import numpy as np

    import jaxnn

    print(
        "| data | rows | best row: test metric | top-5 ensemble: test metric | best row: test loss | ensemble: test loss |"
    )
    print("|---|---|---|---|---|---|")
    for name, epochs in (("digits", 20), ("breast_cancer", 20)):
        data = jaxnn.datasets.load(name, seed=0)
        model = jaxnn.model_for(data, hidden=(32,))
        space = {"sizes": [(16,), (32,), (32, 32)], "learning_rate": list(np.geomspace(1e-3, 3e-2, 4))}
        result = jaxnn.sweep(
            model, data, space=space, seeds=2, key=0, optimizer="adam", num_epochs=epochs, batch_size=32, progress=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            members, params = result.ensemble(top=5)
        best = jaxnn.evaluate(result.model(0), result.params(0), data, split="test")
        averaged = jaxnn.evaluate(members, params, data, split="test")
        metric = result.metric
        print(
            f"| {name} | {len(result)} | {best[metric]:.4f} | {averaged[metric]:.4f} | {best['loss']:.4f} | "
            f"{averaged['loss']:.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["grouping", "ensemble", "one"])
    parser.add_argument("mode", nargs="?")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    if args.what == "one":
        print(json.dumps(_one(args.mode, args.epochs)))
    elif args.what == "grouping":
        grouping(args.rounds, args.epochs)
    else:
        ensemble()


if __name__ == "__main__":
    main()
