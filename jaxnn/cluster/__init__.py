"""Sweeps beyond one machine: shards and their merge (job arrays, any scheduler), and Ray.

- :func:`merge` joins the results of ``jaxnn.sweep(..., shard=(i, n))`` (or the directories
  ``jaxnn sweep --shard I/N --out DIR`` writes) into the whole sweep's result
  (:mod:`jaxnn.cluster.shards`).
- :class:`Ray` runs a sweep's shards as Ray tasks: ``jaxnn.sweep(..., cluster=jaxnn.cluster.Ray())``
  (:mod:`jaxnn.cluster.ray`; the ``ray`` extra).

Optuna's own distributed mode (several processes sharing one study through a database) is
``jaxnn.sweep(..., sampler=..., storage=..., study_name=...)``.
"""

from jaxnn.cluster.ray import Ray
from jaxnn.cluster.shards import FILE, ShardInfo, load_shard, merge, save_shard

__all__ = ["FILE", "Ray", "ShardInfo", "load_shard", "merge", "save_shard"]
