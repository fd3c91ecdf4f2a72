"""One measurement in a fresh process: ``python -m benchmarks._worker SUITE IMPL PARAMS_JSON RESULT_PATH``.

The parent (:func:`benchmarks.harness.run_worker`) starts it with the thread
settings pinned in the environment. It imports only the suite module, which
imports its libraries inside the implementation that needs them, so a NumPy
worker never loads JAX and a JAX worker never loads torch.
"""

import importlib
import json
import os
import sys
import time


def main(argv: list[str]) -> None:
    suite_name, impl, params_json, result_path = argv
    started = time.perf_counter()
    suite = importlib.import_module(f"benchmarks.{suite_name}")
    params = json.loads(params_json)
    result = suite.IMPLEMENTATIONS[impl](params)
    from benchmarks import harness

    result.setdefault("extra", {})
    result["peak_rss_bytes"] = harness.peak_rss_bytes()
    result["worker_s"] = time.perf_counter() - started
    result["libraries_loaded"] = sorted(name for name in ("numpy", "jax", "torch", "flax") if name in sys.modules)
    tmp = result_path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(result, handle)
    os.replace(tmp, result_path)


if __name__ == "__main__":
    main(sys.argv[1:])
