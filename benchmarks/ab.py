"""``python -m benchmarks.ab OLD_CHECKOUT NEW_CHECKOUT [--rounds N]``: two versions of jaxnn side by side.

What a user runs, in fresh processes that alternate between the two checkouts (``PYTHONPATH`` points
each at its own ``jaxnn/``; the interpreter and every other package are this one's): ``jaxnn.fit``
(digits, [64, 128, 10], Adam, 30 epochs) and ``jaxnn.sweep`` over 64 learning rates, each timed on its
first call (trace and compile included, no compilation cache) and warm (median of later calls), plus
the results (test accuracy, the sweep's best validation accuracy) that must not change. Prints each
round's figures and the medians over rounds with the new/old ratio.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = """
import json, os, time
os.environ["JAXNN_COMPILATION_CACHE"] = "0"
started = time.perf_counter()
import jax, numpy as np, jaxnn
data = jaxnn.datasets.load("digits", seed=0)
model = jaxnn.mlp([64, 128, 10])
out = {}
def timed(call, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - start)
    return times
fit = lambda: jaxnn.fit(model, data, key=0, num_epochs=30, batch_size=32, learning_rate=3e-3, progress=False)
sweep = lambda: jaxnn.sweep(model, data, space={"learning_rate": list(np.geomspace(1e-4, 1e-1, 64))}, key=0,
                            num_epochs=30, batch_size=32, progress=False)
(out["fit_first_s"],) = timed(lambda: fit().params, 1)
out["fit_warm_s"] = float(np.median(timed(lambda: fit().params, 5)))
out["fit_test_accuracy"] = float(jaxnn.evaluate(model, fit().params, data)["accuracy"])
(out["sweep_first_s"],) = timed(lambda: sweep().params(0), 1)
out["sweep_warm_s"] = float(np.median(timed(lambda: sweep().params(0), 3)))
out["sweep_best_val_accuracy"] = float(sweep().table["best_val_metric"][0])
out["process_s"] = time.perf_counter() - started
print(json.dumps(out))
"""


def run(checkout: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    done = subprocess.run([sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the checkout measured first in each round (a directory holding jaxnn/)")
    parser.add_argument("new", help="the other checkout")
    parser.add_argument("--rounds", type=int, default=4, help="fresh processes per checkout (default: 4)")
    args = parser.parse_args(argv)
    rounds: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for number in range(args.rounds):
        for name in ("old", "new"):
            rounds[name].append(run(getattr(args, name)))
            print(f"round {number + 1} {name}: {json.dumps(rounds[name][-1])}", flush=True)
    print("| measure | old (median) | new (median) | new / old |\n|---|---|---|---|")
    for measure in rounds["old"][0]:
        old, new = (statistics.median(r[measure] for r in rounds[name]) for name in ("old", "new"))
        print(f"| {measure} | {old:.4g} | {new:.4g} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
