"""Tests for jaxnn.data: built-in datasets, splits, standardization, loaders, errors."""

import collections
import dataclasses
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.datasets
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxnn
from jaxnn import data

# name -> (task, num_classes, num_samples, num_features)
BUILTIN = {
    "breast_cancer": ("binary", 2, 569, 30),
    "digits": ("multiclass", 10, 1797, 64),
    "iris": ("multiclass", 3, 150, 4),
    "wine": ("multiclass", 3, 178, 13),
    "diabetes": ("regression", 0, 442, 10),
    "xor": ("binary", 2, 400, 2),
    "moons": ("binary", 2, 400, 2),
    "circles": ("binary", 2, 400, 2),
    "spirals": ("binary", 2, 400, 2),
}
CLASSIFICATION = [name for name, (task, *_) in BUILTIN.items() if task != "regression"]
SKLEARN_SOURCES = {
    "breast_cancer": sklearn.datasets.load_breast_cancer,
    "digits": sklearn.datasets.load_digits,
    "iris": sklearn.datasets.load_iris,
    "wine": sklearn.datasets.load_wine,
    "diabetes": lambda: sklearn.datasets.load_diabetes(scaled=False),
}


def id_features(num_samples, num_features=3, seed=0):
    """Features whose column 0 is the row index (to recover where each row went)."""
    x = np.random.default_rng(seed).normal(loc=5.0, scale=3.0, size=(num_samples, num_features))
    x[:, 0] = np.arange(num_samples)
    return x


def row_ids(ds, split):
    """The original row indices of a split of a dataset built from `id_features`."""
    x = getattr(ds, f"x_{split}")
    raw = x[:, 0].astype(np.float64) * ds.x_scale[0] + ds.x_mean[0]
    ids = np.rint(raw)
    np.testing.assert_allclose(raw, ids, atol=1e-3)
    return ids.astype(int)


def expected_count(fraction, num_samples):
    """The documented split size: rounded half up, at least 1 for a fraction > 0."""
    return 0 if fraction == 0 else max(1, math.floor(fraction * num_samples + 0.5))


def row_counter(x):
    return collections.Counter(row.tobytes() for row in np.asarray(x, np.float32))


def write(path, text):
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------
# Built-in datasets


def test_names_lists_every_builtin():
    assert set(data.NAMES) == set(BUILTIN)


@pytest.mark.parametrize("name", list(BUILTIN))
def test_load_builtin(name):
    task, num_classes, num_samples, num_features = BUILTIN[name]
    ds = data.load(name)
    assert (ds.task, ds.num_classes, ds.num_features, ds.name) == (task, num_classes, num_features, name)
    assert ds.num_train + ds.num_val + ds.num_test == num_samples
    assert ds.num_val == ds.num_test == expected_count(0.15, num_samples)
    for split in ("train", "val", "test"):
        x, y = ds.split(split)
        chex.assert_shape(x, (None, num_features))
        chex.assert_shape(y, (x.shape[0],))
        assert isinstance(x, np.ndarray) and x.dtype == np.float32
        assert y.dtype == (np.float32 if task == "regression" else np.int32)
        if task != "regression":
            assert y.min() >= 0 and y.max() < num_classes
    assert len(ds.feature_names) == num_features and all(isinstance(f, str) for f in ds.feature_names)
    assert len(ds.class_names) == num_classes
    for stat, shape in (("x_mean", (num_features,)), ("x_scale", (num_features,)), ("y_mean", ()), ("y_scale", ())):
        chex.assert_shape(getattr(ds, stat), shape)
        assert getattr(ds, stat).dtype == np.float32


def test_sklearn_class_names_are_the_datasets_own():
    assert data.load("breast_cancer").class_names == ("malignant", "benign")
    assert data.load("iris").class_names == ("setosa", "versicolor", "virginica")
    assert data.load("digits").class_names == tuple(str(i) for i in range(10))
    assert data.load("diabetes").class_names == ()


def test_load_is_case_insensitive():
    assert data.load("IRIS").name == "iris"


@pytest.mark.parametrize("name", ["iris", "xor", "diabetes"])
def test_same_seed_same_splits_other_seed_other_splits(name):
    first, again, other = data.load(name, seed=3), data.load(name, seed=3), data.load(name, seed=4)
    chex.assert_trees_all_equal(first, again)
    assert first.num_train == other.num_train
    assert not np.array_equal(first.x_train, other.x_train)


@pytest.mark.parametrize("name", list(SKLEARN_SOURCES))
def test_splits_partition_the_source_rows(name):
    ds = data.load(name, standardize=False)
    splits = [ds.x_train, ds.x_val, ds.x_test]
    # multiset equality: every source row lands in exactly one split, none is invented
    assert sum((row_counter(x) for x in splits), collections.Counter()) == row_counter(SKLEARN_SOURCES[name]().data)


@pytest.mark.parametrize("name", ["xor", "moons", "circles", "spirals"])
def test_synthetic_splits_are_disjoint(name):
    ds = data.load(name, standardize=False)
    sets = [set(row_counter(x)) for x in (ds.x_train, ds.x_val, ds.x_test)]
    assert sum(map(len, sets)) == 400  # noisy rows are all distinct
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


@pytest.mark.parametrize("name", CLASSIFICATION)
def test_stratified_splits_keep_class_proportions(name):
    ds = data.load(name, seed=1)

    def counts(y):
        return np.bincount(y, minlength=ds.num_classes)

    everything = counts(ds.y_train) + counts(ds.y_val) + counts(ds.y_test)
    # the test split is drawn from all samples, then validation from the rest: each split is
    # within 1 sample per class of its share of the set it was drawn from
    expected_test = ds.num_test * everything / everything.sum()
    assert np.abs(counts(ds.y_test) - expected_test).max() < 1
    rest = counts(ds.y_train) + counts(ds.y_val)
    for y in (ds.y_train, ds.y_val):
        assert np.abs(counts(y) - len(y) * rest / rest.sum()).max() < 1
    # and hence within 2 of the overall proportions
    for y in (ds.y_train, ds.y_val, ds.y_test):
        assert np.abs(counts(y) - len(y) * everything / everything.sum()).max() < 2


def test_unstratified_split_differs():
    stratified = data.load("iris", seed=2)
    x, y = sklearn.datasets.load_iris(return_X_y=True)
    plain = data.from_arrays(x, y, seed=2, stratify=False)
    assert not np.array_equal(stratified.y_test, plain.y_test)


def test_spirals_with_more_classes():
    ds = data.load("spirals", num_classes=4, num_samples=200, noise=0.0)
    assert (ds.task, ds.num_classes, ds.num_train + ds.num_val + ds.num_test) == ("multiclass", 4, 200)


def test_xor_labels_are_xor_of_the_corner():
    ds = data.load("xor", noise=0.05, standardize=False)
    corner = np.rint(ds.x_train).astype(int)
    np.testing.assert_array_equal(ds.y_train, corner[:, 0] ^ corner[:, 1])


@pytest.mark.parametrize("name", ["breast_cancer", "digits", "diabetes"])
def test_builtin_train_split_is_standardized(name):
    ds = data.load(name)
    raw = data.load(name, standardize=False)  # same seed, same split, raw values
    constant = raw.x_train.std(axis=0) == 0
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=2e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0)[~constant], 1.0, atol=2e-4)
    np.testing.assert_array_equal(ds.x_scale[constant], 1.0)
    np.testing.assert_allclose(ds.x_mean, raw.x_train.astype(np.float64).mean(axis=0), rtol=1e-5)


# ---------------------------------------------------------------------------
# Standardization


def test_statistics_are_fitted_on_the_train_split_only():
    x = id_features(200)
    ds = data.from_arrays(x, x[:, 1] * 2.0 + 0.5, seed=0)
    ids = {split: row_ids(ds, split) for split in ("train", "val", "test")}
    assert sorted(np.concatenate(list(ids.values()))) == list(range(200))
    raw_train = x[ids["train"]]
    np.testing.assert_allclose(ds.x_mean, raw_train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(ds.x_scale, raw_train.std(axis=0), rtol=1e-6)
    assert not np.allclose(ds.x_mean[1:], x[:, 1:].mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(ds.y_mean, (raw_train[:, 1] * 2.0 + 0.5).mean(), rtol=1e-6)
    np.testing.assert_allclose(ds.y_scale, (raw_train[:, 1] * 2.0).std(), rtol=1e-6)
    # the other splits get the train statistics, not their own
    np.testing.assert_allclose(ds.x_val, (x[ids["val"]] - raw_train.mean(0)) / raw_train.std(0), atol=1e-5)
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(ds.y_train.mean(), 0.0, atol=1e-5)


def test_constant_feature_gets_scale_one():
    x = id_features(50)
    x[:, 2] = 7.0
    ds = data.from_arrays(x, np.arange(50) % 2)
    assert ds.x_scale[2] == 1.0
    np.testing.assert_array_equal(ds.x_train[:, 2], 0.0)


def test_no_standardization_keeps_raw_values():
    x = id_features(40)
    ds = data.from_arrays(x, x[:, 1], standardize=False)
    ids = ds.x_train[:, 0].astype(int)
    np.testing.assert_array_equal(ds.x_train, x[ids].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, x[ids, 1].astype(np.float32))
    np.testing.assert_array_equal(ds.x_mean, 0.0)
    np.testing.assert_array_equal(ds.x_scale, 1.0)


@pytest.mark.parametrize("transform", [lambda f: f, jax.jit], ids=["eager", "jit"])
def test_transform_reproduces_the_stored_splits(transform):
    x = id_features(120, num_features=4)
    ds = data.from_arrays(x, np.arange(120) % 3, seed=5)
    for split in ("train", "val", "test"):
        raw = x[row_ids(ds, split)]
        if transform is jax.jit:
            np.testing.assert_allclose(transform(ds.transform)(jnp.asarray(raw)), ds.split(split).x, atol=1e-6)
        else:
            np.testing.assert_array_equal(ds.transform(raw), ds.split(split).x)


def test_transform_checks_the_number_of_features():
    ds = data.load("breast_cancer")
    with pytest.raises(ValueError, match=r"x has 7 features but the dataset has 30"):
        ds.transform(np.zeros((4, 7)))
    with pytest.raises(TypeError, match="x must be numeric"):
        ds.transform(np.array([["a"] * 30]))


def test_inverse_transform_y_undoes_target_scaling():
    ds = data.load("diabetes")
    raw = data.load("diabetes", standardize=False)
    for split in ("train", "val", "test"):
        standardized, original = ds.split(split).y, raw.split(split).y
        np.testing.assert_allclose(ds.inverse_transform_y(standardized), original, rtol=1e-5)
        np.testing.assert_allclose(ds.transform_y(original), standardized, atol=1e-5)
    np.testing.assert_allclose(ds.inverse_transform_y(jnp.asarray(ds.y_val)), raw.y_val, rtol=1e-5)
    assert ds.y_scale > 10  # diabetes targets are in the hundreds: the scaling is real
    labels = data.load("iris").y_test
    assert data.load("iris").inverse_transform_y(labels) is labels


# ---------------------------------------------------------------------------
# The Dataset container


def test_dataset_is_a_pytree_of_its_arrays():
    ds = data.load("iris")
    leaves = jax.tree.leaves(ds)
    assert len(leaves) == 10 and all(isinstance(leaf, np.ndarray) for leaf in leaves)
    assert leaves[0] is ds.x_train
    doubled = jax.tree.map(lambda a: a * 2, ds)
    assert isinstance(doubled, data.Dataset) and doubled.class_names == ds.class_names


def test_dataset_passes_through_jit_and_vmap_without_retracing():
    traces = []

    @jax.jit
    def mean_of_train(ds):
        traces.append(1)
        return ds.x_train.mean(axis=0) * ds.num_classes

    first, second = data.load("xor", seed=0, noise=0.5), data.load("xor", seed=1, noise=0.5)
    np.testing.assert_allclose(mean_of_train(first), first.x_train.mean(axis=0) * 2, atol=1e-6)
    np.testing.assert_allclose(mean_of_train(second), second.x_train.mean(axis=0) * 2, atol=1e-6)
    assert len(traces) == 1  # new array values, same static structure: no recompile

    scaled = jax.vmap(lambda s, ds: s * ds.x_train.sum(), in_axes=(0, None))(jnp.arange(3.0), first)
    chex.assert_shape(scaled, (3,))


def test_dataset_is_immutable():
    ds = data.load("iris")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.x_train = np.zeros((1, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.task = "regression"
    renamed = ds.replace(name="flowers")
    assert (renamed.name, ds.name) == ("flowers", "iris")


def test_repr_and_describe_are_short_and_informative():
    ds = data.load("breast_cancer")
    text = repr(ds)
    assert text.startswith("Dataset(name='breast_cancer', task='binary', num_classes=2, num_features=30")
    assert "array" not in text and len(text) < 200
    summary = ds.describe()
    for part in (
        "breast_cancer",
        "binary",
        "malignant",
        "benign",
        "30 features",
        "mean radius",
        f"train {ds.num_train}",
        f"validation {ds.num_val}",
        f"test {ds.num_test}",
    ):
        assert part in summary
    assert "regression" in data.load("diabetes").describe()


def test_split_accessor():
    ds = data.load("wine")
    x, y = ds.split("validation")
    assert x is ds.x_val and y is ds.y_val
    with pytest.raises(ValueError, match=r"unknown split 'tst'.*did you mean 'test'"):
        ds.split("tst")


# ---------------------------------------------------------------------------
# from_arrays


def test_string_labels_map_to_indices_and_keep_names():
    x = id_features(60)
    labels = np.array(["cat", "dog", "emu"])[np.arange(60) % 3]
    ds = data.from_arrays(x, labels, seed=0)
    assert (ds.task, ds.num_classes, ds.class_names) == ("multiclass", 3, ("cat", "dog", "emu"))
    assert all(type(name) is str for name in ds.class_names + ds.feature_names)
    ids = row_ids(ds, "train")
    np.testing.assert_array_equal(np.array(ds.class_names)[ds.y_train], labels[ids])


def test_arbitrary_numeric_labels_map_to_indices():
    x = id_features(40)
    y = np.where(np.arange(40) % 2 == 0, 3, 7)
    ds = data.from_arrays(x, y)
    assert (ds.task, ds.class_names) == ("binary", ("3", "7"))
    np.testing.assert_array_equal(ds.y_train, (y[row_ids(ds, "train")] == 7).astype(np.int32))


@pytest.mark.parametrize(
    ("y", "task", "num_classes"),
    [
        (np.arange(40) % 2, "binary", 2),
        ((np.arange(40) % 4).astype(np.float64), "multiclass", 4),
        (np.arange(40) % 2 == 0, "binary", 2),
        (np.linspace(0.0, 1.0, 40), "regression", 0),
    ],
    ids=["int-binary", "float-integers", "bool", "float-regression"],
)
def test_task_inference(y, task, num_classes):
    ds = data.from_arrays(id_features(40), y)
    assert (ds.task, ds.num_classes) == (task, num_classes)


def test_explicit_task_overrides_inference():
    ds = data.from_arrays(id_features(40), (np.arange(40) % 2).astype(float), task="regression")
    assert (ds.task, ds.num_classes, ds.y_train.dtype) == ("regression", 0, np.float32)
    ds = data.from_arrays(id_features(40), np.arange(40) % 2, task="multiclass")
    assert (ds.task, ds.num_classes) == ("multiclass", 2)


def test_explicit_validation_and_test_splits():
    x, y = id_features(50), np.arange(50) % 2
    x_val, y_val = id_features(8, seed=1), np.array(["1", "0"] * 4).astype(int)
    x_test, y_test = id_features(6, seed=2), np.arange(6) % 2
    ds = data.from_arrays(x, y, validation=(x_val, y_val), test=(x_test, y_test), val_fraction=0.9)
    assert (ds.num_train, ds.num_val, ds.num_test) == (50, 8, 6)
    np.testing.assert_array_equal(ds.x_val, ds.transform(x_val))
    np.testing.assert_array_equal(ds.y_test, y_test)
    np.testing.assert_allclose(ds.x_mean, x.mean(axis=0), rtol=1e-6)  # fitted on all of x = train


def test_empty_validation_and_test_splits():
    ds = data.from_arrays(id_features(30), np.arange(30) % 2, val_fraction=0.0, test=(np.zeros((0, 3)), []))
    assert (ds.num_train, ds.num_val, ds.num_test) == (30, 0, 0)
    chex.assert_shape([ds.x_val, ds.y_val, ds.x_test, ds.y_test], [(0, 3), (0,), (0, 3), (0,)])
    assert ds.y_val.dtype == np.int32


def test_feature_names_and_column_vector_targets():
    ds = data.from_arrays(id_features(30), (np.arange(30) % 2)[:, None], feature_names=["a", "b", "c"])
    assert ds.feature_names == ("a", "b", "c") and ds.y_train.ndim == 1
    assert data.from_arrays(id_features(30), np.arange(30) % 2).feature_names == ("x0", "x1", "x2")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"x": np.zeros(10)},
            ValueError,
            r"x must be \(samples, features\), or \(samples, \*shape\).*got shape \(10,\).*reshape",
        ),
        ({"x": np.zeros((10, 0))}, ValueError, r"x has no features, got shape \(10, 0\)"),
        ({"x": np.array([["a", "b"]] * 10)}, TypeError, r"x must be numeric, got dtype <U1"),
        ({"x": np.zeros((100, 2)), "y": np.arange(99) % 2}, ValueError, r"x has 100 rows but y has 99"),
        ({"y": np.eye(2)[np.arange(10) % 2]}, ValueError, r"y must be 1-D.*one-hot"),
        ({"y": [0.5] * 9 + [np.nan]}, ValueError, r"y has 1 non-finite values.*row 9"),
        ({"val_fraction": 1.0}, ValueError, r"`val_fraction` must be in \[0, 1\), got 1.0"),
        ({"test_fraction": -0.1}, ValueError, r"`test_fraction` must be in \[0, 1\), got -0.1"),
        ({"test_fraction": "0.2"}, TypeError, r"`test_fraction` must be a number"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, ValueError, r"`val_fraction` \+ `test_fraction` must be < 1"),
        ({"seed": -1}, ValueError, r"`seed` \(=-1\) must be >= 0"),
        ({"seed": 2**32}, ValueError, r"`seed` \(=4294967296\) must be < 2\*\*32"),
        ({"seed": 1.5}, TypeError, r"`seed` must be an int, got float"),
        ({"x": np.zeros((0, 2)), "y": []}, ValueError, r"x has no rows"),
        ({"task": "binery"}, ValueError, r"unknown task 'binery' \(did you mean 'binary'\?\)"),
        ({"y": np.arange(10) % 3, "task": "binary"}, ValueError, r"task='binary' needs exactly 2 classes, but y has 3"),
        ({"y": np.zeros(10), "task": "multiclass"}, ValueError, r"task='multiclass' needs at least 2 classes"),
        (
            {"y": ["a", "b"] * 5, "task": "regression"},
            TypeError,
            r"task='regression' needs numeric y, got strings such as 'a'$",
        ),
        ({"y": np.ones(10)}, ValueError, r"y has a single distinct value \(1\).*task='regression'"),
        ({"feature_names": ["a"]}, ValueError, r"`feature_names` has 1 names but x has 2 features"),
        ({"validation": (np.zeros((3, 5)), [0, 1, 0])}, ValueError, r"validation x has 5 features but x has 2"),
        ({"validation": (np.zeros((3, 2)), [0, 1])}, ValueError, r"validation x has 3 rows but validation y has 2"),
        ({"test": (np.zeros((2, 2)), ["a", "b"])}, TypeError, r"y holds numbers but test y holds strings"),
        ({"validation": np.zeros((3, 2))}, TypeError, r"`validation` must be a pair \(x, y\)"),
    ],
)
def test_from_arrays_bad_input(kwargs, error, match):
    arguments = {"x": np.random.default_rng(0).normal(size=(10, 2)), "y": np.arange(10) % 2, **kwargs}
    with pytest.raises(error, match=match):
        data.from_arrays(arguments.pop("x"), arguments.pop("y"), **arguments)


def test_non_finite_features_say_how_many_and_where():
    x = np.ones((20, 4))
    x[3, 1], x[7, 2] = np.nan, np.inf
    match = r"x has 2 non-finite values \(NaN or Inf\); the first is nan at row 3, column 1 \('b'\)"
    with pytest.raises(ValueError, match=match):
        data.from_arrays(x, np.arange(20) % 2, feature_names=["a", "b", "c", "d"])


def test_split_that_leaves_no_training_samples():
    with pytest.raises(ValueError, match=r"splitting 2 samples .* leaves no training samples \(validation 1, test 1\)"):
        data.from_arrays(np.ones((2, 1)), [0.5, 1.5], val_fraction=0.3, test_fraction=0.3)


def test_stratification_with_a_rare_class_fails_clearly():
    y = np.array([0] * 10 + [1] * 10 + [2])
    match = r"cannot make stratified splits of 21 samples.*class '2' has only 1 sample.*stratify=False$"
    with pytest.raises(ValueError, match=match):
        data.from_arrays(np.ones((21, 2)), y)  # 3 classes: no hint about regression
    ds = data.from_arrays(np.ones((21, 2)), y, stratify=False)
    assert ds.num_classes == 3


def test_stratification_with_more_classes_than_split_samples_fails_clearly():
    y = np.arange(10) % 5
    match = (
        r"cannot make stratified splits of 10 samples \(train 7, validation 2, test 1\) over 5 classes: "
        r"both parts of a split into 9 \+ 1 samples must hold each of the 5 classes"
    )
    with pytest.raises(ValueError, match=match):
        data.from_arrays(np.ones((10, 2)), y, test_fraction=0.1, val_fraction=0.2)


def test_integer_valued_continuous_target_gets_a_hint():
    y = np.arange(40) * 3.0  # 40 distinct integer values: read as 40 classes of 1 sample
    with pytest.raises(ValueError, match=r"y was read as 40 classes; pass task='regression'"):
        data.from_arrays(id_features(40), y)
    assert data.from_arrays(id_features(40), y, task="regression").task == "regression"


@settings(max_examples=60, deadline=None)
@given(
    num_samples=st.integers(3, 80),
    num_features=st.integers(1, 4),
    val_fraction=st.floats(0.0, 0.5),
    test_fraction=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**31),
    num_classes=st.sampled_from([0, 2, 3]),
)
def test_splits_partition_the_rows(num_samples, num_features, val_fraction, test_fraction, seed, num_classes):
    x = np.arange(num_samples * num_features, dtype=np.float64).reshape(num_samples, num_features)
    y = np.arange(num_samples) % num_classes if num_classes else np.linspace(0.1, 2.3, num_samples)
    task = "multiclass" if num_classes else "regression"
    try:
        ds = data.from_arrays(
            x, y, task=task, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed, standardize=False
        )
    except ValueError as error:
        # the only refusals: fractions that leave no training data, or a stratification that cannot work
        no_train = (
            val_fraction + test_fraction >= 1
            or expected_count(val_fraction, num_samples) + expected_count(test_fraction, num_samples) >= num_samples
        )
        assert no_train or (num_classes and "cannot make stratified splits" in str(error)), str(error)
        return
    ids = [getattr(ds, f"x_{split}")[:, 0].astype(int) // num_features for split in ("train", "val", "test")]
    np.testing.assert_array_equal(np.sort(np.concatenate(ids)), np.arange(num_samples))
    assert len(ids[1]) == expected_count(val_fraction, num_samples)
    assert len(ids[2]) == expected_count(test_fraction, num_samples)
    for split_ids, split in zip(ids, ("train", "val", "test"), strict=True):
        expected = y[split_ids].astype(np.int32 if num_classes else np.float32)
        np.testing.assert_array_equal(getattr(ds, f"y_{split}"), expected)


# ---------------------------------------------------------------------------
# load errors


def test_load_unknown_name_lists_valid_names():
    match = r"unknown dataset 'irs' \(did you mean 'iris'\?\); valid names: breast_cancer, circles, diabetes, digits"
    with pytest.raises(ValueError, match=match):
        data.load("irs")


def test_load_options():
    with pytest.raises(TypeError, match=r"load\('iris'\) got unexpected option\(s\) noise; valid options: \(none\)"):
        data.load("iris", noise=0.1)
    with pytest.raises(TypeError, match=r"unexpected option\(s\) samples; valid options: num_samples, noise"):
        data.load("xor", samples=10)
    with pytest.raises(ValueError, match=r"`noise` must be >= 0, got -1"):
        data.load("moons", noise=-1)
    with pytest.raises(ValueError, match=r"`num_classes` \(=1\) must be >= 2"):
        data.load("spirals", num_classes=1)
    with pytest.raises(ValueError, match=r"`val_fraction` must be in \[0, 1\)"):
        data.load("iris", val_fraction=2)
    assert data.load("circles", num_samples=100, factor=0.3).num_train == 70


# ---------------------------------------------------------------------------
# from_csv and from_npz


def test_from_csv_numeric_target(tmp_path):
    x = id_features(30)
    y = np.arange(30) % 2
    lines = ["id,height, label ,weight"] + [f"{a},{b},{t},{c}" for (a, b, c), t in zip(x, y, strict=True)]
    path = write(tmp_path / "animals.csv", "\n".join(lines) + "\n\n")
    ds = data.from_csv(path, "label", seed=1)
    assert (ds.name, ds.target_name, ds.feature_names) == ("animals", "label", ("id", "height", "weight"))
    assert (ds.task, ds.class_names) == ("binary", ("0", "1"))
    reference = data.from_arrays(x, y, seed=1)
    chex.assert_trees_all_close(jax.tree.leaves(ds), jax.tree.leaves(reference))


def test_from_csv_string_target_and_options(tmp_path):
    lines = ["a;b;species"] + [f"{i};{i % 7};{['setosa', 'virginica'][i % 2]}" for i in range(40)]
    path = write(tmp_path / "flowers.csv", "\n".join(lines))
    ds = data.from_csv(path, "species", delimiter=";", name="mine", test_fraction=0.0)
    assert (ds.name, ds.class_names, ds.num_test, ds.num_features) == ("mine", ("setosa", "virginica"), 0, 2)
    ids = row_ids(ds, "train")
    np.testing.assert_array_equal(ds.y_train, ids % 2)


def test_from_csv_regression_target(tmp_path):
    lines = ["x,price"] + [f"{i},{i * 1.5 + 0.25}" for i in range(20)]
    ds = data.from_csv(write(tmp_path / "prices.csv", "\n".join(lines)), "price")
    assert ds.task == "regression"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"CSV file '.*empty.csv' is empty"),
        ("\n\n", r"is empty; expected a header row"),
        ("a,b,y\n", r"has a header but no data rows"),
        ("a,b,label\n1,2,0\n", r"target column 'y' not found in CSV file .*; columns: a, b, label"),
        (
            "a,b,y\n1,2,0\n3,x,1\n",
            r"column 'b' mixes numbers and text: '2' at line 2, 'x' at line 3; .* "
            r"if it holds categories, read it as categorical",
        ),
        ("a,b,y\n1,nan,0\n", r"line 2, column 'b': 'nan' is not a finite number"),
        ("a,b,y\n1,2,0\n\n3,4\n", r"line 4 has 2 fields but the header has 3 columns"),
        ("a,b,y\n1,2,0\n3,4,\n", r"line 3: the target column 'y' is empty"),
        ("y\n1\n2\n", r"no feature columns besides the target 'y'"),
    ],
)
def test_from_csv_bad_input(tmp_path, text, match):
    path = write(tmp_path / "empty.csv", text)
    with pytest.raises(ValueError, match=match):
        data.from_csv(path, "y")


def test_from_csv_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CSV file not found: '.*nope.csv'"):
        data.from_csv(tmp_path / "nope.csv", "y")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00\x81abc")
    with pytest.raises(ValueError, match=r"CSV file '.*binary.csv' line 1 is not valid utf-16"):  # its BOM says so
        data.from_csv(tmp_path / "binary.csv", "y")
    with pytest.raises(TypeError, match=r"`target` must be a column name \(str\), got int"):
        data.from_csv(tmp_path / "binary.csv", 0)


def test_from_npz_round_trip(tmp_path):
    x, y = id_features(50), np.arange(50) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y, feature_names=np.array(["i", "j", "k"]))
    ds = data.from_npz(tmp_path / "d.npz", seed=2)
    reference = data.from_arrays(x, y, seed=2)
    chex.assert_trees_all_equal(jax.tree.leaves(ds), jax.tree.leaves(reference))
    assert (ds.name, ds.feature_names, ds.num_classes) == ("d", ("i", "j", "k"), 3)

    np.savez(tmp_path / "e.npz", features=x, labels=np.array(["a", "b"])[y % 2])
    ds = data.from_npz(tmp_path / "e.npz", x="features", y="labels", name="custom")
    assert (ds.name, ds.class_names, ds.feature_names) == ("custom", ("a", "b"), ("x0", "x1", "x2"))


def test_from_npz_errors(tmp_path):
    np.savez(tmp_path / "d.npz", features=np.zeros((5, 2)), y=np.arange(5))
    with pytest.raises(ValueError, match=r"has no array 'x' \(the `x` argument\); arrays present: features, y"):
        data.from_npz(tmp_path / "d.npz")
    with pytest.raises(FileNotFoundError, match=r"NPZ file not found: '.*missing.npz'"):
        data.from_npz(tmp_path / "missing.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(ValueError, match=r"holds a single array, not an .npz archive"):
        data.from_npz(tmp_path / "single.npy")
    write(tmp_path / "text.npz", "hello")
    with pytest.raises(ValueError, match=r"'.*text.npz' is not a NumPy .npz archive \(as written by numpy.savez\)$"):
        data.from_npz(tmp_path / "text.npz")
    np.savez(tmp_path / "objects.npz", x=np.array([{"a": 1}], dtype=object), y=np.arange(1))
    with pytest.raises(ValueError, match=r"holds arrays of Python objects"):
        data.from_npz(tmp_path / "objects.npz")


@pytest.mark.parametrize("stratified", [False, True], ids=["shuffled", "stratified"])
def test_splits_draw_exactly_as_scikit_learn_does(stratified):
    """jaxnn splits without importing scikit-learn; the draws are its train_test_split's, case by case."""
    from sklearn.model_selection import train_test_split

    from jaxnn.data.prepare import shuffle_split

    cases = np.random.default_rng(0)
    for _ in range(40):
        num_classes = int(cases.integers(2, 6))
        num = int(cases.integers(4 * num_classes, 120))
        labels = np.concatenate(
            [np.arange(num_classes), np.arange(num_classes), cases.integers(0, num_classes, num - 2 * num_classes)]
        )
        held = int(cases.integers(num_classes, num - num_classes + 1))
        seed = int(cases.integers(0, 2**31))
        kept, held_out = shuffle_split(num, held, labels if stratified else None, np.random.RandomState(seed))
        expected = train_test_split(
            np.arange(num),
            test_size=held,
            random_state=np.random.RandomState(seed),
            stratify=labels if stratified else None,
        )
        np.testing.assert_array_equal(kept, expected[0])
        np.testing.assert_array_equal(held_out, expected[1])


def test_classes_must_be_whole_numbers_or_strings_when_the_task_is_given():
    x = np.random.default_rng(0).normal(size=(40, 2))
    with pytest.raises(
        jaxnn.DataError,
        match=r"task='multiclass' needs class labels, but y holds numbers that are not "
        r"whole and mostly distinct \(such as 0\.25\): a continuous target; pass task='regression'",
    ):
        jaxnn.datasets.from_arrays(x, np.linspace(0.0, 9.75, 40), task="multiclass")
    assert jaxnn.datasets.from_arrays(x, np.linspace(0.0, 9.75, 40)).task == "regression"  # inferred: continuous
