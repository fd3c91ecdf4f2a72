"""jaxnn: neural networks as pure JAX functions.

``init(key) -> params`` builds a plain pytree of arrays, ``apply(params, x)``
computes outputs, losses are pure functions of ``(outputs, targets)``, Optax
supplies the optimizers, and training runs as one compiled ``lax.scan`` program
that ``jax.vmap`` turns into a hyperparameter sweep.

``import jaxnn`` imports neither JAX nor Optax: each public name is imported from its module on
first use (PEP 562), so ``jaxnn --version`` and a script's start do not pay for what they do not
use. To add a public name, add it to :data:`_EXPORTS` (name -> module); ``__all__`` follows.
"""

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_MODULES = {
    "cache": "jaxnn.cache",
    "cluster": "jaxnn.cluster",
    "datasets": "jaxnn.data",
    "errors": "jaxnn.errors",
    "hyperparams": "jaxnn.hyperparams",
    "layers": "jaxnn.layers",
    "loop": "jaxnn.loop",
    "losses": "jaxnn.losses",
    "metrics": "jaxnn.metrics",
    "optim": "jaxnn.optim",
    "parallel": "jaxnn.parallel",
    "sweeps": "jaxnn.sweeps",
    "track": "jaxnn.track",
}
"""Public submodules by the name jaxnn exports them under (``jaxnn.datasets`` is :mod:`jaxnn.data`)."""

_EXPORTS = {
    "ASHA": "jaxnn.sweeps",
    "Checkpoint": "jaxnn.checkpoint",
    "CheckpointError": "jaxnn.errors",
    "ConfigError": "jaxnn.errors",
    "ConfusionMatrix": "jaxnn.confusion",
    "DataError": "jaxnn.errors",
    "DataInfo": "jaxnn.data",
    "Dataset": "jaxnn.data",
    "EarlyStopping": "jaxnn.spec",
    "Hyperband": "jaxnn.sweeps",
    "Hyperparams": "jaxnn.hyperparams",
    "Interrupted": "jaxnn.errors",
    "JaxnnError": "jaxnn.errors",
    "Model": "jaxnn.models",
    "PBT": "jaxnn.sweeps",
    "SweepResult": "jaxnn.sweeps",
    "TrainResult": "jaxnn.loop",
    "TrainSpec": "jaxnn.spec",
    "TrainingDiverged": "jaxnn.errors",
    "choice": "jaxnn.sweeps",
    "clear_caches": "jaxnn.programs",
    "cnn": "jaxnn.models",
    "confusion_matrix": "jaxnn.confusion",
    "ensemble": "jaxnn.models",
    "evaluate": "jaxnn.train",
    "fit": "jaxnn.train",
    "from_equinox": "jaxnn.interop",
    "from_flax": "jaxnn.models",
    "from_nnx": "jaxnn.interop",
    "load": "jaxnn.checkpoint",
    "loguniform": "jaxnn.sweeps",
    "make_train": "jaxnn.train",
    "merge": "jaxnn.cluster",
    "mlp": "jaxnn.models",
    "model_for": "jaxnn.models",
    "model_from_config": "jaxnn.models",
    "optimizer": "jaxnn.optim",
    "predict": "jaxnn.train",
    "save": "jaxnn.checkpoint",
    "schedule": "jaxnn.optim",
    "sequential": "jaxnn.models",
    "sweep": "jaxnn.sweeps",
    "uniform": "jaxnn.sweeps",
}
"""Public functions and classes by name -> the module that defines (or re-exports) them."""

__all__ = sorted(["__version__", *_MODULES, *_EXPORTS], key=str.lower)


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it, so the next lookup is a plain attribute."""
    if name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"jaxnn.{name}") is not None:
        value = importlib.import_module(f"jaxnn.{name}")  # any other submodule, as `import jaxnn.train` would
    else:
        raise AttributeError(f"module 'jaxnn' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from jaxnn import cache, cluster, errors, hyperparams, layers, loop, losses, metrics, optim, parallel, sweeps, track
    from jaxnn import data as datasets
    from jaxnn.checkpoint import Checkpoint, load, save
    from jaxnn.cluster import merge
    from jaxnn.confusion import ConfusionMatrix, confusion_matrix
    from jaxnn.data import DataInfo, Dataset
    from jaxnn.errors import CheckpointError, ConfigError, DataError, Interrupted, JaxnnError, TrainingDiverged
    from jaxnn.hyperparams import Hyperparams
    from jaxnn.interop import from_equinox, from_nnx
    from jaxnn.loop import TrainResult
    from jaxnn.models import Model, cnn, ensemble, from_flax, mlp, model_for, model_from_config, sequential
    from jaxnn.optim import optimizer, schedule
    from jaxnn.programs import clear_caches
    from jaxnn.spec import EarlyStopping, TrainSpec
    from jaxnn.sweeps import ASHA, PBT, Hyperband, SweepResult, choice, loguniform, sweep, uniform
    from jaxnn.train import evaluate, fit, make_train, predict
