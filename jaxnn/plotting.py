"""Plots of training curves and sweeps.

Figures are built with matplotlib's object API (``matplotlib.figure.Figure``), imported only when a
plot is drawn: no pyplot state machine, no process-wide backend switch, nothing to close.
"""

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn._io import atomic_write

__all__ = ["plot_confusion_matrix", "plot_history", "plot_sweep"]


def _figure(**options: Any) -> Any:
    from matplotlib.figure import Figure

    return Figure(**options)


def _save(figure: Any, path: str) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    atomic_write(path, buffer.getvalue())
    return path


def plot_history(history: dict[str, np.ndarray], path: str | os.PathLike, *, metric: str = "metric") -> str:
    """Write training/validation loss and the validation metric per epoch to a PNG at ``path``."""
    path = os.fspath(path)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    figure = _figure(figsize=(10, 4))
    loss_axis, metric_axis = figure.subplots(1, 2)
    loss_axis.plot(epochs, history["train_loss"], label="train")
    loss_axis.plot(epochs, history["val_loss"], label="validation")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_axis.legend()
    metric_axis.plot(epochs, history["val_metric"], color="tab:green")
    metric_axis.set(xlabel="epoch", ylabel=metric, title=f"validation {metric}")
    for axis in (loss_axis, metric_axis):
        axis.grid(alpha=0.3)
    return _save(figure, path)


def plot_confusion_matrix(counts: np.ndarray, labels: Sequence[str], path: str | os.PathLike) -> str:
    """Write a confusion matrix (``counts[i, j]``: examples of true class ``i`` predicted as ``j``) as a
    PNG heat map at ``path``, each cell labelled with its count; returns the path."""
    path = os.fspath(path)
    counts = np.asarray(counts)
    size = max(4.0, 0.6 * len(labels) + 2.5)
    figure = _figure(figsize=(size + 1.0, size))
    axis = figure.subplots()
    image = axis.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    axis.set_xticks(
        ticks,
        labels=list(labels),
        rotation=45 if max(map(len, labels), default=0) > 4 else 0,
        ha="right" if max(map(len, labels), default=0) > 4 else "center",
    )
    axis.set_yticks(ticks, labels=list(labels))
    threshold = counts.max(initial=0) / 2
    for (i, j), count in np.ndenumerate(counts):
        axis.text(
            j, i, str(int(count)), ha="center", va="center", fontsize=9, color="white" if count > threshold else "black"
        )
    axis.set(xlabel="predicted class", ylabel="true class", title=f"confusion matrix ({int(counts.sum())} examples)")
    return _save(figure, path)


def plot_sweep(result: Any, directory: str | os.PathLike, *, top: int = 5) -> list[str]:
    """Write ``curves.png`` (validation curves of the best ``top`` rows) and one
    ``metric_vs_<name>.png`` per swept hyperparameter into ``directory``."""
    directory = os.fspath(directory)
    written = []
    figure = _figure(figsize=(7, 4.5))
    axis = figure.subplots()
    epochs = np.arange(1, result.curves["val_loss"].shape[1] + 1)
    for i in range(min(top, len(result))):
        label = ", ".join(
            f"{name}={result.table[name][i]:.3g}"
            if np.issubdtype(np.asarray(result.table[name]).dtype, np.number)
            else f"{name}={result.table[name][i]}"
            for name in result.hyperparameters
        )
        axis.plot(epochs, result.curves["val_metric"][i], label=f"#{i + 1} {label} (seed {result.table['seed'][i]})")
    axis.set(xlabel="epoch", ylabel=f"validation {result.metric}", title=f"top {min(top, len(result))} configurations")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    written.append(_save(figure, os.path.join(directory, "curves.png")))
    for name in result.hyperparameters:
        values = np.asarray(result.table[name])
        if not np.issubdtype(values.dtype, np.number):
            continue
        figure = _figure(figsize=(5.5, 4))
        axis = figure.subplots()
        ok = np.asarray(result.table["status"]) != "diverged"
        axis.scatter(values[ok], result.table["best_val_metric"][ok], s=18, label="trained")
        if np.any(~ok):
            low = np.nanmin(result.table["best_val_metric"][ok]) if np.any(ok) else 0.0
            axis.scatter(values[~ok], np.full(np.sum(~ok), low), marker="x", color="tab:red", label="diverged")
        if name in result.log_scaled and np.all(values > 0):
            axis.set_xscale("log")
        axis.set(xlabel=name, ylabel=f"best validation {result.metric}", title=f"{result.metric} vs {name}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        written.append(_save(figure, os.path.join(directory, f"metric_vs_{name}.png")))
    return written
