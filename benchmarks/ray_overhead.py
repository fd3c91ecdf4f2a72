"""The Ray path's overhead against the plain sweep, on this machine: ``python -m benchmarks.ray_overhead``.

Each measurement runs in a fresh process (the same workload: digits, an [64, 32, 10] MLP, 16
configurations, 20 epochs, ``max_parallel=8``), and reports the wall time from the call to the
result: the plain ``jaxnn.sweep`` in one process, and ``cluster=jaxnn.cluster.Ray(shards=2)``
with Ray started by the call (cold) and with Ray already running in the process (warm). Medians
of ``--repeats`` rounds, in shuffled order. Prints JSON and a Markdown table.
"""

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time

WORKER = """
import json, sys, time
import numpy as np
import jaxnn
mode = sys.argv[1]
data = jaxnn.datasets.load("digits", seed=0)
model = jaxnn.mlp([64, 32, 10])
space = {"learning_rate": list(np.geomspace(0.003, 0.3, 8)), "momentum": [0.0, 0.9]}
options = dict(optimizer="sgd", num_epochs=20, batch_size=64, progress=False, key=0, max_parallel=8)
if mode == "ray-warm":
    import ray
    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
started = time.perf_counter()
cluster = None if mode == "plain" else jaxnn.cluster.Ray(shards=2)
jaxnn.sweep(model, data, space=space, cluster=cluster, **options)
print(json.dumps({"mode": mode, "seconds": time.perf_counter() - started}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    modes = ["plain", "ray-cold", "ray-warm"]
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(args.repeats):
        for mode in random.sample(modes, len(modes)):
            out = subprocess.run([sys.executable, "-c", WORKER, mode], capture_output=True, text=True, check=True)
            seconds[mode].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    import ray

    import jaxnn

    report = {
        "cpu": cpu,
        "python": platform.python_version(),
        "jaxnn": jaxnn.__version__,
        "ray": ray.__version__,
        "date": time.strftime("%Y-%m-%d"),
        "seconds": seconds,
        "median": {mode: statistics.median(values) for mode, values in seconds.items()},
    }
    print(json.dumps(report, indent=1))
    print("| path | median seconds | vs plain |\n|---|---|---|")
    for mode in modes:
        print(f"| {mode} | {report['median'][mode]:.1f} | {report['median'][mode] / report['median']['plain']:.2f}x |")


if __name__ == "__main__":
    main()
