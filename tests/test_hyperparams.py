"""The hyperparameter table is the one source of truth: every row reaches every place that needs it."""

import jax
import numpy as np
import pytest

import jaxnn
from jaxnn import cli, errors
from jaxnn.cli import options as cli_options
from jaxnn.hyperparams import NAMES, TABLE


def outside_values(row) -> list[float]:
    """Values just outside a row's range (and a non-finite one)."""
    values = [np.inf]
    if row.low is not None:
        values.append(row.low if row.low_open else row.low - 1e-3)
    if row.high is not None:
        values.append(row.high if row.high_open else row.high + 1e-3)
    return values


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.name)
def test_every_hyperparameter_has_a_field_a_keyword_a_flag_a_range_and_a_doc_line(row):
    assert jaxnn.Hyperparams._field_defaults[row.name] == row.default
    assert jaxnn.hyperparams.resolve(None, {row.name: row.default})[0] == jaxnn.Hyperparams()  # a fit/sweep keyword
    assert f"    {row.name}: {row.help}; " in jaxnn.Hyperparams.__doc__
    assert row.name in jaxnn.sweeps.space.SWEEPABLE
    parser = cli.build_parser()
    for command in ("train", "sweep"):
        flags = {
            option: action
            for action in parser.subcommands.choices[command]._actions
            for option in action.option_strings
        }
        action = flags[cli_options.flag(row.name)]
        assert action.dest == row.name and action.help.startswith(row.help)
    for value in outside_values(row):
        with pytest.raises(ValueError, match=rf"`{row.name}` \(={value:g}\) must be"):
            jaxnn.hyperparams.check(jaxnn.Hyperparams(**{row.name: value}))
    inside = row.default if row.default is not None else (row.low + 0.1 if row.low is not None else 1.0)
    jaxnn.hyperparams.check(jaxnn.Hyperparams(**{row.name: inside}))
    with errors.spoken_as(cli_options.FLAGS):
        assert errors.arg(row.name) == cli_options.flag(row.name)


def test_the_table_names_the_fields_in_order_and_who_reads_them():
    assert tuple(jaxnn.Hyperparams._fields) == NAMES
    assert jaxnn.hyperparams.unused(["momentum", "b1", "decay_rate"], optimizer="sgd", schedule="cosine_decay") == [
        ("b1", "optimizer adam or adamw"),
        ("decay_rate", "schedule exponential_decay"),
    ]
    assert jaxnn.hyperparams.unused(list(NAMES), optimizer="adam", schedule="warmup_cosine") == [
        ("momentum", "optimizer sgd or rmsprop"),
        ("decay_rate", "schedule exponential_decay"),
    ]


def test_hyperparams_is_a_pytree_whose_none_fields_are_static():
    hparams = jaxnn.Hyperparams(learning_rate=0.1)
    leaves = jax.tree.leaves(hparams)
    assert len(leaves) == len(NAMES) - 2  # dropout and clip_norm are None
    with pytest.raises(TypeError, match="hparams must be a jaxnn.Hyperparams"):
        jaxnn.hyperparams.check({"learning_rate": 0.1})
