"""Architecture sweeps: grouping by shape against padding to the widest shape, and ensembles of the best rows.

``python -m benchmarks.architecture grouping [--rounds N]`` times, each in a fresh process and in
shuffled rounds, on digits (5 epochs, batch 64, adam):

* ``grouped``: ``space={"sizes": 3 widths x 2 depths, "learning_rate": 8 values}`` (48 rows,
  one program per shape: what ``jaxnn.sweep`` does);
* ``widest``: the widest shape's 8 rows alone (the issue's yardstick);
* ``padded_bound``: 48 rows of the widest shape in one program: a lower bound on padding every
  row to the widest layer with masks (the masked program does at least that work, plus the masks).

Each prints the first sweep's wall time (compiles included) and the median of 3 more (compiled).

``python -m benchmarks.architecture ensemble`` compares, on digits and breast_cancer, the test
metric of the best row with that of an ensemble of the top 5 (:meth:`jaxnn.SweepResult.ensemble`).
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

WIDTHS, DEPTHS = (32, 64, 128), (1, 2)
RATES = [1e-4 * 10 ** (k / 2.5) for k in range(8)]  # 1e-4 .. ~6e-2
OPTIONS = dict(optimizer="adam", num_epochs=5, batch_size=64, progress=False)


def _one(mode: str) -> dict:
    import jaxnn

    data = jaxnn.datasets.load("digits", seed=0)
    shapes = [(w,) * d for d in DEPTHS for w in WIDTHS]
    widest = (max(WIDTHS),) * max(DEPTHS)
    if mode == "grouped":
        model, space = jaxnn.mlp([64, 32, 10]), {"sizes": shapes, "learning_rate": RATES}
    elif mode == "widest":
        model, space = jaxnn.mlp([64, *widest, 10]), {"learning_rate": RATES}
    else:
        rates = [r * (1 + k / 100) for k in range(len(shapes)) for r in RATES]  # 48 distinct rows
        model, space = jaxnn.mlp([64, *widest, 10]), {"learning_rate": rates}
    times = []
    for repeat in range(4):
        started = time.perf_counter()
        result = jaxnn.sweep(model, data, space=space, key=repeat, **OPTIONS)
        times.append(time.perf_counter() - started)
    return {"mode": mode, "rows": len(result), "first_s": times[0], "compiled_s": statistics.median(times[1:])}


def grouping(rounds: int) -> None:
    samples: dict[str, list[dict]] = {}
    for _ in range(rounds):
        modes = ["grouped", "widest", "padded_bound"]
        random.shuffle(modes)
        for mode in modes:
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.architecture", "one", mode],
                capture_output=True,
                text=True,
                check=True,
            )
            samples.setdefault(mode, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    widest = {key: statistics.median(s[key] for s in samples["widest"]) for key in ("first_s", "compiled_s")}
    print("| mode | rows | first sweep (s) | compiled sweep (s) | x widest (first) | x widest (compiled) |")
    print("|---|---|---|---|---|---|")
    for mode, runs in samples.items():
        first = statistics.median(r["first_s"] for r in runs)
        compiled = statistics.median(r["compiled_s"] for r in runs)
        print(
            f"| {mode} | {runs[0]['rows']} | {first:.2f} | {compiled:.2f} | {first / widest['first_s']:.2f} | "
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
    args = parser.parse_args()
    if args.what == "one":
        print(json.dumps(_one(args.mode)))
    elif args.what == "grouping":
        grouping(args.rounds)
    else:
        ensemble()


if __name__ == "__main__":
    main()
