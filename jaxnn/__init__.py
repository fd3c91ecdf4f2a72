"""jaxnn: neural networks as pure JAX functions.

``init(key) -> params`` builds a plain pytree of arrays, ``apply(params, x)``
computes outputs, losses are pure functions of ``(outputs, targets)``, Optax
supplies the optimizers, and training runs as one compiled ``lax.scan`` program
that ``jax.vmap`` turns into a hyperparameter sweep.
"""

__version__ = "0.1.0"

from jaxnn import layers, losses, optim
from jaxnn.models import Model, from_flax, mlp, model_from_config, sequential
from jaxnn.optim import optimizer, schedule

__all__ = [
    "Model",
    "__version__",
    "from_flax",
    "layers",
    "losses",
    "mlp",
    "model_from_config",
    "optim",
    "optimizer",
    "schedule",
    "sequential",
]
