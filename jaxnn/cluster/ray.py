"""Ray: a sweep's shards as Ray tasks (filled in below)."""

from typing import Any, NamedTuple

__all__ = ["Ray"]


class Ray(NamedTuple):
    """Placeholder."""

    address: str | None = None
    shards: int | None = None
    resources_per_shard: dict[str, Any] | None = None
    max_retries: int = 3
