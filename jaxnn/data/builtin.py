"""Built-in datasets: scikit-learn's bundled sets and seeded synthetic ones. Need no network."""

import inspect
import numbers

import numpy as np

from jaxnn import _checks, cache, errors
from jaxnn.data.dataset import Dataset
from jaxnn.data.prepare import class_label, from_arrays, non_negative, seed_value

__all__ = ["NAMES", "load"]


def _sklearn(loader_name: str, task: str, target_name: str, *, scaled: bool | None = None):
    """A loader of one of scikit-learn's bundled sets, cached as arrays after the first load
    (importing scikit-learn to read them takes longer than a small training run)."""

    def read():
        import sklearn.datasets

        loader = getattr(sklearn.datasets, loader_name)
        bunch = loader() if scaled is None else loader(scaled=scaled)
        arrays = {
            "x": bunch.data,
            "y": bunch.target,
            "feature_names": np.asarray([str(f) for f in bunch.feature_names]),
        }
        if getattr(bunch, "target_names", None) is not None:
            arrays["target_names"] = np.asarray(bunch.target_names)
        return arrays

    def load_bundled(seed):
        arrays = _cached(f"sklearn-{loader_name}", read)
        options = {"task": task, "feature_names": arrays["feature_names"].tolist(), "target_name": target_name}
        return arrays["x"], arrays["y"], options, arrays.get("target_names")

    return load_bundled


def _cached(key: str, compute) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, from the cache when an earlier call saved them there."""
    arrays = cache.load_arrays(key)
    if arrays is None:
        arrays = compute()
        cache.save_arrays(key, arrays)
    return arrays


def _xor(seed: int, *, num_samples: int = 400, noise: float = 0.15):
    num_samples = _checks.positive_int("num_samples", num_samples)
    noise = non_negative("noise", noise)
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])[np.arange(num_samples) % 4]
    x = corners + noise * np.random.default_rng(seed).normal(size=corners.shape)
    y = corners[:, 0] ^ corners[:, 1]
    return x, y, {"task": "binary"}, None


def _moons(seed: int, *, num_samples: int = 400, noise: float = 0.1):
    num_samples = _checks.positive_int("num_samples", num_samples)
    noise = non_negative("noise", noise)

    def make():
        from sklearn.datasets import make_moons

        x, y = make_moons(n_samples=num_samples, noise=noise, random_state=seed)
        return {"x": x, "y": y}

    arrays = _cached(f"moons-{seed}-{num_samples}-{noise!r}", make)
    return arrays["x"], arrays["y"], {"task": "binary"}, None


def _circles(seed: int, *, num_samples: int = 400, noise: float = 0.05, factor: float = 0.5):
    num_samples = _checks.positive_int("num_samples", num_samples)
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < 1:
        raise errors.ConfigError(f"`factor` (inner / outer radius) must be in (0, 1), got {factor!r}")
    noise, factor = non_negative("noise", noise), float(factor)

    def make():
        from sklearn.datasets import make_circles

        x, y = make_circles(n_samples=num_samples, noise=noise, factor=factor, random_state=seed)
        return {"x": x, "y": y}

    arrays = _cached(f"circles-{seed}-{num_samples}-{noise!r}-{factor!r}", make)
    return arrays["x"], arrays["y"], {"task": "binary"}, None


def _spirals(seed: int, *, num_samples: int = 400, num_classes: int = 2, noise: float = 0.05):
    num_samples = _checks.positive_int("num_samples", num_samples)
    num_classes = _checks.positive_int("num_classes", num_classes, minimum=2)
    noise = non_negative("noise", noise)
    y = np.arange(num_samples) % num_classes
    # position along the arm, evenly spaced within each class
    order = np.arange(num_samples) // num_classes
    per_class = np.bincount(y, minlength=num_classes)
    radius = 0.1 + 0.9 * order / np.maximum(per_class[y] - 1, 1)
    angle = 2 * np.pi * y / num_classes + 3 * np.pi * radius  # 1.5 turns per arm
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x = x + noise * np.random.default_rng(seed).normal(size=x.shape)
    return x, y, {"task": "binary" if num_classes == 2 else "multiclass"}, None


_LOADERS = {
    "breast_cancer": _sklearn("load_breast_cancer", "binary", "diagnosis"),
    "digits": _sklearn("load_digits", "multiclass", "digit"),
    "iris": _sklearn("load_iris", "multiclass", "species"),
    "wine": _sklearn("load_wine", "multiclass", "cultivar"),
    "diabetes": _sklearn("load_diabetes", "regression", "progression", scaled=False),
    "xor": _xor,
    "moons": _moons,
    "circles": _circles,
    "spirals": _spirals,
}

NAMES = tuple(_LOADERS)
# One example's shape (height, width, channels) of the built-in sets that are images.
_IMAGES = {"digits": (8, 8, 1)}


def load(
    name: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    standardize: bool | str = True,
    stratify: bool = True,
    as_images: bool = False,
    **options,
) -> Dataset:
    """A built-in dataset, split and standardized. Needs no network.

    - ``breast_cancer``: binary, scikit-learn, 569 x 30, classes malignant / benign.
    - ``digits``: multiclass, scikit-learn, 1797 x 64 (8x8 images), 10 classes.
    - ``iris``: multiclass, scikit-learn, 150 x 4, 3 classes.
    - ``wine``: multiclass, scikit-learn, 178 x 13, 3 classes.
    - ``diabetes``: regression, scikit-learn (unscaled features), 442 x 10.
    - ``xor``: binary, the 4 corners of the unit square plus Gaussian noise, label = XOR
      of the corner; options ``num_samples=400, noise=0.15``.
    - ``moons``: binary, ``sklearn.datasets.make_moons``; ``num_samples=400, noise=0.1``.
    - ``circles``: binary, ``sklearn.datasets.make_circles``; ``num_samples=400,
      noise=0.05, factor=0.5`` (inner / outer radius).
    - ``spirals``: interleaved spiral arms, one per class (binary for 2, else
      multiclass); ``num_samples=400, num_classes=2, noise=0.05``.

    Args:
        name: one of :data:`NAMES` (case-insensitive).
        seed: seeds both the synthetic data and the split.
        val_fraction: share of the samples for validation.
        test_fraction: share of the samples for testing.
        standardize: see :func:`from_arrays`.
        stratify: see :func:`from_arrays`.
        as_images: for ``digits``: examples of shape ``(8, 8, 1)`` (height, width, channel), the
            input of a convolutional model (:func:`jaxnn.cnn`), instead of 64 features.
        **options: options of the synthetic generators (list above).

    Returns:
        The :class:`Dataset`; class names are the dataset's own where it has them.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or a bad option value.
        TypeError: for an option the dataset does not take.

    >>> load("breast_cancer").class_names
    ('malignant', 'benign')
    """
    loader = _checks.lookup("dataset", name, _LOADERS)
    name = name.lower()
    valid = [p for p in inspect.signature(loader).parameters if p != "seed"]
    unexpected = sorted(set(options) - set(valid))
    if unexpected:
        raise errors.ArgumentTypeError(
            f"load({name!r}) got unexpected option(s) {', '.join(unexpected)}; "
            f"valid options: {', '.join(valid) or '(none)'}"
        )
    seed = seed_value(seed)
    x, y, arrays_options, target_names = loader(seed, **options)
    if as_images:
        if name not in _IMAGES:
            raise errors.ConfigError(
                f"as_images=True is for image datasets ({', '.join(_IMAGES)}); {name!r} is a table"
            )
        x = np.asarray(x).reshape(len(x), *_IMAGES[name])
    dataset = from_arrays(
        x,
        y,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        standardize=standardize,
        stratify=stratify,
        name=name,
        **arrays_options,
    )
    if target_names is not None and dataset.is_classification:
        # sklearn's labels are 0..K-1 and target_names name them in that order
        dataset = dataset.replace(
            class_names=tuple(str(t) for t in target_names), class_labels=tuple(map(class_label, target_names))
        )
    return dataset
