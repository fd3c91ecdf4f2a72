"""Models from other JAX libraries: Flax NNX modules and Equinox modules as jaxnn :class:`~jaxnn.Model` s.

Both wrappers split a module into its static structure, closed over by the
model's functions, and its parameters, which become a plain pytree of arrays
(nested dicts) that ``fit`` and ``sweep`` can vmap, shard and save. Either
takes a module instance (``init`` then returns its weights, whatever the key)
or a factory that builds one from a key (``init(key)`` builds a fresh module
inside the traced function, so every sweep row draws its own weights).

>>> import jax, jaxnn
>>> from flax import nnx
>>> model = jaxnn.from_nnx(lambda rngs: nnx.Linear(3, 2, rngs=rngs))
>>> params = model.init(jax.random.key(0))
>>> sorted(params), params["kernel"].shape
(['bias', 'kernel'], (3, 2))
>>> model.apply(params, jax.numpy.ones((4, 3))).shape
(4, 2)

Only parameters travel through jaxnn's training loop, so modules with other
state (batch statistics, caches, counters) are refused: use a layer norm
instead of a batch norm.
"""

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import errors, layers
from jaxnn.loop import as_key
from jaxnn.models import Model
from jaxnn.typing import Array, ArrayLike, Params, PRNGKey

__all__ = ["from_equinox", "from_nnx"]

_STATEFUL_HINT = (
    "jaxnn's training loop carries only parameters, so stateful layers such as BatchNorm are not supported "
    "(use LayerNorm instead)"
)


def _input_shape(input_shape: Sequence[int] | None) -> tuple[int, ...]:
    return () if input_shape is None else layers.as_shape("input_shape", input_shape)


def _check_batch(x: Array, input_shape: tuple[int, ...]) -> None:
    """A batch of examples of ``input_shape`` (when known): the errors name both shapes."""
    if x.ndim == 0:
        raise errors.DataError("x must be a batch of examples with a leading batch axis, got a scalar")
    if input_shape and tuple(x.shape[1:]) != input_shape:
        raise errors.DataError(
            f"x has examples of shape {tuple(x.shape[1:])} but the model expects {input_shape} (input_shape); "
            f"x.shape={tuple(x.shape)}"
        )


def _check_call(kind: str, train: bool, key: PRNGKey | None, dropout: ArrayLike | None, needs_key: bool) -> None:
    if dropout is not None:
        raise errors.ConfigError(f"an {kind} module fixes its own dropout rate; `dropout=` cannot override it")
    if train and needs_key and key is None:
        raise errors.ConfigError(
            f"apply(..., train=True) of an {kind} module with dropout (random streams) needs `key`"
        )


def _kind(value: Any) -> str:
    """What a factory returned, in words (an abstract evaluation turns its arrays into ShapeDtypeStructs)."""
    return "an array" if isinstance(value, jax.ShapeDtypeStruct) else f"a {type(value).__name__}"


def _snapshot(params: Params) -> Callable[[PRNGKey], Params]:
    """``init`` of a wrapped instance: its weights, whatever the key.

    Copies, because ``fit`` donates the state it trains: an output that were the
    very buffer held here would be deleted with it.
    """
    if any(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(params)):
        raise errors.ConfigError(
            "the module's weights are abstract (jax.ShapeDtypeStruct, e.g. from eval_shape): wrap a module with "
            "concrete weights, or a factory that builds one"
        )
    params = jax.tree.map(jnp.asarray, params)

    def init(key: PRNGKey) -> Params:
        del key  # an instance has its weights already
        return jax.tree.map(jnp.copy, params)

    return init


# ---------------------------------------------------------------- Flax NNX


def _nnx_rngs(key: PRNGKey) -> Any:
    """The RNG streams a factory builds its module from: ``params``, ``dropout`` and a default for any other name."""
    from flax import nnx

    default, params, dropout = jax.random.split(as_key(key), 3)
    return nnx.Rngs(default, params=params, dropout=dropout)


def _nnx_template(module_or_factory: Any) -> tuple[Any, Callable[[Any], Any] | None]:
    """``(module, make)``: the instance (``make`` None), or the factory's module built abstractly (shapes, no arrays)."""
    import flax.linen
    from flax import nnx

    if isinstance(module_or_factory, nnx.Module):
        return nnx.clone(module_or_factory), None  # .train()/.eval() below must not touch the user's module
    if isinstance(module_or_factory, flax.linen.Module):
        raise errors.ArgumentTypeError(
            "from_nnx expects a flax.nnx module; wrap a flax.linen module with jaxnn.from_flax(module, example_x)"
        )
    if not callable(module_or_factory):
        raise errors.ArgumentTypeError(
            "from_nnx expects a flax.nnx.Module or a factory make(rngs: nnx.Rngs) -> nnx.Module, "
            f"got {type(module_or_factory).__name__}"
        )
    make = module_or_factory
    module = nnx.eval_shape(lambda: make(_nnx_rngs(jax.random.key(0))))
    if not isinstance(module, nnx.Module):
        raise errors.ArgumentTypeError(
            f"the factory given to from_nnx must return a flax.nnx.Module, it returned {_kind(module)}"
        )
    return module, make


def _nnx_check_state(module: Any) -> set[tuple[Any, ...]]:
    """Refuse variables other than parameters and RNG streams, and dropout layers without a stream.

    Returns:
        The paths of the RNG streams of dropout layers at rate 0, which never draw.
    """
    from flax import nnx

    rest = nnx.split(module, nnx.Param, nnx.RngState, ...)[-1]  # of (graph, params, rngs, everything else)
    found = nnx.to_flat_state(rest)
    if len(found):
        kinds = sorted({type(value).__name__ for _, value in found})
        where = ", ".join("/".join(map(str, path)) for path, _ in found)
        raise errors.ConfigError(
            f"from_nnx supports modules whose only variables are nnx.Param (and RNG streams); this one also has "
            f"{', '.join(kinds)} ({where}): {_STATEFUL_HINT}"
        )
    inert = set()
    for path, layer in nnx.iter_modules(module):
        if not isinstance(layer, nnx.Dropout):
            continue
        if layer.rate == 0:
            inert.add((*path, "rngs"))
        elif layer.rngs is None:
            raise errors.ConfigError(
                f"the nnx.Dropout at {'/'.join(map(str, path)) or 'the top'} has no RNG stream, so jaxnn cannot give "
                "it keys: build it with nnx.Dropout(rate, rngs=rngs)"
            )
    return inert


def _lookup(tree: Any, path: tuple[Any, ...], name: str = "params") -> Any:
    """``tree[path[0]][path[1]]...``, also where a checkpoint turned an int key into a string."""
    for part in path:
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, dict) and str(part) in tree:
            tree = tree[str(part)]
        else:
            raise errors.ConfigError(
                f"{name} has no entry {'/'.join(map(str, path))} (the model's parameter {part!r} is missing)"
            )
    return tree


def _nested(paths: Sequence[tuple[Any, ...]], leaves: Sequence[Any]) -> dict[Any, Any]:
    nested: dict[Any, Any] = {}
    for path, leaf in zip(paths, leaves, strict=False):
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = leaf
    return nested


def from_nnx(module_or_factory: Any, *, input_shape: Sequence[int] | None = None) -> Model:
    """Wrap a Flax NNX module as a jaxnn :class:`~jaxnn.Model` (through ``nnx.split`` and ``nnx.merge``).

    ``apply`` merges the module's structure with ``params``, puts it in
    training or evaluation mode (what ``module.train()`` and ``module.eval()``
    set: ``deterministic`` of dropout layers), and gives its RNG streams keys
    drawn from ``key`` (``fold_in(key, i)`` for the ``i``-th stream, counts
    reset), so dropout is a pure function of ``key``. Nothing the call changes
    leaks out of it: it works under ``jit``, ``vmap`` and ``grad``.

    Only parameters travel through jaxnn's loop, so a module with other
    variables (``nnx.BatchStat`` of ``nnx.BatchNorm``, caches, counters,
    arrays that are not variables) is refused: use ``nnx.LayerNorm``.

    Args:
        module_or_factory: an ``nnx.Module`` instance, or a factory
            ``make(rngs: nnx.Rngs) -> nnx.Module``. With a factory, ``init(key)``
            builds the module from ``nnx.Rngs`` seeded by ``key`` (streams
            ``params``, ``dropout`` and a default), so every seed of a sweep
            starts from its own weights. With an instance, ``init(key)`` returns
            the weights the instance has when wrapped, whatever the key: seeds
            then vary only the shuffling and dropout; pass a factory to draw
            weights per seed.
        input_shape: the shape of one example, e.g. ``(8, 8, 1)``; when given,
            ``apply`` checks it, otherwise shape errors come from the module.

    Returns:
        A :class:`~jaxnn.Model` whose params are ``nnx.to_pure_dict(nnx.state(module, nnx.Param))``
        (nested dicts of arrays) and whose ``apply(params, x, *, key=None, train=False)``
        maps a batch ``x`` to the module's outputs. ``needs_key`` is set when the
        module has RNG streams (dropout layers at a rate above 0, or streams of its own).

    Raises:
        TypeError: neither an NNX module nor a factory of one (a linen module
            belongs to :func:`jaxnn.from_flax`).
        ValueError: non-parameter variables (BatchNorm), an ``nnx.Dropout``
            built without ``rngs``; from ``apply``: ``dropout=`` given, or
            ``train=True`` without ``key`` for a module with RNG streams.

    Example::

        class MLP(nnx.Module):
            def __init__(self, rngs):
                self.hidden = nnx.Linear(30, 16, rngs=rngs)
                self.dropout = nnx.Dropout(0.2, rngs=rngs)
                self.out = nnx.Linear(16, 1, rngs=rngs)

            def __call__(self, x):
                return self.out(self.dropout(nnx.relu(self.hidden(x))))

        result = jaxnn.fit(jaxnn.from_nnx(MLP), data, key=0)
    """
    from flax import nnx

    input_shape = _input_shape(input_shape)
    module, make = _nnx_template(module_or_factory)
    inert_streams = _nnx_check_state(module)
    if make is None:
        init = _snapshot(nnx.to_pure_dict(nnx.state(module, nnx.Param)))
    else:

        def init(key: PRNGKey) -> Params:
            return nnx.to_pure_dict(nnx.state(make(_nnx_rngs(key)), nnx.Param))

    train_module, eval_module = nnx.clone(module), nnx.clone(module)
    train_module.train()
    eval_module.eval()
    train_graph, param_state, *streams = nnx.split(train_module, nnx.Param, nnx.RngState)
    (rng_state,) = streams  # one state per filter after nnx.Param: the RNG streams
    eval_graph = nnx.split(eval_module, nnx.Param, nnx.RngState)[0]
    param_paths = [path for path, _ in nnx.to_flat_state(param_state)]
    rng_leaves = [(path, type(value), tuple(value.shape)) for path, value in nnx.to_flat_state(rng_state)]
    needs_key = any(issubclass(kind, nnx.RngKey) and path[:-1] not in inert_streams for path, kind, _ in rng_leaves)

    def stream_state(key: PRNGKey | None) -> dict[Any, Any]:
        """The RNG streams' keys and counts, drawn from ``key`` (any fixed key when no stream is used)."""
        key = jax.random.key(0) if key is None else as_key(key)
        values = []
        for i, (_, kind, shape) in enumerate(rng_leaves):
            if issubclass(kind, nnx.RngKey):
                stream_key = jax.random.fold_in(key, i)
                values.append(jax.random.split(stream_key, shape) if shape else stream_key)
            else:
                values.append(jnp.zeros(shape, jnp.uint32))
        return _nested([path for path, _, _ in rng_leaves], values)

    def apply(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        _check_call("NNX", train, key, dropout, needs_key)
        x = jnp.asarray(x)
        _check_batch(x, input_shape)
        # Rebuilt on the model's own paths: the params may come from a checkpoint with int keys as strings.
        params = _nested(param_paths, [_lookup(params, path) for path in param_paths])
        graph = train_graph if train else eval_graph
        return nnx.merge(graph, params, stream_state(key))(x)

    config = {"type": "nnx", "module": type(module).__qualname__, "input_shape": list(input_shape)}
    return Model(init, apply, config, input_shape=input_shape, needs_key=needs_key)


# ---------------------------------------------------------------- Equinox


def _import_equinox() -> Any:
    try:
        import equinox
    except ImportError:
        raise errors.MissingExtraError("jaxnn.from_equinox needs Equinox: pip install 'jaxnn[equinox]'") from None
    return equinox


def _is_float_array(leaf: Any) -> bool:
    """A floating-point array, concrete or abstract (``jax.ShapeDtypeStruct`` from ``filter_eval_shape``)."""
    return isinstance(leaf, (jax.Array, np.ndarray, jax.ShapeDtypeStruct)) and jnp.issubdtype(leaf.dtype, jnp.inexact)


def _path_names(path: tuple[Any, ...]) -> tuple[str, ...]:
    """A pytree key path as the string keys of nested dicts: ``.layers[0].weight`` -> ``("layers", "0", "weight")``."""
    names = []
    for entry in path:
        for attribute in ("name", "key", "idx"):
            if hasattr(entry, attribute):
                names.append(str(getattr(entry, attribute)))
                break
        else:
            names.append(str(entry))
    return tuple(names)


def _eqx_template(model_or_factory: Any) -> tuple[Any, Callable[[PRNGKey], Any] | None]:
    """``(model, make)``: the instance (``make`` None) or the factory's model built abstractly."""
    eqx = _import_equinox()
    if isinstance(model_or_factory, eqx.Module):
        return model_or_factory, None
    if not callable(model_or_factory):
        raise errors.ArgumentTypeError(
            "from_equinox expects an equinox.Module or a factory make(key) -> equinox.Module, "
            f"got {type(model_or_factory).__name__}"
        )
    make = model_or_factory
    model = eqx.filter_eval_shape(make, jax.random.key(0))
    if not isinstance(model, eqx.Module):
        extra = " (a model with state from eqx.nn.make_with_state?)" if isinstance(model, tuple) else ""
        raise errors.ArgumentTypeError(
            f"the factory given to from_equinox must return an equinox.Module, it returned {_kind(model)}{extra}"
        )
    return model, make


def _eqx_check(model: Any, takes_key: bool) -> bool:
    """Refuse stateful layers and dropout that cannot get a key; whether the model has active dropout."""
    eqx = _import_equinox()
    is_special = lambda node: isinstance(node, (eqx.nn.StateIndex, eqx.nn.Dropout))  # noqa: E731
    found = jax.tree_util.tree_flatten_with_path(model, is_leaf=is_special)[0]
    stateful = [jax.tree_util.keystr(path) for path, node in found if isinstance(node, eqx.nn.StateIndex)]
    if stateful:
        raise errors.ConfigError(
            f"from_equinox supports modules without state; this one has eqx.nn.StateIndex at {', '.join(stateful)}: "
            f"{_STATEFUL_HINT}"
        )
    has_dropout = any(isinstance(node, eqx.nn.Dropout) and node.p > 0 for _, node in found)
    if has_dropout and not takes_key:
        raise errors.ConfigError(
            f"{type(model).__name__} has eqx.nn.Dropout layers but its __call__ takes no `key`, so jaxnn cannot "
            "give them one: add a `key` argument and pass keys to the dropout layers"
        )
    return has_dropout


def _one_example_error(name: str, example_shape: tuple[int, ...], error: BaseException) -> errors.ConfigError:
    """Equinox's convention, said where a module written for a batch fails on one example."""
    return errors.ConfigError(
        f"the Equinox module {name} failed on one example of shape {tuple(example_shape)} "
        f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Equinox modules (and jaxnn's "
        "wrapper of them) act on ONE example: jaxnn maps __call__ over the batch with jax.vmap, so write __call__ for "
        f"x of shape {tuple(example_shape)}, without a batch axis (e.g. x.reshape(-1), not x.reshape(x.shape[0], -1))"
    )


def from_equinox(model_or_factory: Any, *, input_shape: Sequence[int] | None = None) -> Model:
    """Wrap an Equinox module as a jaxnn :class:`~jaxnn.Model` (through ``eqx.partition`` and ``eqx.combine``).

    The params are the module's floating-point arrays (``eqx.is_inexact_array``)
    as nested dicts named by their paths (``model.layers[0].weight`` is
    ``params["layers"]["0"]["weight"]``); everything else is static. Equinox
    modules act on one example, so ``apply`` maps the module over the batch
    axis with ``jax.vmap``; if its ``__call__`` takes ``key``, every example
    gets its own (``jax.random.split(key, batch)``). ``train`` sets
    ``eqx.nn.inference_mode(model, value=not train)``.

    Stateful modules (``eqx.nn.BatchNorm``, ``eqx.nn.SpectralNorm``: anything
    holding an ``eqx.nn.StateIndex``) are refused: jaxnn's loop carries only
    parameters; use ``eqx.nn.LayerNorm``.

    Args:
        model_or_factory: an ``equinox.Module``, or a factory ``make(key) -> equinox.Module``
            (``init(key)`` then builds it inside the traced function: every
            seed draws its own weights). With an instance, ``init(key)``
            returns its weights whatever the key: seeds vary only the
            shuffling and dropout.
        input_shape: the shape of one example; when given, ``apply`` checks it.

    Returns:
        A :class:`~jaxnn.Model`; ``needs_key`` is set when the module has
        ``eqx.nn.Dropout`` layers or a ``key`` argument without a default.

    Raises:
        ImportError: Equinox is not installed.
        TypeError: neither an Equinox module nor a factory of one.
        ValueError: a stateful module, dropout layers with no ``key`` argument
            to reach them, a factory's module holding non-float arrays (they
            cannot be rebuilt per key); from ``apply``: ``dropout=`` given, or
            ``train=True`` without ``key`` for a module that needs one.

    Example::

        make = lambda key: eqx.nn.MLP(30, 1, width_size=16, depth=1, key=key)
        result = jaxnn.fit(jaxnn.from_equinox(make), data, key=0)
    """
    eqx = _import_equinox()
    input_shape = _input_shape(input_shape)
    model, make = _eqx_template(model_or_factory)
    call_parameters = inspect.signature(type(model).__call__).parameters
    takes_key = "key" in call_parameters
    has_dropout = _eqx_check(model, takes_key)
    needs_key = has_dropout or (takes_key and call_parameters["key"].default is inspect.Parameter.empty)

    param_part, _ = eqx.partition(model, _is_float_array)
    flat, treedef = jax.tree_util.tree_flatten_with_path(param_part)
    paths = [_path_names(path) for path, _ in flat]
    statics = {
        train: eqx.partition(eqx.nn.inference_mode(model, value=not train), _is_float_array)[1]
        for train in (True, False)
    }
    if make is not None:
        arrays = [
            jax.tree_util.keystr(path)
            for path, leaf in jax.tree_util.tree_flatten_with_path(statics[False])[0]
            if isinstance(leaf, jax.ShapeDtypeStruct)
        ]
        if arrays:
            raise errors.ConfigError(
                f"the module built by the factory holds arrays that are not floating point ({', '.join(arrays)}); "
                "jaxnn treats those as fixed structure and cannot rebuild them per key: wrap an instance instead"
            )

    def to_params(part: Any) -> Params:
        return _nested(paths, jax.tree.leaves(part))

    if make is None:
        init = _snapshot(to_params(param_part))
    else:

        def init(key: PRNGKey) -> Params:
            return to_params(eqx.partition(make(as_key(key)), eqx.is_inexact_array)[0])

    def apply(
        params: Params,
        x: ArrayLike,
        *,
        key: PRNGKey | None = None,
        train: bool = False,
        dropout: ArrayLike | None = None,
    ) -> Array:
        _check_call("Equinox", train, key, dropout, needs_key)
        x = jnp.asarray(x)
        _check_batch(x, input_shape)
        leaves = [_lookup(params, path) for path in paths]
        module = eqx.combine(jax.tree.unflatten(treedef, leaves), statics[bool(train)])
        try:
            if takes_key and key is not None:
                keys = jax.random.split(as_key(key), x.shape[0])
                return jax.vmap(lambda example, example_key: module(example, key=example_key))(x, keys)
            return jax.vmap(module)(x)
        except (TypeError, ValueError, IndexError) as error:
            if isinstance(error, errors.JaxnnError):
                raise
            raise _one_example_error(type(model).__name__, x.shape[1:], error) from error

    config = {"type": "equinox", "module": type(model).__qualname__, "input_shape": list(input_shape)}
    return Model(init, apply, config, input_shape=input_shape, needs_key=needs_key)
