"""The confusion matrix of a classifier: which classes it takes for which, as counts, a text table and a PNG.

>>> import jaxnn
>>> data = jaxnn.datasets.load("iris", seed=0)
>>> model = jaxnn.mlp([4, 8, 3])
>>> result = jaxnn.fit(model, data, num_epochs=20, key=0, progress=False)
>>> matrix = jaxnn.confusion_matrix(model, result.params, data)
>>> matrix.labels
('setosa', 'versicolor', 'virginica')
>>> int(matrix.counts.sum()) == data.num_test
True
"""

import os
from typing import Any, NamedTuple

import numpy as np

from jaxnn import errors, plotting
from jaxnn.data.labelled import labelled_data
from jaxnn.models import Model
from jaxnn.train import check_data, check_outputs, predict
from jaxnn.typing import Params

__all__ = ["ConfusionMatrix", "confusion_matrix"]


class ConfusionMatrix(NamedTuple):
    """Counts of examples by true class (rows) and predicted class (columns).

    Attributes:
        counts: int64 ``(num_classes, num_classes)``: ``counts[i, j]`` examples of class ``i`` predicted
            as class ``j`` (the diagonal is what the model got right), in class-index order, as
            :func:`sklearn.metrics.confusion_matrix` lays it out.
        labels: the class names, in the same order (the data's own labels).
    """

    counts: np.ndarray
    labels: tuple[str, ...]

    def format(self) -> str:
        """The matrix as a text table: a row per true class, a column per predicted class.

        >>> print(ConfusionMatrix(np.array([[5, 1], [0, 4]]), ("no", "yes")).format())
        true \\ predicted  no  yes
                      no   5    1
                     yes   0    4
        """
        corner = "true \\ predicted"
        first = max(len(corner), *(len(label) for label in self.labels))
        widths = [
            max(len(label), len(str(int(self.counts[:, j].max(initial=0))))) for j, label in enumerate(self.labels)
        ]
        lines = [
            corner.ljust(first)
            + "".join(f"  {label:>{width}}" for label, width in zip(self.labels, widths, strict=False))
        ]
        for label, row in zip(self.labels, self.counts, strict=False):
            lines.append(
                f"{label:>{first}}"
                + "".join(f"  {int(count):>{width}}" for count, width in zip(row, widths, strict=False))
            )
        return "\n".join(lines)

    def plot(self, path: str | os.PathLike) -> str:
        """Write the matrix as a PNG at ``path`` (see :func:`jaxnn.plotting.plot_confusion_matrix`); the path."""
        return plotting.plot_confusion_matrix(self.counts, self.labels, path)


def confusion_matrix(
    model: Model,
    params: Params,
    data: Any,
    *,
    split: str = "test",
    dataset: Any = None,
    target: str | None = None,
) -> ConfusionMatrix:
    """The confusion matrix of a classifier on a dataset split or a labelled file.

    Args:
        model: the model the params belong to.
        params: trained parameters.
        data: a :class:`jaxnn.Dataset` (``split`` selects the split) or the path of a CSV or Parquet file
            of labelled rows (needs ``dataset``), as for :func:`jaxnn.evaluate`.
        split: ``"train"``, ``"val"`` or ``"test"``.
        dataset: the :class:`jaxnn.datasets.DataInfo` (``checkpoint.info``) or :class:`jaxnn.Dataset` the
            model was trained on (see :func:`jaxnn.evaluate`).
        target: a file's target column (default: the training's).

    Returns:
        A :class:`ConfusionMatrix`.

    Raises:
        ConfigError: the data is a regression task (no classes to confuse).
        DataError: see :func:`jaxnn.evaluate`.
    """
    data = labelled_data(data, dataset, target=target)
    check_data(data)
    if not data.is_classification:
        raise errors.ConfigError(f"a confusion matrix counts classes, but {data.name!r} is a regression task")
    x, y = data.split(split)
    check_outputs(model, params, x, data.info)
    predicted = predict(model, params, x, task=data.task) if len(x) else np.zeros(0, np.int64)
    from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

    counts = sklearn_confusion_matrix(np.asarray(y), predicted, labels=np.arange(data.num_classes))
    return ConfusionMatrix(counts.astype(np.int64), tuple(data.class_names))
