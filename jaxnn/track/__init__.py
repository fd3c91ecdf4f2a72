"""Look at every run where people already look: TensorBoard and MLflow.

``jaxnn.fit(..., log=...)`` and ``jaxnn.sweep(..., log=...)`` take ``None`` (no log, the
default), a directory path (a TensorBoard log there), :class:`TensorBoard`, :class:`MLflow`, or
a list of these. Logging costs nothing per step: the whole history of every row comes back
from the compiled program, so it is written after the program returns — for a sweep after each
chunk of rows, in a background thread while the next chunk trains, so a long sweep can be
watched as it runs.

>>> import jaxnn
>>> data = jaxnn.datasets.load("breast_cancer", seed=0)
>>> result = jaxnn.sweep(jaxnn.mlp([30, 8, 1]), data, space={"learning_rate": [0.01, 0.1]}, num_epochs=3,
...                      key=0, progress=False, log=jaxnn.track.TensorBoard(tmp / "tb"))  # doctest: +SKIP

then ``tensorboard --logdir tmp/tb``: the HParams dashboard lists both rows with their values.

Writing another backend is one class: :class:`Tracker` with ``start``, ``rows`` and ``finish``.
"""

from jaxnn.track.base import STATUS, Outcome, Row, RunInfo, Tracker
from jaxnn.track.log import CHOICES, Log, from_option, how_to_look, logged, open_log, resolve
from jaxnn.track.mlflow import MLflow
from jaxnn.track.tensorboard import TensorBoard

__all__ = [
    "CHOICES",
    "Log",
    "MLflow",
    "Outcome",
    "Row",
    "RunInfo",
    "STATUS",
    "TensorBoard",
    "Tracker",
    "from_option",
    "how_to_look",
    "logged",
    "open_log",
    "resolve",
]
