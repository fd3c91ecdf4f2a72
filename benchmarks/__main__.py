"""``python -m benchmarks [--quick | --smoke] [--suite gemm,step,sweep,compile,first_result,fixed_cost,scaling,tune,checkpoint,conv,tabular,tracking] [--out DIR]``.

Plans every (implementation, size) of the chosen suites, runs each in its own
fresh process, in shuffled rounds, pools the undisturbed samples and writes
``DIR/results.json`` (environment, settings, summaries, every raw sample),
``DIR/results.md`` (the tables printed here) and the PNG plots.
"""

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import time
from typing import Any

from benchmarks import checkpoint as checkpoint_suite
from benchmarks import compile as compile_suite
from benchmarks import (
    conv,
    first_result,
    fixed_cost,
    gemm,
    harness,
    scaling,
    small_sweep,
    step,
    sweep,
    tabular,
    tracking,
    train,
    tune,
)

SUITES = {
    "gemm": gemm,
    "step": step,
    "train": train,
    "sweep": sweep,
    "small_sweep": small_sweep,
    "compile": compile_suite,
    "first_result": first_result,
    "fixed_cost": fixed_cost,
    "scaling": scaling,
    "tune": tune,
    "checkpoint": checkpoint_suite,
    "conv": conv,
    "tabular": tabular,
    "tracking": tracking,
}
DEFAULT_OUT = harness.ROOT / "benchmarks" / "results"
PACKAGES = (
    "jax",
    "jaxlib",
    "numpy",
    "optax",
    "flax",
    "chex",
    "torch",
    "scikit-learn",
    "optuna",
    "pyarrow",
    "pandas",
    "tensorboard",
    "mlflow",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="What jit, fused training loops and vmapped sweeps buy over NumPy and over other frameworks.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a fast first look")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="--quick at each suite's smallest case, one timed sample: every suite and implementation runs once "
        "(what the tests run)",
    )
    parser.add_argument(
        "--suite", default=",".join(SUITES), help=f"comma-separated suites to run (default: all of {','.join(SUITES)})"
    )
    parser.add_argument(
        "--impl",
        help="comma-separated implementations to run (default: every one of the chosen suites), e.g. "
        "jaxnn_hyperband,sklearn_halving",
    )
    parser.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--rounds", type=int, help="fresh processes per measurement (default: 3, quick: 1)")
    parser.add_argument("--repeats", type=int, help="timed samples per process (default: 7, quick: 3)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="worker processes at once (default: 1); more only for smoke runs, as they disturb each other's times",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="threads for every library (default: all cores, %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled job order")
    args = parser.parse_args(argv)
    args.suites = [name.strip().replace("-", "_") for name in args.suite.split(",") if name.strip()]
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown or not args.suites:
        parser.error(f"--suite: unknown suite(s) {unknown or args.suite!r}; choose from {', '.join(SUITES)}")
    if args.impl is not None:
        known = {impl for name in args.suites for impl in SUITES[name].IMPLEMENTATIONS}
        args.impl = {name.strip() for name in args.impl.split(",") if name.strip()}
        unknown = sorted(args.impl - known)
        if unknown or not args.impl:
            parser.error(
                f"--impl: {', '.join(unknown) or 'none given'} is not an implementation of {', '.join(args.suites)}; "
                f"choose from {', '.join(sorted(known))}"
            )
    for name in ("rounds", "repeats", "threads", "jobs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be a positive integer, got {value}")
    return args


def make_settings(args: argparse.Namespace) -> harness.Settings:
    quick = args.quick or args.smoke
    return harness.Settings(
        quick=quick,
        rounds=args.rounds or (1 if quick else 3),
        repeats=args.repeats or (1 if args.smoke else 3 if quick else 7),  # a smoke run's times are not read
        sample_s=0.05 if quick else 0.2,
        num_threads=args.threads,
        quiet_wait_s=0.0 if quick else 2.0,
        smoke=args.smoke,
    )


def environment(num_threads: int) -> dict[str, Any]:
    """Library versions, CPU, thread and BLAS settings, JAX's devices (asked in a fresh process)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    probe = (
        "import json, jax, numpy\n"
        "config = numpy.show_config(mode='dicts')\n"
        "print(json.dumps({'backend': jax.default_backend(), 'devices': [str(d) for d in jax.devices()],\n"
        "  'device_kind': jax.devices()[0].device_kind, 'numpy_blas': config.get('Build Dependencies', {}).get('blas')}))"
    )
    env = {**os.environ, **harness.thread_env(num_threads)}
    try:
        completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
        jax_info = json.loads(completed.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, json.JSONDecodeError, IndexError) as error:
        jax_info = {"error": str(error)}
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "versions": versions,
        "threads": {name: env[name] for name in harness.RECORDED_ENV if name in env},
        **jax_info,
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None, so the JSON is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def write_text(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def summarize(records: list[dict[str, Any]], suites: list[str], settings: harness.Settings) -> dict[str, Any]:
    by_suite = {name: [r for r in records if r["suite"] == name] for name in suites}
    summaries = {}
    if "gemm" in suites:
        summaries["gemm"] = gemm.summarize(by_suite["gemm"], settings)
    for name in suites:
        if name == "gemm":
            continue
        if name in ("step", "conv"):
            peak = summaries.get("gemm", {}).get("peak_gflops", math.nan)
            summaries[name] = SUITES[name].summarize(by_suite[name], settings, peak_gflops=peak)
        else:
            summaries[name] = SUITES[name].summarize(by_suite[name], settings)
    return summaries


def report(summaries: dict[str, Any], meta: dict[str, Any], command: str, failures: list[str]) -> str:
    versions = ", ".join(f"{name} {v}" for name, v in meta["versions"].items() if v)
    lines = [
        f"## Benchmark results ({meta['date'][:10]})",
        "",
        f"`{command}` on {meta['cpu']} ({meta['logical_cores']} logical cores), backend {meta.get('backend')}, "
        f"{meta['threads'].get('OMP_NUM_THREADS')} threads per library; {versions}.",
        "",
    ]
    for name, summary in summaries.items():
        lines.append(SUITES[name].markdown(summary))
    if failures:
        lines += ["### failed measurements", "", *[f"- {line}" for line in failures], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = make_settings(args)
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    meta = environment(settings.num_threads)
    jobs = [job for name in args.suites for job in SUITES[name].jobs(settings)]
    if args.impl:
        jobs = [job for job in jobs if job.impl in args.impl]
    print(f"{len(jobs)} measurements × {settings.rounds} round(s), each in a fresh process", flush=True)
    records = harness.run_rounds(
        jobs,
        rounds=settings.rounds,
        num_threads=settings.num_threads,
        seed=args.seed,
        quiet_wait_s=settings.quiet_wait_s,
        log=lambda line: print(line, flush=True),
        parallel=args.jobs,
    )
    failures = harness.errors(records)
    summaries = summarize(records, args.suites, settings)
    markdown = report(summaries, meta, command.strip(), failures)
    plots = []
    for name, summary in summaries.items():
        plot = getattr(SUITES[name], "plot", None)
        if plot is not None and summary.get("rows"):
            plots += plot(summary, args.out)
    results = {
        "command": command.strip(),
        "meta": meta,
        "settings": settings._asdict(),
        "suites": summaries,
        "records": records,
        "errors": failures,
        "plots": [os.path.basename(p) for p in plots],
        "total_s": time.perf_counter() - started,
    }
    write_text(args.out / "results.json", json.dumps(finite(results), indent=1, ensure_ascii=False))
    write_text(args.out / "results.md", markdown)
    print()
    print(markdown)
    print(
        f"wrote {args.out / 'results.json'}, {args.out / 'results.md'} and {len(plots)} plot(s) "
        f"in {results['total_s']:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
