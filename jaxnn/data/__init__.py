"""Datasets: train / validation / test splits, standardized on the training split.

A :class:`Dataset` is an immutable pytree: its arrays (the six splits and the
standardization statistics) are leaves and everything else (task, class and
feature names) is static, so a Dataset passes straight into ``jax.jit`` and
``jax.vmap(..., in_axes=None)``. Arrays are kept on the host as NumPy arrays.

Features are standardized with the mean and standard deviation of the
*training* split only; the same statistics are applied to the validation and
test splits and kept for prediction (:meth:`Dataset.transform`). Regression
targets are standardized the same way (:meth:`Dataset.inverse_transform_y`
undoes it); class labels are mapped to ``0..num_classes-1`` and
``class_labels`` keeps the originals. What a trained model needs to know about
its data — the task, names, labels and the fitted :class:`Standardizer` — is a
:class:`DataInfo` (``ds.info``), which checkpoints store.

>>> from jaxnn import datasets
>>> ds = datasets.load("iris", seed=0)
>>> ds
Dataset(name='iris', task='multiclass', num_classes=3, num_features=4, train=104, val=23, test=23)
>>> ds.x_train.shape, ds.y_train.dtype
((104, 4), dtype('int32'))

Modules: :mod:`~jaxnn.data.dataset` (the types), :mod:`~jaxnn.data.prepare`
(:func:`from_arrays`: checks, labels, splits, scaling), :mod:`~jaxnn.data.table` (raw named
columns), :mod:`~jaxnn.data.columns` (the :class:`ColumnPlan` that makes them features: imputing,
one-hot encoding, dropping), :mod:`~jaxnn.data.reading` (CSV and Parquet files through pyarrow),
:mod:`~jaxnn.data.files` (CSV, Parquet and NPZ for training and prediction), :mod:`~jaxnn.data.labelled`
(labelled rows prepared for a trained model, to evaluate it), :mod:`~jaxnn.data.builtin` (:func:`load`).
"""

from jaxnn.data.builtin import NAMES, load
from jaxnn.data.columns import ColumnPlan, ColumnStep
from jaxnn.data.dataset import TASKS, DataInfo, Dataset, Split, SplitWeights, Standardizer
from jaxnn.data.files import (
    ColumnReport,
    CsvFeatures,
    describe_csv,
    from_csv,
    from_npz,
    from_parquet,
    predictions_csv,
    read_features,
    read_npz,
    read_table,
)
from jaxnn.data.labelled import as_trained, read_labelled
from jaxnn.data.prepare import check_finite_features, from_arrays, split_rows
from jaxnn.data.table import Table

__all__ = [
    "NAMES",
    "TASKS",
    "ColumnPlan",
    "ColumnReport",
    "ColumnStep",
    "CsvFeatures",
    "DataInfo",
    "Dataset",
    "Split",
    "SplitWeights",
    "Standardizer",
    "Table",
    "as_trained",
    "check_finite_features",
    "describe_csv",
    "from_arrays",
    "from_csv",
    "from_npz",
    "from_parquet",
    "load",
    "predictions_csv",
    "read_features",
    "read_labelled",
    "read_npz",
    "read_table",
    "split_rows",
]
