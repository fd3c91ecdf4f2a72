"""The compiled training loop as named pure functions over a static :class:`~jaxnn.TrainSpec`.

A run is ``init_state -> run_epochs -> finish``. ``run_epochs`` scans
``one_epoch`` over epochs; an epoch draws its minibatches (``epoch_batches``),
scans ``train_step`` over them (``train_steps``), scores the validation split
(``evaluate_split``) and updates the early-stopping and divergence bookkeeping
(``record_epoch``). Every function is pure: ``fit`` jits them and calls
``run_epochs`` in chunks; ``make_train`` composes them into one function;
``sweep`` vmaps them over configurations. A stopped (early-stopped or
diverged) run skips its remaining epochs: one run by a real branch, rows under
``jax.vmap`` by keeping their state while the others train (an epoch defines
its own batching rule, so what the rows share, such as the minibatches of one
key, stays computed once), and the same functions serve both.

The static pieces that depend on the data — loss, metric, steps per epoch —
are worked out once per trace by :func:`layout`, the optimizer and its schedule
once per trace by :func:`build_optimizer`.
"""

import csv
import functools
import io
import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.custom_batching import custom_vmap
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxnn import errors, metrics, optim, parallel
from jaxnn._io import atomic_write
from jaxnn.hyperparams import Hyperparams
from jaxnn.programs import jit_loop, jit_once, memoize
from jaxnn.spec import TrainSpec
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "DIVERGED",
    "EARLY_STOPPED",
    "HISTORY_KEYS",
    "RUNNING",
    "STATUS",
    "TrainResult",
    "Layout",
    "LoopState",
    "Optimizer",
    "advance",
    "advance_jit",
    "as_key",
    "build_optimizer",
    "epoch_batches",
    "evaluate_split",
    "finish",
    "finish_jit",
    "init_state",
    "init_state_jit",
    "is_running",
    "layout",
    "num_examples",
    "one_epoch",
    "record_epoch",
    "run_epochs",
    "run_epochs_jit",
    "scores",
    "shuffle_indices",
    "split_weights",
    "train",
    "train_jit",
    "train_steps",
]

# Codes of the status inside compiled code; fit() reports the names.
RUNNING, EARLY_STOPPED, DIVERGED = 0, 1, 2
STATUS = {RUNNING: "completed", EARLY_STOPPED: "early_stopped", DIVERGED: "diverged"}
HISTORY_KEYS = ("train_loss", "val_loss", "val_metric", "learning_rate")


class TrainResult(NamedTuple):
    """What a training run returns.

    Attributes:
        params: the trained parameters (the best epoch's when early stopping
            restores them, and always the last finite ones when a run diverged).
        history: per-epoch arrays ``train_loss``, ``val_loss``, ``val_metric``,
            ``learning_rate`` (NaN for epochs that did not run).
        best_epoch: 1-based epoch with the best monitored value (0 before any).
        stopped_epoch: 1-based last epoch that ran.
        status: ``"completed"``, ``"early_stopped"`` or ``"diverged"`` from
            :func:`jaxnn.fit`; inside ``jit`` (``make_train``) the int codes of :data:`STATUS`.
        params_epoch: the 1-based epoch whose parameters ``params`` are (``best_epoch`` when the
            run restored its best epoch, else ``stopped_epoch``; 0: the initial parameters).
    """

    params: Params
    history: dict[str, Array]
    best_epoch: Any
    stopped_epoch: Any
    status: Any
    params_epoch: Any = None

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write the history of the epochs that ran as CSV (``epoch`` and one column per entry), atomically."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["epoch", *self.history])
        for epoch in range(int(self.stopped_epoch)):
            writer.writerow([epoch + 1, *(float(self.history[name][epoch]) for name in self.history)])
        atomic_write(path, buffer.getvalue())


class LoopState(NamedTuple):
    """The loop's carry (one per configuration under vmap).

    Attributes:
        params, opt_state: the model's parameters and the optimizer's state.
        best_params, best_score, best_epoch: the best epoch so far by the monitored value
            (``best_epoch`` is 1-based; 0 before any improvement).
        wait: epochs since the last improvement.
        epoch: epochs run so far.
        status: ``RUNNING``, ``EARLY_STOPPED`` or ``DIVERGED``.
        key: the run's loop key (epoch ``e`` uses ``fold_in(key, e)``).
    """

    params: Params
    opt_state: Any
    best_params: Params
    best_score: Array
    best_epoch: Array
    wait: Array
    epoch: Array
    status: Array
    key: PRNGKey


class Layout(NamedTuple):
    """What the spec and the data's static structure fix together (see :func:`layout`)."""

    loss_name: str
    loss: Callable[..., Array]
    metric: Callable[..., Array]
    higher_is_better: bool
    num_train: int
    batch: int
    steps: int  # minibatches per epoch
    slots: int  # minibatch rows including masked ones that give every device an equal share
    has_val: bool
    mesh: Mesh | None
    metric_name: str = ""
    weighted: bool = False  # the training loss weighs rows (sample or class weights)


def layout(spec: TrainSpec, data: Any) -> Layout:
    """Check ``data`` against ``spec`` and work out the static shape of an epoch.

    Raises:
        DataError: an empty training split.
        ConfigError: a batch larger than it, early stopping without a validation split, or a
            warm-up as long as the run.
    """
    num_train = int(np.shape(data.x_train)[0])
    if num_train == 0:
        raise errors.DataError("the training split is empty")
    batch = num_train if spec.batch_size is None else spec.batch_size
    if batch > num_train:
        raise errors.ConfigError(
            f"{errors.arg('batch_size')} (={batch}) is larger than the training split ({num_train} examples); "
            f"use {errors.setting('batch_size', None)} for full-batch gradient descent"
        )
    steps = 1 if spec.batch_size is None else math.ceil(num_train / batch)
    has_val = np.shape(data.x_val)[0] > 0
    if not has_val and spec.early_stopping is not None:
        raise errors.ConfigError(
            f"early stopping monitors the validation split, but the data has none ({errors.setting('val_fraction', 0)})"
        )
    if spec.schedule == "warmup_cosine" and spec.warmup_steps >= spec.num_epochs * steps:
        raise errors.ConfigError(
            f"{errors.arg('warmup_steps')} (={spec.warmup_steps}) must be less than the run's {spec.num_epochs * steps} "
            "optimizer steps"
        )
    mesh = (
        parallel.data_mesh(spec.data_devices) if spec.data_devices is not None and len(spec.data_devices) > 1 else None
    )
    loss_name, loss = spec.loss_for(data.task)
    metric_name, metric, higher_is_better = spec.metric_for(data.task)
    _check_class_weight(spec, data)
    slots = batch if mesh is None else -(-batch // mesh.size) * mesh.size
    weighted = getattr(data, "w_train", None) is not None or spec.class_weight is not None
    return Layout(
        loss_name, loss, metric, higher_is_better, num_train, batch, steps, slots, has_val, mesh, metric_name, weighted
    )


def _check_class_weight(spec: TrainSpec, data: Any) -> None:
    if spec.class_weight is None:
        return
    if data.task == "regression":
        raise errors.ConfigError(
            f"{errors.arg('class_weight')} weighs classes, but the data is a regression task; "
            f"weigh rows with {errors.arg('sample_weight')}"
        )
    if len(spec.class_weight) != data.num_classes:
        raise errors.ConfigError(
            f"{errors.arg('class_weight')} has {len(spec.class_weight)} weights but the data has "
            f"{data.num_classes} classes"
        )


def split_weights(spec: TrainSpec, data: Any, split: str) -> tuple[Array | None, Array | None]:
    """``(sample weights, loss weights)`` of a split's rows, each ``(n,)`` or None (every row weighs 1): the
    metrics weigh rows by their sample weights, the loss also by their class's ``spec.class_weight``."""
    weights = getattr(data, f"w_{split}", None)
    weights = None if weights is None else jnp.asarray(weights, jnp.float32)
    if spec.class_weight is None:
        return weights, weights
    by_class = jnp.asarray(spec.class_weight, jnp.float32)[jnp.asarray(getattr(data, f"y_{split}"))]
    return weights, by_class if weights is None else weights * by_class


def scores(
    outputs: Array,
    targets: Array,
    *,
    task: str,
    names: tuple[str, ...],
    y_scale: Any = 1.0,
    weights: Array | None = None,
) -> dict[str, Array]:
    """The metrics ``names`` of ``outputs`` against ``targets`` (weighted by ``weights``); a regression's in the
    target's units (its standardized values times ``y_scale``: every regression metric ignores a shift)."""
    if task == "regression":
        outputs, targets = outputs * y_scale, targets * y_scale
    return {name: metrics.scorer(name, task)(outputs, targets, mask=weights) for name in names}


class Optimizer(NamedTuple):
    """The optimizer of one trace: the Optax transformation and its learning rate by step."""

    transform: optax.GradientTransformation
    learning_rate_at: Callable[[Array], Array]


def build_optimizer(spec: TrainSpec, hparams: Hyperparams, steps_per_epoch: int) -> Optimizer:
    """The optimizer and schedule for ``hparams`` (possibly traced): built once per trace."""
    learning_rate: optim.LearningRate = hparams.learning_rate
    if spec.schedule != "constant":
        learning_rate = optim.build_schedule(
            spec.schedule,
            learning_rate=hparams.learning_rate,
            num_steps=spec.num_epochs * steps_per_epoch,
            warmup_steps=spec.warmup_steps,
            decay_rate=hparams.decay_rate,
            final_fraction=hparams.final_fraction,
        )
    plateau = None
    if spec.reduce_on_plateau is not None:
        plateau = {"accumulation_size": steps_per_epoch, **dict(spec.reduce_on_plateau)}
    uses_momentum = spec.optimizer in ("sgd", "rmsprop") and "momentum" not in spec.zeros
    transform = optim.build_optimizer(
        spec.optimizer,
        learning_rate=learning_rate,
        momentum=hparams.momentum if uses_momentum else None,  # None: no momentum buffer
        nesterov=spec.nesterov,
        b1=hparams.b1,
        b2=hparams.b2,
        weight_decay=None if "weight_decay" in spec.zeros else hparams.weight_decay,
        clip_norm=hparams.clip_norm,
        reduce_on_plateau=plateau,
    )
    if callable(learning_rate):
        learning_rate_at = lambda step: jnp.asarray(learning_rate(step), jnp.float32)  # noqa: E731
    else:
        learning_rate_at = lambda step: jnp.asarray(learning_rate, jnp.float32)  # noqa: E731
    return Optimizer(transform, learning_rate_at)


def init_state(
    spec: TrainSpec,
    hparams: Hyperparams,
    key: PRNGKey | int,
    data: Any,
    params: Params | None = None,
    variant: ArrayLike | None = None,
) -> LoopState:
    """The state before the first epoch: fresh (or given) params, the optimizer state, the loop key.

    ``variant`` picks the row's shape in a padded model (:func:`jaxnn.sweeps.padding.padded_model`).

    Raises:
        ValueError: the model, loss and data do not fit together, or ``hparams.dropout``
            is set for a model without dropout layers.
    """
    plan = layout(spec, data)
    _check_task(spec, plan, data)
    if hparams.dropout is not None and not spec.model.uses_dropout:
        raise errors.ConfigError("hparams.dropout is set but the model has no dropout layers (build it with jaxnn.mlp)")
    init_key, loop_key = jax.random.split(as_key(key))
    if params is None:
        params = spec.model.init(init_key) if variant is None else spec.model.init(init_key, variant)  # type: ignore[call-arg]
        params = jax.tree.map(lambda p: p * hparams.init_scale if p.ndim >= 2 else p, params)
    opt_state = build_optimizer(spec, hparams, plan.steps).transform.init(params)
    return LoopState(
        params=params,
        opt_state=opt_state,
        best_params=params,
        best_score=jnp.asarray(jnp.inf, jnp.float32),
        best_epoch=jnp.zeros((), jnp.int32),
        wait=jnp.zeros((), jnp.int32),
        epoch=jnp.zeros((), jnp.int32),
        status=jnp.asarray(RUNNING, jnp.int32),
        key=loop_key,
    )


# How to change a model's output width, by the type in its config.
_OUTPUT_HINTS = {"mlp": "set the last entry of sizes to {}", "cnn": "build it with outputs={}"}


def _check_task(spec: TrainSpec, plan: Layout, data: Any) -> None:
    """Trace-time checks that the model, loss and data fit together."""
    task, num_classes, loss_name = data.task, data.num_classes, plan.loss_name
    sample_x = jnp.asarray(data.x_train[:1])
    outputs = jax.eval_shape(lambda x: spec.model.apply(spec.model.init(jax.random.key(0)), x), sample_x)
    width = outputs.shape[-1] if outputs.ndim > 1 else 1
    if loss_name == "binary_cross_entropy" and task != "binary":
        raise errors.ConfigError(
            f"loss 'binary_cross_entropy' needs a binary task but the data is {task!r}"
            + (f" with {num_classes} classes; use 'softmax_cross_entropy'" if task == "multiclass" else "")
        )
    if loss_name == "softmax_cross_entropy" and task == "regression":
        raise errors.ConfigError("loss 'softmax_cross_entropy' needs class labels but the data is a regression task")
    expected = {"binary_cross_entropy": 1, "softmax_cross_entropy": num_classes, "mean_squared_error": 1}.get(loss_name)
    if expected is not None and width != expected:
        raise errors.ConfigError(
            f"the model has {width} outputs but {loss_name} on this {task} data needs {expected} "
            f"({_OUTPUT_HINTS.get(spec.model.config.get('type', ''), 'give its last layer {} outputs').format(expected)})"
        )
    if spec.model.output_activation is not None and loss_name != "mean_squared_error":
        raise errors.ConfigError(
            f"{loss_name} takes logits but the model applies output_activation={spec.model.output_activation!r}; "
            f"build it with output_activation=None"
        )


def run_epochs(
    spec: TrainSpec,
    state: LoopState,
    hparams: Hyperparams,
    data: Any,
    num_epochs: int,
    *,
    loop_key: PRNGKey | None = None,
    first_epoch: Array | None = None,
    masked: bool = False,
) -> tuple[LoopState, dict[str, Array]]:
    """Run up to ``num_epochs`` more epochs (never past ``spec.num_epochs``); the history has ``num_epochs`` rows.

    Epoch ``e`` draws its minibatch order (and dropout keys) from
    ``fold_in(loop_key, e)``; both default to the state's own key and epoch
    count. A sweep passes them explicitly, unbatched, for all configurations of
    a seed: the shuffle and the gather then happen once instead of once per
    configuration, and the first layer's product becomes one wide matmul. A run
    that has stopped skips its epochs (NaN rows), so only running states (whose
    epoch count equals ``first_epoch`` plus the epochs of this call) use them.

    ``masked=True`` computes every epoch and lets a stopped run keep its state
    (what a batch of rows does anyway): for callers that always vmap over rows,
    such as a sweep, whose trace then holds the epoch once instead of a branch
    and its batching rule (which trace it twice).
    """
    loop_key = state.key if loop_key is None else loop_key
    first_epoch = state.epoch if first_epoch is None else first_epoch
    epoch = functools.partial(_masked_epoch, spec) if masked else _epoch_or_skip(spec)

    def epoch_body(state: LoopState, offset: Array):
        return epoch(state, hparams, data, loop_key, first_epoch + offset)

    return jax.lax.scan(epoch_body, state, jnp.arange(num_epochs, dtype=jnp.int32))


def advance(
    spec: TrainSpec, state: LoopState, hparams: Hyperparams, data: Any, num_epochs: int
) -> tuple[LoopState, dict[str, Array], Array]:
    """:func:`run_epochs`, and the epoch count and status after it as one small array ``[epoch, status]``
    (readable after ``state`` has been handed to the next compiled call, which consumes it)."""
    state, history = run_epochs(spec, state, hparams, data, num_epochs)
    return state, history, jnp.stack([state.epoch, state.status])


def is_running(spec: TrainSpec, state: LoopState) -> Array:
    """Whether ``state``'s run has epochs left to train: neither stopped nor diverged nor at ``spec.num_epochs``."""
    return (state.status == RUNNING) & (state.epoch < spec.num_epochs)


@memoize()
def _epoch_or_skip(spec: TrainSpec) -> Callable[..., tuple[LoopState, dict[str, Array]]]:
    """``epoch(state, hparams, data, loop_key, index)``: :func:`one_epoch` if the run is running, else a skip.

    One run skips with a real branch (``lax.cond``). Under ``vmap`` the predicate
    is batched and ``cond`` would run both sides with *every* operand batched: the
    data, the loop key and the epoch's minibatches copied once per row, each row
    shuffling and gathering its own copy, and the first layer a batched matmul per
    row instead of one flat product (3.2 vs 8.3 µs per configuration-step for a
    small sweep). So this function defines its own batching rule: every row trains
    the epoch and a stopped row keeps its state, while what the rows share stays
    shared.
    """

    train_epoch, masked = functools.partial(_train_epoch, spec), functools.partial(_masked_epoch, spec)

    @custom_vmap
    def branch(state, hparams, data, loop_key, index):
        return jax.lax.cond(is_running(spec, state), train_epoch, _skip_epoch, state, hparams, data, loop_key, index)

    @branch.def_vmap
    def branch_batched(axis_size, in_batched, *args):
        in_axes = tuple(jax.tree.map(lambda batched: 0 if batched else None, in_batched))
        out = jax.vmap(masked, in_axes=in_axes, axis_size=axis_size)(*args)
        return out, jax.tree.map(lambda _: True, out)

    # custom_vmap has no reverse mode: derivatives (jax.grad through a whole run) come from the masked form.
    @jax.custom_jvp
    def epoch(state, hparams, data, loop_key, index):
        return branch(state, hparams, data, loop_key, index)

    @epoch.defjvp
    def epoch_jvp(primals, tangents):
        return jax.jvp(masked, primals, tangents)

    return epoch


def _train_epoch(spec: TrainSpec, state: LoopState, hparams: Hyperparams, data: Any, loop_key: PRNGKey, index: Array):
    plan = layout(spec, data)
    return one_epoch(spec, plan, build_optimizer(spec, hparams, plan.steps), hparams, data, loop_key, state, index)


def _masked_epoch(spec: TrainSpec, state: LoopState, hparams: Hyperparams, data: Any, loop_key: PRNGKey, index: Array):
    """The epoch always computed; a stopped run keeps its state and gets a NaN history row."""
    new_state, row = _train_epoch(spec, state, hparams, data, loop_key, index)
    running = is_running(spec, state)
    keep = lambda new, old: jnp.where(running, new, old)  # noqa: E731
    return jax.tree.map(keep, new_state, state), jax.tree.map(lambda v: keep(v, jnp.nan), row)


def _skip_epoch(state: LoopState, *_: Any) -> tuple[LoopState, dict[str, Array]]:
    nan = jnp.asarray(jnp.nan, jnp.float32)
    return state, {name: nan for name in HISTORY_KEYS}


def one_epoch(
    spec: TrainSpec,
    plan: Layout,
    opt: Optimizer,
    hparams: Hyperparams,
    data: Any,
    loop_key: PRNGKey,
    state: LoopState,
    epoch_index: Array,
) -> tuple[LoopState, dict[str, Array]]:
    """One pass over the training split, the validation pass, and the epoch's history row."""
    shuffle_key, dropout_key = jax.random.split(jax.random.fold_in(loop_key, epoch_index))
    batches = epoch_batches(spec, plan, data, shuffle_key)
    params, opt_state, loss_sum = train_steps(
        spec,
        plan,
        opt,
        hparams,
        state.params,
        state.opt_state,
        batches,
        dropout_key,
        skip_empty=getattr(data, "train_mask", None) is not None,
    )
    train_loss = loss_sum / num_examples(plan, data)
    if plan.has_val:
        val_loss, val_metric = cast(
            tuple[Array, Array],  # without names: (loss, metric)
            evaluate_split(
                spec, plan, params, data.x_val, data.y_val, data, mask=getattr(data, "val_mask", None), split="val"
            ),
        )
    else:
        val_loss = val_metric = jnp.asarray(jnp.nan, jnp.float32)
    state = record_epoch(spec, plan, state, params, opt_state, train_loss, val_loss, val_metric)
    row = {
        "train_loss": train_loss,
        "val_loss": val_loss,
        "val_metric": val_metric,
        "learning_rate": opt.learning_rate_at(state.epoch * plan.steps),
    }
    return state, jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), row)


def epoch_batches(spec: TrainSpec, plan: Layout, data: Any, key: PRNGKey) -> tuple[Array, ...]:
    """``(xs, ys, masks)`` of an epoch, shaped ``(steps, slots, ...)``: a shuffled order, the last
    minibatch padded with masked rows (so every example counts exactly once), and with data
    parallelism, rows laid out across the devices. A weighted layout adds each row's loss weight
    (sample times class weight, with a mean of 1 over the training split; 0 on padding)."""
    x_train, y_train = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    train_mask = getattr(data, "train_mask", None)  # padded data (cross-validation folds): 0 marks a padding row
    train_mask = None if train_mask is None else jnp.asarray(train_mask, jnp.float32)
    weights = None
    if plan.weighted:  # normalized to a mean of 1: a minibatch's loss is its weighted sum over its size
        weights = split_weights(spec, data, "train")[1]
        assert weights is not None  # a weighted layout: the data has sample weights or the spec class weights
        weights = weights if train_mask is None else weights * train_mask
        weights = weights * (num_examples(plan, data) / jnp.sum(weights))
    if spec.batch_size is None and plan.mesh is None:
        masks = jnp.ones((1, plan.num_train), jnp.float32) if train_mask is None else train_mask[None]
        batches: tuple[Array, ...] = x_train[None], y_train[None], masks
        return batches if weights is None else (*batches, weights[None])
    padded = plan.steps * plan.batch
    if spec.batch_size is None:
        order = jnp.arange(plan.num_train)
    else:
        order = shuffle_indices(key, plan.num_train)
        if train_mask is not None:  # padding rows last: the real rows make the batches an unpadded split would
            order = order[jnp.argsort(1.0 - train_mask[order], stable=True)]
        order = jnp.concatenate([order, jnp.zeros((padded - plan.num_train,), order.dtype)])
    order = order.reshape(plan.steps, plan.batch)
    masks = (jnp.arange(padded) < plan.num_train).astype(jnp.float32).reshape(plan.steps, plan.batch)
    if plan.slots > plan.batch:  # room for every device: extra masked slots change nothing
        order = jnp.pad(order, ((0, 0), (0, plan.slots - plan.batch)))
        masks = jnp.pad(masks, ((0, 0), (0, plan.slots - plan.batch)))
    if train_mask is not None:
        masks = masks * train_mask[order]
    batches = (x_train[order], y_train[order], masks) + (() if weights is None else (weights[order] * masks,))
    if plan.mesh is None:
        return batches
    # Each device computes its share of every minibatch; params stay replicated and XLA all-reduces the gradient.
    sharding = NamedSharding(plan.mesh, PartitionSpec(None, parallel.DATA_AXIS))
    return tuple(jax.lax.with_sharding_constraint(a, sharding) for a in batches)


def train_steps(
    spec: TrainSpec,
    plan: Layout,
    opt: Optimizer,
    hparams: Hyperparams,
    params: Params,
    opt_state: Any,
    batches: tuple[Array, ...],
    dropout_key: PRNGKey,
    *,
    skip_empty: bool = False,
) -> tuple[Params, Any, Array]:
    """Scan one optimizer step over each minibatch: ``(params, opt_state, sum of per-example losses)``.

    ``skip_empty``: a minibatch of padding rows only (mask all 0) changes nothing, not even the optimizer's
    state (padded data: folds of unequal sizes share one program, and a short fold's last steps are empty)."""
    dropout = hparams.dropout if spec.model.uses_dropout else None
    # Dropout keys only when dropout can act: random bits are not free on a small model.
    use_keys = spec.model.needs_key or dropout is not None
    pass_value = spec.reduce_on_plateau is not None

    def objective(params, x, y, mask, weight, key):
        outputs = spec.model.apply(params, x, key=key, train=True, dropout=dropout)
        if weight is None:
            return plan.loss(outputs, y, mask=mask)
        # The weighted sum over the minibatch's size (not over its weights): a minibatch of light rows
        # moves the parameters less, so every row pulls by its weight over an epoch.
        return plan.loss(outputs, y, mask=weight) * (jnp.sum(weight) / jnp.maximum(jnp.sum(mask), 1.0))

    def train_step(carry, batch):
        params, opt_state, loss_sum = carry
        batch = batch if use_keys else (*batch, None)
        x, y, mask, weight, key = batch if plan.weighted else (*batch[:3], None, batch[3])
        loss_value, grads = jax.value_and_grad(objective)(params, x, y, mask, weight, key)
        extra = {"value": loss_value} if pass_value else {}
        updates, new_opt_state = opt.transform.update(grads, opt_state, params, **extra)
        new_params = optax.apply_updates(params, updates)
        if skip_empty:
            empty = jnp.sum(mask) == 0
            new_params, new_opt_state = jax.tree.map(
                lambda old, new: jnp.where(empty, old, new), (params, opt_state), (new_params, new_opt_state)
            )
        params, opt_state = new_params, new_opt_state
        # A NaN/Inf anywhere makes the sum non-finite: divergence is checked once per epoch.
        return (params, opt_state, loss_sum + loss_value * jnp.sum(mask)), None

    if use_keys:
        batches = (*batches, jax.random.split(dropout_key, plan.steps))
    (params, opt_state, loss_sum), _ = jax.lax.scan(
        train_step, (params, opt_state, jnp.zeros((), jnp.float32)), batches
    )
    return params, opt_state, loss_sum


def evaluate_split(
    spec: TrainSpec,
    plan: Layout,
    params: Params,
    x: Any,
    y: Any,
    data: Any,
    mask: Any = None,
    *,
    split: str | None = None,
    names: tuple[str, ...] = (),
) -> tuple[Array, Array] | tuple[Array, Array, dict[str, Array]]:
    """``(loss, metric)`` of ``params`` on ``(x, y)``, the rows of ``split`` (``"val"``, ``"test"``) of ``data``,
    weighted by its weights (see :func:`split_weights`); a regression's metric is in the target's units. With
    ``names``, also the metrics of ``names`` as a dict: ``(loss, metric, {name: value})``.

    ``mask`` (``(n,)``, 0 or 1) leaves out padding rows (of cross-validation folds of unequal sizes)."""
    outputs = spec.model.apply(params, jnp.asarray(x))
    y = jnp.asarray(y)
    weights, loss_weights = (None, None) if split is None else split_weights(spec, data, split)
    if mask is not None:
        mask = jnp.asarray(mask, jnp.float32)
        weights = mask if weights is None else weights * mask
        loss_weights = mask if loss_weights is None else loss_weights * mask
    every = (plan.metric_name, *(name for name in names if name != plan.metric_name))
    values = scores(outputs, y, task=data.task, names=every, y_scale=data.y_scale, weights=weights)
    loss = plan.loss(outputs, y) if loss_weights is None else plan.loss(outputs, y, mask=loss_weights)
    if names:
        return loss, values[plan.metric_name], {name: values[name] for name in names}
    return loss, values[plan.metric_name]


def num_examples(plan: Layout, data: Any) -> Array | int:
    """The training split's examples, padding rows (``data.train_mask`` of cross-validation folds) left out."""
    train_mask = getattr(data, "train_mask", None)
    return plan.num_train if train_mask is None else jnp.maximum(jnp.sum(jnp.asarray(train_mask, jnp.float32)), 1.0)


def record_epoch(
    spec: TrainSpec,
    plan: Layout,
    state: LoopState,
    params: Params,
    opt_state: Any,
    train_loss: Array,
    val_loss: Array,
    val_metric: Array,
) -> LoopState:
    """The state after an epoch: divergence, the best epoch so far, and early stopping."""
    diverged = ~jnp.isfinite(train_loss) | (plan.has_val & ~jnp.isfinite(val_loss))
    if spec.monitor == "val_metric":
        monitored = -val_metric if plan.higher_is_better else val_metric
    else:
        monitored = val_loss if plan.has_val else train_loss
    min_delta = 0.0 if spec.early_stopping is None else spec.early_stopping.min_delta
    epoch = state.epoch + 1
    improved = ~diverged & (monitored < state.best_score - min_delta)
    wait = jnp.where(improved, 0, state.wait + 1)
    status = jnp.where(diverged, DIVERGED, RUNNING)
    if spec.early_stopping is not None:
        status = jnp.where(~diverged & (wait >= spec.early_stopping.patience), EARLY_STOPPED, status)
    return LoopState(
        params=params,
        opt_state=opt_state,
        best_params=jax.tree.map(lambda new, old: jnp.where(improved, new, old), params, state.best_params),
        best_score=jnp.where(improved, monitored, state.best_score).astype(jnp.float32),
        best_epoch=jnp.where(improved, epoch, state.best_epoch),
        wait=wait.astype(jnp.int32),
        epoch=epoch,
        status=status.astype(jnp.int32),
        key=state.key,
    )


def finish(spec: TrainSpec, state: LoopState, restore_best: bool) -> TrainResult:
    """The result of a state: the best epoch's params when ``restore_best`` (see
    :meth:`jaxnn.TrainSpec.restores_best`), always the best finite ones when the run diverged; the
    history is left empty for the caller to fill."""
    use_best = (state.status == DIVERGED) | restore_best
    params = jax.tree.map(lambda best, last: jnp.where(use_best, best, last), state.best_params, state.params)
    params_epoch = jnp.where(use_best, state.best_epoch, state.epoch)
    return TrainResult(params, {}, state.best_epoch, state.epoch, state.status, params_epoch)


def train(
    spec: TrainSpec, hparams: Hyperparams, key: PRNGKey | int, data: Any, params: Params | None = None
) -> TrainResult:
    """A whole run: :func:`init_state`, every epoch of :func:`run_epochs`, :func:`finish` (what ``make_train`` returns)."""
    state = init_state(spec, hparams, key, data, params)
    state, history = run_epochs(spec, state, hparams, data, spec.num_epochs)
    return finish(spec, state, spec.restores_best(layout(spec, data).has_val))._replace(history=history)


def shuffle_indices(key: PRNGKey, num: int) -> Array:
    """A uniformly random permutation of ``range(num)``.

    ``jax.random.permutation`` sorts (random key, index) pairs, and XLA's CPU
    sort of two operands costs ~75 µs for 500 elements: more than a whole epoch
    of a small model's steps. Packing the index into the low bits of one random
    uint32 and sorting that single operand gives the same kind of shuffle ~5x
    faster. With ``num <= 4096`` at least 20 random bits remain, so ties (which
    keep index order) are negligible; larger splits use ``jax.random.permutation``,
    whose cost is small next to their epoch.
    """
    index_bits = max(1, (num - 1).bit_length())
    if index_bits > 12:
        return jax.random.permutation(key, num).astype(jnp.int32)
    index_mask = jnp.uint32((1 << index_bits) - 1)
    random_bits = jax.random.bits(key, (num,), jnp.uint32) & ~index_mask
    packed = random_bits | jnp.arange(num, dtype=jnp.uint32)
    return (jax.lax.sort(packed) & index_mask).astype(jnp.int32)


def as_key(key: PRNGKey | int) -> PRNGKey:
    """An int seed (also a traced integer scalar) or a PRNG key (new-style, or raw ``uint32[2]``) as a new-style key.

    Raises:
        TypeError: anything else.
    """
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and key.shape == () and jnp.issubdtype(key.dtype, jnp.integer):
        return jax.random.key(key)  # a seed passed into a compiled function: no separate device call for the key
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.shape == (2,) and key.dtype == jnp.uint32:
        return jax.random.wrap_key_data(key)
    raise errors.ArgumentTypeError(f"key must be an int seed or a jax.random.key, got {type(key).__name__}: {key!r}")


# The loop compiled: what fit runs, and what benchmarks time as fit runs it. Calls with an equal
# spec and arrays of the same shapes reuse one program; run_epochs donates the state it advances.
init_state_jit = jit_once(init_state, static_argnames=("spec",))
run_epochs_jit = jit_loop(run_epochs, static_argnames=("spec", "num_epochs"), donate_argnames=("state",))
advance_jit = jit_loop(advance, static_argnames=("spec", "num_epochs"), donate_argnames=("state",))
finish_jit = jit_once(finish, static_argnames=("spec", "restore_best"))
train_jit = jit_loop(train, static_argnames=("spec",))
