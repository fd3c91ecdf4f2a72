"""Type aliases shared by every jaxnn module."""

from typing import Any

import jax
from jax.typing import ArrayLike

Array = jax.Array
PRNGKey = jax.Array
Params = Any  # a pytree of arrays, e.g. a list of {"w": (d_in, d_out), "b": (d_out,)}
Shape = tuple[int, ...]

__all__ = ["Array", "ArrayLike", "PRNGKey", "Params", "Shape"]
