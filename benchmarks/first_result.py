"""first_result: how long a user waits, as whole processes: the CLI's quick start, cold and warm.

Each sample is one fresh ``python -m jaxnn.cli ...`` process (what the ``jaxnn`` script runs),
timed from start to exit:

* ``import-jax``: ``python -c "import jax"``, the floor every JAX program pays;
* ``help``: ``jaxnn --help``; ``info``: ``jaxnn info``;
* ``train-cold``: ``jaxnn train`` (digits, [64, 128, 10], 30 epochs: the quick start) with an
  empty cache directory, as on a fresh machine: scikit-learn reads the data, XLA compiles;
* ``train-warm``: the same command again with the caches it filled (datasets and compiled programs);
* ``train-warm-nocache``: again, with the dataset cache but ``--no-compilation-cache``.
"""

import os
import subprocess
import sys
import tempfile
from typing import Any

from benchmarks import harness

NAME = "first_result"
TRAIN = ["train", "--no-progress"]
LABELS = {
    "import-jax": "python -c 'import jax'",
    "help": "jaxnn --help",
    "info": "jaxnn info",
    "train-cold": "jaxnn train, empty caches (a fresh machine)",
    "train-warm": "jaxnn train, caches filled (the second run)",
    "train-warm-nocache": "jaxnn train, data cached, --no-compilation-cache",
}


def _process(arguments: list[str], cache: str, out: str) -> None:
    env = dict(os.environ, JAXNN_CACHE_DIR=cache, JAXNN_COMPILATION_CACHE="1")
    env.pop("JAX_ENABLE_COMPILATION_CACHE", None)  # the harness turns JAX's own cache off for other suites
    command = [sys.executable, *arguments] if arguments[0] == "-c" else [sys.executable, "-m", "jaxnn.cli", *arguments]
    if arguments[:1] == ["train"]:
        command += ["--out", os.path.join(out, "run")]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=out)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed: {completed.stderr[-2000:]}")


def _timed_process(arguments: list[str], cache: str, out: str) -> dict[str, float]:
    """One sample; the child's CPU time counts as this measurement's own, not as a neighbour's."""
    children = lambda: sum(os.times()[2:4])  # noqa: E731 - user + system time of finished children
    before = children()
    sample = harness.measure(lambda: _process(arguments, cache, out), repeats=1)[0]
    child = children() - before
    return sample | {"own_cpu_s": sample["own_cpu_s"] + child, "others_cpu_s": sample["others_cpu_s"] - child}


def run_case(params: dict[str, Any]) -> dict[str, Any]:
    case = params["case"]
    arguments = {
        "import-jax": ["-c", "import jax"],
        "help": ["--help"],
        "info": ["info"],
        "train-cold": TRAIN,
        "train-warm": TRAIN,
        "train-warm-nocache": [*TRAIN, "--no-compilation-cache"],
    }[case]
    with tempfile.TemporaryDirectory() as scratch:
        shared_cache = os.path.join(scratch, "cache")
        if case.startswith("train-warm"):
            _process(TRAIN, shared_cache, scratch)  # fills the caches, untimed
        samples = []
        for i in range(params["repeats"]):
            cache = os.path.join(scratch, f"cold-{i}") if case == "train-cold" else shared_cache
            samples.append(_timed_process(arguments, cache, scratch))
    return {"samples": samples}


IMPLEMENTATIONS = {case: run_case for case in LABELS}


def jobs(settings: harness.Settings) -> list[harness.Job]:
    repeats = 2 if settings.quick else 3
    cases = ["import-jax", "help"] if settings.quick else list(LABELS)
    return [harness.Job(NAME, case, case, settings.timing(case=case, repeats=repeats)) for case in cases]


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for case in LABELS:
        runs = [r for r in grouped.get((case, case), []) if "samples" in r]
        if runs:
            rows.append({"case": case, **harness.pool([r["samples"] for r in runs], key="wall_s")})
    return {"rows": rows, "command": "jaxnn " + " ".join(TRAIN)}


def markdown(summary: dict[str, Any]) -> str:
    header = ["what", "wall time", "IQR", "samples kept"]
    body = [
        [
            LABELS[row["case"]],
            harness.format_seconds(row["median"]),
            harness.format_seconds(row["iqr"]),
            f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
        ]
        for row in summary["rows"]
    ]
    return (
        "\n".join(["### first_result: whole processes, start to exit", "", harness.markdown_table(header, body), ""])
        + "\n"
    )
