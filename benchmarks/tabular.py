"""tabular: reading and preparing a mixed CSV file, jaxnn against pandas + scikit-learn; and the reader choice.

Two workloads, every implementation in its own fresh process, each sample one whole call on a file
generated once (cached in the temporary directory, not timed):

* ``prepare`` — a CSV of R rows and 30 mixed columns (15 floats and 2 booleans with 1% blanks, 4 integer
  columns, 6 text columns of 3-50 categories with 1% blanks, an ID, a constant, a yes/no target; ~180 MB
  for R = 1,000,000) into standardized train / validation / test float32 arrays (70/15/15, stratified):
    - ``jaxnn``: ``jaxnn.datasets.from_csv(path, "target")``: reading, splitting, the column plan fitted on
      the training rows (medians, categories, the ID and the constant found and dropped), one-hot, scaling;
    - ``sklearn``: ``pandas.read_csv``, ``train_test_split(stratify=...)``, and a ``ColumnTransformer`` of
      ``SimpleImputer(median)`` + ``StandardScaler`` for numbers, ``SimpleImputer(most_frequent)`` +
      ``OneHotEncoder(handle_unknown="ignore")`` for text, ``SimpleImputer(most_frequent)`` for booleans,
      told which columns to drop (scikit-learn does not find IDs and constants), fitted on the training rows,
      each split transformed to dense float32: the same work, the way a scikit-learn user writes it.
* ``read`` — the reader choice behind :mod:`jaxnn.data.reading`: the same kind of file at ~100 MB into
  NumPy columns (numbers as float64 with a mask of blanks, text as codes into its distinct values):
  ``pandas.read_csv`` + ``pandas.factorize``; ``pyarrow.csv.read_csv`` + Arrow's ``dictionary_encode``;
  and ``jaxnn.datasets.read_table`` (pyarrow and what jaxnn adds: trimming, the kind of each column).

Time: the median wall time of the timed calls (one warm-up call on a small file first, so that imports
are not timed), and the median CPU time of the process over all its threads (steadier on a busy machine). Memory: the peak resident memory a call adds to its process (Linux's ``VmHWM``,
reset before each call through ``/proc/self/clear_refs``; ``ru_maxrss`` elsewhere, which cannot be
reset): ``first_peak_mib`` is the first timed call's, as a fresh ``jaxnn train --csv`` would see it, and
what the ratios compare (Arrow's memory pool keeps what a call freed for the next, so later calls in a
process add less); ``peak_mib`` is the median over the calls. pandas and pyarrow run on the harness's
thread count.
"""

import gc
import os
import tempfile
from typing import Any

from benchmarks import harness

NAME = "tabular"
PREPARE_ROWS = [1_000_000]
READ_ROWS = [550_000]  # ~100 MB
QUICK_ROWS = [20_000]
WARM_UP_ROWS = 2_000
NUM_FLOATS, NUM_INTEGERS, NUM_BOOLEANS = 15, 4, 2
CATEGORY_LEVELS = (3, 5, 8, 12, 20, 50)
BLANK_RATE = 0.01
VAL_FRACTION = TEST_FRACTION = 0.15
LABELS = {
    "prepare_jaxnn": "jaxnn.datasets.from_csv",
    "prepare_sklearn": "pandas.read_csv + scikit-learn ColumnTransformer",
    "read_pandas": "pandas.read_csv + factorize",
    "read_pyarrow": "pyarrow.csv.read_csv + dictionary_encode",
    "read_jaxnn": "jaxnn.datasets.read_table (pyarrow)",
}
REFERENCE = {"prepare_jaxnn": "prepare_sklearn", "read_pyarrow": "read_pandas", "read_jaxnn": "read_pandas"}


# --- the data ----------------------------------------------------------------------------


def csv_path(rows: int, seed: int = 0) -> str:
    """The generated CSV of ``rows`` rows, written once per machine (atomically: workers may race)."""
    folder = os.path.join(tempfile.gettempdir(), "jaxnn-bench-tabular")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"mixed-{rows}-{seed}.csv")
    if not os.path.exists(path):
        partial = f"{path}.{os.getpid()}.tmp"
        write_mixed_csv(partial, rows, seed)
        os.replace(partial, path)
    return path


def columns_of_mixed() -> dict[str, list[str]]:
    """The generated file's columns by role (what the scikit-learn pipeline is told)."""
    return {
        "numbers": [f"float{i}" for i in range(NUM_FLOATS)] + [f"int{i}" for i in range(NUM_INTEGERS)],
        "text": [f"cat{i}" for i in range(len(CATEGORY_LEVELS))],
        "booleans": [f"flag{i}" for i in range(NUM_BOOLEANS)],
        "dropped": ["id", "constant"],
    }


def write_mixed_csv(path: str, rows: int, seed: int) -> None:
    """Write the 30-column mixed file (see the module docstring)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    blank = lambda: rng.random(rows) < BLANK_RATE  # noqa: E731
    columns: dict[str, Any] = {}
    for i in range(NUM_FLOATS):
        columns[f"float{i}"] = pa.array(np.round(rng.normal(i, 1 + i, rows), 4), mask=blank())
    for i in range(NUM_INTEGERS):
        columns[f"int{i}"] = pa.array(rng.integers(0, 50 * (i + 1), rows))
    for i, levels in enumerate(CATEGORY_LEVELS):
        names = np.array([f"level{j}" for j in range(levels)])
        weights = 1 / np.arange(1, levels + 1)
        columns[f"cat{i}"] = pa.array(names[rng.choice(levels, rows, p=weights / weights.sum())], mask=blank())
    for i in range(NUM_BOOLEANS):
        columns[f"flag{i}"] = pa.array(rng.random(rows) < 0.3, mask=blank())
    columns["id"] = pa.array(np.char.add("row", np.arange(rows).astype(str)))
    columns["constant"] = pa.array(np.full(rows, 7))
    signal = np.nan_to_num(columns["float0"].to_numpy(zero_copy_only=False)) + (
        columns["cat0"].to_numpy(zero_copy_only=False) == "level0"
    )
    columns["target"] = pa.array(np.where(signal + rng.normal(0, 1, rows) > 0.5, "yes", "no"))
    pa_csv.write_csv(pa.table(columns), path)


# --- the implementations (in a worker) ---------------------------------------------------


def _reset_peak() -> int:
    """Start a new peak-memory count; this process's resident memory now, in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return _status_kib("VmRSS") * 1024
    except OSError:
        return 0


def _peak_bytes() -> int:
    try:
        return _status_kib("VmHWM") * 1024
    except (OSError, ValueError):
        return harness.peak_rss_bytes()


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ValueError(field)


def _timed_calls(call: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One warm-up call on a small file, then ``repeats`` timed calls on the real one, each with its peak memory."""
    call(csv_path(WARM_UP_ROWS))
    path = csv_path(params["rows"])
    samples = []
    for _ in range(params["repeats"]):
        gc.collect()
        before = _reset_peak()
        sample = harness.measure(lambda: call(path), repeats=1)[0]
        sample["peak_mib"] = (_peak_bytes() - before) / 2**20
        samples.append(sample)
    return {"samples": samples, "extra": {"file_mib": os.path.getsize(path) / 2**20}}


def _pin_threads(num_threads: int) -> None:
    import pyarrow

    pyarrow.set_cpu_count(num_threads)
    pyarrow.set_io_thread_count(num_threads)


def run_prepare_jaxnn(params: dict[str, Any]) -> dict[str, Any]:
    import warnings

    _pin_threads(params["num_threads"])
    import jaxnn

    def call(path: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jaxnn.errors.DataWarning)  # the notes about the ID and the constant
            jaxnn.datasets.from_csv(path, "target", val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION, seed=0)

    return _timed_calls(call, params)


def run_prepare_sklearn(params: dict[str, Any]) -> dict[str, Any]:
    try:
        import pandas as pd
    except ImportError as error:
        return {"skipped": f"pandas is not importable ({error})", "samples": []}
    import numpy as np
    from sklearn.model_selection import train_test_split

    _pin_threads(params["num_threads"])

    def call(path: str) -> None:
        frame = pd.read_csv(path)
        y = frame.pop("target").to_numpy()
        held = VAL_FRACTION + TEST_FRACTION
        x_train, x_rest, y_train, y_rest = train_test_split(frame, y, test_size=held, stratify=y, random_state=0)
        x_val, x_test, _, _ = train_test_split(
            x_rest, y_rest, test_size=TEST_FRACTION / held, stratify=y_rest, random_state=0
        )
        transform = sklearn_transform()
        transform.fit(x_train)
        for part in (x_train, x_val, x_test):
            np.asarray(transform.transform(part), np.float32)

    return _timed_calls(call, params)


def sklearn_transform() -> Any:
    """The scikit-learn ``ColumnTransformer`` that does what jaxnn's column plan does to the generated file."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    roles = columns_of_mixed()
    return ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), roles["numbers"]),
            (
                "text",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
                ),
                roles["text"],
            ),
            ("booleans", SimpleImputer(strategy="most_frequent"), roles["booleans"]),
        ],
        remainder="drop",
        sparse_threshold=0.0,
    )


def _numpy_columns_from_arrow(table: Any) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = {}
    for name, chunked in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_string(chunked.type):
            encoded = pc.dictionary_encode(chunked).combine_chunks()
            columns[name] = (
                encoded.indices.fill_null(-1).to_numpy(),
                encoded.dictionary.to_numpy(zero_copy_only=False),
            )
        else:
            columns[name] = (chunked.cast(pa.float64()).to_numpy(), chunked.is_null().to_numpy())
    return columns


def run_read_pyarrow(params: dict[str, Any]) -> dict[str, Any]:
    import pyarrow.csv as pa_csv

    _pin_threads(params["num_threads"])
    options = pa_csv.ConvertOptions(null_values=[""], strings_can_be_null=True, timestamp_parsers=[])

    def call(path: str) -> None:
        _numpy_columns_from_arrow(pa_csv.read_csv(path, convert_options=options))

    return _timed_calls(call, params)


def run_read_pandas(params: dict[str, Any]) -> dict[str, Any]:
    try:
        import pandas as pd
    except ImportError as error:
        return {"skipped": f"pandas is not importable ({error})", "samples": []}
    import numpy as np

    _pin_threads(params["num_threads"])

    def call(path: str) -> None:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
        columns = {}
        for name in list(frame.columns):
            series = frame.pop(name)
            if series.dtype.kind in "biuf":
                columns[name] = (series.to_numpy(np.float64, na_value=np.nan), series.isna().to_numpy())
            else:
                columns[name] = pd.factorize(series, use_na_sentinel=True)

    return _timed_calls(call, params)


def run_read_jaxnn(params: dict[str, Any]) -> dict[str, Any]:
    _pin_threads(params["num_threads"])
    import jaxnn

    return _timed_calls(lambda path: jaxnn.datasets.read_table(path), params)


IMPLEMENTATIONS = {
    "prepare_jaxnn": run_prepare_jaxnn,
    "prepare_sklearn": run_prepare_sklearn,
    "read_pandas": run_read_pandas,
    "read_pyarrow": run_read_pyarrow,
    "read_jaxnn": run_read_jaxnn,
}


# --- plan and report (in the parent) -----------------------------------------------------


def cases(settings: harness.Settings) -> list[tuple[str, str, dict[str, Any]]]:
    """``(workload, case, params)`` of every size ``settings`` runs."""
    prepare = QUICK_ROWS if settings.quick else PREPARE_ROWS
    read = QUICK_ROWS if settings.quick else READ_ROWS
    return [("prepare", f"R{rows}", {"rows": rows}) for rows in prepare] + [
        ("read", f"R{rows}", {"rows": rows}) for rows in read
    ]


def jobs(settings: harness.Settings) -> list[harness.Job]:
    repeats = 1 if settings.quick else min(settings.repeats, 3)
    csv_path(WARM_UP_ROWS)  # written here, once, not by racing workers
    out = []
    for workload, case, params in cases(settings):
        csv_path(params["rows"])
        for impl in IMPLEMENTATIONS:
            if impl.startswith(workload):
                out.append(harness.Job(NAME, impl, case, settings.timing(**params, repeats=repeats)))
    return out


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows, skipped = [], sorted({f"{r['impl']}: {r['skipped']}" for r in records if r.get("skipped")})
    for workload, case, params in cases(settings):
        medians: dict[str, dict[str, float]] = {}
        for impl in (name for name in IMPLEMENTATIONS if name.startswith(workload)):
            runs = [r for r in grouped.get((impl, case), []) if r.get("samples")]
            if not runs:
                continue
            stats = harness.pool([r["samples"] for r in runs], key="wall_s")
            cpu = harness.pool([r["samples"] for r in runs], key="own_cpu_s")["median"]
            peaks = [s["peak_mib"] for r in runs for s in r["samples"]]
            firsts = [r["samples"][0]["peak_mib"] for r in runs]
            medians[impl] = {"time": stats["median"], "peak": harness.quantile(firsts, 0.5)}
            rows.append(
                {
                    "impl": impl,
                    "workload": workload,
                    "case": case,
                    **params,
                    **stats,
                    "cpu_s": cpu,
                    "peak_mib": harness.quantile(peaks, 0.5),
                    "first_peak_mib": medians[impl]["peak"],
                    "file_mib": runs[-1]["extra"]["file_mib"],
                }
            )
        for row in (row for row in rows if (row["workload"], row["case"]) == (workload, case)):
            reference = medians.get(REFERENCE.get(row["impl"], ""), {})
            row["speedup_vs_reference"] = harness.ratio(reference.get("time", float("nan")), row["median"])
            row["memory_vs_reference"] = harness.ratio(row["first_peak_mib"], reference.get("peak", float("nan")))
    return {
        "rows": rows,
        "skipped": skipped,
        "workload": {
            "float_columns": NUM_FLOATS,
            "integer_columns": NUM_INTEGERS,
            "boolean_columns": NUM_BOOLEANS,
            "category_levels": list(CATEGORY_LEVELS),
            "blank_rate": BLANK_RATE,
        },
    }


def markdown(summary: dict[str, Any]) -> str:
    body = []
    for row in summary["rows"]:
        body.append(
            [
                row["workload"],
                f"{row['rows']:,} rows ({row['file_mib']:.0f} MiB)",
                LABELS[row["impl"]],
                harness.format_seconds(row["median"]),
                harness.format_seconds(row["iqr"]),
                harness.format_seconds(row["cpu_s"]),
                f"{row['peak_mib']:.0f} MiB",
                f"{row['first_peak_mib']:.0f} MiB",
                harness.format_number(row.get("speedup_vs_reference", float("nan")), ".2f", "×"),
                harness.format_number(row.get("memory_vs_reference", float("nan")), ".2f", "×"),
                f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
            ]
        )
    header = [
        "workload",
        "file",
        "implementation",
        "median",
        "IQR",
        "CPU time (all threads)",
        "peak memory (median)",
        "first call's peak",
        "speed vs pandas",
        "memory vs pandas",
        "samples kept",
    ]
    title = "### tabular: reading and preparing a mixed CSV (30 columns: numbers, text, booleans, blanks, an ID)"
    note = (
        "`prepare`: into standardized float32 train/validation/test arrays; `read`: into NumPy columns. Peak "
        "memory is what a call adds to its process. `speed vs pandas`: the pandas row's median over this row's "
        "(>1: faster); `memory vs pandas`: this row's first call's peak over pandas' (<1: less; later calls of a "
        "process reuse Arrow's memory pool)."
    )
    lines = [title, "", harness.markdown_table(header, body), "", note, ""]
    lines += [f"- skipped: {line}" for line in summary.get("skipped", [])]
    return "\n".join(lines) + "\n"
