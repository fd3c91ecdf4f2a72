"""Cross-validation folds of a dataset's training split, padded to equal shapes so that one program trains them all.

:func:`split` draws the folds (stratified by class for a classification task, like scikit-learn's
``cross_val_score``; any scikit-learn splitter is accepted too); :func:`stack` turns them into one
:class:`PaddedDataset` whose arrays have a leading fold axis. Folds of unequal sizes are padded to the
largest one: a padding row has mask 0, so it adds nothing to a minibatch's loss, the epoch's training
loss, or the validation loss and metric (:mod:`jaxnn.loop` reads ``train_mask`` and ``val_mask``).

>>> import jaxnn
>>> data = jaxnn.datasets.load("iris", val_fraction=0, test_fraction=0)
>>> folds = split(data, 5, seed=0)
>>> [len(validation) for _, validation in folds]
[30, 30, 30, 30, 30]
"""

import dataclasses
import functools
import numbers
from typing import Any

import jax
import numpy as np

from jaxnn import errors
from jaxnn.data.dataset import Dataset

__all__ = ["PaddedDataset", "check_cv", "fold", "fold_axes", "pad", "split", "stack"]


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=[
        "x_train",
        "y_train",
        "x_val",
        "y_val",
        "x_test",
        "y_test",
        "info",
        "w_train",
        "w_val",
        "w_test",
        "train_mask",
        "val_mask",
    ],
    meta_fields=[],
)
@dataclasses.dataclass(frozen=True, eq=False)
class PaddedDataset(Dataset):
    """A :class:`jaxnn.Dataset` whose training and validation splits end in padding rows.

    Attributes:
        train_mask: ``(num_train,)`` float32, 1 for a real example and 0 for a padding row.
        val_mask: ``(num_val,)`` float32, likewise.
    """

    train_mask: Any = None
    val_mask: Any = None


def pad(data: Dataset, num_train: int, num_val: int) -> PaddedDataset:
    """``data`` with its training and validation splits padded (by repeating their first row) to these sizes."""

    def grow(x: np.ndarray, size: int) -> np.ndarray:
        x = np.asarray(x)
        if x.shape[0] == 0:
            return np.zeros((size, *x.shape[1:]), x.dtype)
        return np.concatenate([x, np.repeat(x[:1], size - x.shape[0], axis=0)])

    fields = {
        name: getattr(data, name)
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "info", "w_test")
    }
    for name, size in (("w_train", num_train), ("w_val", num_val)):  # sample weights: padding rows weigh 0
        weights = getattr(data, name)
        if weights is not None:
            fields[name] = np.concatenate([np.asarray(weights, np.float32), np.zeros(size - len(weights), np.float32)])
    mask = lambda n, size: (np.arange(size) < n).astype(np.float32)  # noqa: E731
    fields |= {
        "x_train": grow(data.x_train, num_train),
        "y_train": grow(data.y_train, num_train),
        "x_val": grow(data.x_val, num_val),
        "y_val": grow(data.y_val, num_val),
        "train_mask": mask(data.num_train, num_train),
        "val_mask": mask(data.num_val, num_val),
    }
    return PaddedDataset(**fields)


def check_cv(cv: Any, data: Dataset) -> None:
    """Refuse a ``cv`` that cannot split ``data``: not an int >= 2 nor a splitter, more folds than the smallest
    class has examples, or data that brings its own validation split.

    Raises:
        ConfigError: as above, naming ``cv`` and what was expected.
    """
    if data.num_val > 0:
        raise errors.ConfigError(
            f"{errors.arg('cv')} holds out each fold in turn as the validation split, but the data already has a "
            f"validation split ({data.num_val} examples); load it with {errors.setting('val_fraction', 0)}"
        )
    if hasattr(cv, "split"):
        return
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
        raise errors.ConfigError(
            f"{errors.arg('cv')} must be a number of folds >= 2 or a scikit-learn splitter (e.g. KFold(5)), got {cv!r}"
        )
    if data.task != "regression":
        counts = np.bincount(np.asarray(data.y_train, np.int64), minlength=data.num_classes)
        smallest = int(counts[counts > 0].min()) if np.any(counts > 0) else 0
        if int(cv) > smallest:
            names = list(data.class_names) if data.class_names else list(range(data.num_classes))
            label = names[int(np.flatnonzero(counts == smallest)[0])]
            raise errors.ConfigError(
                f"{errors.arg('cv')}={cv} folds need at least {cv} examples of every class, but class {label!r} has "
                f"{smallest} in the training split; use {errors.setting('cv', max(2, smallest))} or fewer folds"
            )
    if int(cv) > data.num_train:
        raise errors.ConfigError(f"{errors.arg('cv')}={cv} is more folds than the {data.num_train} training examples")


def split(data: Dataset, cv: Any, *, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The folds of ``data``'s training split as ``(train_indices, validation_indices)`` pairs.

    Args:
        data: a :class:`jaxnn.Dataset` without a validation split.
        cv: the number of folds (shuffled with ``seed``; stratified by class for a classification
            task), or a scikit-learn splitter (anything with ``split(x, y)``), used as it is.
        seed: the shuffle's seed for an int ``cv``.

    Raises:
        ConfigError: see :func:`check_cv`.
    """
    check_cv(cv, data)
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    if not hasattr(cv, "split"):
        from sklearn.model_selection import KFold, StratifiedKFold

        kind = KFold if data.task == "regression" else StratifiedKFold
        cv = kind(int(cv), shuffle=True, random_state=seed)
    folds = [
        (np.asarray(train, np.int64), np.asarray(val, np.int64)) for train, val in cv.split(x.reshape(len(x), -1), y)
    ]
    if not folds or any(len(train) == 0 or len(val) == 0 for train, val in folds):
        raise errors.ConfigError(
            f"{errors.arg('cv')} must give folds with training and validation examples, "
            f"got {type(cv).__name__} with {[(len(t), len(v)) for t, v in folds]}"
        )
    return folds


def stack(data: Dataset, folds: list[tuple[np.ndarray, np.ndarray]]) -> PaddedDataset:
    """One :class:`PaddedDataset` whose arrays have a leading fold axis (``info`` unstacked): fold ``k``
    trains on ``folds[k][0]`` and validates on ``folds[k][1]``, both padded to the largest fold's sizes;
    the test split is empty (the refit model is the one to test)."""
    x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    num_train = max(len(train) for train, _ in folds)
    num_val = max(len(val) for _, val in folds)
    empty_x, empty_y = x[:0], y[:0]
    padded = [
        pad(
            data.replace(
                x_train=x[train], y_train=y[train], x_val=x[val], y_val=y[val], x_test=empty_x, y_test=empty_y
            ),
            num_train,
            num_val,
        )
        for train, val in folds
    ]
    fields = {
        name: np.stack([getattr(p, name) for p in padded])
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "train_mask", "val_mask")
    }
    return PaddedDataset(info=data.info, **fields)


def fold_axes(data: PaddedDataset) -> PaddedDataset:
    """``in_axes`` for ``jax.vmap`` over a stacked :class:`PaddedDataset`'s folds: every array but ``info``."""
    return PaddedDataset(
        x_train=0,
        y_train=0,
        x_val=0,
        y_val=0,
        x_test=0,
        y_test=0,
        info=None,  # type: ignore[arg-type]  # an in_axes spec, not data: None leaves info unmapped
        train_mask=0,
        val_mask=0,
    )


def fold(folds: PaddedDataset, k: int) -> PaddedDataset:
    """Fold ``k`` of a stacked :class:`PaddedDataset` (its arrays without the fold axis)."""
    fields = {
        name: getattr(folds, name)[k]
        for name in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test", "train_mask", "val_mask")
    }
    return PaddedDataset(info=folds.info, **fields)
