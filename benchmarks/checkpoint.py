"""checkpoint: what saving resumable state costs a run (``fit``/``sweep`` with ``checkpoint_dir``).

The same call with and without ``checkpoint_dir``, each in its own fresh process; a sample is one
whole warm call (one warm-up call first, so compiling is excluded), each checkpointed call with a
fresh temporary directory that is removed afterwards (creating and removing it is not timed). The
figure is ``checkpoint / plain``: the medians' ratio (1.03× = the run took 3% longer). Because
neighbours change a run's speed by more than that, a checkpointed process also times the plain call
next to each checkpointed one, and ``paired`` is the median of those pairs' ratios.

* ``fit`` / ``fit_checkpoint``: ``jaxnn.fit`` of a [64, 128, 10] MLP on digits (jaxnn's default
  split: 1,257 training rows), Adam (the default), batch 32, ``num_chunks=20``, E epochs.
  With ``checkpoint_dir`` the default ``checkpoint_every`` (a twentieth of the run) gives the same
  20 compiled calls, and the loop state is saved after each (in the background, paced; flushed at
  the end).
* ``sweep`` / ``sweep_checkpoint``: ``jaxnn.sweep`` of the same model on digits over K learning
  rates log-spaced over [1e-4, 1e-1], 20 epochs, batch 64 (its default 10 compiled calls).
  (``--quick`` runs only the fit pair at 100 epochs.)
"""

import math
import os
import shutil
import tempfile
from typing import Any

from benchmarks import harness

NAME = "checkpoint"
SIZES = [64, 128, 10]
FIT_BATCH = 32
FIT_CHUNKS = 20
SWEEP_EPOCHS = 20
SWEEP_BATCH = 64
FIT_EPOCHS = [100, 400]
QUICK_FIT_EPOCHS = [100]
SWEEP_KS = [16, 64]
QUICK_SWEEP_KS: list[int] = []  # quick: two fresh processes compiling a sweep would cost ~20 s more
LABELS = {
    "fit": "jaxnn.fit",
    "fit_checkpoint": "jaxnn.fit(checkpoint_dir=...)",
    "sweep": "jaxnn.sweep",
    "sweep_checkpoint": "jaxnn.sweep(checkpoint_dir=...)",
}
PLAIN = {"fit_checkpoint": "fit", "sweep_checkpoint": "sweep"}


def _directory_bytes(path: str) -> tuple[int, int]:
    """(files, bytes) under ``path``."""
    files = size = 0
    for folder, _, names in os.walk(path):
        for name in names:
            files += 1
            size += os.path.getsize(os.path.join(folder, name))
    return files, size


def _timed_calls(call: Any, *, checkpoint: bool, repeats: int) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Warm-up calls, then ``repeats`` timed calls; each checkpointed call in a fresh directory, removed after.

    With ``checkpoint``, every timed call is paired with a plain call in the same process (in the
    order plain-checkpoint, checkpoint-plain, ... so drift cancels): ``extra["plain_samples"]``.
    Other processes on the machine change the speed of a run by more than the few percent measured
    here; a pair shares them, two processes do not.
    """
    extra: dict[str, Any] = {}

    def one(with_directory: bool, timed: bool = True) -> dict[str, float] | None:
        directory = tempfile.mkdtemp(prefix="jaxnn-bench-checkpoint-") if with_directory else None
        try:
            if not timed:
                call(directory)
                return None
            sample = harness.measure(lambda: call(directory), repeats=1)[0]
            if directory is not None:
                extra["state_files"], extra["state_bytes"] = _directory_bytes(directory)
            return sample
        finally:
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)

    one(checkpoint, timed=False)
    if not checkpoint:
        return [one(False) for _ in range(repeats)], extra
    one(False, timed=False)
    samples, plain = [], []
    for i in range(repeats):
        for with_directory in (False, True) if i % 2 == 0 else (True, False):
            (samples if with_directory else plain).append(one(with_directory))
    return samples, {**extra, "plain_samples": plain}


def run_fit(params: dict[str, Any]) -> dict[str, Any]:
    import jax

    import jaxnn

    data, model = jaxnn.datasets.load("digits", seed=0), jaxnn.mlp(SIZES)

    def call(directory: str | None) -> None:
        result = jaxnn.fit(
            model,
            data,
            num_epochs=params["epochs"],
            batch_size=FIT_BATCH,
            progress=False,
            num_chunks=FIT_CHUNKS,
            key=0,
            checkpoint_dir=directory,
        )
        jax.block_until_ready(result.params)

    samples, extra = _timed_calls(call, checkpoint=params["checkpoint"], repeats=params["repeats"])
    return {"samples": samples, "extra": {**extra, "compiled_calls": FIT_CHUNKS}}


def run_sweep(params: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import jaxnn

    data, model = jaxnn.datasets.load("digits", seed=0), jaxnn.mlp(SIZES)
    space = {"learning_rate": list(np.geomspace(1e-4, 1e-1, params["k"]))}

    def call(directory: str | None) -> None:
        jaxnn.sweep(
            model,
            data,
            space=space,
            num_epochs=params["epochs"],
            batch_size=SWEEP_BATCH,
            progress=False,
            key=0,
            checkpoint_dir=directory,
        )  # the table is on the host: the sweep has ended

    samples, extra = _timed_calls(call, checkpoint=params["checkpoint"], repeats=params["repeats"])
    return {"samples": samples, "extra": extra}


IMPLEMENTATIONS = {"fit": run_fit, "fit_checkpoint": run_fit, "sweep": run_sweep, "sweep_checkpoint": run_sweep}


# --- plan and report (in the parent) -----------------------------------------------------


def cases(settings: harness.Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """``(workload, case, params)`` of every size ``settings`` runs."""
    epochs = QUICK_FIT_EPOCHS if settings.quick else FIT_EPOCHS
    ks = QUICK_SWEEP_KS if settings.quick else SWEEP_KS
    return [("fit", f"E{e}", {"epochs": e}) for e in epochs] + [
        ("sweep", f"K{k}", {"k": k, "epochs": SWEEP_EPOCHS}) for k in ks
    ]


def jobs(settings: harness.Settings) -> list[harness.Job]:
    out = []
    for workload, case, params in cases(settings):
        for impl in (workload, f"{workload}_checkpoint"):
            out.append(harness.Job(NAME, impl, case, settings.timing(**params, checkpoint=impl in PLAIN)))
    return out


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for workload, case, params in cases(settings):
        plain = math.nan
        for impl in (workload, f"{workload}_checkpoint"):
            runs = [r for r in grouped.get((impl, case), []) if "samples" in r]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs], key="wall_s")
            if impl == workload:
                plain = stats["median"]
            extra = runs[-1].get("extra", {})
            rows.append(
                {
                    "impl": impl,
                    "workload": workload,
                    "case": case,
                    **params,
                    **stats,
                    "checkpoint_vs_plain": harness.ratio(stats["median"], plain),
                    **(_paired(runs) if impl in PLAIN else {}),
                    "state_files": extra.get("state_files", 0),
                    "state_bytes": extra.get("state_bytes", 0),
                }
            )
    return {
        "rows": rows,
        "workload": {
            "sizes": SIZES,
            "dataset": "digits",
            "fit_batch_size": FIT_BATCH,
            "fit_num_chunks": FIT_CHUNKS,
            "sweep_num_epochs": SWEEP_EPOCHS,
            "sweep_batch_size": SWEEP_BATCH,
        },
    }


def _paired(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpointed call over the plain call timed next to it in the same process: median and IQR of
    the pairs' ratios, the disturbed pairs dropped (as :func:`benchmarks.harness.keep_undisturbed` does)."""
    pairs = [pair for r in runs for pair in zip(r["samples"], r["extra"].get("plain_samples", []), strict=True)]
    disturbance = lambda pair: max(s.get("others_cpu_s", 0.0) / max(s["wall_s"], 1e-12) for s in pair)  # noqa: E731
    kept = [pair for pair in pairs if not any(harness.is_disturbed(s) for s in pair)]
    forced = len(kept) < min(harness.MIN_KEPT_SAMPLES, len(pairs))
    if forced:
        kept = sorted(pairs, key=disturbance)[: harness.MIN_KEPT_SAMPLES]
    ratios = [saved["wall_s"] / plain["wall_s"] for saved, plain in kept]
    return {
        "paired_ratio": harness.quantile(ratios, 0.5),
        "paired_q25": harness.quantile(ratios, 0.25),
        "paired_q75": harness.quantile(ratios, 0.75),
        "num_pairs": len(pairs),
        "num_pairs_kept": len(kept),
        "pairs_forced": forced,
    }


def _size(row: dict[str, Any]) -> str:
    return f"{row['epochs']} epochs" if row["workload"] == "fit" else f"K = {row['k']}"


def markdown(summary: dict[str, Any]) -> str:
    rows = {(r["impl"], r["case"]): r for r in summary["rows"]}
    kept = lambda r: f"{r['num_kept']}/{r['num_samples']}" + (" (forced)" if r["forced"] else "")  # noqa: E731
    body = []
    for (impl, case), saved in rows.items():
        if impl not in PLAIN:
            continue
        plain = rows.get((PLAIN[impl], case))
        low, high = (harness.format_number(saved[name], ".3f") for name in ("paired_q25", "paired_q75"))
        paired = f"{harness.format_number(saved['paired_ratio'], '.3f', '×')} ({low}–{high})"
        body.append(
            [
                LABELS[PLAIN[impl]],
                _size(saved),
                harness.format_seconds(plain["median"]) if plain else "n/a",
                harness.format_seconds(plain["iqr"]) if plain else "n/a",
                harness.format_seconds(saved["median"]),
                harness.format_seconds(saved["iqr"]),
                harness.format_number(saved["checkpoint_vs_plain"], ".3f", "×"),
                paired,
                f"{saved['state_files']} files, {saved['state_bytes'] / 2**10:.0f} KiB",
                f"{kept(plain) if plain else 'n/a'}, {kept(saved)}, "
                f"{saved['num_pairs_kept']}/{saved['num_pairs']}" + (" (forced)" if saved["pairs_forced"] else ""),
            ]
        )
    header = [
        "call",
        "size",
        "plain",
        "IQR",
        "with checkpoint_dir",
        "IQR",
        "checkpoint / plain",
        "paired, same process (IQR)",
        "state on disk",
        "samples kept (plain, checkpoint, pairs)",
    ]
    work = summary["workload"]
    title = (
        f"### checkpoint: a warm run with and without checkpoint_dir ({work['sizes']} MLP on {work['dataset']}; "
        f"fit batch {work['fit_batch_size']} in {work['fit_num_chunks']} calls, sweep {work['sweep_num_epochs']} "
        f"epochs at batch {work['sweep_batch_size']})"
    )
    note = (
        "`checkpoint / plain`: the ratio of the two rows' medians (separate processes); `paired`: the median "
        "ratio of a checkpointed call to the plain call timed next to it in the same process."
    )
    return "\n".join([title, "", harness.markdown_table(header, body), "", note, ""]) + "\n"
