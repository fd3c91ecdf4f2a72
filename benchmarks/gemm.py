"""gemm: the machine's float32 matmul throughput, the ceiling that "% of peak" refers to.

``C = A @ B`` for square ``n × n`` float32 matrices, ``2 n³`` FLOPs, with NumPy
(its BLAS, writing into a preallocated ``C``), with XLA (``jax.jit(jnp.matmul)``) and,
when it is importable, with PyTorch (``torch.mm`` into a preallocated ``C``: its own BLAS,
e.g. MKL on Intel CPUs). The peak is the best of them at the largest size.
"""

import math
from typing import Any

from benchmarks import harness

NAME = "gemm"
LABELS = {"numpy": "NumPy", "xla": "XLA (jax.jit)", "torch": "PyTorch (torch.mm)"}


def _matrices(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


def run_numpy(params: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    a, b = _matrices(params["n"])
    c = np.empty_like(a)

    def fn():
        return np.matmul(a, b, out=c)

    fn()
    number = harness.calls_for(fn, params["sample_s"])
    return {"samples": harness.measure(fn, repeats=params["repeats"], number=number)}


def run_xla(params: dict[str, Any]) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    a, b = (jax.device_put(m) for m in _matrices(params["n"]))
    matmul = jax.jit(jnp.matmul)
    first = harness.wall_timed(lambda: matmul(a, b).block_until_ready())

    def fn():
        return matmul(a, b).block_until_ready()

    fn()
    number = harness.calls_for(fn, params["sample_s"])
    samples = harness.measure(fn, repeats=params["repeats"], number=number)
    return {"samples": samples, "extra": {"first_call_s": first["wall_s"], "backend": jax.default_backend()}}


def run_torch(params: dict[str, Any]) -> dict[str, Any]:
    torch, missing = harness.import_torch(params["num_threads"])
    if torch is None:
        return {"skipped": missing}
    a, b = (torch.from_numpy(m) for m in _matrices(params["n"]))
    c = torch.empty_like(a)

    def fn():
        return torch.mm(a, b, out=c)

    fn()
    number = harness.calls_for(fn, params["sample_s"])
    return {
        "samples": harness.measure(fn, repeats=params["repeats"], number=number),
        "extra": {"torch": torch.__version__},
    }


IMPLEMENTATIONS = {"numpy": run_numpy, "xla": run_xla, "torch": run_torch}


def sizes(settings: harness.Settings) -> list[int]:
    return [512] if settings.smoke else [512, 1024] if settings.quick else [1024, 2048, 4096]


def jobs(settings: harness.Settings) -> list[harness.Job]:
    return [
        harness.Job(
            NAME, impl, f"n{n}", settings.timing(n=n, sample_s=settings.sample_s * (1 if settings.quick else 2))
        )
        for impl in IMPLEMENTATIONS
        for n in sizes(settings)
    ]


def summarize(records: list[dict[str, Any]], settings: harness.Settings) -> dict[str, Any]:
    grouped = harness.group(records)
    rows = []
    for n in sizes(settings):
        flops = 2 * n**3
        for impl in IMPLEMENTATIONS:
            runs = [r for r in grouped.get((impl, f"n{n}"), []) if "samples" in r]
            if not runs and impl == "torch":  # not installed: no row
                continue
            stats = harness.pool([r["samples"] for r in runs])
            rows.append(
                {
                    "n": n,
                    "impl": impl,
                    "flops": flops,
                    **stats,
                    "gflops": flops / stats["median"] / 1e9 if runs else math.nan,
                }
            )
    largest = max(sizes(settings))
    at_largest = [row for row in rows if row["n"] == largest and not math.isnan(row["gflops"])]
    best = max(at_largest, key=lambda row: row["gflops"], default=None)
    return {
        "rows": rows,
        "peak_gflops": best["gflops"] if best else math.nan,
        "peak_from": {"impl": best["impl"], "n": largest} if best else None,
    }


def markdown(summary: dict[str, Any]) -> str:
    rows = []
    for row in summary["rows"]:
        rows.append(
            [
                row["n"],
                LABELS[row["impl"]],
                harness.format_seconds(row["median"]),
                harness.format_seconds(row["iqr"]),
                harness.format_number(row["gflops"], ".0f"),
                f"{row['num_kept']}/{row['num_samples']}" + (" (forced)" if row["forced"] else ""),
            ]
        )
    table = harness.markdown_table(["n", "implementation", "median", "IQR", "GFLOP/s", "samples kept"], rows)
    peak = summary["peak_from"]
    note = (
        f"Peak (best at n = {peak['n']}, {LABELS[peak['impl']]}): **{summary['peak_gflops']:.0f} GFLOP/s** float32."
        if peak
        else "Peak: not measured."
    )
    return f"### gemm: float32 `A @ B`, n × n\n\n{table}\n\n{note}\n"
