"""Optuna's distributed mode: processes sharing one study through a storage; the study checked before training."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxnn

optuna = pytest.importorskip("optuna")  # installed by the test extra: CI runs these tests
optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = pathlib.Path(__file__).resolve().parents[1]
SPACE = {"learning_rate": jaxnn.loguniform(1e-3, 0.3), "momentum": [0.0, 0.9]}
OPTIONS = dict(optimizer="sgd", num_epochs=2, batch_size=64, progress=False, key=0, num_samples=4, batch=2)


@pytest.fixture(scope="module")
def model():
    return jaxnn.mlp([64, 16, 10])


WORKER = textwrap.dedent(
    """
    import sys
    import optuna
    import jaxnn
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = jaxnn.datasets.load("digits", seed=0)
    result = jaxnn.sweep(jaxnn.mlp([64, 16, 10]), data, space={"learning_rate": jaxnn.loguniform(1e-3, 0.3),
                         "momentum": [0.0, 0.9]}, optimizer="sgd", num_epochs=2, batch_size=64, progress=False,
                         key=0, num_samples=4, batch=2, sampler=optuna.samplers.RandomSampler(seed=int(sys.argv[2])),
                         storage=sys.argv[1], study_name="shared")
    print("TRIALS", sorted(set(result.table["config"].tolist())))
    """
)


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(seed)],
            cwd=ROOT,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in (1, 2)
    ]
    numbers = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
        numbers.append(eval(out.split("TRIALS")[-1]))
    study = optuna.load_study(study_name="shared", storage=url)
    assert len(study.trials) == 8  # the sum of both processes' num_samples
    assert all(trial.state == optuna.trial.TrialState.COMPLETE for trial in study.trials)
    assert sorted(numbers[0] + numbers[1]) == list(range(8))  # each process's table names its own trials


def test_a_given_study_is_asked_and_its_trial_numbers_are_the_config_ids(digits, model):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial({"learning_rate": 0.05, "momentum": 0.9})
    first = jaxnn.sweep(model, digits, space=SPACE, study=study, **OPTIONS)
    second = jaxnn.sweep(model, digits, space=SPACE, study=study, **OPTIONS)  # continues the same study
    assert first.study is study and len(study.trials) == 8
    assert sorted(first.table["config"]) == [0, 1, 2, 3] and sorted(second.table["config"]) == [4, 5, 6, 7]
    row = first.table["config"] == 0
    assert first.table["learning_rate"][row] == [0.05] and first.table["momentum"][row] == [0.9]
    for trial in study.trials[4:]:
        rows = second.table["config"] == trial.number
        np.testing.assert_allclose(second.table["best_val_metric"][rows], trial.value)


def test_a_sqlite_study_survives_the_process_and_is_continued(digits, model, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    jaxnn.sweep(model, digits, space=SPACE, storage=url, study_name="s", **OPTIONS | {"num_samples": 2})
    result = jaxnn.sweep(model, digits, space=SPACE, storage=url, study_name="s", **OPTIONS | {"num_samples": 2})
    assert sorted(result.table["config"]) == [2, 3] and len(optuna.load_study(study_name="s", storage=url).trials) == 4


def test_studies_that_disagree_and_storages_that_cannot_open_are_refused_before_training(digits, model, tmp_path):
    study = optuna.create_study(direction="maximize")
    study.add_trial(
        optuna.trial.create_trial(
            params={"learning_rate": 0.1},
            distributions={"learning_rate": optuna.distributions.FloatDistribution(0.01, 1.0)},
            value=0.5,
        )
    )
    with pytest.raises(
        ValueError,
        match=r"the study '.*' disagrees with `space`: its trial 0 drew learning_rate from "
        r"FloatDistribution\(.*\), which is FloatDistribution\(.*log=True",
    ):
        jaxnn.sweep(model, digits, space=SPACE, study=study, **OPTIONS)
    other = optuna.create_study(direction="maximize")
    other.add_trial(
        optuna.trial.create_trial(
            params={"dropout": 0.1}, distributions={"dropout": optuna.distributions.FloatDistribution(0, 1)}, value=0.5
        )
    )
    with pytest.raises(ValueError, match=r"drew dropout from .*which is not in this sweep's space"):
        jaxnn.sweep(model, digits, space=SPACE, study=other, **OPTIONS)
    with pytest.raises(ValueError, match=r"the study '.*' is to minimize, but this sweep's metric is to maximize"):
        jaxnn.sweep(model, digits, space=SPACE, study=optuna.create_study(), **OPTIONS)
    missing = tmp_path / "no" / "such" / "dir" / "study.db"
    with pytest.raises(
        ValueError,
        match=r"cannot open the Optuna storage `storage` 'sqlite:///.*study.db': "
        r"OperationalError: .*unable to open database file",
    ):
        jaxnn.sweep(model, digits, space=SPACE, storage=f"sqlite:///{missing}", study_name="s", **OPTIONS)
    with pytest.raises(ValueError, match=r"`storage` 'study.db' is not a database URL: expected e.g. sqlite:///"):
        jaxnn.sweep(model, digits, space=SPACE, storage="study.db", study_name="s", **OPTIONS)
    with pytest.raises(ValueError, match=r"`storage` needs `study_name`: the processes that share a study find it"):
        jaxnn.sweep(model, digits, space=SPACE, storage=f"sqlite:///{tmp_path / 'x.db'}", **OPTIONS)
    with pytest.raises(ValueError, match=r"`study` has its own sampler \(TPESampler\): give `sampler` or `study`"):
        jaxnn.sweep(model, digits, space=SPACE, study=study, sampler=optuna.samplers.RandomSampler(), **OPTIONS)
    with pytest.raises(TypeError, match=r"`study` must be an optuna.Study, got str"):
        jaxnn.sweep(model, digits, space=SPACE, study="s", **OPTIONS)
    with pytest.raises(
        ValueError,
        match=r"cannot be combined with `sampler`: .*keep the study in a database \(`storage` "
        r"and `study_name`\)",
    ):
        jaxnn.sweep(
            model,
            digits,
            space=SPACE,
            storage="sqlite:///x.db",
            study_name="s",
            checkpoint_dir=tmp_path / "c",
            **OPTIONS,
        )
    assert not os.path.exists(tmp_path / "no")


def test_the_command_line_shares_a_study_through_storage(tmp_path, capsys):
    from jaxnn import cli

    url = f"sqlite:///{tmp_path / 'study.db'}"
    argv = [
        "sweep",
        "--dataset",
        "iris",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "1e-3:0.3:log",
        "--samples",
        "2",
        "--batch",
        "2",
        "--sampler",
        "random",
        "--storage",
        url,
        "--study-name",
        "cli",
        "--epochs",
        "2",
        "--log",
        "none",
        "--no-progress",
        "--out",
        str(tmp_path / "out"),
    ]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert len(optuna.load_study(study_name="cli", storage=url).trials) == 2
    assert not (tmp_path / "out" / "checkpoint").exists()
    assert cli.main([*argv[:-1], str(tmp_path / "other"), "--storage", "nowhere.db"]) == 2
    assert "jaxnn: error: --storage 'nowhere.db' is not a database URL" in capsys.readouterr().err
    assert cli.main([*argv[:9], "--batch", "4", "--out", str(tmp_path / "x")]) == 2
    assert "--batch has no effect without --sampler or --storage" in capsys.readouterr().err
