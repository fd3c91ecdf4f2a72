"""Tabular data: reading CSV and Parquet (jaxnn.data.reading), the column plan (jaxnn.data.columns) against
scikit-learn's transformers, prediction files, weights, the plan in checkpoints, and every message."""

import gzip
import json
import warnings

import jax
import numpy as np
import pytest
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import jaxnn
from jaxnn import data, errors
from jaxnn.data import reading
from jaxnn.data.columns import MANY_CATEGORIES, ColumnPlan
from jaxnn.data.table import as_table, number_levels
from jaxnn.errors import CheckpointError, ConfigError, DataError, DataWarning


def write_csv(path, columns, *, delimiter=",", encoding="utf-8", newline="\n"):
    """``columns``: name -> list of cells (None is a blank cell); returns the path."""
    names = list(columns)
    rows = zip(*columns.values(), strict=True)
    lines = [delimiter.join(names)] + [
        delimiter.join("" if cell is None else str(cell) for cell in row) for row in rows
    ]
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def shop(num_rows=80, seed=0):
    """A small mixed table: an ID, numbers with blanks, categories with blanks, booleans, a constant, a target."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue", "teal"], num_rows, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    color[rng.random(num_rows) < 0.1] = None
    age = np.round(rng.normal(40, 12, num_rows), 1).astype(object)
    age[rng.random(num_rows) < 0.15] = None
    member = rng.choice(["true", "false"], num_rows).astype(object)
    member[rng.random(num_rows) < 0.1] = None
    return {
        "id": [f"u{i:04d}" for i in range(num_rows)],
        "age": list(age),
        "color": list(color),
        "member": list(member),
        "income": list(np.round(rng.lognormal(3, 0.5, num_rows), 3)),
        "const": [7] * num_rows,
        "bought": list(rng.choice(["no", "yes"], num_rows)),
    }


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return function(*args, **kwargs)


@pytest.fixture(scope="module")
def shop_csv(tmp_path_factory):
    return write_csv(tmp_path_factory.mktemp("tabular") / "shop.csv", shop())


@pytest.fixture(scope="module")
def shop_data(shop_csv):
    return quietly(data.from_csv, shop_csv, "bought", missing_indicator=True, seed=3)


# ---------------------------------------------------------------------------
# The plan against scikit-learn


def sklearn_reference(columns, train, parts, *, max_categories=None):
    """Per column, the same steps by scikit-learn: median + StandardScaler, most frequent + OneHotEncoder
    (handle_unknown='ignore'), most frequent for booleans, MissingIndicator; fitted on the rows ``train``."""
    outputs = {name: [] for name in parts}
    for name in ("age", "color", "member", "income"):
        values = np.array(columns[name], dtype=object)
        blank = np.array([v is None for v in values])
        if name == "color":
            cells = values.reshape(-1, 1)
            imputer = SimpleImputer(missing_values=None, strategy="most_frequent").fit(cells[train])
            encoder = OneHotEncoder(handle_unknown="ignore", max_categories=max_categories, sparse_output=False)
            encoder.fit(imputer.transform(cells[train]))
            encode = lambda rows: encoder.transform(imputer.transform(cells[rows]))  # noqa: E731
        else:
            numbers = np.array([np.nan if v is None else float(v == "true" if name == "member" else v) for v in values])
            cells = numbers.reshape(-1, 1)
            if name == "member":
                imputer = SimpleImputer(strategy="most_frequent").fit(cells[train])
                encode = lambda rows, imputer=imputer, cells=cells: imputer.transform(cells[rows])  # noqa: E731
            else:
                imputer = SimpleImputer(strategy="median").fit(cells[train])
                scaler = StandardScaler().fit(imputer.transform(cells[train]))
                encode = lambda rows, i=imputer, s=scaler, c=cells: s.transform(i.transform(c[rows]))  # noqa: E731
        marks = np.where(blank, np.nan, 0.0).reshape(-1, 1)
        indicator = MissingIndicator(features="missing-only").fit(marks[train])
        for part, rows in parts.items():
            outputs[part].append(encode(rows))
            if indicator.features_.size:
                outputs[part].append(indicator.transform(marks[rows]).astype(float))
    return {part: np.hstack(blocks) for part, blocks in outputs.items()}


def test_the_plan_is_scikit_learns_column_transform_fitted_on_the_training_rows(shop_data):
    columns = shop()
    train, val, test = data.split_rows(columns["bought"], seed=3)
    expected = sklearn_reference(columns, train, {"train": train, "val": val, "test": test})
    for part in ("train", "val", "test"):
        np.testing.assert_allclose(getattr(shop_data, f"x_{part}"), expected[part], rtol=1e-5, atol=1e-5)
    assert shop_data.feature_names == (
        "age",
        "age=(missing)",
        "color=blue",
        "color=green",
        "color=red",
        "color=teal",
        "color=(missing)",
        "member",
        "member=(missing)",
        "income",
    )
    train_ages = np.array([columns["age"][i] for i in train if columns["age"][i] is not None], float)
    assert shop_data.info.columns.steps[1].fill == pytest.approx(np.median(train_ages))  # the training rows only


@pytest.mark.parametrize("max_categories", [2, 3, 5, 9])
def test_max_categories_keeps_what_one_hot_encoder_keeps_ties_included(max_categories):
    rng = np.random.default_rng(max_categories)
    levels = [f"c{i}" for i in range(12)]
    cells = list(rng.choice(levels, 300, p=np.r_[[0.2] * 2, [0.06] * 10]))  # many ties among the rare ones
    cells += levels  # every level seen
    table = as_table({"c": np.array(cells, dtype=object)})
    step = ColumnPlan.fit(table, max_categories=max_categories).steps[0]
    encoder = OneHotEncoder(max_categories=max_categories, handle_unknown="ignore").fit(np.array(cells).reshape(-1, 1))
    assert step.infrequent == tuple(encoder.infrequent_categories_[0])
    assert step.categories == tuple(c for c in encoder.categories_[0] if c not in step.infrequent)
    x = ColumnPlan((step,)).transform(table)
    np.testing.assert_array_equal(x, encoder.transform(np.array(cells).reshape(-1, 1)).toarray())


def test_max_categories_counts_the_categories_after_imputing_as_scikit_learn_does():
    cells = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 9 + [None] * 2, dtype=object)  # the blanks tip 'a' over 'b'
    step = ColumnPlan.fit(as_table({"c": cells}), max_categories=2).steps[0]
    imputed = SimpleImputer(missing_values=None, strategy="most_frequent").fit_transform(cells.reshape(-1, 1))
    encoder = OneHotEncoder(max_categories=2).fit(imputed)
    assert (step.fill, step.categories, step.infrequent) == ("a", ("a",), ("b", "c"))
    assert step.infrequent == tuple(encoder.infrequent_categories_[0])


def test_most_frequent_ties_take_the_smallest_value_as_simple_imputer_does():
    text = np.array(["b", "a", "b", "a", None, "c"], dtype=object)
    flags = np.array([True, False, True, False, None, None], dtype=object)
    steps = ColumnPlan.fit(as_table({"c": text, "f": flags})).steps

    def impute(cells, blank):
        return (
            SimpleImputer(missing_values=blank, strategy="most_frequent")
            .fit(  # noqa: E731
                cells.reshape(-1, 1)
            )
            .statistics_[0]
        )

    assert steps[0].fill == impute(text, None) == "a"
    assert steps[1].kind == "boolean" and steps[1].fill == impute(np.array([1, 0, 1, 0, np.nan, np.nan]), np.nan) == 0


def test_booleans_stay_zero_one_and_numbers_are_standardized(shop_data):
    scale, mean = shop_data.info.standardizer.x_scale, shop_data.info.standardizer.x_mean
    zero_one = [i for i, name in enumerate(shop_data.feature_names) if name not in ("age", "income")]
    np.testing.assert_array_equal(mean[zero_one], 0)
    np.testing.assert_array_equal(scale[zero_one], 1)
    assert set(np.unique(shop_data.x_train[:, zero_one])) == {0.0, 1.0}
    numbers = [shop_data.feature_names.index(name) for name in ("age", "income")]
    np.testing.assert_allclose(shop_data.x_train[:, numbers].mean(axis=0), 0, atol=1e-5)


def test_constant_id_and_blank_columns_are_dropped_with_one_line_notes(tmp_path):
    columns = {
        "id": [f"r{i}" for i in range(30)],
        "k": [1] * 30,
        "blank": [None] * 30,
        "x": list(range(30)),
        "y": [i % 2 for i in range(30)],
    }
    with pytest.warns(DataWarning) as caught:
        ds = data.from_csv(write_csv(tmp_path / "d.csv", columns), "y")
    notes = sorted(str(w.message) for w in caught)
    assert notes == sorted(
        [
            f"CSV file '{tmp_path / 'd.csv'}' column 'id' is dropped: unique per row (an ID)",
            f"CSV file '{tmp_path / 'd.csv'}' column 'k' is dropped: constant (1)",
            f"CSV file '{tmp_path / 'd.csv'}' column 'blank' is dropped: every cell is blank",
        ]
    )
    assert ds.feature_names == ("x",)
    assert {w.filename for w in caught} == {__file__}  # attributed to the caller, not to jaxnn's insides
    with pytest.raises(DataError, match=r"no feature is left of CSV file .*: every column is dropped \('k': constant"):
        quietly(data.from_csv, write_csv(tmp_path / "e.csv", {"k": [1] * 30, "y": columns["y"]}), "y")


def test_thousands_of_categories_warn_with_the_count_and_max_categories_groups_them():
    cells = np.array([f"city{i % 1200}" for i in range(2400)], dtype=object)
    table = {"city": cells, "n": np.arange(2400.0)}
    y = np.arange(2400) % 2
    with pytest.warns(
        DataWarning,
        match=r"column 'city' has 1,200 categories, which one-hot encoding makes 1,200 "
        r"features; pass max_categories=N to keep the N - 1 most frequent",
    ):
        data.from_arrays(table, y, val_fraction=0, test_fraction=0)
    assert MANY_CATEGORIES < 1200
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        ds = data.from_arrays(table, y, val_fraction=0, test_fraction=0, max_categories=10)
    assert ds.num_features == 11 and ds.feature_names[-2] == "city=(other)"


def test_categorical_reads_numbers_as_categories_and_keeps_their_spelling(tmp_path):
    path = write_csv(
        tmp_path / "codes.csv", {"grade": ["01", "2", "3", "01"] * 10, "zip": ["02139", "10001"] * 20, "y": [0, 1] * 20}
    )
    ds = quietly(data.from_csv, path, "y", categorical=["grade", "zip"])
    assert ds.feature_names == ("grade=01", "grade=2", "grade=3", "zip=02139", "zip=10001")
    plain = quietly(data.from_csv, path, "y")
    assert plain.feature_names == ("grade", "zip")


def test_a_column_mixing_numbers_and_text_is_refused_unless_categorical(tmp_path):
    path = write_csv(tmp_path / "m.csv", {"size": ["1", "2", "XL", "3"] * 5, "y": [0, 1] * 10})
    with pytest.raises(
        DataError,
        match=r"column 'size' mixes numbers and text: '1' at line 2, 'XL' at line 4; if it "
        r"is a numeric column, fix or blank the text cells \(blanks are imputed\); if "
        r"it holds categories, read it as categorical$",
    ):
        data.from_csv(path, "y")
    assert quietly(data.from_csv, path, "y", categorical="size").num_features == 4
    with (
        errors.spoken_as({"categorical": errors.Word("--categorical")}),
        pytest.raises(DataError, match=r"read it as categorical \(--categorical size\)$"),
    ):
        data.from_csv(path, "y")
    with pytest.raises(
        ConfigError,
        match=r"`categorical` names 'sizes', which CSV file .* does not have; its columns "
        r"are size, y",
    ):
        data.from_csv(path, "y", categorical=["sizes"])
    with pytest.raises(
        ConfigError,
        match=r"`categorical` names 'y', which is not a feature column \(the features are "
        r"size\)",
    ):
        data.from_csv(path, "y", categorical=["y"])
    with pytest.raises(ConfigError, match=r"`categorical` names 's', which x does not have; its columns are 'size'"):
        data.from_arrays({"size": [1, 2, 1, 2]}, [0, 1, 0, 1], categorical=["s"])


def test_from_arrays_takes_named_columns_and_an_explicit_validation_split():
    columns = shop(60)
    x = {name: np.array(values, dtype=object) for name, values in columns.items() if name != "bought"}
    val = {name: values[:10] for name, values in x.items()}
    ds = quietly(data.from_arrays, x, columns["bought"], validation=(val, columns["bought"][:10]))
    assert ds.info.columns is not None and ds.num_val == 10
    np.testing.assert_allclose(ds.x_val, ds.info.transform(ds.info.columns.transform(as_table(val))))
    with pytest.raises(
        ConfigError,
        match=r"`max_categories` is for named columns \(a mapping of columns, a DataFrame, "
        r"a CSV or Parquet file\), but x is an array",
    ):
        data.from_arrays(np.zeros((10, 2)), np.arange(10) % 2, max_categories=3)
    with pytest.raises(ConfigError, match=r"`max_categories` \(=1\) must be >= 2"):
        data.from_arrays(x, columns["bought"], max_categories=1)
    with pytest.raises(ConfigError, match=r"`feature_names` is for arrays; named columns name their features"):
        data.from_arrays(x, columns["bought"], feature_names=["a"])
    with pytest.raises(DataError, match=r"the columns of x differ in length: \[3, 4\]"):
        data.from_arrays({"a": [1, 2, 3], "b": [1, 2, 3, 4]}, [0, 1, 0])
    with pytest.raises(DataError, match=r"x row 2, column 'a': 'inf' is not a finite number"):
        data.from_arrays({"a": [1.0, 2.0, np.inf, 4.0]}, [0, 1, 0, 1])
    with pytest.raises(
        DataError,
        match=r"x row 1, column 'a': 1e\+39 is beyond what float32 \(the model's dtype\) "
        r"can hold \(±3.4e\+38\): rescale that feature",
    ):
        data.from_arrays({"a": [1.0, 1e39, 3.0, 4.0]}, [0, 1, 0, 1])


def test_the_number_pattern_is_what_arrows_cast_accepts():
    import pyarrow as pa

    cells = [
        "1",
        "-2.5",
        "+3",
        ".5",
        "5.",
        "1e3",
        "1E-2",
        "inf",
        "-Infinity",
        "NaN",
        "nan",
        "0x10",
        "1,5",
        "1_000",
        "abc",
        "1e",
        "e3",
        "--1",
        "٣",
        "1.2.3",
        "Inf",
        "+.5e+3",
    ]
    is_number, values = number_levels(np.array(cells, dtype=object))
    for cell, number, value in zip(cells, is_number, values, strict=True):
        try:
            expected = pa.array([cell]).cast(pa.float64())[0].as_py()
        except pa.ArrowInvalid:
            expected = None
        assert number == (expected is not None), cell
        if number:
            np.testing.assert_equal(value, expected)


def test_a_dataset_with_a_plan_is_static_data_that_compiles_once(shop_csv, shop_data):
    traces = []

    @jax.jit
    def total(dataset):
        traces.append(1)
        return dataset.x_train.sum()

    total(shop_data)
    again = quietly(data.from_csv, shop_csv, "bought", missing_indicator=True, seed=3)  # an equal plan, built anew
    assert again.info.columns == shop_data.info.columns and again.info.columns is not shop_data.info.columns
    total(again)
    assert len(traces) == 1
    assert hash(shop_data.info.columns) == hash(ColumnPlan.from_json(shop_data.info.columns.to_json()))


def test_global_standardization_leaves_the_zero_one_features_alone():
    x = np.array([[1.0, 0.0, 10.0], [3.0, 1.0, 30.0]])
    scaling = data.Standardizer.fit(x, mode="global", scaled=np.array([True, False, True]))
    values = x[:, [0, 2]].ravel()
    np.testing.assert_allclose(scaling.x_mean, [values.mean(), 0, values.mean()], rtol=1e-6)
    np.testing.assert_allclose(scaling.x_scale, [values.std(), 1, values.std()], rtol=1e-6)


# ---------------------------------------------------------------------------
# Reading files


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_detected(tmp_path, delimiter):
    columns = {"a,b": [f"{i},5" for i in range(20)], "n": list(range(20)), "y": [i % 2 for i in range(20)]}
    if delimiter != ";":
        columns["a,b"] = [f"x{i % 3}" for i in range(20)]
    path = write_csv(tmp_path / "d.csv", columns, delimiter=delimiter)
    ds = quietly(data.from_csv, path, "y")
    assert "n" in ds.feature_names and ds.num_train > 0
    assert quietly(data.from_csv, path, "y", delimiter=delimiter).feature_names == ds.feature_names
    with pytest.raises(ConfigError, match=r"`delimiter` must be one character such as ',' or ';', got ';;'"):
        data.from_csv(path, "y", delimiter=";;")


def test_encodings_a_byte_order_mark_or_given(tmp_path):
    columns = {"name": ["Zoë", "René", "Ada"] * 10, "n": list(range(30)), "y": [0, 1] * 15}
    for encoding in ("utf-8-sig", "utf-16"):
        ds = quietly(data.from_csv, write_csv(tmp_path / f"{encoding}.csv", columns, encoding=encoding), "y")
        assert ds.feature_names == ("name=Ada", "name=René", "name=Zoë", "n")
    latin = write_csv(tmp_path / "latin.csv", columns, encoding="latin-1")
    with pytest.raises(
        DataError,
        match=r"CSV file '.*latin.csv' line 2 is not valid UTF-8: byte 0xeb at character 3; "
        r"if the file was saved in another encoding, pass it: encoding='cp1252' "
        r"\(Windows\), encoding='latin-1', ...",
    ):
        data.from_csv(latin, "y")
    with errors.spoken_as({}), pytest.raises(DataError, match=r"byte 0xeb at character 3$"):
        data.from_csv(latin, "y")  # a command line without --encoding is not told to pass it
    assert quietly(data.from_csv, latin, "y", encoding="latin-1").feature_names[2] == "name=Zoë"
    late = tmp_path / "late.csv"
    late.write_bytes(("a,y\n" + "x,1\ny,0\n" * 5000 + "caf\xe9,1\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"line 10002 is not valid UTF-8: byte 0xe9 at character 4"):
        data.from_csv(late, "y")
    with pytest.raises(ConfigError, match=r"unknown `encoding` 'utf-9'; e.g. 'utf-8', 'cp1252', 'latin-1'"):
        data.from_csv(latin, "y", encoding="utf-9")


def test_columns_and_drop_select_features(shop_csv):
    ds = quietly(data.from_csv, shop_csv, "bought", columns=["age", "color"], drop=["color"])
    assert ds.feature_names == ("age",)
    ds = quietly(data.from_csv, shop_csv, "bought", drop=["id", "const", "color"])
    assert ds.feature_names == ("age", "member", "income")
    with pytest.raises(
        ConfigError,
        match=r"`columns` names 'colour', which CSV file .* does not have; its columns are "
        r"id, age, color, member, income, const, bought",
    ):
        data.from_csv(shop_csv, "bought", columns=["colour"])
    with pytest.raises(ConfigError, match=r"`drop` names 'x', which CSV file"):
        data.from_csv(shop_csv, "bought", drop="x")
    with pytest.raises(ConfigError, match=r"`columns` names 'bought', the target, which cannot be a feature"):
        data.from_csv(shop_csv, "bought", columns=["age", "bought"])
    with pytest.raises(DataError, match=r"has no feature columns besides the target 'bought'"):
        data.from_csv(shop_csv, "bought", columns=[])


def test_parquet_and_compressed_csv_give_the_same_dataset(tmp_path, shop_csv, shop_data):
    import pyarrow.csv
    import pyarrow.parquet

    arrow = pyarrow.csv.read_csv(shop_csv, convert_options=pyarrow.csv.ConvertOptions(strings_can_be_null=True))
    pyarrow.parquet.write_table(arrow, tmp_path / "shop.parquet")
    (tmp_path / "shop.csv.gz").write_bytes(gzip.compress(shop_csv.read_bytes()))
    for path, reader in (
        (tmp_path / "shop.parquet", data.from_csv),
        (tmp_path / "shop.parquet", data.from_parquet),
        (tmp_path / "shop.csv.gz", data.from_csv),
    ):
        ds = quietly(reader, path, "bought", missing_indicator=True, seed=3)
        assert ds.feature_names == shop_data.feature_names
        np.testing.assert_array_equal(ds.x_train, shop_data.x_train)
    features = data.read_features(tmp_path / "shop.parquet", shop_data.info)
    np.testing.assert_array_equal(features.x, data.read_features(shop_csv, shop_data.info).x)
    with pytest.raises(FileNotFoundError, match=r"Parquet file not found: '.*nope.parquet'"):
        data.from_csv(tmp_path / "nope.parquet", "y")
    (tmp_path / "bad.parquet").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"cannot read Parquet file '.*bad.parquet'"):
        data.from_csv(tmp_path / "bad.parquet", "y")


def test_lines_are_named_past_blank_lines_and_quoted_newlines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('a,note,y\n1,"two\nlines",0\n\n2,plain,\n3,x,1\n4,y,\n5,"z",1\n')
    with pytest.raises(
        DataError,
        match=r"CSV file '.*q.csv' lines 5 and 7: the target column 'y' is empty \(2 rows\); "
        r"fill in or remove those rows",
    ):
        data.from_csv(path, "y")
    path.write_text("a,y\n1,0\n2,1\n3,\n")
    with pytest.raises(DataError, match=r"line 4: the target column 'y' is empty; fill in or remove that row"):
        data.from_csv(path, "y")
    path.write_text('a,y\n1,0\n"2\n",1,7\n')
    with pytest.raises(DataError, match=r"line 3 has 3 fields but the header has 2 columns"):
        data.from_csv(path, "y")
    path.write_text("a,y\n1,0\n2,nan\n")
    with pytest.raises(DataError, match=r"line 3: the target column 'y' holds nan, not a finite number"):
        data.from_csv(path, "y")


def test_missing_values_mark_blank_cells_also_when_predicting(tmp_path):
    path = write_csv(tmp_path / "na.csv", {"a": ["1", "NA", "3", "4"] * 8, "y": [0, 1] * 16})
    with pytest.raises(DataError, match=r"column 'a' mixes numbers and text"):
        data.from_csv(path, "y")
    ds = data.from_csv(path, "y", missing_values=["NA"])
    assert ds.info.columns.missing_values == ("NA",) and ds.info.columns.steps[0].blanks > 0
    np.testing.assert_array_equal(data.read_features(path, ds.info).x[1], [3.0])  # the median of 1, 3, 4


# ---------------------------------------------------------------------------
# Prediction files


def test_prediction_files_are_matched_by_name_and_prepared_as_in_training(tmp_path, shop_data):
    columns = shop(12, seed=9)
    columns["color"][:3] = ["purple", None, "mauve"]
    reordered = {name: columns[name] for name in ("income", "member", "color", "age", "extra") if name in columns} | {
        "extra": list(range(12))
    }
    path = write_csv(tmp_path / "new.csv", reordered)
    with pytest.warns(
        DataWarning,
        match=r"column 'color' holds 2 categories not seen in training \('mauve', "
        r"'purple'\) at lines 2 and 4: encoded as all zeros; pass strict=True",
    ):
        features = data.read_features(path, shop_data.info)
    assert features.ignored == ["extra"]
    colors = [shop_data.feature_names.index(f"color={c}") for c in ("blue", "green", "red", "teal")]
    np.testing.assert_array_equal(features.x[[0, 2]][:, colors], 0)  # unseen: all zeros
    assert features.x[1, shop_data.feature_names.index("color=(missing)")] == 1  # a blank: imputed and marked
    expected = np.array([columns[name] for name in ("income",)], float).T
    np.testing.assert_allclose(features.x[:, [shop_data.feature_names.index("income")]], expected)
    with pytest.raises(
        DataError,
        match=r"column 'color' holds 2 categories not seen in training \('mauve', 'purple'\) "
        r"at lines 2 and 4; the model knows 4 categories: 'blue', 'green', 'red', 'teal'",
    ):
        data.read_features(path, shop_data.info, strict=True)
    del reordered["age"]
    with pytest.raises(
        DataError,
        match=r"has no column 'age' that the model was trained on; its columns are income, "
        r"member, color, extra",
    ):
        data.read_features(write_csv(tmp_path / "less.csv", reordered), shop_data.info)


def test_prediction_cells_of_the_wrong_kind_are_named(tmp_path, shop_data):
    columns = shop(6, seed=2)
    columns["age"][4] = "old"
    with pytest.raises(
        DataError,
        match=r"line 6, column 'age': 'old' is not a number \(the model takes numbers in "
        r"this column\)",
    ):
        data.read_features(write_csv(tmp_path / "a.csv", columns), shop_data.info)
    columns = shop(6, seed=2)
    columns["member"][2] = "maybe"
    with pytest.raises(DataError, match=r"line 4, column 'member': 'maybe' is not true or false"):
        data.read_features(write_csv(tmp_path / "b.csv", columns), shop_data.info)


def test_headerless_prediction_files_hold_the_training_columns_in_order(tmp_path, shop_data):
    columns = shop(5, seed=4)
    del columns["bought"]
    with_header = write_csv(tmp_path / "h.csv", columns)
    headerless = tmp_path / "n.csv"
    headerless.write_text("".join(with_header.read_text().splitlines(keepends=True)[1:]))
    np.testing.assert_array_equal(
        quietly(data.read_features, headerless, shop_data.info, header=False).x,
        quietly(data.read_features, with_header, shop_data.info).x,
    )
    headerless.write_text("u1,40,red,true\n")
    with pytest.raises(DataError, match=r"line 1 has 4 fields but 6 columns are expected"):
        data.read_features(headerless, shop_data.info, header=False)


def test_a_first_row_of_numbers_is_read_as_names_with_a_warning(tmp_path):
    rows = "5.1,3.5,0\n4.9,3.0,1\n4.7,3.2,0\n6.0,2.2,1\n"
    (tmp_path / "rows.csv").write_text(rows)
    with pytest.warns(
        DataWarning, match=r"the first row of CSV file '.*rows.csv' is all numbers \(5.1, 3.5, 0\): it is"
    ):
        layout = reading.inspect_file(tmp_path / "rows.csv")
    assert layout.names == ["5.1", "3.5", "0"]
    # pandas' default column names (0, 1, ...) are names, and a header of words is as usual: no warning.
    for header in ("0,1,2", "a,b,y"):
        (tmp_path / "named.csv").write_text(header + "\n" + rows)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert reading.inspect_file(tmp_path / "named.csv").names == header.split(",")


def test_predict_on_a_file_gives_what_predict_on_the_training_split_gives(shop_csv, shop_data, key, tmp_path):
    model = jaxnn.mlp([shop_data.num_features, 1])
    params = model.init(key)
    jaxnn.save(tmp_path / "m.msgpack", model, params, dataset=shop_data)
    restored = jaxnn.load(tmp_path / "m.msgpack")
    assert restored.info.columns == shop_data.info.columns
    x = data.read_features(shop_csv, restored.info).x
    train, _, _ = data.split_rows(shop()["bought"], seed=3)
    np.testing.assert_allclose(restored.info.transform(x[train]), shop_data.x_train, rtol=1e-6, atol=1e-6)
    labels = jaxnn.predict(restored.model, restored.params, x[train], dataset=restored.info)
    indices = jaxnn.predict(model, params, shop_data.x_train, task="binary")
    np.testing.assert_array_equal(labels, np.array(shop_data.class_labels)[indices])


# ---------------------------------------------------------------------------
# Checkpoints: the plan as JSON


def test_the_plan_is_stored_as_plain_json_and_checked_when_loaded(shop_data, key, tmp_path):
    from flax import serialization

    model = jaxnn.mlp([shop_data.num_features, 1])
    path = tmp_path / "m.msgpack"
    jaxnn.save(path, model, model.init(key), dataset=shop_data)
    envelope = serialization.msgpack_restore(path.read_bytes())
    state = serialization.msgpack_restore(envelope["payload"])
    static = json.loads(state["dataset"]["static"])
    assert static["columns"] == shop_data.info.columns.to_json() and envelope["version"] == 2
    static["columns"]["steps"][2]["categories"] = ["blue"]  # fewer features than the stored names
    state["dataset"]["static"] = json.dumps(static)
    payload = serialization.msgpack_serialize(state)
    import hashlib

    envelope.update(payload=payload, sha256=hashlib.sha256(payload).hexdigest())
    path.write_bytes(serialization.msgpack_serialize(envelope))
    with pytest.raises(
        CheckpointError,
        match=r"damaged dataset statistics: the stored column plan makes 7 features, "
        r"not the 10 feature names stored with it",
    ):
        jaxnn.load(path)


def test_a_checkpoint_without_a_plan_predicts_from_numeric_columns(tmp_path, key):
    ds = data.from_arrays(np.random.default_rng(0).normal(size=(40, 2)), np.arange(40) % 2, feature_names=["p", "q"])
    assert ds.info.columns is None
    path = write_csv(tmp_path / "p.csv", {"q": [1.5, 2.0], "p": [0.5, None]})
    with pytest.raises(
        DataError,
        match=r"line 3, column 'p': an empty cell is not a number \(feature columns must be "
        r"numeric\)",
    ):
        data.read_features(path, ds.info)
    np.testing.assert_array_equal(
        data.read_features(write_csv(tmp_path / "r.csv", {"q": [1.5], "p": [0.5]}), ds.info).x, [[0.5, 1.5]]
    )


# ---------------------------------------------------------------------------
# Weights


@pytest.mark.parametrize(
    ("cell", "match"),
    [
        ("-1", r"weight column 'w' is negative at line 5 \(-1\); a weight must be a number >= 0"),
        ("nan", r"weight column 'w' is not a finite number at line 5 \(nan\)"),
        ("", r"weight column 'w' is empty at line 5; a weight must be a number >= 0"),
        ("heavy", r"weight column 'w': 'heavy' at line 5 is not a number"),
    ],
)
def test_bad_weights_are_refused_naming_the_line(tmp_path, cell, match):
    weights = ["1", "2", "0.5", cell] + ["1"] * 16
    path = write_csv(tmp_path / "w.csv", {"a": list(range(20)), "w": weights, "y": [0, 1] * 10})
    with pytest.raises(DataError, match=match):
        data.from_csv(path, "y", weight_column="w")


def test_weights_are_not_a_feature_and_follow_the_splits(tmp_path):
    weights = np.arange(1, 41) / 4
    path = write_csv(tmp_path / "w.csv", {"a": list(range(40)), "w": list(weights), "y": [0, 1] * 20})
    ds = data.from_csv(path, "y", weight_column="w", seed=5)
    assert ds.feature_names == ("a",)
    train, val, test = data.split_rows([0, 1] * 20, seed=5)
    for part, rows in zip(ds.sample_weight, (train, val, test), strict=True):
        np.testing.assert_array_equal(part, weights[rows])
    zero = write_csv(tmp_path / "z.csv", {"a": list(range(4)), "w": [0] * 4, "y": [0, 1] * 2})
    with pytest.raises(DataError, match=r"weight column 'w' is 0 on every row"):
        data.from_csv(zero, "y", weight_column="w")
    with pytest.raises(DataError, match=r"weight column 'v' not found in CSV file"):
        data.from_csv(zero, "y", weight_column="v")
    with pytest.raises(DataError, match=r"^weight_column='y' is the target column: the weights must be a column"):
        data.from_csv(zero, "y", weight_column="y")


def test_split_rows_are_the_rows_from_arrays_splits():
    y = np.arange(50) % 3
    ds = data.from_arrays(np.arange(50.0).reshape(-1, 1), y, seed=4, standardize=False)
    train, val, test = data.split_rows(y, seed=4)
    for part, rows in zip(("train", "val", "test"), (train, val, test), strict=True):
        np.testing.assert_array_equal(getattr(ds, f"x_{part}")[:, 0], rows)


# ---------------------------------------------------------------------------
# What training will do, in words


def test_describe_csv_tells_what_training_does_to_each_column(shop_csv, shop_data):
    report = data.describe_csv(shop_csv, "bought", missing_indicator=True, seed=3, drop=["income"])
    rows = dict(report.rows())
    assert list(rows) == ["id", "age", "color", "member", "income", "const", "bought"]
    assert rows["id"] == "dropped: unique per row (an ID)"
    assert rows["const"] == "dropped: constant (7)"
    assert rows["income"] == "not used (columns / drop)"
    assert rows["bought"] == "target: binary classification, 2 classes (no, yes)"
    assert rows["color"].startswith("one-hot, 4 categories (blue, green, red, teal); ")
    assert rows["color"].endswith("marked by color=(missing)")
    assert rows["member"].startswith("boolean, as 0/1; ")
    median = shop_data.info.columns.steps[1].fill
    assert f"a blank becomes the median {median:.6g}, marked by age=(missing)" in rows["age"]
    assert report.text().splitlines()[0] == (
        f"{shop_csv}: 80 rows; 9 features from 3 columns (fitted on the {shop_data.num_train} training rows)"
    )
