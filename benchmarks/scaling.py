"""scaling: what 1, 2 and 4 host devices buy a sweep and a data-parallel fit on this machine.

On CPU, XLA runs one device's work largely on one core; splitting the host into
N devices (``XLA_FLAGS=--xla_force_host_platform_device_count=N``) lets sharded
programs use N cores. Each device count runs in its own fresh process.

* ``sweep``: the sweep suite's workload, K = 64 learning rates, the
  configuration axis sharded over the devices. Time per configuration.
  (``--quick`` leaves it out: the sweep suite's 1- and 2-device rows show it.)
* ``fit``: ``jaxnn.fit(..., devices=N)`` of a [784, 256, 256, 10] MLP at batch
  512 (each minibatch split over the devices, gradients all-reduced), plain SGD,
  4 epochs of 16 minibatches. Time per step.
"""

import math
from typing import Any

from benchmarks import harness
from benchmarks import step as step_suite
from benchmarks import sweep as sweep_suite

NAME = "scaling"
FIT_CASE = {"sizes": [784, 256, 256, 10], "batch": 512, "loss": "softmax_cross_entropy"}
FIT_STEPS, FIT_EPOCHS = 16, 4
LABELS = {"sweep": "jaxnn.sweep, per configuration", "fit": "jaxnn.fit(devices=N), per step"}


def run_sweep(params: dict[str, Any]) -> dict[str, Any]:
    return sweep_suite.run_jaxnn_vmap(params)


def run_fit(params: dict[str, Any]) -> dict[str, Any]:
    import jax

    import jaxnn

    x, y = step_suite._batch(params, rows=FIT_STEPS * params["batch"])
    data = jaxnn.datasets.from_arrays(x, y, val_fraction=0.0, test_fraction=0.0, standardize=False)
    model = jaxnn.mlp(params["sizes"])
    devices = jax.local_devices()[: params["devices"]]
    if len(devices) != params["devices"]:
        raise RuntimeError(f"asked for {params['devices']} devices, JAX has {len(jax.local_devices())}")

    def fit():
        jaxnn.fit(
            model,
            data,
            optimizer="sgd",
            learning_rate=0.01,
            num_epochs=params["epochs"],
            batch_size=params["batch"],
            loss=params["loss"],
            key=0,
            num_chunks=1,
            progress=False,
            devices=devices,
        )

    with harness.CompileEvents() as events:
        first = harness.wall_timed(fit)
    fit()
    samples = harness.measure(fit, repeats=params["repeats"], units_per_call=params["epochs"] * FIT_STEPS)
    return {"samples": samples, "extra": {"first_call_s": first["wall_s"], **events.summary(), "devices": len(devices)}}


IMPLEMENTATIONS = {"sweep": run_sweep, "fit": run_fit}


def device_counts(settings: harness.Settings) -> list[int]:
    return [1, 2] if settings.quick else [1, 2, 4]


def jobs(settings: harness.Settings) -> list[harness.Job]:
    epochs = 1 if settings.quick else FIT_EPOCHS
    out = []
    for n in device_counts(settings):
        env = {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}"}
        if not settings.quick:  # quick: the sweep suite's 1- and 2-device rows at K = 8 stand in
            out.append(harness.Job(NAME, "sweep", f"{n}dev", settings.timing(k=64, devices=n, repeats=3), env))
        out.append(harness.Job(NAME, "fit", f"{n}dev", settings.timing(devices=n, epochs=epochs, **FIT_CASE), env))
    return out


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for impl in IMPLEMENTATIONS:
        one_device = math.nan
        for n in device_counts(settings):
            runs = grouped.get((impl, f"{n}dev"), [])
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs])
            if n == 1:
                one_device = stats["median"]
            rows.append(
                {
                    "impl": impl,
                    "devices": n,
                    **stats,
                    "speedup_vs_1_device": harness.ratio(one_device, stats["median"]),
                    "own_cpu_per_wall": _cores_busy(runs),
                }
            )
    return {
        "rows": rows,
        "sweep_k": None if settings.quick else 64,
        "fit_case": {**FIT_CASE, "steps_per_epoch": FIT_STEPS},
    }


def _cores_busy(runs: list[dict[str, Any]]) -> float:
    """Median of this process's CPU time over wall time: how many cores it kept busy."""
    values = [s["own_cpu_s"] / s["wall_s"] for r in runs for s in r["samples"] if s["wall_s"] > 0]
    return harness.quantile(values, 0.5)


def markdown(summary: dict[str, Any]) -> str:
    body = [
        [
            LABELS[r["impl"]],
            r["devices"],
            harness.format_seconds(r["median"]),
            harness.format_seconds(r["iqr"]),
            harness.format_number(r["speedup_vs_1_device"], ".2f", "×"),
            harness.format_number(r["own_cpu_per_wall"], ".2f"),
            f"{r['num_kept']}/{r['num_samples']}" + (" (forced)" if r["forced"] else ""),
        ]
        for r in summary["rows"]
    ]
    header = ["measurement", "host devices", "median", "IQR", "speedup vs 1 device", "cores busy", "samples kept"]
    fit = summary["fit_case"]
    sweep = f"sweep K = {summary['sweep_k']}; " if summary["sweep_k"] else ""
    return (
        f"### scaling: host devices ({sweep}fit {fit['sizes']} at batch {fit['batch']})\n\n"
        f"{harness.markdown_table(header, body)}\n"
    )
