"""A run described for its log: fingerprint, shared settings, hyperparameter domains (pure functions)."""

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn.sweeps.space import choice, loguniform, python_value, uniform

__all__ = ["domains", "fingerprint", "loggable", "settings"]


def fingerprint(kind: str, arguments: dict[str, str]) -> str:
    """A digest of a run's kind, its arguments (:mod:`jaxnn.resume`'s description of them) and jaxnn's version."""
    from jaxnn import __version__

    text = json.dumps({"kind": kind, "jaxnn": __version__, **arguments}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def loggable(value: Any) -> Any:
    """``value`` as a log shows it: a float32 to the 7 digits it holds (``0.1``, not ``0.10000000149``), other
    numbers and strings as they are, anything else as its ``repr``."""
    if isinstance(value, np.floating) and value.dtype == np.float32:
        return float(f"{float(value):.7g}")
    value = python_value(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str)) for v in value):
        return ", ".join(str(v) for v in value)
    return repr(value)


def settings(spec: Any, data: Any, **extra: Any) -> dict[str, Any]:
    """What every row of a run shares: the model, the data, the training settings and ``extra``."""
    from jaxnn import resume

    metric, _, _ = spec.metric_for(data.task)
    out = {
        "model": resume.model_description(spec.model),
        "data": f"{data.name} ({data.task}: {data.num_train} train, {data.num_val} validation, {data.num_test} test)",
        "optimizer": spec.optimizer,
        "num_epochs": spec.num_epochs,
        "batch_size": "full" if spec.batch_size is None else spec.batch_size,
        "loss": resume.describe(spec.loss) if spec.loss is not None and not isinstance(spec.loss, str) else spec.loss,
        "metric": metric,
        "schedule": spec.schedule,
        "warmup_steps": spec.warmup_steps,
        "nesterov": spec.nesterov,
        "early_stopping": spec.early_stopping,
        "class_weight": getattr(spec, "class_weight", None),
        "sample_weight": "per row" if getattr(data, "w_train", None) is not None else None,
    }
    out |= extra
    return {name: loggable(value) for name, value in out.items() if value is not None}


def domains(
    space: dict[str, Any], names: Sequence[str], *, seeds: Sequence[int] = (), changing: Sequence[str] = ()
) -> dict[str, Any]:
    """The values each hyperparameter of ``names`` takes, by the space: a list's values, a distribution's
    ``(low, high)`` or choices; None for ``changing`` ones (PBT moves them) and names not in ``space``."""
    out: dict[str, Any] = {}
    for name in names:
        given = space.get(name)
        if name in changing or given is None:
            out[name] = None
        elif isinstance(given, (loguniform, uniform)):
            out[name] = (float(given.low), float(given.high))
        elif isinstance(given, choice):
            out[name] = [python_value(v) for v in given.values]
        elif isinstance(given, (list, tuple, np.ndarray)):
            out[name] = [python_value(v) for v in given]
        else:
            out[name] = [python_value(given)]
    if seeds:
        out["seed"] = [int(seed) for seed in seeds]
    return out
