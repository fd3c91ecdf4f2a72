"""Ray: a sweep's shards as Ray tasks, merged into the whole sweep's result.

``jaxnn.sweep(..., cluster=jaxnn.cluster.Ray())`` splits the configurations into shards
(:mod:`jaxnn.cluster.shards`) and runs each as one Ray task that trains its slice as one
program on one worker (with the worker's GPUs, when the shard's resources ask for them). With
``checkpoint_dir``, each shard saves its progress in ``checkpoint_dir/shard-I-of-N`` (a directory
every worker can reach, on a cluster a shared file system); when a worker dies, Ray runs the
task again (up to ``max_retries`` times) and the shard continues from its last saved state,
so the merged result is the one an uninterrupted sweep gives. The driver shows the shards
and rows done.

Needs the ``ray`` extra (``pip install -e ".[ray]"`` in a checkout).
"""

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from jaxnn import errors
from jaxnn.cluster import shards as sharding

__all__ = ["CONNECT_SECONDS", "Ray", "run_sweep"]

CONNECT_SECONDS = 5.0
"""How long :class:`Ray` waits for a cluster's address to answer before it says it cannot reach it."""


class Ray(NamedTuple):
    """Where and how a sweep's shards run as Ray tasks: ``jaxnn.sweep(..., cluster=jaxnn.cluster.Ray())``.

    Attributes:
        address: ``None`` starts a local Ray (or uses the one this process already started);
            ``"auto"`` joins the cluster this machine belongs to (started with ``ray start``);
            ``"HOST:PORT"`` (a head's GCS address) or ``"ray://HOST:PORT"`` (Ray Client) joins that one.
        shards: how many shards (tasks) to split the configurations into; default: one per GPU
            of the cluster, or per CPU without GPUs (at most one per configuration).
        resources_per_shard: each task's resources, e.g. ``{"CPU": 4, "GPU": 1}`` (Ray's default: 1 CPU).
        max_retries: how many times Ray runs a shard again after its worker died.

    Example:
        >>> import jaxnn
        >>> cluster = jaxnn.cluster.Ray(shards=2, resources_per_shard={"CPU": 1})
        >>> cluster.max_retries
        3
    """

    address: str | None = None
    shards: int | None = None
    resources_per_shard: dict[str, float] | None = None
    max_retries: int = 3


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise errors.MissingExtraError(
            'cluster=jaxnn.cluster.Ray(...) needs Ray: install it with pip install -e ".[ray]" (in a checkout of jaxnn)'
        ) from None
    return ray


def check(cluster: Any, given: dict[str, Any]) -> None:
    """``cluster`` and the sweep's arguments it does not combine with, before Ray starts.

    Raises:
        ArgumentTypeError: not a :class:`Ray`. ConfigError: bad fields; ``shard``, ``sampler`` (or a
            study), ``scheduler`` or ``log`` given as well.
    """
    if not isinstance(cluster, Ray):
        raise errors.ArgumentTypeError(
            f"{errors.arg('cluster')} must be a jaxnn.cluster.Ray, got {type(cluster).__name__}"
        )
    if cluster.shards is not None and (
        isinstance(cluster.shards, bool) or not isinstance(cluster.shards, int) or cluster.shards < 1
    ):
        raise errors.ConfigError(f"{errors.arg('Ray.shards')} (={cluster.shards!r}) must be an int >= 1")
    if isinstance(cluster.max_retries, bool) or not isinstance(cluster.max_retries, int) or cluster.max_retries < 0:
        raise errors.ConfigError(f"Ray.max_retries (={cluster.max_retries!r}) must be an int >= 0")
    if cluster.resources_per_shard is not None and (
        not isinstance(cluster.resources_per_shard, dict)
        or not all(isinstance(v, (int, float)) and v >= 0 for v in cluster.resources_per_shard.values())
    ):
        raise errors.ConfigError(
            f"Ray.resources_per_shard must be a dict of resource name to amount, e.g. "
            f"{{'CPU': 4, 'GPU': 1}}, got {cluster.resources_per_shard!r}"
        )
    if given.get("devices") is not None and not isinstance(given["devices"], (int, str)):
        raise errors.ConfigError(
            f"{errors.arg('devices')} lists this process's devices, but each shard runs on "
            "a Ray worker: give a count or a platform name, or none (each worker uses its own)"
        )
    for name, why in (
        ("shard", "the cluster chooses the shards itself"),
        ("sampler", "share an Optuna study between processes instead (storage=, study_name=)"),
        ("study", "share an Optuna study between processes instead (storage=, study_name=)"),
        ("storage", "start one sweep per process with storage= and study_name= instead"),
        ("scheduler", "a scheduler compares every configuration with all the others; run it whole"),
        ("log", "log the merged result, or each shard's own sweep"),
    ):
        if given.get(name) is not None and not (name == "log" and given[name] == []):
            raise errors.ConfigError(f"{errors.arg('cluster')} cannot be combined with {errors.arg(name)}: {why}")


def run_sweep(cluster: Ray, given: dict[str, Any], num_configs: int) -> Any:
    """The sweep called with ``given`` (its arguments), its shards run as Ray tasks on ``cluster``, merged.

    Raises:
        jaxnn.errors.ClusterError: the cluster cannot be reached, or a shard failed more than
            ``max_retries`` times (its checkpoint, if any, is kept: run the sweep again to continue).
    """
    check(cluster, given)
    ray = _ray()
    call = {name: value for name, value in given.items() if name not in ("defaults", "cluster")}
    call |= given.get("defaults") or {}
    call["progress"] = False
    checkpoint_dir = None if call.get("checkpoint_dir") is None else os.path.abspath(os.fspath(call["checkpoint_dir"]))
    with _connected(ray, cluster.address):
        count = min(num_configs, cluster.shards or _default_shards(ray))
        options = _task_options(cluster)
        task = ray.remote(_train_shard).options(**options)
        shared = ray.put(call)
        pending = {task.remote(shared, index, count, checkpoint_dir): index for index in range(count)}
        done: dict[int, bytes] = {}
        with _progress(given.get("progress", True), num_configs * _num_seeds(call), count) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                index = pending.pop(ready[0])
                done[index] = _result(ray, ready[0], index, count, checkpoint_dir, cluster.max_retries)
                result = sharding.from_bytes(done[index], model=call["model"])
                bar.set_postfix_str(f"shards {len(done)}/{count}")
                bar.update(len(result))
    results = [sharding.from_bytes(done[index], model=call["model"]) for index in range(count)]
    return sharding.merge(results)


def _num_seeds(call: dict[str, Any]) -> int:
    space, seeds = call["space"], call.get("seeds", 1)
    if "seed" in space:
        return len(space["seed"])
    return seeds if isinstance(seeds, int) else len(seeds)


@contextlib.contextmanager
def _progress(enabled: bool, total: int, count: int) -> Iterator[Any]:
    from tqdm.auto import tqdm

    with tqdm(total=total, disable=not enabled, unit="row", leave=False) as bar:
        bar.set_postfix_str(f"shards 0/{count}")
        yield bar


def _train_shard(call: dict[str, Any], index: int, count: int, checkpoint_dir: str | None) -> bytes:
    """One shard, in a Ray worker: its result as the bytes of its shard file (the driver rebuilds it)."""
    import jaxnn

    call = dict(call, shard=(index, count))
    if checkpoint_dir is not None:
        call["checkpoint_dir"] = os.path.join(checkpoint_dir, f"shard-{index}-of-{count}")
        # Ray runs a shard's next attempt only once the last one's worker is dead: a lock found here is that
        # worker's, on whichever host it ran (the lock's own check can tell only for processes of this host).
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(call["checkpoint_dir"], "lock"))
    result = jaxnn.sweep(**call)
    return sharding.to_bytes(result)


def _task_options(cluster: Ray) -> dict[str, Any]:
    options: dict[str, Any] = {"max_retries": cluster.max_retries, "retry_exceptions": False}
    resources = dict(cluster.resources_per_shard or {})
    if "CPU" in resources:
        options["num_cpus"] = resources.pop("CPU")
    if "GPU" in resources:
        options["num_gpus"] = resources.pop("GPU")
    if resources:
        options["resources"] = resources
    return options


def _default_shards(ray: Any) -> int:
    resources = ray.cluster_resources()
    return max(1, int(resources.get("GPU", 0) or resources.get("CPU", 1)))


def _result(ray: Any, ref: Any, index: int, count: int, checkpoint_dir: str | None, retries: int) -> bytes:
    """A finished task's bytes; its error as the library's error (a JaxnnError as itself)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:  # the shard's own exception, raised in the worker
        cause = getattr(error, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise errors.ClusterError(f"shard {index}/{count} failed: {error}") from None
    except ray.exceptions.RayError as error:
        kept = f"; its progress is saved in {checkpoint_dir}: run the sweep again to continue" if checkpoint_dir else ""
        first = " ".join(str(error).split())[:300]
        raise errors.ClusterError(
            f"shard {index}/{count} failed {retries + 1} time{'s' if retries else ''} "
            f"(Ray: {type(error).__name__}: {first}){kept}"
        ) from None


@contextlib.contextmanager
def _connected(ray: Any, address: str | None) -> Iterator[None]:
    """Ray, started locally (``address=None``) or joined at ``address``; shut down on the way out if started here."""
    if address is not None and address != "auto":
        _check_reachable(address)
    if ray.is_initialized():  # this process's own Ray (e.g. ray.init() before the sweep): used as it is
        yield
        return
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
            ignore_reinit_error=True,
            configure_logging=True,
            runtime_env={"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}},
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = "a local Ray" if address is None else f"the Ray cluster at {address!r}"
        raise errors.ClusterError(f"cannot start or reach {where}: {' '.join(str(error).split())[:300]}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Refuse within :data:`CONNECT_SECONDS` an address where nothing answers (Ray itself waits a minute)."""
    host_port = address.removeprefix("ray://")
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise errors.ConfigError(f"Ray.address {address!r} is not 'auto', 'HOST:PORT' or 'ray://HOST:PORT'")
    started = time.monotonic()
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS):
            pass
    except OSError as error:
        raise errors.ClusterError(
            f"cannot reach the Ray cluster at {address!r}: {error.strerror or error} (after "
            f"{time.monotonic() - started:.1f} s); start it with `ray start --head`, or check the address and port"
        ) from None
