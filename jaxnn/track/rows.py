"""Rows to log, built from what a sweep or a fit returns (host arrays; nothing here touches a device).

A sweep row's values are read from the very table :class:`jaxnn.SweepResult` holds (its
columns for the row's chunk, before ranking), so the log says what the result says.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxnn.sweeps.space import python_value
from jaxnn.track.base import STATUS, Row, curve_tag, finite, summary_tags

__all__ = ["fit_row", "row_name", "sweep_rows"]


def row_name(number: int, num_rows: int) -> str:
    """``row-007``: zero-padded to the width of the largest row number (at least 3 digits)."""
    return f"row-{number:0{max(3, len(str(max(num_rows - 1, 0))))}d}"


def sweep_rows(
    table: dict[str, np.ndarray],
    curves: dict[str, np.ndarray],
    *,
    hyperparameters: Sequence[str],
    metric: str,
    seeds: Sequence[int],
    num_rows: int,
    schedules: Sequence[Any] | None = None,
    owners: np.ndarray | None = None,
) -> list[Row]:
    """One :class:`Row` per row of a sweep's table (in the table's order).

    Args:
        table, curves: a :class:`jaxnn.SweepResult`'s columns and curves (``(rows, epochs)`` each).
        hyperparameters: the swept names (the row's values of these, and its seed, are logged).
        metric: the metric's name.
        seeds: the sweep's seeds, in order (row number = config x len(seeds) + the seed's position).
        num_rows: rows in the whole sweep (for the names' width).
        schedules: each row's PBT schedule (``(first_epoch, {name: value})`` per interval), or None.
        owners: ``(rows, intervals)`` under PBT: the configuration whose slot trained each interval.
    """
    position = {int(seed): i for i, seed in enumerate(seeds)}
    numbers = [
        int(config) * len(seeds) + position[int(seed)]
        for config, seed in zip(table["config"], table["seed"], strict=False)
    ]
    tags = summary_tags(metric)
    measures = _measure_tags(table, tags)  # the returned (best epoch's) params' other measures
    out = []
    for i, number in enumerate(numbers):
        epochs_run = int(table["epochs_run"][i])
        values = {name: python_value(table[name][i]) for name in (*hyperparameters, "seed") if name in table}
        extra: dict[str, str] = {
            name: str(python_value(table[name][i]))
            for name in ("config", "bracket", "rung", "lineage")
            if name in table
        }
        schedule = parents = None
        row_curves = _curves(curves, i, epochs_run, metric)
        if schedules is not None and schedules[i] is not None:
            schedule = [(int(epoch), dict(hparams)) for epoch, hparams in schedules[i]]
            seed = int(table["seed"][i])
            assert owners is not None, "PBT sweeps give each row's schedule and its owners together"
            parents = [
                (epoch, row_name(int(owner) * len(seeds) + position[seed], num_rows))
                for (epoch, _), owner in zip(schedule, owners[i], strict=False)
            ]
            row_curves |= _schedule_curves(schedule, parents, epochs_run)
        steps = {tags[name]: int(table["best_epoch"][i]) for name in tags if name.startswith("best")}
        steps |= {tags[name]: epochs_run for name in tags if not name.startswith("best")}
        metrics = {tag: float(table[name][i]) for name, tag in tags.items() if name in table and finite(table[name][i])}
        for name, tag in measures.items():
            steps[tag] = int(table["best_epoch"][i])
            if finite(table[name][i]):
                metrics[tag] = float(table[name][i])
        out.append(
            Row(
                name=row_name(number, num_rows),
                hyperparameters=values,
                status=STATUS.get(str(table["status"][i]), str(table["status"][i])),
                metrics=metrics,
                steps=steps,
                curves=row_curves,
                schedule=schedule,
                parents=parents,
                tags=extra,
            )
        )
    return out


def _measure_tags(table: dict[str, np.ndarray], tags: dict[str, str]) -> dict[str, str]:
    """The table's ``val_<name>`` columns (the measures of ``metric=``'s registry, taken on the validation split
    at the params a row returns, its best epoch's) -> their names in the log, ``best/val_<name>``."""
    taken = set(tags.values())
    return {
        name: f"best/{name}"
        for name in table
        if name.startswith("val_") and f"best/{name}" not in taken and np.asarray(table[name]).dtype.kind == "f"
    }


def _curves(curves: dict[str, np.ndarray], i: int, epochs_run: int, metric: str) -> dict[str, np.ndarray]:
    """Row ``i``'s curves over the epochs it ran; curves it has no value for (no validation split) and a
    learning rate that never changes are left out."""
    out = {}
    for name, values in curves.items():
        row = np.asarray(values[i, :epochs_run], np.float64)
        if not np.any(np.isfinite(row)):
            continue
        if name == "learning_rate" and np.ptp(row[np.isfinite(row)]) == 0:
            continue
        out[curve_tag(name, metric)] = row
    return out


def _schedule_curves(
    schedule: list[tuple[int, dict[str, float]]], parents: list[tuple[int, str]], epochs_run: int
) -> dict[str, np.ndarray]:
    """A PBT row's perturbed hyperparameters at every epoch it ran (``pbt/<name>``) and the row that trained
    each epoch (``pbt/trained_by_row``, the row's number)."""
    starts = np.asarray([epoch for epoch, _ in schedule])
    interval = np.searchsorted(starts, np.arange(epochs_run), side="right") - 1  # epoch index -> its interval
    values_of: list[dict[str, float]] = []
    current: dict[str, float] = {}
    for _, values in schedule:  # each interval's full set of values: its changes over the one before
        current = current | values
        values_of.append(current)
    perturbed = dict.fromkeys(name for _, values in schedule[1:] for name in values)
    out = {f"pbt/{name}": np.asarray([values_of[k][name] for k in interval], np.float64) for name in perturbed}
    numbers = np.asarray([int(parent.rsplit("-", 1)[1]) for _, parent in parents], np.float64)
    out["pbt/trained_by_row"] = numbers[interval]
    return out


def fit_row(
    history: dict[str, np.ndarray],
    *,
    hyperparameters: dict[str, Any],
    status: str,
    best_epoch: int,
    stopped_epoch: int,
    metric: str,
) -> Row:
    """The :class:`Row` of a ``fit``: its hyperparameters, its history, its best and final epochs (name ``"."``)."""
    history = {name: np.asarray(values, np.float64) for name, values in history.items()}
    epochs_run = int(stopped_epoch)
    tags = summary_tags(metric)

    def at(name: str, epoch: int) -> float:
        values = history.get(name)
        return float(values[epoch - 1]) if values is not None and 0 < epoch <= len(values) else float("nan")

    values = {
        "best_val_loss": at("val_loss", best_epoch),
        "best_val_metric": at("val_metric", best_epoch),
        "best_train_loss": at("train_loss", best_epoch),
        "final_val_loss": at("val_loss", epochs_run),
        "final_val_metric": at("val_metric", epochs_run),
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
    }
    steps = {tags[name]: (best_epoch if name.startswith("best") else epochs_run) for name in values}
    return Row(
        name=".",
        hyperparameters={name: python_value(value) for name, value in hyperparameters.items()},
        status=STATUS.get(status, status),
        metrics={tags[name]: float(value) for name, value in values.items() if finite(value)},
        steps=steps,
        curves=_curves({name: values[None] for name, values in history.items()}, 0, epochs_run, metric),
    )
