"""tracking: what logging a sweep to TensorBoard or MLflow adds to its wall time (``jaxnn.sweep(log=...)``).

A 256-configuration, 60-epoch sweep (64 learning rates log-spaced over [1e-4, 1e-1] x 4 weight
decays, Adam, one seed), the same call with and without ``log=``, in one fresh process per log:
after warm-up calls (compiling, importing TensorBoard or MLflow and creating MLflow's SQLite
store are excluded), every timed logged call is paired with a plain call next to it (in the
order plain-logged, logged-plain, ... so drift cancels). The figure is ``paired``: the median
of the pairs' ratios (1.05x = logging added 5%); ``logged / plain`` is the ratio of the two
medians. Each logged call writes a fresh log (a new TensorBoard directory, a new MLflow
experiment in the same SQLite store): a log that already holds a run's rows skips them.

* ``digits``: a [64, 128, 10] MLP on digits (jaxnn's default split: 1,257 training rows), batch
  128: a sweep whose compute dominates (about half a minute on 2 cores).
* ``cancer``: a [30, 16, 1] MLP on breast_cancer (399 training rows), batch 32: about a second
  for the whole sweep, so the log's fixed cost per row and epoch shows.

``--quick`` runs only ``cancer`` with 16 configurations and 10 epochs, TensorBoard only.
"""

import math
import os
import shutil
import tempfile
from typing import Any

from benchmarks import harness

NAME = "tracking"
LOGS = ("tensorboard", "mlflow")
QUICK_LOGS = ("tensorboard",)
WORKLOADS = {
    "digits": {"dataset": "digits", "sizes": [64, 128, 10], "batch_size": 128},
    "cancer": {"dataset": "breast_cancer", "sizes": [30, 16, 1], "batch_size": 32},
}
RATES, DECAYS, EPOCHS = 64, [0.0, 1e-4, 1e-3, 1e-2], 60
QUICK_RATES, QUICK_DECAYS, QUICK_EPOCHS = 8, [0.0, 1e-3], 10
MAX_PAIRS = {"digits": 3}  # pairs per process (a digits pair is about a minute)
LABELS = {"tensorboard": "log=TensorBoard(dir)", "mlflow": "log=MLflow('sqlite:///...')"}


def _directory_bytes(path: str) -> tuple[int, int]:
    files = size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(folder, name))
    return files, size


def run_logged(params: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import jaxnn

    work = WORKLOADS[params["workload"]]
    data, model = jaxnn.datasets.load(work["dataset"], seed=0), jaxnn.mlp(work["sizes"])
    space = {
        "learning_rate": [float(v) for v in np.geomspace(1e-4, 1e-1, params["rates"])],
        "weight_decay": params["decays"],
    }
    scratch = tempfile.mkdtemp(prefix="jaxnn-bench-tracking-")
    uri = f"sqlite:///{scratch}/mlflow.db"
    calls, extra = [0], {}

    def log() -> Any:
        calls[0] += 1
        if params["log"] == "tensorboard":
            return os.path.join(scratch, f"tb{calls[0]}")
        return jaxnn.track.MLflow(uri, experiment=f"bench{calls[0]}")

    def sweep(logged: bool) -> None:
        jaxnn.sweep(
            model,
            data,
            space=space,
            num_epochs=params["epochs"],
            batch_size=work["batch_size"],
            key=0,
            progress=False,
            log=log() if logged else None,
        )  # the log is closed when sweep returns

    try:
        sweep(False)  # compiles
        first = harness.wall_timed(lambda: sweep(True))  # imports the backend, creates MLflow's store
        extra["first_logged_call_s"] = first["wall_s"]
        samples, plain = [], []
        for i in range(params["pairs"]):
            for logged in (False, True) if i % 2 == 0 else (True, False):
                (samples if logged else plain).append(harness.wall_timed(lambda: sweep(logged)))
        if params["log"] == "tensorboard":
            extra["log_files"], extra["log_bytes"] = _directory_bytes(os.path.join(scratch, f"tb{calls[0]}"))
        else:
            extra["log_files"], extra["log_bytes"] = _directory_bytes(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = params["rates"] * len(params["decays"])
    return {"samples": samples, "extra": {**extra, "plain_samples": plain, "rows": rows, "epochs": params["epochs"]}}


IMPLEMENTATIONS = {name: run_logged for name in LOGS}


# --- plan and report (in the parent) -----------------------------------------------------


def cases(settings: harness.Settings) -> list[tuple[str, dict[str, Any]]]:
    """``(workload, params)`` of every workload ``settings`` runs."""
    if settings.quick:
        return [("cancer", {"rates": QUICK_RATES, "decays": QUICK_DECAYS, "epochs": QUICK_EPOCHS})]
    return [(name, {"rates": RATES, "decays": DECAYS, "epochs": EPOCHS}) for name in WORKLOADS]


def jobs(settings: harness.Settings) -> list[harness.Job]:
    out = []
    for workload, params in cases(settings):
        pairs = min(settings.repeats, MAX_PAIRS.get(workload, settings.repeats))
        for log in QUICK_LOGS if settings.quick else LOGS:
            case = f"{workload}-K{params['rates'] * len(params['decays'])}"
            out.append(harness.Job(NAME, log, case, settings.timing(**params, workload=workload, log=log, pairs=pairs)))
    return out


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for (impl, case), runs in sorted(grouped.items()):
        runs = [r for r in runs if "samples" in r]
        if not runs:
            continue
        logged = harness.pool([r["samples"] for r in runs], key="wall_s")
        plain = harness.pool([r["extra"]["plain_samples"] for r in runs], key="wall_s")
        extra = runs[-1]["extra"]
        epochs_logged = extra["rows"] * extra["epochs"]
        rows.append(
            {
                "impl": impl,
                "case": case,
                "workload": runs[-1]["params"]["workload"],
                "rows": extra["rows"],
                "epochs": extra["epochs"],
                **logged,
                "plain_median": plain["median"],
                "plain_iqr": plain["iqr"],
                "logged_vs_plain": harness.ratio(logged["median"], plain["median"]),
                "overhead_s": logged["median"] - plain["median"],
                "overhead_us_per_row_epoch": (logged["median"] - plain["median"]) / epochs_logged * 1e6,
                **_paired(runs),
                "first_logged_call_s": extra.get("first_logged_call_s", math.nan),
                "log_files": extra.get("log_files", 0),
                "log_bytes": extra.get("log_bytes", 0),
            }
        )
    return {
        "rows": rows,
        "workloads": WORKLOADS,
        "space": {"learning_rates": RATES, "weight_decays": DECAYS, "epochs": EPOCHS},
    }


def _paired(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and IQR of the logged call over the plain call next to it, disturbed pairs dropped."""
    pairs = [pair for r in runs for pair in zip(r["samples"], r["extra"].get("plain_samples", []), strict=True)]
    kept = [pair for pair in pairs if not any(harness.is_disturbed(s) for s in pair)]
    forced = len(kept) < min(harness.MIN_KEPT_SAMPLES, len(pairs))
    if forced:
        disturbance = lambda pair: max(s.get("others_cpu_s", 0.0) / max(s["wall_s"], 1e-12) for s in pair)  # noqa: E731
        kept = sorted(pairs, key=disturbance)[: harness.MIN_KEPT_SAMPLES]
    ratios = [logged["wall_s"] / plain["wall_s"] for logged, plain in kept]
    return {
        "paired_ratio": harness.quantile(ratios, 0.5),
        "paired_q25": harness.quantile(ratios, 0.25),
        "paired_q75": harness.quantile(ratios, 0.75),
        "num_pairs": len(pairs),
        "num_pairs_kept": len(kept),
        "pairs_forced": forced,
    }


def markdown(summary: dict[str, Any]) -> str:
    body = []
    for row in summary["rows"]:
        low, high = (harness.format_number(row[name], ".3f") for name in ("paired_q25", "paired_q75"))
        work = WORKLOADS[row["workload"]]
        body.append(
            [
                LABELS[row["impl"]],
                f"{work['dataset']} {work['sizes']}, batch {work['batch_size']}",
                f"{row['rows']} x {row['epochs']}",
                harness.format_seconds(row["plain_median"]),
                harness.format_seconds(row["median"]),
                harness.format_number(row["logged_vs_plain"], ".3f", "×"),
                f"{harness.format_number(row['paired_ratio'], '.3f', '×')} ({low}–{high})",
                harness.format_number(row["overhead_us_per_row_epoch"], ".3g", " µs"),
                harness.format_seconds(row["first_logged_call_s"]),
                f"{row['log_files']} files, {row['log_bytes'] / 2**20:.1f} MiB",
                f"{row['num_pairs_kept']}/{row['num_pairs']}" + (" (forced)" if row["pairs_forced"] else ""),
            ]
        )
    header = [
        "log",
        "workload",
        "rows x epochs",
        "plain",
        "logged",
        "logged / plain",
        "paired (IQR)",
        "added per row-epoch",
        "first logged call",
        "written",
        "pairs kept",
    ]
    title = "### tracking: a warm sweep with and without log= (TensorBoard, MLflow on a local SQLite store)"
    note = (
        "`paired`: the median ratio of a logged sweep to the plain sweep timed next to it in the same process; "
        "`added per row-epoch`: the medians' difference over rows x epochs. The first logged call (excluded) "
        "compiles nothing new but imports the backend and, for MLflow, creates its database."
    )
    return "\n".join([title, "", harness.markdown_table(header, body), "", note, ""]) + "\n"
