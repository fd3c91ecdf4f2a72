"""fixed_cost: what a tuning job pays before and besides training, in fresh processes, cold and warm cache.

Each sample is one fresh ``python -m benchmarks.fixed_cost WORKLOAD`` process (JAX's persistent
compilation cache on, as jaxnn has it by default) that reports its own phases:

* ``import_s``: ``import jaxnn`` alone (lazy: it imports neither JAX nor Optax);
* ``jax_s``: then everything the sweep needs (``jaxnn.sweep``, ``jaxnn.ASHA``: JAX, Optax, ...);
* ``data_s``: ``jaxnn.datasets.load("digits")`` (from jaxnn's dataset cache after the first process);
* ``first_s``: the first sweep, of which JAX reports ``trace_s`` (Python tracing to jaxprs),
  ``lower_s`` (jaxprs to StableHLO) and ``compile_s`` (XLA compiles, or loads from the persistent
  cache, with the cache key's hashing): sums over every program and thread, so they may overlap;
* ``second_s``: the same sweep again in the same process (the programs kept in memory);
* ``total_s``: start to exit, measured by the parent; ``cpu_s``: the process's CPU time (user + system),
  which a busy machine disturbs less than wall times.

Cases: ``cold`` (an empty cache directory per process: a fresh machine) and ``warm`` (a cache
directory filled by an untimed process first: every later run). Workloads: ``asha`` (the tune
suite's ASHA search on digits: 64 configurations, AdamW, [64, 128, 10], 60 epochs, batch 32) and
``small`` (16 learning rates, SGD, [64, 32, 10], 5 epochs: a sweep whose training is short, so
its fixed cost is most of it).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import harness

NAME = "fixed_cost"
WORKLOADS = ("asha", "small")
CASES = ("cold", "warm")
PHASES = ("import_s", "jax_s", "data_s", "trace_s", "lower_s", "compile_s", "first_s", "second_s", "total_s", "cpu_s")


def _sweep(jaxnn: Any, data: Any, workload: str) -> Any:
    if workload == "asha":
        model = jaxnn.mlp([data.num_features, 128, data.num_classes])
        space = {"learning_rate": jaxnn.loguniform(1e-4, 1e-1), "weight_decay": jaxnn.loguniform(1e-6, 1e-2)}
        return jaxnn.sweep(
            model,
            data,
            space=space,
            num_samples=64,
            key=0,
            optimizer="adamw",
            num_epochs=60,
            batch_size=32,
            progress=False,
            scheduler=jaxnn.ASHA(min_epochs=1, reduction_factor=3),
        )
    model = jaxnn.mlp([data.num_features, 32, data.num_classes])
    space = {"learning_rate": [0.01 * 1.25**i for i in range(16)]}
    return jaxnn.sweep(model, data, space=space, key=0, optimizer="sgd", num_epochs=5, batch_size=64, progress=False)


def child(workload: str) -> dict[str, float]:
    """One process's phases (run in the fresh process)."""
    start = time.perf_counter()
    import jaxnn

    imported = time.perf_counter()
    jaxnn.sweep, jaxnn.ASHA  # noqa: B018 - the first use imports JAX, Optax and the sweep machinery
    heavy = time.perf_counter()
    data = jaxnn.datasets.load("digits", seed=0)
    loaded = time.perf_counter()
    with harness.CompileEvents() as events:
        _sweep(jaxnn, data, workload)
    first_done = time.perf_counter()
    _sweep(jaxnn, data, workload)
    second_done = time.perf_counter()
    phases = events.summary()
    return {
        "import_s": imported - start,
        "jax_s": heavy - imported,
        "data_s": loaded - heavy,
        "trace_s": phases["trace_s"],
        "lower_s": phases["lower_s"],
        "compile_s": phases["xla_compile_s"],
        "num_compiles": phases["num_compiles"],
        "first_s": first_done - loaded,
        "second_s": second_done - first_done,
    }


def _process(workload: str, cache: str) -> dict[str, float]:
    env = dict(os.environ, JAXNN_CACHE_DIR=cache)
    for name in ("JAX_ENABLE_COMPILATION_CACHE", "JAXNN_COMPILATION_CACHE"):  # as a user runs it: the cache on
        env.pop(name, None)
    children_cpu = lambda: sum(os.times()[2:4])  # noqa: E731 - user + system time of finished children
    start, cpu = time.perf_counter(), children_cpu()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.fixed_cost", workload],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=harness.ROOT,
    )
    total, cpu = time.perf_counter() - start, children_cpu() - cpu
    if completed.returncode != 0:
        raise RuntimeError(f"fixed_cost {workload} failed: {completed.stderr[-2000:]}")
    return {**json.loads(completed.stdout.strip().splitlines()[-1]), "total_s": total, "cpu_s": cpu}


def measure(workload: str, case: str, rounds: int) -> list[dict[str, float]]:
    """``rounds`` fresh processes of ``workload``, each with an empty (cold) or a filled (warm) cache."""
    samples = []
    with tempfile.TemporaryDirectory() as scratch:
        shared = os.path.join(scratch, "warm")
        if case == "warm":
            _process(workload, shared)  # fills the caches, untimed
        for i in range(rounds):
            samples.append(_process(workload, shared if case == "warm" else os.path.join(scratch, f"cold-{i}")))
    return samples


def run_case(params: dict[str, Any]) -> dict[str, Any]:
    """In a harness worker: each fresh process timed as one sample, with its phases."""
    phases: list[dict[str, float]] = []
    fill = lambda: measure(params["workload"], params["case"], params["repeats"])  # noqa: E731
    sample = harness.measure(lambda: phases.extend(fill()), repeats=1)[0]
    return {"samples": [sample | {"wall_s": p["total_s"], "per_unit_s": p["total_s"], "phases": p} for p in phases]}


IMPLEMENTATIONS = {case: run_case for case in CASES}


def jobs(settings: harness.Settings) -> list[harness.Job]:
    """Three fresh processes per workload and cache (and one more to fill a warm cache); none in a quick run,
    whose budget a dozen fresh JAX processes would exceed (``python -m benchmarks.fixed_cost small`` is quick)."""
    if settings.quick:
        return []
    return [
        harness.Job(NAME, case, workload, settings.timing(workload=workload, case=case, repeats=3))
        for workload in WORKLOADS
        for case in CASES
    ]


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {phase: statistics.median(s[phase] for s in samples) for phase in PHASES}


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for workload in WORKLOADS:
        for case in CASES:
            runs = [r for r in grouped.get((case, workload), []) if "samples" in r]
            samples = [s["phases"] for r in runs for s in r["samples"]]
            if samples:
                rows.append({"workload": workload, "case": case, "num_samples": len(samples), **medians(samples)})
    return {"rows": rows}


def table(rows: list[dict[str, Any]]) -> str:
    header = ["workload", "cache", *PHASES, "second/first"]
    body = [
        [row["workload"], row["case"], *(f"{row[p]:.2f}" for p in PHASES), f"{row['second_s'] / row['first_s']:.0%}"]
        for row in rows
    ]
    return harness.markdown_table(header, body)


def markdown(summary: dict[str, Any]) -> str:
    if not summary["rows"]:
        return ""
    return "\n".join(["### fixed_cost: phases of a fresh process (medians, seconds)", "", table(summary["rows"]), ""])


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in WORKLOADS:
        print(json.dumps(child(sys.argv[1])))
    else:  # python -m benchmarks.fixed_cost --rounds N WORKLOAD...: a quick table without the harness
        rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
        chosen = [w for w in sys.argv[1:] if w in WORKLOADS] or ["small"]
        rows = [{"workload": w, "case": c, **medians(measure(w, c, rounds))} for w in chosen for c in CASES]
        print(table(rows))
