"""searchcv: a cross-validated hyperparameter search three ways, each a whole fresh process, side by side.

``python -m benchmarks.searchcv [--quick] [--out DIR]``

The search: ``n`` candidates of ``learning_rate_init`` (log-uniform 1e-4..1e-1) and ``alpha`` (log-uniform
1e-6..1e-2) drawn by ``ParameterSampler(random_state=0)`` — the very candidates ``RandomizedSearchCV`` draws —
for an MLP with one hidden layer of 64 ReLU units, Adam, batch 32, ``max_iter`` epochs, scored by 5-fold
stratified cross-validation (unshuffled, scikit-learn's default) on digits (all 1797 rows, standardized).

* ``sweepsearch``: ``jaxnn.sklearn.SweepSearchCV`` — every candidate and fold in one compiled program;
* ``gridsearch``: ``GridSearchCV(sklearn.neural_network.MLPClassifier)`` over the same candidates, as a list;
* ``randomized``: ``RandomizedSearchCV(sklearn.neural_network.MLPClassifier)``, same distributions and seed;
* ``gridsearch_all_cores``: ``gridsearch`` with ``n_jobs=-1`` (a fit per core at once: scikit-learn's best).

scikit-learn's searches run with ``n_jobs=1`` (one process; ``gridsearch_all_cores`` aside) and with the MLP's own tolerance
stop off (``n_iter_no_change=max_iter``), so every candidate trains ``max_iter`` epochs as the sweep's do.
No refit. The time is the whole process: interpreter start, imports, data, compiles, search. Each job runs
``rounds`` times, in shuffled order; the table has the median and the best CV score.
"""

import argparse
import json
import os
import pathlib
import platform
import random
import statistics
import subprocess
import sys
import time

FULL = {"candidates": 64, "max_iter": 30, "hidden": 64, "batch_size": 32, "folds": 5, "rounds": 3}
QUICK = {"candidates": 8, "max_iter": 5, "hidden": 64, "batch_size": 32, "folds": 5, "rounds": 1}
IMPLEMENTATIONS = ("sweepsearch", "gridsearch", "randomized", "gridsearch_all_cores")


def _worker(impl: str, settings: dict) -> dict:
    """One search, in this (fresh) process; its best CV score and the candidates it scored."""
    import warnings

    import numpy as np
    from scipy.stats import loguniform
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, ParameterSampler, RandomizedSearchCV
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x = StandardScaler().fit_transform(x)
    distributions = {"learning_rate_init": loguniform(1e-4, 1e-1), "alpha": loguniform(1e-6, 1e-2)}
    common = {
        "hidden_layer_sizes": (settings["hidden"],),
        "solver": "adam",
        "batch_size": settings["batch_size"],
        "max_iter": settings["max_iter"],
        "random_state": 0,
    }
    n, folds = settings["candidates"], settings["folds"]
    if impl == "sweepsearch":
        from jaxnn.sklearn import MLPClassifier, SweepSearchCV

        search = SweepSearchCV(MLPClassifier(**common), distributions, n_iter=n, cv=folds, random_state=0, refit=False)
    else:
        from sklearn.neural_network import MLPClassifier

        estimator = MLPClassifier(**common, n_iter_no_change=settings["max_iter"])
        if impl in ("gridsearch", "gridsearch_all_cores"):
            grid = [
                {name: [value] for name, value in candidate.items()}
                for candidate in ParameterSampler(distributions, n, random_state=0)
            ]
            jobs = -1 if impl == "gridsearch_all_cores" else 1  # its best setting: a fit per core at once
            search = GridSearchCV(estimator, grid, cv=folds, n_jobs=jobs, refit=False)
        else:
            search = RandomizedSearchCV(
                estimator, distributions, n_iter=n, cv=folds, random_state=0, n_jobs=1, refit=False
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(x, y)
    scores = np.asarray(search.cv_results_["mean_test_score"], np.float64)
    return {
        "best_score": float(search.best_score_),
        "best_params": {k: float(v) for k, v in search.best_params_.items()},
        "candidates": len(scores),
        "scores": scores.tolist(),
    }


def run_job(impl: str, settings: dict) -> dict:
    """``impl`` in a fresh interpreter; its wall time from launch to exit, and what it found."""
    code = (
        f"import json, sys; from benchmarks.searchcv import _worker; "
        f"print('RESULT' + json.dumps(_worker({impl!r}, json.loads(sys.argv[1]))))"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(settings)],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
        check=False,
    )
    wall = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{impl} failed:\n{done.stderr[-3000:]}")
    return {"impl": impl, "wall_s": wall, **json.loads(lines[-1][len("RESULT") :])}


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.searchcv", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes, one round: {QUICK}")
    parser.add_argument("--out", type=pathlib.Path, default=None, help="write results.json and results.md here")
    for name in ("candidates", "max_iter", "rounds"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, help=f"override the settings' {name}")
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL)
    settings |= {name: getattr(args, name) for name in ("candidates", "max_iter", "rounds") if getattr(args, name)}
    load = os.getloadavg()
    order = [impl for _ in range(settings["rounds"]) for impl in IMPLEMENTATIONS]
    random.Random(0).shuffle(order)
    records = [run_job(impl, settings) for impl in order]
    rows = []
    for impl in IMPLEMENTATIONS:
        runs = [r for r in records if r["impl"] == impl]
        rows.append(
            {
                "impl": impl,
                "median_s": statistics.median(r["wall_s"] for r in runs),
                "best_score": runs[0]["best_score"],
                "best_params": runs[0]["best_params"],
                "candidates": runs[0]["candidates"],
                "walls": [r["wall_s"] for r in runs],
            }
        )
    reference = rows[0]["median_s"]
    for row in rows:
        row["times_sweepsearch"] = row["median_s"] / reference
    import jax
    import sklearn

    summary = {
        "settings": settings,
        "rows": rows,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average": load,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "versions": {"jax": jax.__version__, "scikit-learn": sklearn.__version__, "python": platform.python_version()},
        "command": "python -m benchmarks.searchcv " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    table = markdown(summary)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(summary, indent=2))
        (args.out / "results.md").write_text(table)
    return summary


def markdown(summary: dict) -> str:
    s = summary["settings"]
    lines = [
        f"### searchcv: {s['candidates']} candidates x {s['folds']} folds on digits, MLP [64, {s['hidden']}, 10], "
        f"Adam, batch {s['batch_size']}, {s['max_iter']} epochs each",
        "",
        "| implementation | wall time (whole process) | x SweepSearchCV time | best CV score |",
        "|---|---|---|---|",
    ]
    for row in summary["rows"]:
        lines.append(
            f"| {row['impl']} | {row['median_s']:.1f} s | {row['times_sweepsearch']:.2f}x | {row['best_score']:.4f} |"
        )
    lines += [
        "",
        f"{summary['cpu']}, {summary['cores']} cores, load average {summary['load_average'][0]:.1f} at the "
        f"start; {summary['date']}; `{summary['command']}`; {summary['versions']}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
