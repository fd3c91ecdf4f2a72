"""Hyperparameter sweeps: many configurations trained by one compiled program.

:func:`sweep` turns a search space into rows of :class:`jaxnn.Hyperparams` and
trains them all with ``jit(vmap(...))`` of the very functions ``fit`` runs — so
there is one compile, no matter how many values, and a second sweep with other
values of the same size reuses it.

Modules: :mod:`~jaxnn.sweeps.space` (grids, distributions, seeds),
:mod:`~jaxnn.sweeps.architecture` (layer sizes in the space: one model per shape),
:mod:`~jaxnn.sweeps.plan` (rows per compiled call), :mod:`~jaxnn.sweeps.run`
(training), :mod:`~jaxnn.sweeps.schedulers` (ASHA, Hyperband and PBT) and
:mod:`~jaxnn.sweeps.scheduled` (training under them), :mod:`~jaxnn.sweeps.crossval`
(k-fold cross-validation, ``cv=``), :mod:`~jaxnn.sweeps.result` (:class:`SweepResult`).

>>> import jaxnn
>>> data = jaxnn.datasets.load("breast_cancer", seed=0)
>>> result = jaxnn.sweep(jaxnn.mlp([30, 16, 1]), data, space={"learning_rate": [0.01, 0.1]},
...                      optimizer="sgd", num_epochs=5, batch_size=32, key=0, progress=False)
>>> len(result.table["learning_rate"])
2
"""

from jaxnn.sweeps.result import SweepResult
from jaxnn.sweeps.run import sweep
from jaxnn.sweeps.schedulers import ASHA, PBT, Hyperband
from jaxnn.sweeps.space import choice, expand_space, loguniform, uniform

__all__ = ["ASHA", "Hyperband", "PBT", "SweepResult", "choice", "expand_space", "loguniform", "sweep", "uniform"]
