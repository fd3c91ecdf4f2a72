"""scikit-learn estimators trained by jaxnn's compiled loop: :class:`MLPClassifier`, :class:`MLPRegressor`
and :class:`SweepSearchCV`.

The estimators take scikit-learn's own constructor parameters where they mean the same thing
(``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``, ``batch_size``, ``learning_rate_init``,
``max_iter``, ``early_stopping``, ``validation_fraction``, ``n_iter_no_change``, ``tol``, ``random_state``,
...), so swapping the import is the migration; they fit with :func:`jaxnn.fit` and work in a
``Pipeline``, ``cross_val_score`` and ``GridSearchCV``. :class:`SweepSearchCV` searches like
``GridSearchCV`` / ``RandomizedSearchCV`` but trains every candidate on every fold in one compiled
program (:func:`jaxnn.sweep` with ``cv=``). Needs the ``sklearn`` extra: ``pip install -e ".[sklearn]"``.

Differences from scikit-learn's MLP, on purpose: ``solver="lbfgs"`` and the ``"invscaling"`` /
``"adaptive"`` learning rates are not offered; without ``early_stopping`` every one of ``max_iter``
epochs runs (scikit-learn also stops when the training loss stalls); the training split is padded to
a few fixed sizes (padding rows are masked out and come after the real ones, so the minibatches are
the unpadded data's), so data of similar sizes reuse one compiled program.

>>> from jaxnn.sklearn import MLPClassifier
>>> from sklearn.datasets import load_iris
>>> x, y = load_iris(return_X_y=True)
>>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50, random_state=0).fit(x, y)
>>> clf.score(x, y) > 0.9
True
"""

import math
import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxnn import errors

if TYPE_CHECKING:
    from jaxnn.sweeps.result import SweepResult

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone, is_classifier
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted, check_random_state
except ImportError:  # pragma: no cover - exercised by a test that hides scikit-learn
    raise errors.MissingExtraError('jaxnn.sklearn needs scikit-learn: pip install -e ".[sklearn]"') from None

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


__all__ = ["MLPClassifier", "MLPRegressor", "SweepSearchCV"]

ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "identity": "identity"}
"""scikit-learn's activation names -> jaxnn's."""

SOLVERS = {"adam": "adam", "sgd": "sgd"}
"""scikit-learn's solvers that jaxnn trains with -> jaxnn's optimizer names."""


def padded_size(n: int) -> int:
    """The size a split of ``n`` examples (or ``n`` features) is padded to: the next power of two up to 256
    (at least 8), then the next multiple of a quarter of the power of two below (at most a quarter more), so
    data of similar sizes share one compiled program."""
    if n <= 8:
        return 8
    if n <= 256:
        return 2 ** math.ceil(math.log2(n))
    step = 2 ** (math.floor(math.log2(n)) - 2)
    return math.ceil(n / step) * step


def _pad_features(x: np.ndarray, features: int) -> np.ndarray:
    """``x`` with zero columns up to ``features``: a zero input adds nothing to the first layer's output, and its
    weights (zero from the start, see :func:`_padded_init`) get no gradient, so they stay zero."""
    if x.shape[1] == features:
        return x
    return np.concatenate([x, np.zeros((len(x), features - x.shape[1]), x.dtype)], axis=1)


def _padded_init(model: Any, features: int, seed: int) -> Any:
    """Initial params of ``model`` (inputs padded with zero columns) that are those of the unpadded model: the
    first layer's weights drawn at the unpadded model's scale (a variance-scaling initializer's draw times
    ``sqrt(padded fan / real fan)``) with zero rows for the padding inputs. One compiled program per padded model
    serves every real width (``features`` is traced)."""
    import jax

    from jaxnn import loop

    init_key, _ = jax.random.split(loop.as_key(seed))  # fit's init key
    return _padded_initializer(model)(init_key, np.int32(features))


def _make_padded_initializer():
    import jax
    import jax.numpy as jnp

    from jaxnn import programs

    @programs.memoize()
    def padded_initializer(model):
        padded, hidden = model.config["sizes"][0], model.config["sizes"][1]
        fan_avg = model.config["activation"] != "relu"  # relu: He (fan in); the others: Glorot (fan average)

        def init(key, features):
            params = model.init(key)
            fan = lambda inputs: inputs + hidden if fan_avg else inputs  # noqa: E731
            scale = jnp.sqrt(fan(padded) / fan(features).astype(jnp.float32))
            rows = (jnp.arange(padded) < features)[:, None]
            first = dict(params[0], w=jnp.where(rows, params[0]["w"] * scale, 0.0))
            return [first, *params[1:]]

        return jax.jit(init)

    return padded_initializer


_padded_initializer = _make_padded_initializer()


def _apply(model: Any) -> Any:
    """``model.apply`` compiled, one per model (models of equal configs are equal)."""
    return _compiled_apply(model)


def _make_compiled_apply():
    import jax

    from jaxnn import programs

    @programs.memoize()
    def compiled_apply(model):
        return jax.jit(model.apply)

    return compiled_apply


_compiled_apply = _make_compiled_apply()


class _MLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, checks, the dataset and the fit."""

    _task_kind = ""

    # Attributes fit sets (declared for type checkers; an unfitted estimator has none of them).
    params_: Any
    n_iter_: int
    validation_scores_: list[float] | None
    best_validation_score_: float | None

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        n_iter_no_change=10,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.n_iter_no_change = n_iter_no_change

    # ----------------------------------------------------------------- parameters
    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s <= 0 for s in sizes):
            raise errors.ConfigError(f"hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}")
        return [int(s) for s in sizes]

    def _check_parameters(self) -> None:
        def choose(name: str, table: dict) -> None:
            if getattr(self, name) not in table:
                raise errors.ConfigError(
                    f"{name} must be one of {', '.join(map(repr, table))}, got {getattr(self, name)!r}"
                )

        choose("activation", ACTIVATIONS)
        choose("solver", SOLVERS)
        choose("learning_rate", {"constant": None})
        if self.shuffle is not True:
            raise errors.ConfigError(f"shuffle must be True (jaxnn shuffles every epoch), got {self.shuffle!r}")
        for name, low in (("max_iter", 1), ("n_iter_no_change", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise errors.ConfigError(f"{name} must be an int >= {low}, got {value!r}")
        for name in ("alpha", "tol"):
            if not isinstance(getattr(self, name), numbers.Real) or getattr(self, name) < 0:
                raise errors.ConfigError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        if not isinstance(self.learning_rate_init, numbers.Real) or self.learning_rate_init <= 0:
            raise errors.ConfigError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        if not 0 < self.validation_fraction < 1:
            raise errors.ConfigError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        batch = self.batch_size
        if batch != "auto" and (isinstance(batch, bool) or not isinstance(batch, numbers.Integral) or batch < 1):
            raise errors.ConfigError(f"batch_size must be 'auto' or an int >= 1, got {batch!r}")
        self._hidden_sizes()

    def _hyperparameters(self, batch: int) -> dict[str, Any]:
        """Keyword arguments of :func:`jaxnn.fit`: scikit-learn's L2 term ``alpha / 2 * |W|^2`` per minibatch
        mean is jaxnn's ``weight_decay = alpha / batch``."""
        values = {"learning_rate": float(self.learning_rate_init), "weight_decay": float(self.alpha) / batch}
        if self.solver == "adam":
            values |= {"b1": float(self.beta_1), "b2": float(self.beta_2)}
        else:
            values["momentum"] = float(self.momentum)
        return values

    # ----------------------------------------------------------------- data
    def _info(self, num_features: int, num_outputs: int):
        """The :class:`jaxnn.datasets.DataInfo` of this estimator's data: no standardization (as scikit-learn's MLP;
        put a ``StandardScaler`` in front), labels as class indices."""
        from jaxnn.data.dataset import DataInfo, Standardizer

        task = self._task(num_outputs)
        num_classes = 0 if task == "regression" else max(2, num_outputs)
        return DataInfo(
            Standardizer.identity(num_features),
            task=task,
            num_classes=num_classes,
            feature_names=tuple(f"x{i}" for i in range(num_features)),
            class_names=tuple(str(i) for i in range(num_classes)),
            class_labels=tuple(range(num_classes)),
            name="sklearn",
        )

    def _dataset(self, x: np.ndarray, y: np.ndarray, info: Any, validation: tuple | None = None):
        """The padded training (and validation) data of one fit."""
        from jaxnn.data.dataset import Dataset
        from jaxnn.data.folds import pad

        x_val, y_val = validation if validation is not None else (x[:0], y[:0])
        data = Dataset(x.astype(np.float32), y, x_val.astype(np.float32), y_val, x[:0].astype(np.float32), y[:0], info)
        return pad(data, padded_size(len(x)), padded_size(len(x_val)) if len(x_val) else 0)

    def _train(self, x: np.ndarray, y: np.ndarray, *, num_outputs: int, epochs: int, first: bool) -> "_MLP":
        from sklearn.model_selection import train_test_split

        import jaxnn

        self._check_parameters()
        random = check_random_state(self.random_state)
        if first or not hasattr(self, "_seed"):
            self._seed = int(random.randint(np.iinfo(np.int32).max))
        validation = None
        if self.early_stopping and epochs > 1:
            stratify = y if self._task(num_outputs) != "regression" and np.all(np.bincount(y) >= 2) else None
            x, x_val, y, y_val = train_test_split(
                x, y, test_size=self.validation_fraction, stratify=stratify, random_state=self._seed
            )
            validation = (x_val, y_val)
        features = padded_size(x.shape[1])
        start = None if first else self.params_
        if first:
            self._model_info = self._info(features, num_outputs)
            width = 1 if num_outputs <= 2 else num_outputs
            sizes, activation = [*self._hidden_sizes(), width], ACTIVATIONS[self.activation]
            self.model_ = jaxnn.mlp([features, *sizes], activation=activation)
            start = _padded_init(self.model_, x.shape[1], self._seed)
        x, validation = (
            _pad_features(x, features),
            validation and (_pad_features(validation[0], features), validation[1]),
        )
        data = self._dataset(x, y, self._model_info, validation)
        # Minibatches of real rows (padding rows come last and whole padding batches are no-ops), as scikit-learn's;
        # a batch of every row is the padded split (one step, padding masked), so its shape depends on the padding only
        batch = min(200, len(x)) if self.batch_size == "auto" else min(int(self.batch_size), len(x))
        steps_batch = data.num_train if batch == len(x) else batch
        stopping = None
        if validation is not None:
            stopping = jaxnn.EarlyStopping(
                patience=int(self.n_iter_no_change), min_delta=float(self.tol), monitor="val_metric"
            )
        result = jaxnn.fit(
            self.model_,
            data,
            key=self._seed + (0 if first else self.n_iter_),
            optimizer=SOLVERS[self.solver],
            num_epochs=epochs,
            batch_size=steps_batch,
            nesterov=self.solver == "sgd" and bool(self.nesterovs_momentum),
            early_stopping=stopping,
            progress=bool(self.verbose),
            on_divergence="return",
            num_chunks=1,
            params=start,
            restore_best=validation is not None,
            **self._hyperparameters(batch),
        )
        self.params_ = result.params
        stopped = int(result.stopped_epoch)
        history = {name: np.asarray(values)[:stopped] for name, values in result.history.items()}
        self.loss_curve_ = ([] if first else list(getattr(self, "loss_curve_", []))) + history["train_loss"].tolist()
        self.loss_ = float(self.loss_curve_[-1]) if self.loss_curve_ else math.nan
        self.n_iter_ = (0 if first else getattr(self, "n_iter_", 0)) + stopped
        self.t_ = self.n_iter_ * len(x)
        if validation is not None:
            self.validation_scores_ = history["val_metric"].tolist()
            self.best_validation_score_ = float(np.nanmax(history["val_metric"])) if stopped else math.nan
        else:
            self.validation_scores_ = self.best_validation_score_ = None
        self.status_ = result.status
        return self

    def _outputs(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "params_")
        x = _validate_data(self, x, reset=False, dtype=np.float32)
        rows = np.zeros((padded_size(len(x)), x.shape[1]), np.float32)  # padded: a few compiled shapes serve all
        rows[: len(x)] = x
        padded = _pad_features(rows, self.model_.input_shape[0])
        return np.asarray(_apply(self.model_)(self.params_, padded))[: len(x)]

    def __getstate__(self) -> dict[str, Any]:
        """Picklable: the model as its config, the params as NumPy arrays."""
        import jax

        state = dict(self.__dict__)
        if "model_" in state:
            state["model_"] = ("jaxnn-model-config", self.model_.config)
            state["params_"] = jax.tree.map(np.asarray, self.params_)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import jax
        import jax.numpy as jnp

        import jaxnn

        model = state.get("model_")
        if isinstance(model, tuple) and model[:1] == ("jaxnn-model-config",):
            state["model_"] = jaxnn.model_from_config(model[1])
            state["params_"] = jax.tree.map(jnp.asarray, state["params_"])
        self.__dict__.update(state)

    def _task(self, num_outputs: int) -> str:
        raise NotImplementedError

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"multioutput": False}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        tags.non_deterministic = False
        return tags


class MLPClassifier(ClassifierMixin, _MLP):
    """A multi-layer perceptron classifier with scikit-learn's interface, trained by :func:`jaxnn.fit`.

    The parameters are scikit-learn's ``MLPClassifier``'s (see there) with these values: ``activation``
    ``"relu"``, ``"tanh"``, ``"logistic"``, ``"identity"``; ``solver`` ``"adam"`` or ``"sgd"`` (with
    ``momentum`` and ``nesterovs_momentum``); ``learning_rate`` ``"constant"``; ``shuffle`` True. ``alpha``
    is the L2 penalty on the weights (not the biases), as in scikit-learn. With ``early_stopping``,
    ``validation_fraction`` of the data (stratified) is held out, training stops once its accuracy has not
    improved by ``tol`` for ``n_iter_no_change`` epochs, and the best epoch's weights are kept.

    Attributes:
        classes_: the class labels.
        model_: the :class:`jaxnn.Model`.
        params_: its trained parameters.
        n_iter_: epochs run.
        loss_: the training loss of the last epoch.
        loss_curve_: the training loss of every epoch.
        best_validation_score_, validation_scores_: the validation accuracy with ``early_stopping``.
        n_features_in_: the number of features seen in ``fit``.

    Raises:
        jaxnn.ConfigError: a parameter out of range, at ``fit``.
    """

    def _task(self, num_outputs: int) -> str:
        return "binary" if num_outputs <= 2 else "multiclass"

    def fit(self, X: Any, y: Any) -> "MLPClassifier":
        """Train on ``X`` ``(n, d)`` and labels ``y`` ``(n,)`` (any labels scikit-learn accepts); returns self."""
        return self._fit(X, y, first=not (self.warm_start and hasattr(self, "params_")), epochs=self.max_iter)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "MLPClassifier":
        """One more epoch on ``X``, ``y`` (from the current weights); the first call needs ``classes``."""
        first = not hasattr(self, "params_")
        if first and classes is None:
            raise errors.ConfigError("the first call to partial_fit needs classes= (every label the data may hold)")
        return self._fit(X, y, first=first, epochs=1, classes=classes)

    def _fit(self, X: Any, y: Any, *, first: bool, epochs: int, classes: Any = None) -> "MLPClassifier":
        X, y = _validate_data(self, X, y, reset=first, dtype=np.float32)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass"):
            raise errors.DataError(f"y must hold one label per example (binary or multiclass), got {type_of_target(y)}")
        if first:
            self.classes_ = np.unique(y if classes is None else np.asarray(classes))
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise errors.DataError(
                f"y holds labels {unseen.tolist()} that are not in classes_ {self.classes_.tolist()}"
            )
        if len(self.classes_) < 2:
            raise errors.DataError(f"y must hold at least 2 classes to classify, got 1 class: {self.classes_[0]!r}")
        indices = np.searchsorted(self.classes_, y).astype(np.int32)
        return self._train(X, indices, num_outputs=len(self.classes_), epochs=epochs, first=first)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(n, len(classes_))``, columns in ``classes_`` order."""
        import jax

        outputs = self._outputs(X)
        if len(self.classes_) == 2:
            positive = np.asarray(jax.nn.sigmoid(outputs[:, 0]), np.float64)
            return np.stack([1 - positive, positive], axis=1)
        return np.asarray(jax.nn.softmax(outputs.astype(np.float64), axis=-1))

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row of ``X``, as a label of ``classes_``."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _MLP):
    """A multi-layer perceptron regressor with scikit-learn's interface, trained by :func:`jaxnn.fit`.

    Parameters as :class:`MLPClassifier`'s; the loss is the mean squared error (scikit-learn's is half of it,
    which only rescales the learning rate of ``sgd``), and ``early_stopping`` monitors the validation mean
    squared error. One target per example (``y`` of shape ``(n,)``).

    Attributes:
        model_, params_, n_iter_, loss_, loss_curve_, n_features_in_: as :class:`MLPClassifier`'s.
    """

    def _task(self, num_outputs: int) -> str:
        return "regression"

    def fit(self, X: Any, y: Any) -> "MLPRegressor":
        """Train on ``X`` ``(n, d)`` and targets ``y`` ``(n,)``; returns self."""
        return self._fit(X, y, first=not (self.warm_start and hasattr(self, "params_")), epochs=self.max_iter)

    def partial_fit(self, X: Any, y: Any) -> "MLPRegressor":
        """One more epoch on ``X``, ``y`` from the current weights."""
        return self._fit(X, y, first=not hasattr(self, "params_"), epochs=1)

    def _fit(self, X: Any, y: Any, *, first: bool, epochs: int) -> "MLPRegressor":
        X, y = _validate_data(self, X, y, reset=first, dtype=np.float32, y_numeric=True)
        if np.ndim(y) != 1:
            raise errors.DataError(f"y must hold one target per example, shape (n,), got shape {np.shape(y)}")
        return self._train(X, np.asarray(y, np.float32), num_outputs=1, epochs=epochs, first=first)

    def predict(self, X: Any) -> np.ndarray:
        """The predicted target of each row of ``X``, shape ``(n,)``."""
        return self._outputs(X)[:, 0].astype(np.float64)


TRACED = {
    "learning_rate_init": "learning_rate",
    "alpha": "weight_decay",
    "momentum": "momentum",
    "beta_1": "b1",
    "beta_2": "b2",
}
"""The estimator parameters a sweep varies inside one compiled program -> jaxnn's hyperparameters."""


class _Splits:
    """Fixed ``(train, test)`` index pairs as a scikit-learn splitter (so the sweep and the scores share them)."""

    def __init__(self, splits: list[tuple[np.ndarray, np.ndarray]]):
        self.splits = splits

    def split(self, x: Any = None, y: Any = None, groups: Any = None):
        return iter(self.splits)

    def get_n_splits(self, x: Any = None, y: Any = None, groups: Any = None) -> int:
        return len(self.splits)


class SweepSearchCV(MetaEstimatorMixin, BaseEstimator):
    """``GridSearchCV`` / ``RandomizedSearchCV`` for :class:`MLPClassifier` and :class:`MLPRegressor`, with every
    candidate and every fold trained in one compiled program (:func:`jaxnn.sweep` with ``cv=``).

    The candidates are scikit-learn's own: ``ParameterGrid(param_distributions)``, or with ``n_iter``
    ``ParameterSampler(param_distributions, n_iter, random_state=random_state)`` (lists and scipy
    distributions), so a ``GridSearchCV`` or ``RandomizedSearchCV`` of the same arguments scores the same
    candidates on the same folds. Candidates that differ only in ``learning_rate_init``, ``alpha``,
    ``momentum``, ``beta_1`` or ``beta_2`` train side by side in one program; each value of the other
    parameters (``hidden_layer_sizes``, ``activation``, ``solver``, ``max_iter``, ``batch_size``, ...) is a
    program of its own. A candidate's fold score is what scikit-learn's default scorer gives for the
    fold's last-epoch model: accuracy for a classifier, R² for a regressor.

    Args:
        estimator: an :class:`MLPClassifier` or :class:`MLPRegressor` (its parameters are the defaults).
        param_distributions: parameter name -> list of values, or a scipy distribution (with ``n_iter``).
        cv: the number of folds (``StratifiedKFold`` for a classifier, ``KFold`` otherwise, unshuffled, as
            scikit-learn's searches) or a splitter.
        n_iter: draw this many candidates (``RandomizedSearchCV``); None: the whole grid (``GridSearchCV``).
        scheduler: None; successive halving across folds is not offered yet.
        refit: fit ``best_estimator_`` on all the data with the best parameters.
        random_state: seeds ``ParameterSampler``.

    Attributes:
        cv_results_, best_index_, best_params_, best_score_, best_estimator_, n_splits_, refit_time_,
        sweep_time_: as ``GridSearchCV``'s (``mean_fit_time`` spreads the sweep's time evenly).
        results_: the :class:`jaxnn.SweepResult` of each program, in the order trained.
    """

    def __init__(
        self, estimator, param_distributions, *, cv=5, n_iter=None, scheduler=None, refit=True, random_state=None
    ):
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.cv = cv
        self.n_iter = n_iter
        self.scheduler = scheduler
        self.refit = refit
        self.random_state = random_state

    def _candidates(self) -> list[dict[str, Any]]:
        from sklearn.model_selection import ParameterGrid, ParameterSampler

        if self.n_iter is None:
            return list(ParameterGrid(self.param_distributions))
        return list(ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state))

    def fit(self, X: Any, y: Any) -> "SweepSearchCV":
        """Score every candidate on every fold of ``X``, ``y``; then refit the best on all of it."""
        import time

        from sklearn.model_selection import check_cv

        if not isinstance(self.estimator, _MLP):
            raise errors.ConfigError(
                f"estimator must be a jaxnn.sklearn MLPClassifier or MLPRegressor, got {type(self.estimator).__name__}"
            )
        if self.scheduler is not None:
            raise errors.ConfigError(f"scheduler={self.scheduler!r} is not offered with cross-validation yet; use None")
        if self.estimator.early_stopping:
            raise errors.ConfigError(
                "early_stopping=True would stop each fold on its own held-out part; search with "
                "early_stopping=False (max_iter sets the epochs)"
            )
        X, y = _validate_data(self.estimator, X, y, reset=True, dtype=np.float32, y_numeric=not is_classifier(self))
        candidates = self._candidates()
        classifier = is_classifier(self.estimator)
        if classifier:
            check_classification_targets(y)
            classes = np.unique(y)
            targets = np.searchsorted(classes, y).astype(np.int32)
        else:
            targets = np.asarray(y, np.float32)
        splits = [(np.asarray(a), np.asarray(b)) for a, b in check_cv(self.cv, y, classifier=classifier).split(X, y)]
        start = time.perf_counter()
        scores = np.full((len(candidates), len(splits)), np.nan)
        self.results_: list[SweepResult] = []
        for group in self._groups(candidates):
            scores[group["indices"]] = self._sweep_group(group, X, targets, splits, classifier)
        self.sweep_time_ = time.perf_counter() - start
        self._results(candidates, scores, len(splits))
        if self.refit:
            start = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y)
            self.refit_time_ = time.perf_counter() - start
        return self

    def _groups(self, candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Candidates grouped by what changes the program (everything but :data:`TRACED`)."""
        groups: dict[str, dict[str, Any]] = {}
        for index, candidate in enumerate(candidates):
            static = {name: value for name, value in candidate.items() if name not in TRACED}
            group = groups.setdefault(
                repr(sorted(static.items(), key=lambda item: item[0])), {"static": static, "indices": [], "traced": []}
            )
            group["indices"].append(index)
            group["traced"].append({name: value for name, value in candidate.items() if name in TRACED})
        return list(groups.values())

    def _sweep_group(
        self,
        group: dict[str, Any],
        x: np.ndarray,
        targets: np.ndarray,
        splits: list[tuple[np.ndarray, np.ndarray]],
        classifier: bool,
    ) -> np.ndarray:
        """The fold scores ``(candidates of the group, folds)`` of one program's candidates."""
        import jaxnn

        estimator = clone(self.estimator).set_params(**group["static"])
        estimator._check_parameters()
        num_outputs = int(targets.max()) + 1 if classifier else 1
        info = estimator._info(x.shape[1], num_outputs)
        from jaxnn.data.dataset import Dataset

        data = Dataset(x, targets, x[:0], targets[:0], x[:0], targets[:0], info)
        smallest = min(len(train) for train, _ in splits)
        batch = min(200, smallest) if estimator.batch_size == "auto" else min(int(estimator.batch_size), smallest)
        configs = []
        for traced in group["traced"]:
            values = estimator.set_params(**traced)._hyperparameters(batch)
            configs.append(values)
        width = 1 if num_outputs <= 2 else num_outputs
        model = jaxnn.mlp([x.shape[1], *estimator._hidden_sizes(), width], activation=ACTIVATIONS[estimator.activation])
        seed = int(check_random_state(estimator.random_state).randint(np.iinfo(np.int32).max))
        result = jaxnn.sweep(
            model,
            data,
            space=configs,
            key=seed,
            optimizer=SOLVERS[estimator.solver],
            num_epochs=int(estimator.max_iter),
            batch_size=batch,
            nesterov=estimator.solver == "sgd" and bool(estimator.nesterovs_momentum),
            cv=_Splits(splits),
            refit=False,
            progress=bool(estimator.verbose),
        )
        self.results_.append(result)
        assert result.folds is not None, "a cross-validated sweep keeps every fold's metrics"
        metric = result.folds["final_val_metric"]  # (rows, folds), in the table's order
        order = np.argsort(result.table["config"], kind="stable")
        metric = metric[order]
        if not classifier:  # mean squared error -> R^2 of each fold's held-out part
            variance = np.asarray([np.var(targets[test]) for _, test in splits], np.float64)
            metric = 1.0 - metric / np.where(variance > 0, variance, np.nan)
        return metric

    def _results(self, candidates: list[dict[str, Any]], scores: np.ndarray, num_splits: int) -> None:
        from scipy.stats import rankdata

        mean, std = np.nanmean(scores, axis=1), np.nanstd(scores, axis=1)
        mean = np.where(np.isfinite(mean), mean, -np.inf)
        results: dict[str, Any] = {"params": candidates}
        for name in dict.fromkeys(name for candidate in candidates for name in candidate):
            column = np.ma.masked_all(len(candidates), dtype=object)
            for i, candidate in enumerate(candidates):
                if name in candidate:
                    column[i] = candidate[name]
            results[f"param_{name}"] = column
        for k in range(num_splits):
            results[f"split{k}_test_score"] = scores[:, k]
        results["mean_test_score"], results["std_test_score"] = mean, std
        results["rank_test_score"] = rankdata(-mean, method="min").astype(np.int32)
        per_candidate = self.sweep_time_ / max(1, len(candidates))
        results["mean_fit_time"] = np.full(len(candidates), per_candidate)
        results["std_fit_time"] = np.zeros(len(candidates))
        results["mean_score_time"] = np.zeros(len(candidates))
        results["std_score_time"] = np.zeros(len(candidates))
        self.cv_results_ = results
        self.best_index_ = int(np.argmin(results["rank_test_score"]))
        self.best_params_ = candidates[self.best_index_]
        self.best_score_ = float(mean[self.best_index_])
        self.n_splits_ = num_splits
        self.multimetric_ = False

    @property
    def classes_(self) -> np.ndarray:
        """``best_estimator_.classes_``."""
        return self.best_estimator_.classes_

    def predict(self, X: Any) -> np.ndarray:
        """``best_estimator_.predict``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``best_estimator_.predict_proba``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    def score(self, X: Any, y: Any) -> float:
        """``best_estimator_.score``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.score(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = self.estimator.__sklearn_tags__().estimator_type
        return tags
