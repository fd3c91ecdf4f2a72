"""Training as one compiled program: ``make_train`` builds it, ``fit`` drives it.

``make_train(model, ...)`` returns a pure ``train(hparams, key, data) ->
TrainResult``. Epochs and minibatches run inside ``lax.scan``; early stopping
and divergence are masks computed on the device, so the same function runs
unchanged under ``jax.vmap`` (one program for a whole hyperparameter sweep).
Everything a sweep varies travels in :class:`Hyperparams` as traced arrays:
a new learning rate never recompiles.

``fit`` runs the same program in chunks of epochs so a progress bar can move
and a stopped run ends on the host without computing the remaining epochs.

>>> import jax, jaxnn
>>> data = jaxnn.datasets.load("breast_cancer", seed=0)
>>> model = jaxnn.mlp([data.num_features, 16, 1])
>>> result = jaxnn.fit(model, data, optimizer="sgd", learning_rate=0.1, momentum=0.9,
...                    num_epochs=30, batch_size=32, key=0, progress=False)
>>> result.status
'completed'
"""

import dataclasses
import functools
import json
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax.sharding import NamedSharding, PartitionSpec

from jaxnn import _checks, data as data_lib, hyperparams as hyperparams_lib, losses as losses_lib, optim, parallel
from jaxnn.hyperparams import Hyperparams
from jaxnn.models import Model, has_dropout, uses_key_in_training
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = [
    "EarlyStopping",
    "HISTORY_KEYS",
    "Hyperparams",
    "STATUS",
    "TrainResult",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "make_train",
    "predict",
    "shuffle_indices",
]

# Codes of TrainResult.status inside compiled code; fit() reports the names.
RUNNING, EARLY_STOPPED, DIVERGED = 0, 1, 2
STATUS = {RUNNING: "completed", EARLY_STOPPED: "early_stopped", DIVERGED: "diverged"}
HISTORY_KEYS = ("train_loss", "val_loss", "val_metric", "learning_rate")

DEFAULT_LOSS = {"binary": "binary_cross_entropy", "multiclass": "softmax_cross_entropy", "regression": "mean_squared_error"}
DEFAULT_METRIC = {"binary": "accuracy", "multiclass": "accuracy", "regression": "mean_squared_error"}


class EarlyStopping(NamedTuple):
    """Stop when the monitored validation value has not improved for ``patience`` epochs.

    Attributes:
        patience: epochs without an improvement larger than ``min_delta`` before stopping.
        min_delta: the smallest change that counts as an improvement.
        restore_best: return the parameters of the best epoch instead of the last.
        monitor: ``"val_loss"`` (lower is better) or ``"val_metric"`` (the metric's direction).
    """

    patience: int = 10
    min_delta: float = 0.0
    restore_best: bool = True
    monitor: str = "val_loss"


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
            :func:`fit`; the int codes of :data:`STATUS` from the pure ``train``.
    """

    params: Params
    history: dict[str, Array]
    best_epoch: Any
    stopped_epoch: Any
    status: Any


class TrainingDiverged(RuntimeError):
    """A run produced a non-finite loss. ``.epoch`` is where; ``.result`` holds the last finite params."""

    def __init__(self, epoch: int, result: TrainResult):
        self.epoch = epoch
        self.result = result
        super().__init__(
            f"training diverged at epoch {epoch}: the loss became NaN or infinite. Lower the learning rate, "
            f"clip gradients (clip_norm=...), or pass on_divergence='return' to get the last finite parameters"
        )


class _State(NamedTuple):
    """The loop carry of the compiled program (one per configuration under vmap)."""

    params: Params
    opt_state: Any
    best_params: Params
    best_score: Array
    best_epoch: Array
    wait: Array
    epoch: Array  # epochs run so far
    status: Array
    key: PRNGKey


class _Program(NamedTuple):
    """The pieces ``fit`` drives in chunks; ``train`` is their composition."""

    init: Callable[..., _State]
    run: Callable[[_State, Hyperparams, Any, int], tuple[_State, dict[str, Array]]]
    finish: Callable[..., TrainResult]
    score: Callable[[Params, Any, Any, Any], tuple[Array, Array]]
    num_epochs: int


def _resolve_loss(loss: str | Callable | None, task: str) -> tuple[str, Callable]:
    if loss is None:
        loss = DEFAULT_LOSS[task]
    if callable(loss):
        return getattr(loss, "__name__", "custom"), loss
    fn = losses_lib.get(loss)
    return loss.lower(), fn


def _check_task(model: Model, loss_name: str, data: Any, sample_x: Array) -> None:
    """Trace-time checks that the model, loss and data fit together."""
    task, num_classes = data.task, data.num_classes
    outputs = jax.eval_shape(lambda x: model.apply(model.init(jax.random.key(0)), x), sample_x)
    width = outputs.shape[-1] if outputs.ndim > 1 else 1
    if loss_name == "binary_cross_entropy" and task != "binary":
        raise ValueError(
            f"loss 'binary_cross_entropy' needs a binary task but the data is {task!r}"
            + (f" with {num_classes} classes; use 'softmax_cross_entropy'" if task == "multiclass" else "")
        )
    if loss_name == "softmax_cross_entropy" and task == "regression":
        raise ValueError("loss 'softmax_cross_entropy' needs class labels but the data is a regression task")
    expected = {"binary_cross_entropy": 1, "softmax_cross_entropy": num_classes, "mean_squared_error": 1}.get(loss_name)
    if expected is not None and width != expected:
        raise ValueError(
            f"the model has {width} outputs but {loss_name} on this {task} data needs {expected} "
            f"(set the last entry of sizes to {expected})"
        )
    output_activation = model.config.get("output_activation")
    if output_activation is not None and loss_name != "mean_squared_error":
        raise ValueError(
            f"{loss_name} takes logits but the model applies output_activation={output_activation!r}; "
            f"build it with output_activation=None"
        )


def make_train(
    model: Model,
    *,
    num_epochs: int,
    batch_size: int | None = 32,
    optimizer: str = "adam",
    loss: str | Callable | None = None,
    metric: str | None = None,
    schedule: str = "constant",
    warmup_steps: int = 0,
    nesterov: bool = False,
    early_stopping: EarlyStopping | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
) -> Callable[[Hyperparams, PRNGKey, Any], TrainResult]:
    """Build the pure training function ``train(hparams, key, data) -> TrainResult``.

    Args:
        model: what to train.
        num_epochs: passes over the training split (static).
        batch_size: minibatch size; ``None`` is full-batch gradient descent. The
            last partial minibatch is padded and masked, so every example counts
            exactly once per epoch.
        optimizer: a name from :data:`jaxnn.optim.OPTIMIZERS` (static).
        loss: a name from :data:`jaxnn.losses.LOSSES` or a function
            ``(outputs, targets, *, mask) -> scalar``; by default chosen from the
            data's task.
        metric: ``"accuracy"`` or ``"mean_squared_error"``; by default from the task.
        schedule: learning-rate schedule name (see :func:`jaxnn.schedule`).
        warmup_steps: for ``"warmup_cosine"``.
        nesterov: Nesterov momentum for sgd/rmsprop.
        early_stopping: an :class:`EarlyStopping`, or None to run every epoch.
        reduce_on_plateau: options for ``optax.contrib.reduce_on_plateau``,
            evaluated on the epoch's training loss.

    Returns:
        A pure function: jit it, vmap it over ``hparams`` and ``key``.
    """
    program = TrainSpec(
        model=model,
        num_epochs=num_epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        loss=loss,
        metric=metric,
        schedule=schedule,
        warmup_steps=warmup_steps,
        nesterov=nesterov,
        early_stopping=early_stopping,
        reduce_on_plateau=reduce_on_plateau,
    ).program

    def train(hparams: Hyperparams, key: PRNGKey, data: Any) -> TrainResult:
        state = program.init(hparams, key, data)
        state, history = program.run(state, hparams, data, program.num_epochs)
        result = program.finish(state)
        return result._replace(history=history)

    return train


def _make_program(
    model: Model,
    *,
    num_epochs: int,
    batch_size: int | None,
    optimizer: str,
    loss: str | Callable | None,
    metric: str | None,
    schedule: str,
    warmup_steps: int,
    nesterov: bool,
    early_stopping: EarlyStopping | None,
    reduce_on_plateau: dict[str, Any] | None,
    data_devices: tuple[Any, ...] | None = None,
) -> _Program:
    if not isinstance(model, Model):
        raise TypeError(f"model must be a jaxnn.Model (see jaxnn.mlp, jaxnn.from_flax), got {type(model).__name__}")
    num_epochs = _checks.positive_int("num_epochs", num_epochs)
    if batch_size is not None:
        batch_size = _checks.positive_int("batch_size", batch_size)
    optimizer = _checks.lookup("optimizer", optimizer, {o: o for o in optim.OPTIMIZERS})
    _checks.lookup("schedule", schedule, {s: s for s in optim.SCHEDULES})
    if metric is not None:
        losses_lib.get_metric(metric)
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be a jaxnn.EarlyStopping or None, got {type(early_stopping).__name__}")
        _checks.positive_int("early_stopping.patience", early_stopping.patience)
        _checks.check_range("early_stopping.min_delta", early_stopping.min_delta, 0.0)
        _checks.lookup("early_stopping.monitor", early_stopping.monitor, {"val_loss": 0, "val_metric": 1})
    mesh = parallel.data_mesh(data_devices) if data_devices is not None and len(data_devices) > 1 else None
    model_has_dropout = has_dropout(model)
    model_needs_key = uses_key_in_training(model)

    def layout(data: Any) -> tuple[int, int, int]:
        """(num_train, batch, steps_per_epoch), all static."""
        num_train = int(np.shape(data.x_train)[0])
        if num_train == 0:
            raise ValueError("the training split is empty")
        if batch_size is None:
            return num_train, num_train, 1
        if batch_size > num_train:
            raise ValueError(
                f"`batch_size` (={batch_size}) is larger than the training split ({num_train} examples); "
                f"use batch_size=None for full-batch gradient descent"
            )
        return num_train, batch_size, math.ceil(num_train / batch_size)

    def pieces(data: Any):
        """Everything that depends on the data's static structure."""
        loss_name, loss_fn = _resolve_loss(loss, data.task)
        metric_fn, higher_is_better = losses_lib.get_metric(metric or DEFAULT_METRIC[data.task])
        num_train, batch, steps = layout(data)
        if np.shape(data.x_val)[0] == 0 and early_stopping is not None:
            raise ValueError("early stopping monitors the validation split, but the data has none (val_fraction=0)")
        return loss_name, loss_fn, metric_fn, higher_is_better, num_train, batch, steps

    def build_optimizer(hparams: Hyperparams, steps_per_epoch: int) -> optax.GradientTransformation:
        learning_rate = hparams.learning_rate
        if schedule != "constant":
            learning_rate = optim.schedule(
                schedule,
                learning_rate=hparams.learning_rate,
                num_steps=num_epochs * steps_per_epoch,
                warmup_steps=warmup_steps,
                decay_rate=hparams.decay_rate,
                final_fraction=hparams.final_fraction,
            )
        plateau = None
        if reduce_on_plateau is not None:
            plateau = {"accumulation_size": steps_per_epoch, **reduce_on_plateau}
        return optim.optimizer(
            optimizer,
            learning_rate=learning_rate,
            momentum=hparams.momentum if optimizer in ("sgd", "rmsprop") else 0.0,
            nesterov=nesterov,
            b1=hparams.b1,
            b2=hparams.b2,
            weight_decay=hparams.weight_decay,
            clip_norm=hparams.clip_norm,
            reduce_on_plateau=plateau,
        )

    def learning_rate_at(hparams: Hyperparams, step: Array, steps_per_epoch: int) -> Array:
        if schedule == "constant":
            return jnp.asarray(hparams.learning_rate, jnp.float32)
        fn = optim.schedule(
            schedule,
            learning_rate=hparams.learning_rate,
            num_steps=num_epochs * steps_per_epoch,
            warmup_steps=warmup_steps,
            decay_rate=hparams.decay_rate,
            final_fraction=hparams.final_fraction,
        )
        return jnp.asarray(fn(step), jnp.float32)

    def init(hparams: Hyperparams, key: PRNGKey, data: Any, params: Params | None = None) -> _State:
        loss_name, *_, steps = pieces(data)
        _check_task(model, loss_name, data, jnp.asarray(data.x_train[:1]))
        if hparams.dropout is not None and not model_has_dropout:
            raise ValueError("hparams.dropout is set but the model has no dropout layers (build it with jaxnn.mlp)")
        key = _as_key(key)
        init_key, loop_key = jax.random.split(key)
        if params is None:
            params = model.init(init_key)
            params = jax.tree.map(lambda p: p * hparams.init_scale if p.ndim >= 2 else p, params)
        opt_state = build_optimizer(hparams, steps).init(params)
        return _State(
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

    def run(
        state: _State,
        hparams: Hyperparams,
        data: Any,
        epochs: int,
        loop_key: PRNGKey | None = None,
        first_epoch: Array | None = None,
    ) -> tuple[_State, dict[str, Array]]:
        """Run up to ``epochs`` more epochs (never past num_epochs); history has ``epochs`` rows.

        Epoch ``e`` draws its minibatch order (and dropout keys) from
        ``fold_in(loop_key, e)``; both default to the state's own key and epoch
        count. A sweep passes them explicitly, unbatched, for all configurations of
        a seed: the shuffle and the gather then happen once instead of once per
        configuration, and the first layer's product becomes one wide matmul.
        A run that has stopped skips its epochs, so only running states (whose
        epoch count equals ``first_epoch`` plus the epochs of this call) use them.
        """
        loop_key = state.key if loop_key is None else loop_key
        first_epoch = state.epoch if first_epoch is None else first_epoch
        _, loss_fn, metric_fn, higher_is_better, num_train, batch, steps = pieces(data)
        opt = build_optimizer(hparams, steps)
        pass_value = reduce_on_plateau is not None
        dropout_override = hparams.dropout if model_has_dropout else None
        # Dropout keys only when dropout can act: random bits are not free on a small model.
        use_keys = model_needs_key or dropout_override is not None
        x_train = jnp.asarray(data.x_train)
        y_train = jnp.asarray(data.y_train)
        x_val = jnp.asarray(data.x_val)
        y_val = jnp.asarray(data.y_val)
        has_val = x_val.shape[0] > 0
        padded = steps * batch
        slots = batch if mesh is None else -(-batch // mesh.size) * mesh.size

        def objective(params, x, y, mask, key):
            outputs = model.apply(params, x, key=key, train=True, dropout=dropout_override)
            return loss_fn(outputs, y, mask=mask)

        def train_step(carry, batch_data):
            params, opt_state, loss_sum = carry
            x, y, mask, key = batch_data if use_keys else (*batch_data, None)
            loss_value, grads = jax.value_and_grad(objective)(params, x, y, mask, key)
            extra = {"value": loss_value} if pass_value else {}
            updates, opt_state = opt.update(grads, opt_state, params, **extra)
            params = optax.apply_updates(params, updates)
            # A NaN/Inf anywhere makes the sum non-finite: divergence is checked once per epoch.
            return (params, opt_state, loss_sum + loss_value * jnp.sum(mask)), None

        def one_epoch(state: _State, epoch_index: Array) -> tuple[_State, dict[str, Array]]:
            epoch_key = jax.random.fold_in(loop_key, epoch_index)
            shuffle_key, dropout_key = jax.random.split(epoch_key)
            if batch_size is None and mesh is None:
                xs, ys = x_train[None], y_train[None]
                masks = jnp.ones((1, num_train), jnp.float32)
            else:
                if batch_size is None:
                    order = jnp.arange(num_train)
                else:
                    order = shuffle_indices(shuffle_key, num_train)
                    order = jnp.concatenate([order, jnp.zeros((padded - num_train,), order.dtype)])
                order = order.reshape(steps, batch)
                masks = (jnp.arange(padded) < num_train).astype(jnp.float32).reshape(steps, batch)
                if slots > batch:  # room for every device: extra masked slots change nothing
                    order = jnp.pad(order, ((0, 0), (0, slots - batch)))
                    masks = jnp.pad(masks, ((0, 0), (0, slots - batch)))
                xs, ys = x_train[order], y_train[order]
                if mesh is not None:
                    # Each device computes its share of every minibatch; params stay replicated
                    # and XLA all-reduces the gradient.
                    xs, ys, masks = (
                        jax.lax.with_sharding_constraint(a, NamedSharding(mesh, PartitionSpec(None, parallel.DATA_AXIS)))
                        for a in (xs, ys, masks)
                    )
            batches = (xs, ys, masks, jax.random.split(dropout_key, steps)) if use_keys else (xs, ys, masks)
            (params, opt_state, loss_sum), _ = jax.lax.scan(
                train_step, (state.params, state.opt_state, jnp.zeros((), jnp.float32)), batches
            )
            train_loss = loss_sum / num_train
            if has_val:
                val_loss, val_metric = score(params, x_val, y_val, data)
            else:
                val_loss = val_metric = jnp.asarray(jnp.nan, jnp.float32)
            diverged = ~jnp.isfinite(train_loss) | (has_val & ~jnp.isfinite(val_loss))
            if early_stopping is not None and early_stopping.monitor == "val_metric":
                monitored = -val_metric if higher_is_better else val_metric
            else:
                monitored = val_loss if has_val else train_loss
            min_delta = 0.0 if early_stopping is None else early_stopping.min_delta
            epoch = state.epoch + 1
            improved = ~diverged & (monitored < state.best_score - min_delta)
            wait = jnp.where(improved, 0, state.wait + 1)
            status = jnp.where(diverged, DIVERGED, RUNNING)
            if early_stopping is not None:
                status = jnp.where(~diverged & (wait >= early_stopping.patience), EARLY_STOPPED, status)
            new_state = _State(
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
            row = {
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_metric": val_metric,
                "learning_rate": learning_rate_at(hparams, epoch * steps, steps),
            }
            return new_state, jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), row)

        def skip_epoch(state: _State, epoch_index: Array) -> tuple[_State, dict[str, Array]]:
            nan = jnp.asarray(jnp.nan, jnp.float32)
            return state, {name: nan for name in HISTORY_KEYS}

        def epoch_body(state: _State, offset: Array):
            active = (state.status == RUNNING) & (state.epoch < num_epochs)
            # A real branch in `fit`; under vmap both sides run and the result is selected.
            return jax.lax.cond(active, one_epoch, skip_epoch, state, first_epoch + offset)

        return jax.lax.scan(epoch_body, state, jnp.arange(epochs, dtype=jnp.int32))

    def score(params: Params, x: Any, y: Any, data: Any) -> tuple[Array, Array]:
        """(loss, metric) of ``params`` on ``(x, y)``; a regression MSE metric is in target units."""
        _, loss_fn, metric_fn, *_ = pieces(data)
        outputs = model.apply(params, jnp.asarray(x))
        y = jnp.asarray(y)
        metric_value = metric_fn(outputs, y)
        if data.task == "regression" and metric_fn is losses_lib.mean_squared_error:
            metric_value = metric_value * jnp.square(data.y_scale)
        return loss_fn(outputs, y), metric_value

    def finish(state: _State, restore_best: bool | None = None) -> TrainResult:
        """The result of a finished state; ``restore_best`` overrides the early-stopping setting."""
        if restore_best is None:
            restore_best = early_stopping is not None and early_stopping.restore_best
        use_best = (state.status == DIVERGED) | restore_best
        params = jax.tree.map(lambda best, last: jnp.where(use_best, best, last), state.best_params, state.params)
        return TrainResult(params, {}, state.best_epoch, state.epoch, state.status)

    return _Program(init, run, finish, score, num_epochs)


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


def _as_key(key: PRNGKey | int) -> PRNGKey:
    """Accept an int seed or a PRNG key (new-style or raw uint32[2])."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key(int(key))
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    if isinstance(key, (jax.Array, np.ndarray)) and key.shape == (2,) and key.dtype == jnp.uint32:
        return jax.random.wrap_key_data(key)
    raise TypeError(f"key must be an int seed or a jax.random.key, got {type(key).__name__}: {key!r}")


def model_fingerprint(model: Model) -> Any:
    """A hashable identity for a model: its config when that rebuilds it, else the object."""
    if model.config.get("type") in ("mlp", "sequential"):
        return json.dumps(model.config, sort_keys=True)
    return id(model.apply)


@dataclasses.dataclass(frozen=True, eq=False)
class TrainSpec:
    """The static half of a training job: everything that shapes the compiled program.

    Two specs with equal fields compare equal, so ``jax.jit(..., static_argnames="spec")``
    reuses one compiled program across ``fit`` and ``sweep`` calls that differ only
    in data values or hyperparameters.
    """

    model: Model
    num_epochs: int
    batch_size: int | None = 32
    optimizer: str = "adam"
    loss: str | Callable | None = None
    metric: str | None = None
    schedule: str = "constant"
    warmup_steps: int = 0
    nesterov: bool = False
    early_stopping: EarlyStopping | None = None
    reduce_on_plateau: dict[str, Any] | tuple[tuple[str, Any], ...] | None = None
    data_devices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.reduce_on_plateau, dict):  # hashable, order-independent
            object.__setattr__(self, "reduce_on_plateau", tuple(sorted(self.reduce_on_plateau.items())))

    def _identity(self) -> tuple:
        fields = [getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"]
        return (model_fingerprint(self.model), *fields)

    def __hash__(self) -> int:
        return hash(self._identity())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TrainSpec) and self._identity() == other._identity()

    @functools.cached_property
    def program(self) -> _Program:
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        if options["reduce_on_plateau"] is not None:
            options["reduce_on_plateau"] = dict(options["reduce_on_plateau"])
        return _make_program(self.model, **options)


@functools.partial(jax.jit, static_argnames=("spec",))
def _init_compiled(spec: TrainSpec, hparams: Hyperparams, key: PRNGKey, data: Any, params: Params | None) -> _State:
    return spec.program.init(hparams, key, data, params)


@functools.partial(jax.jit, static_argnames=("spec", "epochs"), donate_argnames=("state",))
def _run_compiled(spec: TrainSpec, state: _State, hparams: Hyperparams, data: Any, epochs: int):
    return spec.program.run(state, hparams, data, epochs)


@functools.partial(jax.jit, static_argnames=("spec",))
def _finish_compiled(spec: TrainSpec, state: _State) -> TrainResult:
    return spec.program.finish(state)


def check_data(data: Any) -> None:
    """Raise TypeError unless ``data`` is a :class:`jaxnn.Dataset`."""
    from jaxnn.data import Dataset

    if not isinstance(data, Dataset):
        raise TypeError(
            f"data must be a jaxnn.Dataset, got {type(data).__name__}; wrap arrays with "
            f"jaxnn.datasets.from_arrays(x, y) or load one with jaxnn.datasets.load(name)"
        )


def fit(
    model: Model,
    data: Any,
    *,
    key: PRNGKey | int,
    optimizer: str = "adam",
    learning_rate: ArrayLike = 1e-3,
    num_epochs: int = 100,
    batch_size: int | None = 32,
    weight_decay: ArrayLike = 0.0,
    momentum: ArrayLike = 0.0,
    nesterov: bool = False,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    dropout: ArrayLike | None = None,
    init_scale: ArrayLike = 1.0,
    schedule: str = "constant",
    warmup_steps: int = 0,
    decay_rate: ArrayLike = 0.1,
    final_fraction: ArrayLike = 0.0,
    clip_norm: ArrayLike | None = None,
    loss: str | Callable | None = None,
    metric: str | None = None,
    early_stopping: EarlyStopping | None = None,
    reduce_on_plateau: dict[str, Any] | None = None,
    progress: bool = True,
    on_divergence: str = "raise",
    num_chunks: int = 20,
    params: Params | None = None,
    devices: Any = None,
) -> TrainResult:
    """Train ``model`` on ``data`` and return the trained parameters and history.

    The whole run is one compiled program (epochs and minibatches in
    ``lax.scan``) that ``fit`` calls ``num_chunks`` times so the progress bar
    moves and an early-stopped run ends without computing the remaining epochs.
    Calling ``fit`` again with other hyperparameter values reuses the program.

    Args:
        model: a :class:`jaxnn.Model`.
        data: a :class:`jaxnn.Dataset` (see :mod:`jaxnn.datasets`).
        key: an int seed or a PRNG key; it fixes the initialization, the
            shuffling and dropout, so the same key reproduces the run bitwise.
        optimizer: ``"gd"``, ``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` or ``"adagrad"``.
        learning_rate, weight_decay, momentum, b1, b2: optimizer hyperparameters
            (see :func:`jaxnn.optimizer`).
        num_epochs: passes over the training split.
        batch_size: minibatch size, or None for full-batch gradient descent.
        dropout: overrides the model's dropout rate.
        init_scale: multiplies the initial weight matrices.
        schedule, warmup_steps, decay_rate, final_fraction: the learning-rate
            schedule (see :func:`jaxnn.schedule`).
        clip_norm: clip the global gradient norm.
        loss, metric: by default chosen from ``data.task``.
        early_stopping: a :class:`EarlyStopping` or None.
        reduce_on_plateau: options for ``optax.contrib.reduce_on_plateau``.
        progress: show a tqdm progress bar.
        on_divergence: ``"raise"`` (:class:`TrainingDiverged`) or ``"return"``
            (status ``"diverged"`` with the last finite parameters).
        num_chunks: how many pieces the run is split into on the host.
        params: start from these parameters instead of a fresh initialization
            (``init_scale`` is then not applied); the key still drives shuffling and dropout.
        devices: data parallelism. None trains on the default device; an int n
            (the first n local devices), ``"all"`` or a list of devices splits
            every minibatch across them while params and optimizer state stay
            replicated (XLA all-reduces the gradient). A batch that does not
            divide evenly is padded with masked slots, so the result equals the
            single-device run up to float rounding.

    Returns:
        A :class:`TrainResult` whose history covers the epochs that ran.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (unless on_divergence="return").
        ValueError, TypeError: bad arguments, named in the message.
    """
    check_data(data)
    if on_divergence not in ("raise", "return"):
        raise ValueError(f"`on_divergence` must be 'raise' or 'return', got {on_divergence!r}")
    num_chunks = _checks.positive_int("num_chunks", num_chunks)
    hparams = Hyperparams(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        momentum=momentum,
        b1=b1,
        b2=b2,
        dropout=dropout,
        init_scale=init_scale,
        decay_rate=decay_rate,
        final_fraction=final_fraction,
        clip_norm=clip_norm,
    )
    hyperparams_lib.check(hparams)
    for name in ("learning_rate", "weight_decay", "momentum", "b1", "b2", "dropout", "init_scale", "clip_norm"):
        value = getattr(hparams, name)
        if value is not None and np.ndim(value) != 0:
            raise ValueError(f"`{name}` must be a scalar in fit (got shape {np.shape(value)}); use jaxnn.sweep for many values")
    hparams = jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), hparams)
    spec = TrainSpec(
        model=model,
        num_epochs=num_epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        loss=loss,
        metric=metric,
        schedule=schedule,
        warmup_steps=warmup_steps,
        nesterov=nesterov,
        early_stopping=early_stopping,
        reduce_on_plateau=reduce_on_plateau,
        data_devices=None if devices is None else tuple(parallel.resolve_devices(devices)),
    )
    program = spec.program  # validates the static options before anything compiles
    if spec.data_devices is not None and len(spec.data_devices) > 1:
        replicated = NamedSharding(parallel.data_mesh(spec.data_devices), PartitionSpec())
        data, hparams = jax.device_put((data, hparams), replicated)
        if params is not None:
            params = jax.device_put(params, replicated)
    else:
        data = jax.device_put(data, None if spec.data_devices is None else spec.data_devices[0])
    chunk = math.ceil(program.num_epochs / min(num_chunks, program.num_epochs))
    if params is not None:
        expected = jax.eval_shape(model.init, jax.random.key(0))
        if jax.tree.structure(params) != jax.tree.structure(expected) or any(
            np.shape(a) != b.shape for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(expected))
        ):
            raise ValueError(
                f"`params` do not fit the model: expected shapes {jax.tree.map(lambda a: a.shape, expected)}, "
                f"got {jax.tree.map(np.shape, params)}"
            )
        params = jax.tree.map(lambda a, b: jnp.asarray(a, b.dtype), params, expected)
    state = _init_compiled(spec, hparams, _as_key(key), data, params)
    rows: list[dict[str, np.ndarray]] = []
    from tqdm.auto import tqdm

    with tqdm(total=program.num_epochs, disable=not progress, unit="epoch", leave=False) as bar:
        while True:
            state, history = _run_compiled(spec, state, hparams, data, chunk)
            history = jax.device_get(history)
            rows.append(history)
            epoch, status = int(state.epoch), int(state.status)
            bar.update(epoch - bar.n)
            last = epoch - 1 - (len(rows) - 1) * chunk
            if 0 <= last < chunk:
                bar.set_postfix(
                    train_loss=f"{history['train_loss'][last]:.4g}",
                    val_loss=f"{history['val_loss'][last]:.4g}",
                    val_metric=f"{history['val_metric'][last]:.4g}",
                )
            if status != RUNNING or epoch >= program.num_epochs:
                break
    result = _finish_compiled(spec, state)
    full = {name: np.concatenate([row[name] for row in rows])[:epoch] for name in HISTORY_KEYS}
    result = TrainResult(
        params=result.params,
        history=full,
        best_epoch=int(result.best_epoch),
        stopped_epoch=epoch,
        status=STATUS[status],
    )
    if status == DIVERGED and on_divergence == "raise":
        raise TrainingDiverged(epoch, result)
    return result


def _infer_task(outputs: Array, y: np.ndarray) -> str:
    if outputs.ndim > 1 and outputs.shape[-1] > 1:
        return "multiclass"
    values = np.unique(np.asarray(y))
    return "binary" if np.all(np.isin(values, (0, 1))) else "regression"


def evaluate(
    model: Model,
    params: Params,
    data_or_xy: Any,
    *,
    split: str = "test",
    loss: str | Callable | None = None,
    metric: str | None = None,
) -> dict[str, float]:
    """Loss and metric of ``params`` on a dataset split or on ``(x, y)``.

    Args:
        model: the model the params belong to.
        params: trained parameters.
        data_or_xy: a :class:`jaxnn.Dataset` (``split`` selects ``"train"``,
            ``"val"`` or ``"test"``) or a tuple ``(x, y)`` of prepared arrays.
        loss, metric: by default chosen from the task (inferred from the
            outputs and labels for an ``(x, y)`` tuple).

    Returns:
        ``{"loss": ..., <metric name>: ..., "num_examples": n}``. For regression
        data the mean squared error metric is in the target's original units.
    """
    from jaxnn.data import Dataset

    if isinstance(data_or_xy, Dataset):
        x, y = data_or_xy.split(split)
        task, y_scale = data_or_xy.task, float(data_or_xy.y_scale)
    elif isinstance(data_or_xy, (tuple, list)) and len(data_or_xy) == 2:
        x, y = data_or_xy
        task, y_scale = None, 1.0
    else:
        raise TypeError(f"data_or_xy must be a jaxnn.Dataset or a tuple (x, y), got {type(data_or_xy).__name__}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError(f"there are no examples to evaluate (the {split!r} split is empty)")
    outputs = model.apply(params, x)
    task = task or _infer_task(outputs, y)
    _, loss_fn = _resolve_loss(loss, task)
    metric_name = metric or DEFAULT_METRIC[task]
    metric_fn, _ = losses_lib.get_metric(metric_name)
    metric_value = float(metric_fn(outputs, y))
    if task == "regression" and metric_name == "mean_squared_error":
        metric_value *= y_scale**2
    return {"loss": float(loss_fn(outputs, y)), metric_name: metric_value, "num_examples": int(x.shape[0])}


def predict(
    model: Model,
    params: Params,
    x: ArrayLike,
    *,
    task: str | None = None,
    dataset: Any = None,
    proba: bool = False,
) -> np.ndarray:
    """Predictions for ``x``: class labels by default, probabilities or values on request.

    Args:
        model: the model the params belong to.
        params: trained parameters.
        x: inputs ``(n, features)``, finite. With ``dataset``, ``x`` is raw data
            and is standardized with the statistics fitted on the training split.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``; taken from
            ``dataset`` when given, inferred from the output width otherwise
            (one output is ambiguous: pass ``task``).
        dataset: the :class:`jaxnn.Dataset` the model was trained on (or a
            checkpoint's ``dataset``).
        proba: return class probabilities ``(n,)`` for binary (of class 1) and
            ``(n, num_classes)`` for multiclass instead of labels.

    Returns:
        A NumPy array. Classification: with ``dataset``, the original labels
        (``dataset.class_labels``: ints, floats or strings, as in the data the
        model was trained on); without, class indices ``0..K-1`` (int64).
        Regression: values, in the target's original units when ``dataset`` is
        given. ``proba=True``: probabilities in class-index order.

    Raises:
        ValueError: ``x`` holds NaN or infinite values (the message names the
            first one's row and column), ``task`` is unknown or missing, or
            ``proba=True`` on a regression task.
    """
    if _checks.is_concrete(x):
        x = np.asarray(x)
        names = dataset.feature_names if dataset is not None else [f"x{i}" for i in range(np.shape(x)[-1] if np.ndim(x) else 0)]
        if np.ndim(x) == 2 and x.shape[1] == len(names) and x.dtype.kind in "biuf":
            data_lib.check_finite_features("x", x, names)
    if dataset is not None:
        x = dataset.transform(x)
        task = task or dataset.task
    outputs = model.apply(params, jnp.asarray(x))
    if task is None:
        if outputs.ndim > 1 and outputs.shape[-1] > 1:
            task = "multiclass"
        else:
            raise ValueError("one output per example is ambiguous: pass task='binary' or task='regression' (or dataset=)")
    _checks.lookup("task", task, DEFAULT_LOSS)
    if task == "regression":
        if proba:
            raise ValueError("proba=True gives class probabilities, but this is a regression task")
        values = outputs[:, 0] if outputs.ndim == 2 and outputs.shape[-1] == 1 else outputs
        values = np.asarray(values)
        return np.asarray(dataset.inverse_transform_y(values)) if dataset is not None else values
    if proba:
        if task == "binary":
            return np.asarray(jax.nn.sigmoid(outputs.reshape(outputs.shape[0])))
        return np.asarray(jax.nn.softmax(outputs, axis=-1))
    if task == "binary":
        indices = np.asarray(outputs.reshape(outputs.shape[0]) > 0).astype(np.int64)
    else:
        indices = np.asarray(jnp.argmax(outputs, axis=-1)).astype(np.int64)
    if dataset is not None and dataset.class_labels:
        return np.asarray(dataset.class_labels)[indices]
    return indices
