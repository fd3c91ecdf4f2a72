"""Layer sizes in a sweep's space: one model per value of ``space["sizes"]``, built from the sweep's model.

A value is a tuple of hidden widths; the row's model is the sweep's model with those hidden
layers (input and output widths, activation, dropout, initializer and dtype kept).
:mod:`jaxnn.sweeps.run` trains the shapes either as one group each (one compiled program per
shape) or, for an MLP, as one program padded to the widest shape (:mod:`jaxnn.sweeps.padding`,
which also estimates which is sooner), and merges the tables; either way each row keeps its own
model and params.
"""

from collections.abc import Sequence
from typing import Any

from jaxnn import errors
from jaxnn.models import Model, model_from_config
from jaxnn.sweeps.space import ARCHITECTURE_KEY, PROGRAM_KEYS

__all__ = ["group_key", "hidden_sizes", "model_of", "with_sizes"]


def model_of(model: Model, config: dict[str, Any]) -> Model:
    """The model a configuration trains: ``model``, with the configuration's hidden ``sizes`` if it has them."""
    return model if ARCHITECTURE_KEY not in config else with_sizes(model, config[ARCHITECTURE_KEY])


def group_key(spec: Any, config: dict[str, Any]) -> tuple:
    """What a configuration's program depends on: its program settings (``PROGRAM_KEYS``, the spec's where the
    configuration leaves them) and its hidden sizes (None when the space does not vary them)."""
    return (*(config.get(name, getattr(spec, name)) for name in PROGRAM_KEYS), config.get(ARCHITECTURE_KEY))


def hidden_sizes(model: Model) -> tuple[int, ...] | None:
    """The hidden dense widths of a model built by :func:`jaxnn.mlp` or :func:`jaxnn.cnn` (None for others)."""
    config = model.config
    if config.get("type") == "mlp":
        return tuple(config["sizes"][1:-1])
    if config.get("type") == "cnn":
        return tuple(config["hidden"])
    return None


def with_sizes(model: Model, sizes: Sequence[int]) -> Model:
    """``model`` with the hidden dense widths ``sizes`` (everything else kept).

    Raises:
        ConfigError: the model is not an MLP or CNN built by jaxnn (nothing says where its hidden
            layers are), or it gives one activation per hidden layer and ``sizes`` has another depth.
    """
    config = dict(model.config)
    sizes = [int(width) for width in sizes]
    if config.get("type") == "mlp":
        activation = config["activation"]
        if not isinstance(activation, str) and len(activation) != len(sizes):  # one per hidden layer
            if len(set(activation)) != 1:
                raise errors.ConfigError(
                    f"the model has one activation per hidden layer ({activation}), so space['sizes'] cannot "
                    f"change its depth to {len(sizes)}; build it with one activation name"
                )
            config["activation"] = activation[0]
        config["sizes"] = [config["sizes"][0], *sizes, config["sizes"][-1]]
    elif config.get("type") == "cnn":
        config["hidden"] = sizes
    else:
        raise errors.ConfigError(
            f"space['sizes'] sets the hidden layers of a model built by jaxnn.mlp, jaxnn.cnn or jaxnn.model_for; "
            f"this one is a {config.get('type', 'model')!r} model: sweep one model at a time and combine the "
            "results with SweepResult.concat"
        )
    return model_from_config(config)
