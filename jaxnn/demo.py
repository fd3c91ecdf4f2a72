"""The functional API end to end, without the trainer: ``mlp`` + a loss + ``jax.grad`` + ``jit`` + Optax.

What ``jaxnn demo`` runs, and a screen of code to read: a model is two pure functions, the
loss is a pure function of the outputs, the gradient comes from ``jax.value_and_grad`` and the
update from an Optax optimizer, inside one jitted step.

>>> from jaxnn import demo
>>> losses = []
>>> result = demo.functional_training(steps=50, seed=0, report=lambda step, loss: losses.append(loss))
>>> losses[-1] < losses[0] and result["test_accuracy"] > 0.9
True
"""

from collections.abc import Callable
from typing import Any

import jax
import optax

from jaxnn import _checks, losses
from jaxnn.data import load
from jaxnn.models import mlp
from jaxnn.optim import optimizer

__all__ = ["functional_training"]


def functional_training(
    *, steps: int = 300, seed: int = 0, report: Callable[[int, float], Any] | None = None
) -> dict[str, float]:
    """Train a [30, 16, 1] MLP on breast cancer with full-batch SGD (momentum 0.9) and a hand-written jitted step.

    Args:
        steps: full-batch training steps.
        seed: seed of the split and the initial weights.
        report: called as ``report(step, train_loss)`` five times along the way.

    Returns:
        ``{"train_loss", "test_loss", "test_accuracy"}`` after the last step.
    """
    steps = _checks.positive_int("steps", steps)
    data = load("breast_cancer", seed=seed)
    model = mlp([data.num_features, 16, 1], activation="relu")
    params = model.init(jax.random.key(seed))
    opt = optimizer("sgd", learning_rate=0.1, momentum=0.9)
    opt_state = opt.init(params)

    def loss_fn(params, x, y):
        return losses.binary_cross_entropy(model.apply(params, x), y)

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for i in range(1, steps + 1):
        params, opt_state, loss = step(params, opt_state, data.x_train, data.y_train)
        if report is not None and i % max(1, steps // 5) == 0:
            report(i, float(loss))
    return {
        "train_loss": float(loss_fn(params, data.x_train, data.y_train)),
        "test_loss": float(loss_fn(params, data.x_test, data.y_test)),
        "test_accuracy": float(losses.accuracy(model.apply(params, data.x_test), data.y_test)),
    }
