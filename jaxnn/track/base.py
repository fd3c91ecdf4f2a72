"""What a tracker is told: a run's description, its finished rows, and how the run ended.

A tracker (:class:`Tracker`) writes one run at a time in three calls, all made on the host
after compiled programs have returned, never per step:

* :meth:`Tracker.start` with a :class:`RunInfo`, before training: open (and check) the log,
  raising a :class:`jaxnn.errors.LogError` (or another ``jaxnn.errors`` error) when it cannot
  be written, so a bad log is reported before any time is spent training;
* :meth:`Tracker.rows` with finished :class:`Row` s, after every chunk of a sweep (once for
  ``fit``); a row that the log already holds completely (a resumed run, or the same run again:
  the same ``fingerprint``) is skipped, one that it holds in part is written again;
* :meth:`Tracker.finish` with an :class:`Outcome`.

A new backend is one subclass that implements these three methods.
"""

import abc
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["CURVES", "STATUS", "Outcome", "Row", "RunInfo", "Tracker", "curve_tag", "summary_tags"]

STATUS = {"completed": "ok", "early_stopped": "stopped_early", "diverged": "diverged", "pruned": "pruned"}
"""A row's status in the logs, by the status of the sweep's table (or of ``fit``)."""

CURVES = ("train_loss", "val_loss", "val_metric", "learning_rate")
"""The per-epoch curves of a run, as :data:`jaxnn.loop.HISTORY_KEYS` names them."""


def curve_tag(name: str, metric: str) -> str:
    """The log's name of a history curve: ``train/loss``, ``val/loss``, ``val/accuracy``, ``learning_rate``."""
    return {"train_loss": "train/loss", "val_loss": "val/loss", "val_metric": f"val/{metric}"}.get(name, name)


def summary_tags(metric: str) -> dict[str, str]:
    """Summary column of the sweep's table -> its name in the log (one value per row)."""
    return {
        "best_val_loss": "best/val_loss",
        "best_val_metric": f"best/val_{metric}",
        "best_train_loss": "best/train_loss",
        "final_val_loss": "final/val_loss",
        "final_val_metric": f"final/val_{metric}",
        "test_loss": "test/loss",
        "test_metric": f"test/{metric}",
        "best_epoch": "best_epoch",
        "epochs_run": "epochs_run",
    }


Domain = Sequence[Any] | tuple[float, float] | None
"""The values a hyperparameter takes: a list of values, ``(low, high)`` as a tuple, or None (unknown)."""


class RunInfo(NamedTuple):
    """A run as the log describes it, known before training.

    Attributes:
        kind: ``"sweep"`` or ``"fit"``.
        fingerprint: a digest of everything that makes the run's result what it is (model,
            data, key, space, settings, jaxnn's version). Runs with the same fingerprint have
            bitwise the same rows, so a log that holds a row of this fingerprint holds it already.
        settings: the settings every row shares (optimizer, epochs, fixed hyperparameters, ...),
            as strings, numbers and booleans.
        hyperparameters: name -> the values each per-row hyperparameter takes (``seed`` included for
            sweeps): a list of values, ``(low, high)`` as a tuple, or None when unknown.
        metric: the validation metric's name (``accuracy``, ``mean_squared_error``).
        higher_is_better: the metric's direction.
        num_epochs: epochs per row.
        num_rows: rows the run will log.
        measures: the other metrics each row logs (``best/val_<name>``, the returned params' on the
            validation split), by name (``roc_auc``, ``f1``).
    """

    kind: str
    fingerprint: str
    settings: dict[str, Any]
    hyperparameters: dict[str, Domain]
    metric: str
    higher_is_better: bool
    num_epochs: int
    num_rows: int
    measures: tuple[str, ...] = ()


class Row(NamedTuple):
    """One finished row of a sweep (or a whole ``fit``), ready to write.

    Attributes:
        name: the row's run name, ``row-007`` (row = configuration x seeds + seed position, stable
            across chunks and resumes); ``"."`` for ``fit`` (the log's own top directory).
        hyperparameters: name -> value (numbers and strings).
        status: ``ok``, ``stopped_early``, ``diverged`` or ``pruned`` (see :data:`STATUS`).
        metrics: summary values by their log name (see :func:`summary_tags`), finite ones only.
        steps: the step of each summary value (its epoch: the best epoch for ``best/*``).
        curves: log name -> ``(epochs_run,)`` values of epochs ``1 .. epochs_run`` (the epochs the
            row ran: an ASHA row pruned at epoch 4 has 4; the learning rate only where it changes).
        schedule: under PBT, ``(first_epoch, {name: value})`` of each interval of its lineage.
        parents: under PBT, ``(first_epoch, row name)``: the row that trained it from that epoch on.
        tags: other descriptive values as strings (``config``, ``lineage``, ``rung``).
    """

    name: str
    hyperparameters: dict[str, Any]
    status: str
    metrics: dict[str, float]
    steps: dict[str, int]
    curves: dict[str, np.ndarray]
    schedule: list[tuple[int, dict[str, float]]] | None = None
    parents: list[tuple[int, str]] | None = None
    tags: dict[str, str] = {}

    @property
    def epochs_run(self) -> int:
        """The epochs the row ran (the length of its longest curve)."""
        return max((len(values) for values in self.curves.values()), default=0)


class Outcome(NamedTuple):
    """How a run ended, for :meth:`Tracker.finish`.

    Attributes:
        status: ``"finished"``, ``"interrupted"`` (Ctrl-C) or ``"failed"``.
        best: the best row's name, None if there is none (every row diverged, or not finished).
        model, params, data: the best row's model, parameters and dataset, to save as a model file
            (:func:`jaxnn.save`); None unless finished.
    """

    status: str
    best: str | None = None
    model: Any = None
    params: Any = None
    data: Any = None


class Tracker(abc.ABC):
    """A log backend: :meth:`start`, :meth:`rows` (any number of times), :meth:`finish`, for one run at a time.

    ``start`` runs in the caller's thread before training; ``rows`` in jaxnn's background log
    writer while the next chunk trains; ``finish`` in the caller's thread at the end. A tracker
    keeps its run's state between them, and ``start`` begins a new run.
    """

    @abc.abstractmethod
    def start(self, run: RunInfo) -> None:
        """Open the log for ``run``, checking that it can be written (raise a ``jaxnn.errors`` error if not)."""

    @abc.abstractmethod
    def rows(self, rows: Sequence[Row]) -> None:
        """Write finished rows; skip those the log holds completely already."""

    @abc.abstractmethod
    def finish(self, outcome: Outcome) -> None:
        """Close the run's log."""

    def describe(self) -> str:
        """The log in a few words, for messages (e.g. ``TensorBoard log runs/tb``)."""
        return type(self).__name__

    def how_to_look(self) -> str | None:
        """A command that shows the log (e.g. ``tensorboard --logdir runs/tb``), or None."""
        return None


def finite(value: Any) -> bool:
    """Whether ``value`` is a finite number."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
