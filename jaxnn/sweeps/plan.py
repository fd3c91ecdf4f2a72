"""Planning a sweep: how many rows go into one compiled call, and how many calls an epoch range takes.

Pure functions of sizes (and of the device's free memory, read once): no
training happens here, so every rule can be tested on its own.
"""

import math
import os
from typing import Any, NamedTuple

import numpy as np

from jaxnn import errors
from jaxnn.models import Model, footprint

__all__ = ["CPU_ROW_BYTES_PER_DEVICE", "Plan", "available_bytes", "bytes_per_row", "plan"]

CPU_ROW_BYTES_PER_DEVICE = 32 * 2**20
"""On a CPU, the default chunk holds rows worth about this much (by :func:`bytes_per_row`) per device.

A vmapped step streams every row's parameters, gradients and optimizer state; while
they stay in the caches a row costs far less. Measured on 2 cores, the
[64, 128, 128, 10] digits workload (1.3 MiB per row): 15–16 ms per row in chunks of
8–32 rows per device, 22 ms in one chunk of 64 and 25 ms in one of 256.
"""


class Plan(NamedTuple):
    """How a group of configurations is trained.

    Attributes:
        chunk: configurations per compiled call (a multiple of the device count; the
            last chunk repeats a configuration to fill up).
        epochs_per_call: epochs each call of the run program advances.
        num_calls: calls that cover the whole run.
    """

    chunk: int
    epochs_per_call: int
    num_calls: int


def bytes_per_row(model: Model, data: Any, batch_size: int | None) -> int:
    """A rough upper estimate of the device memory one (configuration, seed) row needs."""
    input_shape = tuple(np.shape(data.x_train)[1:])
    num_params, num_outputs, traced_width, _ = footprint(model, input_shape)
    batch = int(np.shape(data.x_train)[0]) if batch_size is None else batch_size
    num_features = math.prod(input_shape)
    widths = num_features + num_outputs + num_params // max(1, num_features)
    if len(input_shape) > 1:  # feature maps of images and sequences outgrow the parameters: count them
        widths = max(widths, traced_width)
    activations = 4 * batch * widths
    evaluation = int(np.shape(data.x_val)[0] + np.shape(data.x_test)[0]) * max(1, widths // 4)
    # params, best params, gradients, updates and up to 2 optimizer moments, plus activations.
    return 4 * (6 * num_params + activations + evaluation)


def available_bytes(device: Any) -> int:
    """Free memory of ``device``, or of the host for backends that do not report it."""
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def plan(
    *,
    num_configs: int,
    num_seeds: int,
    row_bytes: int,
    devices: list[Any],
    max_parallel: int | None,
    num_epochs: int,
    num_chunks: int,
) -> Plan:
    """Equal chunks of configurations that fit in half the free memory (and, on CPUs, in the caches).

    Raises:
        ValueError: ``max_parallel`` rows need more memory than is available.
    """
    budget = available_bytes(devices[0]) * len(devices) // 2
    if max_parallel is not None and max_parallel * row_bytes > budget:
        raise errors.ConfigError(
            f"max_parallel={max_parallel} rows need about {max_parallel * row_bytes / 2**30:.1f} GiB but about "
            f"{budget / 2**30:.1f} GiB is available; lower max_parallel"
        )
    num_devices = len(devices)
    limit = max_parallel if max_parallel is not None else max(1, budget // row_bytes)
    if max_parallel is None and devices[0].platform == "cpu":
        limit = min(limit, num_devices * max(1, CPU_ROW_BYTES_PER_DEVICE // row_bytes))
    most = max(num_devices, min(num_configs, limit // num_seeds) // num_devices * num_devices)
    # Equal chunks, each a multiple of the device count: the last one pads as little as it can.
    chunk = math.ceil(num_configs / math.ceil(num_configs / most) / num_devices) * num_devices
    epochs_per_call = math.ceil(num_epochs / min(num_chunks, num_epochs))
    return Plan(chunk, epochs_per_call, math.ceil(num_epochs / epochs_per_call))
