"""compile: time to first result, when JAX traces and XLA compiles before anything runs.

Each measurement is the first call in a fresh process (compilation cache off),
so it is a cold compile. Alongside it, the same call once more (warm, the
compiled program reused) and JAX's own account of the phases (trace, lowering
to MLIR, XLA compile, from ``jax.monitoring``); ``first − warm`` is the price of
compiling.

* ``fit``: ``jaxnn.fit`` of the step suite's S, M and L models (plain SGD, one
  epoch of 16 minibatches, one chunk): the program ``fit`` builds for a model.
* ``sweep``: ``jaxnn.sweep`` of the sweep suite's workload for K = 8, 64, 256
  (one device): one ``jit(vmap(train))`` for all K configurations.
"""

import math
from typing import Any

from benchmarks import harness
from benchmarks import step as step_suite
from benchmarks import sweep as sweep_suite

NAME = "compile"
LABELS = {"fit": "jaxnn.fit", "sweep": "jaxnn.sweep (1 device)"}
FIT_STEPS = 16


def _first_and_warm(call) -> dict[str, Any]:
    """The first (compiling) call as a sample, the warm call's time and the compile phases."""
    with harness.CompileEvents() as events:
        first = harness.wall_timed(call)
    warm = min(harness.wall_timed(call)["wall_s"] for _ in range(2))
    return {
        "samples": [first],
        "extra": {"warm_s": warm, "first_minus_warm_s": first["wall_s"] - warm, **events.summary()},
    }


def run_fit(params: dict[str, Any]) -> dict[str, Any]:
    import jaxnn

    x, y = step_suite._batch(params, rows=FIT_STEPS * params["batch"])
    data = jaxnn.datasets.from_arrays(x, y, val_fraction=0.0, test_fraction=0.0, standardize=False)
    model = jaxnn.mlp(params["sizes"])
    return _first_and_warm(
        lambda: jaxnn.fit(
            model,
            data,
            optimizer="sgd",
            learning_rate=0.01,
            num_epochs=1,
            batch_size=params["batch"],
            loss=params["loss"],
            key=0,
            num_chunks=1,
            progress=False,
        )
    )


def run_sweep(params: dict[str, Any]) -> dict[str, Any]:
    import jaxnn

    data, model, k = sweep_suite._digits(), jaxnn.mlp(sweep_suite.SIZES), params["k"]
    return _first_and_warm(
        lambda: jaxnn.sweep(
            model,
            data,
            space={"learning_rate": sweep_suite.learning_rates(k)},
            optimizer="sgd",
            num_epochs=sweep_suite.EPOCHS,
            batch_size=sweep_suite.BATCH,
            key=0,
            devices=1,
            num_chunks=1,
            progress=False,
        )
    )


IMPLEMENTATIONS = {"fit": run_fit, "sweep": run_sweep}


def plan(settings: harness.Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """(impl, case, params) of every measurement."""
    fit_cases = ("S",) if settings.quick else ("S", "M", "L")
    sweep_ks = (8,) if settings.quick else (8, 64, 256)
    out = [("fit", name, dict(step_suite.CASES[name])) for name in fit_cases]
    out += [("sweep", f"K{k}", {"k": k}) for k in sweep_ks]
    return out


def jobs(settings: harness.Settings) -> list[harness.Job]:
    return [harness.Job(NAME, impl, case, settings.timing(**params)) for impl, case, params in plan(settings)]


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for impl, case, _ in plan(settings):
        runs = grouped.get((impl, case), [])
        if not runs:
            continue
        stats = harness.pool([r["samples"] for r in runs], min_kept=1)

        def extra(name):
            return harness.quantile([r["extra"].get(name, math.nan) for r in runs], 0.5)

        rows.append(
            {
                "impl": impl,
                "case": case,
                "first_call_s": stats["median"],
                **stats,
                **{
                    name: extra(name)
                    for name in (
                        "warm_s",
                        "first_minus_warm_s",
                        "trace_s",
                        "lower_s",
                        "xla_compile_s",
                        "compile_s",
                        "num_compiles",
                    )
                },
            }
        )
    return {"rows": rows}


def markdown(summary: dict[str, Any]) -> str:
    body = [
        [
            LABELS[r["impl"]],
            r["case"],
            harness.format_seconds(r["first_call_s"]),
            harness.format_seconds(r["warm_s"]),
            harness.format_seconds(r["first_minus_warm_s"]),
            harness.format_seconds(r["trace_s"]),
            harness.format_seconds(r["lower_s"]),
            harness.format_seconds(r["xla_compile_s"]),
            f"{r['num_kept']}/{r['num_samples']}",
        ]
        for r in summary["rows"]
    ]
    header = [
        "program",
        "case",
        "first call",
        "warm call",
        "first − warm",
        "trace",
        "lower",
        "XLA compile",
        "processes kept",
    ]
    return f"### compile: time to first result (cold, fresh process)\n\n{harness.markdown_table(header, body)}\n"
