"""jaxnn: neural networks as pure JAX functions.

``init(key) -> params`` builds a plain pytree of arrays, ``apply(params, x)``
computes outputs, losses are pure functions of ``(outputs, targets)``, Optax
supplies the optimizers, and training runs as one compiled ``lax.scan`` program
that ``jax.vmap`` turns into a hyperparameter sweep.
"""

__version__ = "0.1.0"

from jaxnn import data as datasets, layers, losses, optim, parallel
from jaxnn.checkpoint import Checkpoint, CheckpointError, load, save
from jaxnn.data import Dataset
from jaxnn.models import Model, from_flax, mlp, model_from_config, sequential
from jaxnn.optim import optimizer, schedule
from jaxnn.sweep import SweepResult, choice, loguniform, sweep, uniform
from jaxnn.train import (
    EarlyStopping,
    Hyperparams,
    TrainingDiverged,
    TrainResult,
    evaluate,
    fit,
    make_train,
    predict,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Dataset",
    "EarlyStopping",
    "Hyperparams",
    "Model",
    "SweepResult",
    "TrainResult",
    "TrainingDiverged",
    "__version__",
    "choice",
    "datasets",
    "evaluate",
    "fit",
    "from_flax",
    "layers",
    "load",
    "loguniform",
    "losses",
    "make_train",
    "mlp",
    "model_from_config",
    "optim",
    "parallel",
    "optimizer",
    "predict",
    "save",
    "schedule",
    "sequential",
    "sweep",
    "uniform",
]
