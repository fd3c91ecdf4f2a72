"""Shards of a sweep and their merge: the configurations split into ``n`` slices trained anywhere, joined after.

``jaxnn.sweep(..., shard=(i, n))`` trains the ``i``-th of ``n`` contiguous slices of the
sweep's configurations (shard ``i`` holds configurations ``floor(i*K/n)`` to
``floor((i+1)*K/n) - 1`` of ``K``): the same rows, seeds, initial weights and minibatches they
have in the whole sweep, because a row's randomness depends on its seed alone. The slices
depend on the sweep's arguments only, never on the machine, so the tasks of a job array
may land anywhere. Each shard's result carries a :class:`ShardInfo` (a fingerprint of the
sweep's arguments among it); :func:`save_shard` writes it with every row's parameters, and
:func:`merge` joins the shards into the whole sweep's result, refusing shards of other
sweeps, repeated shards and missing ones.

The merged rows are bitwise the whole sweep's when its rows ran in chunks of the same
width as the shards' (a chunk's first layer is one matmul as wide as the chunk, and XLA
rounds a wider matmul differently, within about 1e-6): pass the same ``max_parallel``
to the whole sweep and to the shards, a divisor of each shard's configurations times
seeds. Otherwise the numbers agree to that rounding.
"""

import json
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxnn import errors, resume
from jaxnn._io import atomic_write
from jaxnn.errors import CheckpointError
from jaxnn.models import Model, model_from_config
from jaxnn.sweeps import architecture
from jaxnn.sweeps.result import SweepResult, as_column

__all__ = [
    "FILE",
    "ShardInfo",
    "check_shard",
    "fingerprint",
    "load_shard",
    "merge",
    "parse_shard",
    "save_shard",
    "shard_ids",
]

FILE = "shard.msgpack"
"""The file a shard's output directory holds (:func:`save_shard`)."""
_FORMAT = "jaxnn-sweep-shard"
_VERSION = 2  # 2: a model per shape (space['sizes']); 1 (one model) is still read


class ShardInfo(NamedTuple):
    """Which part of which sweep a result is (``result.shard``).

    Attributes:
        index, count: shard ``index`` of ``count`` (0-based).
        fingerprint: a digest of the sweep's arguments (model, data, space, key, seeds, settings, jaxnn's
            version): shards merge only with shards of the same fingerprint.
        arguments: the sweep's arguments as short strings (what the fingerprint digests), to name a difference.
        num_configs: the configurations of the whole sweep.
        config_ids: the configurations this shard trained.
        seeds: the seeds every configuration trains with.
        group_rank: per configuration of the whole sweep, the rank of its group (program setting and
            shape) in the order the whole sweep trains and concatenates its groups.
    """

    index: int  # type: ignore[assignment]  # the field shadows tuple.index (a public name: kept)
    count: int  # type: ignore[assignment]  # the field shadows tuple.count (a public name: kept)
    fingerprint: str
    arguments: dict[str, str]
    num_configs: int
    config_ids: list[int]
    seeds: list[int]
    group_rank: list[int]


def check_shard(shard: Any) -> tuple[int, int]:
    """``shard`` as ``(index, count)``, checked: two ints with ``count >= 1`` and ``0 <= index < count``.

    Raises:
        ArgumentTypeError: not a pair of ints. IndexOutOfRange: the index outside ``0..count-1``.
        ConfigError: a count below 1.
    """
    if (
        not isinstance(shard, (tuple, list))
        or len(shard) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shard)
    ):
        raise errors.ArgumentTypeError(f"{errors.arg('shard')} must be a pair (index, count) of ints, got {shard!r}")
    index, count = int(shard[0]), int(shard[1])
    if count < 1:
        raise errors.ConfigError(f"{errors.arg('shard')} {_spell(index, count)}: the count of shards must be >= 1")
    if not 0 <= index < count:
        raise errors.IndexOutOfRange(
            f"{errors.arg('shard')} {_spell(index, count)}: the shard index must be in "
            f"0..{count - 1} (shards are numbered from 0)"
        )
    return index, count


def _spell(index: int, count: int) -> str:
    return f"{index}/{count}" if errors.has_word("shard") else f"(={(index, count)})"


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/8"`` as ``(3, 8)``, checked (:func:`check_shard`)."""
    parts = str(text).split("/")
    try:
        index, count = (int(part) for part in parts)
    except ValueError:
        raise errors.ConfigError(
            f"{errors.arg('shard')} {text!r}: expected INDEX/COUNT, e.g. 3/8 "
            "(0-based: a Slurm array 0-7 passes $SLURM_ARRAY_TASK_ID/8)"
        ) from None
    return check_shard((index, count))


def shard_ids(num_configs: int, index: int, count: int) -> list[int]:
    """The configurations of shard ``index`` of ``count``: a contiguous slice, sizes differing by at most one.

    Raises:
        ConfigError: more shards than configurations (a shard would be empty).
    """
    if count > num_configs:
        raise errors.ConfigError(
            f"{errors.arg('shard')} asks for {count} shards of a sweep of {num_configs} "
            f"configuration{'s' if num_configs != 1 else ''}: use at most {num_configs} shards"
        )
    return list(range(index * num_configs // count, (index + 1) * num_configs // count))


def fingerprint(arguments: dict[str, str]) -> str:
    """The digest of a sweep's arguments that its shards share (the device count and the shard left out)."""
    from jaxnn.track import describe

    return describe.fingerprint("sweep-shards", _shared(arguments))


def _shared(arguments: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in arguments.items() if name not in ("devices", "shard")}


# ---------------------------------------------------------------------------------------------------------
# Files


def save_shard(result: SweepResult, path: str | os.PathLike) -> str:
    """Write a shard's result, every row's parameters included, to ``path`` (a directory gets ``shard.msgpack``).

    Returns:
        The file written (atomically: a temporary file renamed into place).

    Raises:
        ConfigError: ``result`` is not a shard (it was not trained with ``shard=``).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, FILE)
    atomic_write(path, to_bytes(result))
    return path


def to_bytes(result: SweepResult) -> bytes:
    """A shard's result as the bytes of its file (see :func:`save_shard`)."""
    info = _info_of(result, "save_shard")
    models, stacks, rows_of = result.param_stacks()
    table: dict[str, dict[str, Any]] = {}
    for name, column in result.table.items():
        column = np.asarray(column)
        if column.dtype.kind in "biuf":
            table[name] = {"array": column}
        else:
            table[name] = {"json": json.dumps([_plain(v) for v in column.tolist()]), "object": column.dtype == object}
    fields = {
        "shard": json.dumps(info._asdict()),
        "models": json.dumps([model.config for model in models]),
        "result": json.dumps(
            {
                "metric": result.metric,
                "higher_is_better": result.higher_is_better,
                "hyperparameters": result.hyperparameters,
                "log_scaled": sorted(result.log_scaled),
                "ranked_by": list(result.ranked_by),
                "settings": {k: _plain(v) for k, v in result.settings.items()},
                "columns": list(result.table),
            }
        ),
        "table": table,
        "curves": {name: np.asarray(curve) for name, curve in result.curves.items()},
        "params": {str(i): resume.leaves_of(stack) for i, stack in enumerate(stacks)},
        "rows_of": rows_of,
    }
    return resume.pack(_FORMAT, _VERSION, fields)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def load_shard(path: str | os.PathLike, *, model: Model | Sequence[Model] | None = None) -> SweepResult:
    """A shard's result from :func:`save_shard`'s file (or a directory holding one).

    Args:
        model: the sweep's model; needed only for models jaxnn cannot rebuild from their config (Flax,
            Equinox): the file's parameters are checked against it. A sweep of ``sizes`` holds a model per
            shape, rebuilt from their configs (a list of models may be given instead).

    Raises:
        CheckpointError: no such file, not a shard file, damaged, or parameters that do not fit ``model``.
    """
    path = given = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, FILE)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        if path == given:  # neither a file nor a directory
            raise errors.CheckpointNotFoundError(f"no shard at {given}: no such file or directory") from None
        raise errors.CheckpointNotFoundError(
            f"no shard in {given}: {path} does not exist (was it written by a sweep with a shard?)"
        ) from None
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {(error.strerror or str(error)).lower()}") from None
    return from_bytes(raw, path=path, model=model)


def from_bytes(raw: bytes, *, path: str = "<shard>", model: Model | Sequence[Model] | None = None) -> SweepResult:
    """The result :func:`to_bytes` wrote. ``model``: the sweep's model, or models (see :func:`load_shard`)."""
    version, fields = resume.unpack(path, raw, file_format=_FORMAT, versions=(1, _VERSION), what="jaxnn sweep shard")
    try:
        info = ShardInfo(**json.loads(fields["shard"]))
        configs = json.loads(fields["models"]) if version >= 2 else [json.loads(fields["model"])]
        described = json.loads(fields["result"])
        table = {}
        for name in described["columns"]:
            stored = fields["table"][name]
            if "array" in stored:
                table[name] = np.asarray(stored["array"])
            elif stored["object"]:  # one Python value per row: a tuple of sizes stays one value (JSON made it a list)
                table[name] = as_column([tuple(v) if isinstance(v, list) else v for v in json.loads(stored["json"])])
            else:
                table[name] = np.asarray(json.loads(stored["json"]))
        curves = dict(fields["curves"])
        saved = [fields["params"][str(i)] for i in range(len(configs))] if version >= 2 else [fields["params"]]
        rows_of = np.asarray(fields["rows_of"], np.int64) if version >= 2 else None
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} is damaged: missing or unreadable field {error}") from None
    models = [_model_of(path, config, model) for config in configs]
    if rows_of is None:
        rows_of = np.stack([np.zeros(len(table["status"]), np.int64), np.arange(len(table["status"]))], 1)
    stacks = []
    for each, leaves in zip(models, saved, strict=True):
        count = int(np.shape(leaves.get("0", ()))[0]) if isinstance(leaves, dict) and leaves else 0
        like = jax.tree.map(
            lambda leaf, count=count: jax.ShapeDtypeStruct((count, *leaf.shape), leaf.dtype),
            jax.eval_shape(each.init, jax.random.key(0)),
        )
        stacks.append(resume.restore_leaves(path, like, leaves))
    result = SweepResult(
        table=table,
        curves=curves,
        params=stacks,
        model=models,
        rows_of=rows_of,
        metric=described["metric"],
        higher_is_better=described["higher_is_better"],
        hyperparameters=described["hyperparameters"],
        log_scaled=set(described["log_scaled"]),
        ranked_by=described["ranked_by"],
        settings=described["settings"],
    )
    result.shard = info
    return result


def _model_of(path: str, config: dict[str, Any], given: Model | Sequence[Model] | None) -> Model:
    """The model of ``config``: one of ``given`` with that config, else rebuilt from it. One model given whose
    config differs is refused (the shard is another model's), unless it is that model with other hidden sizes
    (a shape of a sweep of ``sizes``)."""
    candidates = [] if given is None else [given] if isinstance(given, Model) else list(given)
    for model in candidates:
        if model.config == config:
            return model
    try:
        rebuilt = model_from_config(config)
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(
            f"{path} holds a model that jaxnn cannot rebuild from its config ({error}): pass model= (the sweep's model)"
        ) from None
    if isinstance(given, Model) and not _resized(given, rebuilt):
        raise CheckpointError(f"{path} holds a sweep of another model ({config}) than the one given ({given.config})")
    return rebuilt


def _resized(model: Model, shape: Model) -> bool:
    """Whether ``shape`` is ``model`` with other hidden sizes (:func:`jaxnn.sweeps.architecture.with_sizes`)."""
    sizes = architecture.hidden_sizes(shape)
    try:
        return sizes is not None and architecture.with_sizes(model, sizes).config == shape.config
    except errors.ConfigError:  # not a model whose hidden sizes a sweep varies
        return False


def _info_of(result: Any, what: str) -> ShardInfo:
    info = getattr(result, "shard", None)
    if not isinstance(result, SweepResult) or info is None:
        raise errors.ConfigError(
            f"{what} needs the result of a sweep with {errors.arg('shard')}, got "
            f"{'a whole sweep' if isinstance(result, SweepResult) else type(result).__name__}"
        )
    return info


def _shard(result: SweepResult) -> ShardInfo:
    """The shard a checked or loaded result carries (:func:`_info_of` and :func:`load_shard` make sure of it)."""
    assert result.shard is not None, "merge takes checked shards only"
    return result.shard


# ---------------------------------------------------------------------------------------------------------
# Merge


def merge(shards: Sequence[SweepResult | str | os.PathLike], *, model: Model | None = None) -> SweepResult:
    """Join the shards of one sweep into the result the whole sweep gives: same table, ranking and params.

    Args:
        shards: each a shard's :class:`SweepResult` (``sweep(..., shard=(i, n))``) or a directory or
            file written by :func:`save_shard` (``jaxnn sweep --shard I/N --out DIR`` writes one).
        model: the sweep's model, for shard files of models jaxnn cannot rebuild (see :func:`load_shard`).

    Returns:
        A :class:`SweepResult` of every row, ranked as the whole sweep ranks them (ties too).

    Raises:
        ConfigError: no shards, a result that is not a shard, shards of different sweeps (the message
            names an argument that differs), a shard given twice, or a missing shard (named).
        CheckpointError: a shard file that cannot be read.
    """
    if isinstance(shards, (str, os.PathLike, SweepResult)) or not len(shards):
        raise errors.ConfigError(f"merge needs a list of shards (results or directories), got {shards!r}")
    results, names = [], []
    for item in shards:
        if isinstance(item, SweepResult):
            _info_of(item, "merge")
            results.append(item)
            names.append(f"shard {_shard(item).index}/{_shard(item).count}")
        else:
            known = [m for r in results for m in r.models]  # models of shards given as results, if jaxnn cannot rebuild
            results.append(load_shard(item, model=model if model is not None else (known or None)))
            names.append(os.fspath(item))
    first = _shard(results[0])
    for result, name in zip(results, names, strict=False):
        info = _shard(result)
        if info.fingerprint != first.fingerprint:
            raise errors.ConfigError(
                f"{name} is a shard of another sweep than {names[0]}: {_difference(first.arguments, info.arguments)}"
            )
        if info.count != first.count:
            raise errors.ConfigError(f"{name} is one of {info.count} shards but {names[0]} one of {first.count}")
    seen: dict[int, str] = {}
    for result, name in zip(results, names, strict=False):
        if _shard(result).index in seen:
            raise errors.ConfigError(
                f"shard {_shard(result).index}/{first.count} is given twice: {seen[_shard(result).index]} and {name}"
            )
        seen[_shard(result).index] = name
    missing = sorted(set(range(first.count)) - set(seen))
    if missing:
        listed = ", ".join(f"{i}/{first.count}" for i in missing)
        raise errors.ConfigError(
            f"missing shard{'s' if len(missing) > 1 else ''} {listed} of {first.count}: "
            f"got {len(seen)} ({', '.join(names)})"
        )
    results = sorted(results, key=lambda r: _shard(r).index)
    joined = results[0] if len(results) == 1 else SweepResult.concat(results)
    merged = _in_sweep_order(joined, first)
    merged.shard = None
    return merged


def _difference(first: dict[str, str], other: dict[str, str]) -> str:
    """The first argument that differs between two sweeps, in words."""
    first, other = _shared(first), _shared(other)
    for name in sorted(set(first) | set(other)):
        if first.get(name) != other.get(name):
            shown = lambda text: "(none)" if text is None else (text if len(text) <= 60 else text[:57] + "...")  # noqa: E731
            return f"their {name} differs ({shown(first.get(name))} and {shown(other.get(name))})"
    return "they were written by different versions of jaxnn"


def _in_sweep_order(result: SweepResult, info: ShardInfo) -> SweepResult:
    """``result``'s rows ranked from the order the whole sweep ranks from (groups, configurations, seeds), so
    ties fall as they fall there."""
    table = result.table
    seed_position = {seed: i for i, seed in enumerate(info.seeds)}
    config = np.asarray(table["config"], np.int64)
    order = np.lexsort(
        (np.asarray([seed_position[int(s)] for s in table["seed"]]), config, np.asarray(info.group_rank)[config])
    )
    models, stacks, rows_of = result.param_stacks()
    merged = SweepResult(
        table={name: np.asarray(column)[order] for name, column in table.items()},
        curves={name: curve[order] for name, curve in result.curves.items()},
        params=stacks,
        model=models,
        rows_of=rows_of[order],
        metric=result.metric,
        higher_is_better=result.higher_is_better,
        hyperparameters=result.hyperparameters,
        log_scaled=result.log_scaled,
        ranked_by=result.ranked_by,
        settings=result.settings,
    )
    return merged
