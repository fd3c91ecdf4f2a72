"""Devices: split a CPU into several JAX devices and shard sweeps across devices.

On a CPU, XLA runs a vmapped model's batched matmuls on one thread, so a sweep
on one CPU device keeps one core busy. Exposing every core as its own JAX
device and sharding the configuration axis across them uses them all.
``use_cpu_devices()`` must run before JAX initializes its backend (before the
first array is created); the CLI does it first thing. The same effect from the
shell: ``XLA_FLAGS=--xla_force_host_platform_device_count=N``.
"""

import os
from collections.abc import Sequence
from typing import Any, cast

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnn import errors

__all__ = [
    "CONFIG_AXIS",
    "DATA_AXIS",
    "config_mesh",
    "data_mesh",
    "initialize_distributed",
    "resolve_devices",
    "shard_leading_axis",
    "to_host",
    "use_cpu_devices",
]

CONFIG_AXIS = "configs"
DATA_AXIS = "data"


def use_cpu_devices(count: int | None = None) -> int:
    """Expose ``count`` CPU devices (default: one per core) to JAX.

    Call it right after ``import jax`` / ``import jaxnn``, before any JAX
    computation. It has no effect on GPU or TPU backends.

    Returns:
        The number of CPU devices requested.

    Raises:
        RuntimeError: JAX has already initialized its backend; set
            ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` in the
            environment instead, or call this earlier.
    """
    if count is None:
        count = os.cpu_count() or 1
    if count < 1:
        raise errors.ConfigError(f"`count` (={count}) must be >= 1")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as error:
        raise errors.SetupError(
            "use_cpu_devices() must run before JAX creates its first array; call it right after importing "
            f"jaxnn, or set XLA_FLAGS=--xla_force_host_platform_device_count={count} before starting Python"
        ) from error
    return count


def initialize_distributed(coordinator: str, num_processes: int, process_id: int) -> None:
    """Join a multi-process JAX job (``jax.distributed.initialize``) before JAX starts.

    On CPU, cross-process collectives use JAX's default, Gloo (``jax_cpu_collectives_implementation``
    is left as the user set it, e.g. to "mpi"). Afterwards ``jax.devices()`` lists the devices of
    every process and sweeps shard across all of them.
    """
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise errors.ConfigError(f"`process_id` (={process_id}) must be in [0, num_processes={num_processes})")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


def resolve_devices(devices: Sequence[Any] | int | str | None, *, global_devices: bool = False) -> list[Any]:
    """Turn ``devices`` (None = all devices, an int = the first n, "first" = one, or a list) into a list.

    ``global_devices`` counts the devices of every process (after
    ``jax.distributed.initialize()``), otherwise only this process's.
    """
    available = jax.devices() if global_devices else jax.local_devices()
    if devices is None or devices == "all":
        return list(available)
    if devices == "first":
        return available[:1]
    if isinstance(devices, int) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise errors.ConfigError(f"`devices` (={devices}) must be between 1 and the {len(available)} local devices")
        return list(available[:devices])
    devices = list(cast(Sequence[Any], devices))  # what is left: a sequence (anything else fails in list())
    if not devices:
        raise errors.ConfigError("`devices` is an empty list")
    return devices


def config_mesh(devices: Sequence[Any]) -> Mesh:
    """A one-dimensional mesh whose axis ``"configs"`` spans ``devices``."""
    return Mesh(np.asarray(devices), (CONFIG_AXIS,))


def data_mesh(devices: Sequence[Any]) -> Mesh:
    """A one-dimensional mesh whose axis ``"data"`` splits each minibatch across ``devices``."""
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def shard_leading_axis(tree: Any, mesh: Mesh, *, axis: int = 0) -> Any:
    """Place every leaf of ``tree`` on ``mesh``, split along ``axis`` (which must divide evenly)."""
    spec = PartitionSpec(*([None] * axis), CONFIG_AXIS)
    return jax.device_put(tree, NamedSharding(mesh, spec))


def to_host(tree: Any) -> Any:
    """Every leaf as a NumPy array, gathering from other processes when a leaf spans several hosts."""
    from jax.experimental import multihost_utils

    def fetch(leaf: Any) -> np.ndarray:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            if leaf.is_fully_replicated:
                return np.asarray(leaf.addressable_data(0))
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(leaf)

    return jax.tree.map(fetch, tree)
