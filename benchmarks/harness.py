"""The timing harness: fresh worker processes, disturbance-aware samples, pooled statistics.

Two halves live here, and neither imports JAX, so a NumPy-only worker stays NumPy-only:

* **In a worker** (one fresh process per implementation and size): :func:`measure`
  runs a blocking callable in timed samples. Each sample records its wall time,
  this process's CPU time and the CPU time *other* processes took meanwhile (busy
  jiffies of ``/proc/stat`` minus our own CPU time), so the parent can drop the
  samples that a neighbour disturbed.
* **In the parent**: :func:`run_worker` starts ``python -m benchmarks._worker``
  with pinned thread settings, and the statistics helpers (:func:`keep_undisturbed`,
  :func:`pool`, :func:`ratio`) turn the samples of all rounds into medians, IQRs
  and ratios of pooled medians.

:func:`step_flops` counts the floating-point work of one training step exactly.
"""

import concurrent.futures
import json
import math
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

ROOT = pathlib.Path(__file__).resolve().parents[1]

DISTURBED_CORE_FRACTION = 0.10
"""A sample is disturbed when other processes used more than this share of one core during it."""
MIN_KEPT_SAMPLES = 3
"""When fewer samples than this survive, the least-disturbed ones are kept (and flagged)."""
THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
RECORDED_ENV = (
    *THREAD_ENV,
    "XLA_FLAGS",
    "JAX_PLATFORMS",
    "JAX_ENABLE_COMPILATION_CACHE",
    "TF_CPP_MIN_LOG_LEVEL",
    "OPENBLAS_CORETYPE",
    "KMP_AFFINITY",
    "GOMP_CPU_AFFINITY",
)


# --- exact FLOP counts -------------------------------------------------------------------


def forward_flops(sizes: Sequence[int], batch: int) -> int:
    """Multiply-adds of the forward pass, counted as 2 FLOPs: ``2 B Σ d_in d_out``."""
    return 2 * batch * sum(d_in * d_out for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True))


def step_flops(sizes: Sequence[int], batch: int) -> int:
    """Matmul FLOPs of one SGD step (forward + backward) of an MLP ``sizes`` on ``batch`` rows.

    Backward computes two products per layer (the weight gradient ``aᵀδ`` and the
    input gradient ``δWᵀ``), twice the forward work, except that the first layer's
    input gradient (with respect to the data) is never computed:
    ``3 · forward − 2 B d0 d1``. Bias additions, activations, the loss and the
    update are O(B·width) and not counted. The common ``6 B · params`` rule
    overstates a [784, 256, 256, 10] step by 33% and a [784, 2048, 2048, 10] one by 10%.
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two entries, got {list(sizes)}")
    return 3 * forward_flops(sizes, batch) - 2 * batch * sizes[0] * sizes[1]


def num_weights(sizes: Sequence[int]) -> int:
    """Parameters of an MLP (weights and biases)."""
    return sum(d_in * d_out + d_out for d_in, d_out in zip(sizes[:-1], sizes[1:], strict=True))


# --- samples, in the worker --------------------------------------------------------------


def busy_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used (busy jiffies of /proc/stat), or NaN."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
    except OSError:
        return math.nan
    # cpu user nice system idle iowait irq softirq steal ...: everything but idle and iowait.
    values = [int(v) for v in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / os.sysconf("SC_CLK_TCK")


def measure(
    fn: Callable[[], Any],
    *,
    repeats: int,
    number: int = 1,
    units_per_call: int = 1,
) -> list[dict[str, float]]:
    """Time ``repeats`` samples of ``number`` calls of ``fn`` (which must block until done).

    Returns one dict per sample: ``per_unit_s`` (wall time / (number ·
    units_per_call)), ``wall_s``, ``number``, ``units``, ``own_cpu_s`` (this
    process, all threads) and ``others_cpu_s`` (every other process meanwhile).
    """
    samples = []
    for _ in range(repeats):
        busy0, cpu0 = busy_cpu_seconds(), time.process_time()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        wall = time.perf_counter() - start
        busy1, cpu1 = busy_cpu_seconds(), time.process_time()
        own = cpu1 - cpu0
        samples.append(
            {
                "per_unit_s": wall / (number * units_per_call),
                "wall_s": wall,
                "number": number,
                "units": number * units_per_call,
                "own_cpu_s": own,
                "others_cpu_s": (busy1 - busy0) - own,
            }
        )
    return samples


def calls_for(fn: Callable[[], Any], target_s: float, *, tries: int = 3) -> int:
    """How many calls of ``fn`` (already warm) make a sample of about ``target_s`` seconds."""
    best = math.inf
    for _ in range(tries):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        if best > target_s:
            break
    return max(1, math.ceil(target_s / max(best, 1e-9)))


def wall_timed(fn: Callable[[], Any]) -> dict[str, float]:
    """One timed call as a sample (for things that happen once, like a first compile)."""
    return measure(fn, repeats=1)[0]


class CompileEvents:
    """Collect JAX's own compile-phase durations (trace, lowering, XLA compile) while active."""

    NAMES = {
        "/jax/core/compile/jaxpr_trace_duration": "trace_s",
        "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
        "/jax/core/compile/backend_compile_duration": "xla_compile_s",
    }

    def __init__(self):
        import jax.monitoring

        self.totals = {name: 0.0 for name in self.NAMES.values()}
        self.num_compiles = 0
        self._active = False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **_: Any) -> None:
        name = self.NAMES.get(event)
        if self._active and name is not None:
            self.totals[name] += duration
            if name == "xla_compile_s":
                self.num_compiles += 1

    def __enter__(self) -> "CompileEvents":
        self.totals = {name: 0.0 for name in self.NAMES.values()}
        self.num_compiles = 0
        self._active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        self._active = False

    def summary(self) -> dict[str, float]:
        return {**self.totals, "compile_s": sum(self.totals.values()), "num_compiles": self.num_compiles}


def peak_rss_bytes() -> int:
    """This process's peak resident memory (ru_maxrss, KiB on Linux)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def import_torch(num_threads: int) -> tuple[Any, str | None]:
    """``(torch, None)`` pinned to ``num_threads`` and seeded, or ``(None, why)`` when it is not importable."""
    try:
        import torch
    except ImportError as error:
        return None, f"torch is not importable ({error})"
    torch.set_num_threads(num_threads)
    torch.manual_seed(0)
    return torch, None


def load_baseline():
    """``jaxnn/baseline.py`` loaded by file path, so that importing it never imports JAX."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("jaxnn_baseline", ROOT / "jaxnn" / "baseline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- statistics, in the parent -----------------------------------------------------------


def is_disturbed(sample: dict[str, float], threshold: float = DISTURBED_CORE_FRACTION) -> bool:
    """Whether other processes used more than ``threshold`` of a core during ``sample``."""
    others = sample.get("others_cpu_s", 0.0)
    if others is None or math.isnan(others):
        return False  # no /proc/stat: nothing to judge by
    return others > threshold * sample["wall_s"]


class Kept(NamedTuple):
    """The samples :func:`keep_undisturbed` keeps, and what it dropped."""

    samples: list[dict[str, float]]
    dropped: int
    forced: bool
    """True when too few were undisturbed and the least-disturbed ones were kept anyway."""


def keep_undisturbed(
    samples: Sequence[dict[str, float]],
    *,
    threshold: float = DISTURBED_CORE_FRACTION,
    min_kept: int = MIN_KEPT_SAMPLES,
) -> Kept:
    """Drop the samples during which other processes used more than ``threshold`` of a core.

    When fewer than ``min_kept`` survive, the ``min_kept`` least-disturbed samples
    are kept instead (``forced=True``), so that a noisy machine still yields a
    number, marked as such.
    """
    clean = [s for s in samples if not is_disturbed(s, threshold)]
    if len(clean) >= min(min_kept, len(samples)):
        return Kept(list(clean), len(samples) - len(clean), False)
    ranked = sorted(samples, key=lambda s: s.get("others_cpu_s", 0.0) / max(s["wall_s"], 1e-12))
    kept = ranked[: min(min_kept, len(samples))]
    return Kept(kept, len(samples) - len(kept), True)


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation (NumPy's default)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def pool(
    rounds: Iterable[Sequence[dict[str, float]]], *, key: str = "per_unit_s", **keep_options: Any
) -> dict[str, Any]:
    """Pool the samples of several rounds (one list per fresh process) into median and IQR.

    Disturbed samples are dropped first (see :func:`keep_undisturbed`).
    """
    everything = [sample for samples in rounds for sample in samples]
    kept = keep_undisturbed(everything, **keep_options)
    values = [s[key] for s in kept.samples]
    return {
        "median": statistics.median(values) if values else math.nan,
        "q25": quantile(values, 0.25),
        "q75": quantile(values, 0.75),
        "iqr": quantile(values, 0.75) - quantile(values, 0.25),
        "num_samples": len(everything),
        "num_kept": len(values),
        "num_dropped": kept.dropped,
        "forced": kept.forced,
    }


def ratio(reference: float, value: float) -> float:
    """``reference / value``: how many times faster ``value`` is than ``reference`` (NaN if unknown)."""
    if not (reference and value) or math.isnan(reference) or math.isnan(value):
        return math.nan
    return reference / value


# --- workers, from the parent ------------------------------------------------------------


class Settings(NamedTuple):
    """How hard to measure: the knobs ``--quick`` turns down."""

    quick: bool
    rounds: int
    """Fresh processes per (implementation, size), in shuffled order."""
    repeats: int
    """Timed samples per process."""
    sample_s: float
    """Target duration of one sample (several calls when one call is shorter)."""
    num_threads: int
    """Threads every library is pinned to (OpenBLAS, OpenMP, MKL, torch)."""
    quiet_wait_s: float
    """Before each process, wait up to this long for the machine to go quiet."""
    smoke: bool = False
    """``--smoke``: ``--quick`` at each suite's smallest case (one task, one step size) and one timed sample per
    process: every suite and implementation runs once, for the tests, and nothing it measures is meant to be read."""

    def timing(self, **overrides: Any) -> dict[str, Any]:
        """The parameters every worker takes."""
        return {"repeats": self.repeats, "sample_s": self.sample_s, "num_threads": self.num_threads, **overrides}


class Job(NamedTuple):
    """One fresh worker process: ``suite``'s implementation ``impl`` on ``case``."""

    suite: str
    impl: str
    case: str
    params: dict[str, Any]
    env: dict[str, str] = {}


def thread_env(num_threads: int) -> dict[str, str]:
    """The thread settings every worker runs with (pinned, recorded in the results)."""
    settings = {name: str(num_threads) for name in THREAD_ENV}
    settings["JAX_ENABLE_COMPILATION_CACHE"] = "false"  # every compile time is a cold compile
    settings["JAXNN_COMPILATION_CACHE"] = "0"  # and jaxnn leaves it off too (it turns it on by default)
    settings["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return settings


def run_worker(job: Job, *, num_threads: int, timeout: float = 900) -> dict[str, Any]:
    """Run ``job`` in a fresh ``python -m benchmarks._worker`` and return what it reported.

    A worker that fails returns ``{"error": ...}`` instead of raising, so one
    broken implementation does not end the whole benchmark.
    """
    env = dict(os.environ)
    env.update(thread_env(num_threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    for name, value in job.env.items():
        env[name] = f"{env[name]} {value}" if name == "XLA_FLAGS" and env.get(name) else value
    with tempfile.TemporaryDirectory() as scratch:
        result_path = os.path.join(scratch, "result.json")
        command = [sys.executable, "-m", "benchmarks._worker", job.suite, job.impl, json.dumps(job.params), result_path]
        start = time.perf_counter()
        try:
            completed = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        elapsed = time.perf_counter() - start
        if completed.returncode != 0 or not os.path.exists(result_path):
            tail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
            return {"error": f"worker exited with {completed.returncode}: " + " | ".join(tail)}
        with open(result_path) as handle:
            result = json.load(handle)
    result["process_s"] = elapsed
    result["env"] = {name: env[name] for name in RECORDED_ENV if name in env}
    return result


def wait_until_quiet(*, max_wait_s: float, window_s: float = 0.3, threshold: float = DISTURBED_CORE_FRACTION) -> float:
    """Wait (up to ``max_wait_s``) until other processes use under ``threshold`` of a core; the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < max_wait_s:
        busy0 = busy_cpu_seconds()
        cpu0 = time.process_time()
        time.sleep(window_s)
        others = busy_cpu_seconds() - busy0 - (time.process_time() - cpu0)
        if math.isnan(others) or others <= threshold * window_s:
            break
    return time.perf_counter() - start


def run_rounds(
    jobs: Sequence[Job],
    *,
    rounds: int,
    num_threads: int,
    seed: int,
    quiet_wait_s: float,
    log: Callable[[str], None],
    parallel: int = 1,
) -> list[dict[str, Any]]:
    """Run every job once per round, in a fresh shuffled order each round.

    ``parallel`` workers run at once (each still a fresh process): for smoke runs,
    whose timings nobody reads; a measurement runs one at a time, on a quiet machine.

    Returns one record per (round, job): the job's fields, the round, and the
    worker's result (``samples``, ``extra``, ... or ``error``), in the shuffled order.
    """
    rng = random.Random(seed)
    planned = []
    for round_index in range(rounds):
        order = list(jobs)
        rng.shuffle(order)
        planned += [(round_index, job) for job in order]
    done, lock = [0], threading.Lock()

    def run(round_index: int, job: Job) -> dict[str, Any]:
        waited = wait_until_quiet(max_wait_s=quiet_wait_s) if quiet_wait_s > 0 and parallel == 1 else 0.0
        result = run_worker(job, num_threads=num_threads)
        status = result.get("error", f"{result.get('process_s', 0):.1f} s")
        with lock:
            done[0] += 1
            log(f"  [{done[0]}/{len(planned)}] round {round_index + 1} {job.suite}/{job.impl}/{job.case}: {status}")
        return {
            "suite": job.suite,
            "impl": job.impl,
            "case": job.case,
            "round": round_index,
            "params": job.params,
            "waited_for_quiet_s": waited,
            **result,
        }

    if parallel <= 1:
        return [run(*item) for item in planned]
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:  # threads only wait for the worker processes
        return list(pool.map(lambda item: run(*item), planned))


def group(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Records by ``(impl, case)``, the failed ones left out."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        if "error" not in record:
            grouped.setdefault((record["impl"], record["case"]), []).append(record)
    return grouped


def errors(records: Sequence[dict[str, Any]]) -> list[str]:
    """One line per failed worker."""
    return [
        f"{r['suite']}/{r['impl']}/{r['case']} (round {r['round'] + 1}): {r['error']}" for r in records if "error" in r
    ]


# --- formatting --------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """``1.23 ms``-style, three significant digits."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{seconds:g} s"


def format_number(value: float, spec: str = ".3g", suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:{spec}}{suffix}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def save_figure(fig: Any, out_dir: Any, name: str) -> str:
    """Write ``fig`` as ``out_dir/name`` (PNG) through a temporary file and a rename; close it."""
    import matplotlib.pyplot as plt

    path = os.path.join(os.fspath(out_dir), name)
    fig.tight_layout()
    fig.savefig(path + ".tmp", dpi=120, format="png")
    plt.close(fig)
    os.replace(path + ".tmp", path)
    return path
