"""jaxnn: neural networks as pure JAX functions.

``init(key) -> params`` builds a plain pytree of arrays, ``apply(params, x)``
computes outputs, losses are pure functions of ``(outputs, targets)``, Optax
supplies the optimizers, and training runs as one compiled ``lax.scan`` program
that ``jax.vmap`` turns into a hyperparameter sweep.
"""

__version__ = "0.2.0"

from jaxnn import cache, cluster, data as datasets, errors, hyperparams, layers, loop, losses, optim, parallel, sweeps, track
from jaxnn.checkpoint import Checkpoint, load, save
from jaxnn.cluster import merge
from jaxnn.confusion import ConfusionMatrix, confusion_matrix
from jaxnn.data import DataInfo, Dataset
from jaxnn.hyperparams import Hyperparams
from jaxnn.interop import from_equinox, from_nnx
from jaxnn.loop import TrainResult
from jaxnn.models import Model, cnn, ensemble, from_flax, mlp, model_for, model_from_config, sequential
from jaxnn.optim import optimizer, schedule
from jaxnn.programs import clear_caches
from jaxnn.spec import EarlyStopping, TrainSpec
from jaxnn.sweeps import ASHA, PBT, Hyperband, SweepResult, choice, loguniform, sweep, uniform
from jaxnn.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Interrupted,
    JaxnnError,
    TrainingDiverged,
)
from jaxnn.train import evaluate, fit, make_train, predict

__all__ = [
    "ASHA",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "ConfusionMatrix",
    "DataError",
    "DataInfo",
    "Dataset",
    "EarlyStopping",
    "Hyperband",
    "Hyperparams",
    "Interrupted",
    "JaxnnError",
    "Model",
    "SweepResult",
    "TrainResult",
    "TrainSpec",
    "TrainingDiverged",
    "__version__",
    "cache",
    "choice",
    "clear_caches",
    "cluster",
    "confusion_matrix",
    "datasets",
    "ensemble",
    "errors",
    "evaluate",
    "fit",
    "from_equinox",
    "from_flax",
    "from_nnx",
    "hyperparams",
    "layers",
    "load",
    "loguniform",
    "loop",
    "losses",
    "make_train",
    "merge",
    "cnn",
    "mlp",
    "model_for",
    "model_from_config",
    "optim",
    "optimizer",
    "PBT",
    "parallel",
    "predict",
    "save",
    "schedule",
    "sequential",
    "sweep",
    "sweeps",
    "track",
    "uniform",
]
