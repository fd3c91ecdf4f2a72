"""The command line's options: argument types, the option groups ``train`` and ``sweep`` share, and the
words library messages use for them (:data:`FLAGS`).

Library errors name arguments through :func:`jaxnn.errors.arg` and :func:`jaxnn.errors.setting`; the
command line runs inside ``jaxnn.errors.spoken_as(FLAGS)``, so a library message reads
``--batch-size (=0) must be >= 1`` here and ``` `batch_size` (=0) must be >= 1``` in Python.
"""

import argparse
from typing import Any

from jaxnn import errors, hyperparams
from jaxnn.data import NAMES, TASKS
from jaxnn.errors import Word
from jaxnn.layers import ACTIVATIONS
from jaxnn.metrics import METRICS, for_task
from jaxnn.optim import OPTIMIZERS, SCHEDULES

__all__ = [
    "CHECKPOINT",
    "FLAGS",
    "UsageError",
    "add_training_options",
    "add_table_options",
    "batch_size",
    "devices",
    "names",
    "factors",
    "flag",
    "integer",
    "parse_range",
    "positive_int",
    "sizes",
]

CHECKPOINT = "checkpoint"
"""The default checkpoint directory, inside ``--out`` (removed when the run succeeds)."""


class UsageError(errors.ConfigError):
    """Bad input that only the command line can see (argparse's own, options that do not combine)."""


def flag(name: str) -> str:
    """The flag of a hyperparameter: ``--learning-rate`` for ``learning_rate``."""
    return "--" + name.replace("_", "-")


FLAGS: dict[str, Word] = {
    **{name: Word(flag(name)) for name in hyperparams.NAMES},
    "num_epochs": Word("--epochs"),
    "num_samples": Word("--samples"),
    "batch_size": Word("--batch-size", {None: "full"}),
    "val_fraction": Word("--val-fraction"),
    "test_fraction": Word("--test-fraction"),
    "max_parallel": Word("--max-parallel"),
    "warmup_steps": Word("--warmup-steps"),
    "seeds": Word("--seeds"),
    "top": Word("--ensemble"),
    "pad_sizes": Word("--pad-sizes", {None: "auto", True: "yes", False: "no"}),
    "task": Word("--task"),
    "target": Word("--target"),
    "metric": Word("--metric"),
    "optimizer": Word("--optimizer"),
    "schedule": Word("--schedule"),
    "seed": Word("--seed"),
    "hidden": Word("--sizes"),
    "patience": Word("--patience"),
    "early_stopping.patience": Word("--patience"),
    "early_stopping.monitor": Word("--monitor", {"val_loss": "loss", "val_metric": "metric"}),
    "checkpoint_dir": Word("--checkpoint-dir"),
    "checkpoint_every": Word("--checkpoint-every"),
    "channels": Word("--channels"),
    "kernel_size": Word("--kernel-size"),
    "pool": Word("--pool"),
    "kind": Word("--model"),
    "standardize": Word("--standardize"),
    "stratify": Word("--stratify", {False: "--no-stratify"}),
    "nesterov": Word("--nesterov", {True: "--nesterov"}),
    "resume": Word("--resume", {True: "--resume"}),
    "force": Word("--yes", {True: "--yes"}),
    "restore_best": Word("--keep-last", {False: "--keep-last", True: "(without --keep-last)"}),
    "proba": Word("--proba", {True: "--proba"}),
    "delimiter": Word("--delimiter"),
    "encoding": Word("--encoding"),
    "columns": Word("--columns"),
    "drop": Word("--drop"),
    "categorical": Word("--categorical"),
    "max_categories": Word("--max-categories"),
    "missing_indicator": Word("--missing-indicator", {True: "--missing-indicator"}),
    "missing_values": Word("--missing-values"),
    "weight_column": Word("--weight-column"),
    "sample_weight": Word("--weight-column"),
    "class_weight": Word("--class-weight"),
    "strict": Word("--strict", {True: "--strict"}),
    "log": Word("--log"),
    "cv": Word("--cv"),
    "tracking_uri": Word("--tracking-uri"),
    "devices": Word("--devices"),
    "scheduler": Word("--scheduler"),
    "shard": Word("--shard"),
    "sampler": Word("--sampler"),
    "storage": Word("--storage"),
    "study_name": Word("--study-name"),
    "batch": Word("--batch"),
    "cluster": Word("--ray"),
    "Ray.shards": Word("--shards"),
    "ASHA.min_epochs": Word("--min-epochs"),
    "ASHA.reduction_factor": Word("--reduction-factor"),
    "Hyperband.min_epochs": Word("--min-epochs"),
    "Hyperband.reduction_factor": Word("--reduction-factor"),
    "Hyperband.brackets": Word("--brackets"),
    "PBT.interval": Word("--pbt-interval"),
    "PBT.fraction": Word("--pbt-fraction"),
    "PBT.perturb": Word("--pbt-perturb"),
}
"""Library argument names -> how the command line says them (see :func:`jaxnn.errors.spoken_as`)."""


# ---------------------------------------------------------------------------
# Argument types (argparse turns their ArgumentTypeError into "argument --x: ...")


def integer(minimum: int):
    """An argparse type: an int >= ``minimum``."""
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_int = integer(1)


def sizes(text: str) -> list[int]:
    """Comma-separated positive widths such as ``64,64``."""
    try:
        widths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths such as 64,64, got {text!r}") from None
    if not widths or any(width < 1 for width in widths):
        raise argparse.ArgumentTypeError(f"widths must be positive integers such as 64,64, got {text!r}")
    return widths


def devices(text: str) -> int | str:
    """A device count or ``all``."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a device count or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a device count >= 1 or 'all', got {text!r}")
    return value


def batch_size(text: str) -> int | None:
    """A positive batch size or ``full`` (full-batch gradient descent)."""
    if text.lower() == "full":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full' (full-batch), got {text!r}")
    return value


def names(text: str) -> list[str]:
    """Comma-separated column names such as ``age,income``."""
    found = [part.strip() for part in text.split(",") if part.strip()]
    if not found:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names such as age,income, got {text!r}")
    return found


def class_weight(text: str) -> str | dict[str, float]:
    """``balanced`` or comma-separated ``class=weight`` pairs such as ``yes=5,no=1`` (classes as the data spells them)."""
    if text.strip().lower() == "balanced":
        return "balanced"
    weights = {}
    for part in text.split(","):
        label, sep, value = part.rpartition("=")
        try:
            if not sep or not label.strip():
                raise ValueError
            weights[label.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected 'balanced' or class=weight pairs such as yes=5,no=1, got {text!r}"
            ) from None
    return weights


def factors(text: str) -> tuple[float, ...]:
    """Comma-separated numbers such as ``0.8,1.25``."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected factors such as 0.8,1.25, got {text!r}") from None


def parse_range(name: str, text: str) -> Any:
    """A sweep value specification for the hyperparameter ``name``.

    ``a,b,c`` is a list; ``lo:hi:log:n`` / ``lo:hi:lin:n`` a grid of n values;
    ``lo:hi:log`` / ``lo:hi:lin`` (no count) a log-uniform / uniform distribution
    for random search (with ``--samples``).
    """
    import numpy as np

    import jaxnn

    option = flag(name)

    def number(part: str) -> float:
        try:
            return float(part)
        except ValueError:
            raise UsageError(f"{option}: {part!r} is not a number (in {text!r})") from None

    text = text.strip()
    if ":" not in text:
        values = [number(part) for part in text.split(",") if part.strip()]
        if not values:
            raise UsageError(f"{option}: no values in {text!r}")
        return values
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[2] not in ("log", "lin"):
        raise UsageError(f"{option}: malformed range {text!r}; expected LOW:HIGH:log|lin[:COUNT], e.g. 1e-4:1e-1:log:8")
    low, high = number(parts[0]), number(parts[1])
    if not low <= high:
        raise UsageError(f"{option}: range {text!r} needs LOW <= HIGH")
    if parts[2] == "log" and low <= 0:
        raise UsageError(f"{option}: a log range needs LOW > 0, got {text!r}")
    if len(parts) == 3:
        return jaxnn.loguniform(low, high) if parts[2] == "log" else jaxnn.uniform(low, high)
    try:
        count = int(parts[3])
    except ValueError:
        raise UsageError(f"{option}: the count in {text!r} must be an integer") from None
    if count < 1:
        raise UsageError(f"{option}: the count in {text!r} must be >= 1")
    grid = np.geomspace(low, high, count) if parts[2] == "log" else np.linspace(low, high, count)
    return [float(v) for v in grid]


# ---------------------------------------------------------------------------
# The options train and sweep share


def add_training_options(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
    """The data, model, training, hyperparameter and output options of ``train`` and ``sweep``."""
    _add_data_options(parser)
    _add_model_options(parser, sweep=sweep)
    training = parser.add_argument_group("training")
    training.add_argument(
        "--optimizer",
        default="adam",
        choices=OPTIMIZERS,
        metavar="NAME",
        help=f"{', '.join(OPTIMIZERS)} (default: adam)",
    )
    training.add_argument(
        "--schedule",
        default="constant",
        choices=SCHEDULES,
        metavar="NAME",
        help=f"learning-rate schedule: {', '.join(SCHEDULES)} (default: constant)",
    )
    training.add_argument(
        "--warmup-steps", type=integer(0), default=0, metavar="N", help="warm-up steps for warmup_cosine"
    )
    training.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd, rmsprop)")
    training.add_argument("--epochs", type=positive_int, default=30, metavar="N", help="epochs (default: 30)")
    training.add_argument(
        "--batch-size",
        type=batch_size,
        default=32,
        metavar="N",
        help="minibatch size, or 'full' for full-batch gradient descent (default: 32)",
    )
    training.add_argument(
        "--patience", type=positive_int, metavar="N", help="early stopping after N epochs without improvement"
    )
    monitor = "what --patience watches and the saved epoch is best by: the validation loss (default) or --metric"
    training.add_argument("--monitor", choices=("loss", "metric"), help=monitor)
    training.add_argument(
        "--seed", type=int, default=0, help="seed for the split, initialization and shuffling (default: 0)"
    )
    hyper = parser.add_argument_group(
        "hyperparameters"
        + (
            " (a value, a list a,b,c, a grid LOW:HIGH:log|lin:COUNT or a distribution LOW:HIGH:log|lin)"
            if sweep
            else ""
        )
    )
    for row in hyperparams.TABLE:
        users = f"; {', '.join(row.optimizers or row.schedules or ())} only" if row.optimizers or row.schedules else ""
        default = "" if row.default is None else f" (default: {row.default:g})"
        hyper.add_argument(
            flag(row.name),
            dest=row.name,
            type=str if sweep else float,
            metavar="SPEC" if sweep else "X",
            help=f"{row.help}{users}{default}",
        )
    _add_output_options(parser, sweep=sweep)


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset", choices=NAMES, metavar="NAME", help=f"built-in dataset: {', '.join(NAMES)} (default: digits)"
    )
    data.add_argument(
        "--csv", metavar="FILE", help="train on a CSV (or Parquet: by extension) file with a header row instead"
    )
    data.add_argument("--target", metavar="COLUMN", help="the CSV column to predict")
    add_table_options(data, reading_only=False)
    data.add_argument(
        "--npz",
        metavar="FILE",
        help="train on arrays x and y of an .npz file instead; x may be (n, features) or images "
        "(n, height, width, channels)",
    )
    data.add_argument(
        "--images", action="store_true", help="the built-in digits as 8x8 one-channel images (a --model cnn)"
    )
    data.add_argument(
        "--task",
        choices=TASKS,
        metavar="TASK",
        help="binary, multiclass or regression (default: inferred from --target: whole numbers or "
        "strings are classes, other numbers regression)",
    )
    data.add_argument(
        "--metric",
        choices=list(METRICS),
        metavar="NAME",
        help=f"the validation metric that the sweep's ranking follows (and early stopping, with --monitor "
        f"metric), in its direction: for classes {', '.join(for_task('multiclass'))}, "
        f"{', '.join(m for m in for_task('binary') if m not in for_task('multiclass'))} (two classes); "
        f"for a regression {', '.join(for_task('regression'))} (default: accuracy for classes, "
        "mean_squared_error for a regression)",
    )
    data.add_argument(
        "--class-weight",
        type=class_weight,
        metavar="balanced|C=W,...",
        help="weigh each class in the loss: balanced (every class weighs the same) or class=weight "
        "pairs such as yes=5,no=1 (others weigh 1)",
    )
    data.add_argument("--val-fraction", type=float, default=0.15, metavar="F", help="validation share (default: 0.15)")
    data.add_argument("--test-fraction", type=float, default=0.15, metavar="F", help="test share (default: 0.15)")
    data.add_argument("--no-stratify", action="store_true", help="split without keeping the class proportions")
    data.add_argument(
        "--standardize",
        default="feature",
        choices=["feature", "global", "none"],
        help="scale each feature (pixel) by its own training mean and deviation, all by one, or none "
        "(default: feature)",
    )


def add_table_options(group: Any, *, reading_only: bool) -> None:
    """How a CSV or Parquet file is read (both ``train``/``sweep`` and ``predict``) and prepared (training only)."""
    group.add_argument(
        "--delimiter",
        metavar="C",
        help="the CSV's field separator (default: detected among comma, semicolon, tab and vertical bar)",
    )
    group.add_argument(
        "--encoding", metavar="NAME", help="the CSV's text encoding (default: a byte-order mark, else utf-8)"
    )
    if reading_only:
        return
    group.add_argument("--columns", type=names, metavar="A,B", help="the feature columns (default: all but the target)")
    group.add_argument("--drop", type=names, default=[], metavar="A,B", help="columns not to use as features")
    group.add_argument(
        "--categorical",
        type=names,
        default=[],
        metavar="A,B",
        help="columns of numeric codes to one-hot encode as categories",
    )
    group.add_argument(
        "--max-categories",
        type=integer(2),
        metavar="N",
        help="one-hot at most N categories per column: the N-1 most frequent, the rest as (other)",
    )
    group.add_argument(
        "--missing-indicator", action="store_true", help="add a 0/1 feature per column that had blanks in training"
    )
    group.add_argument(
        "--missing-values",
        type=names,
        default=[],
        metavar="A,B",
        help="cell texts that mean blank besides empty cells, such as NA,?",
    )
    group.add_argument("--weight-column", metavar="COLUMN", help="a column of per-row weights (not a feature)")


def _add_model_options(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    model = parser.add_argument_group("model")
    if sweep:  # repeated, each one a model: --sizes 32 --sizes 64 --sizes 128,64
        model.add_argument(
            "--sizes",
            type=sizes,
            action="append",
            metavar="W,W",
            help="hidden layer widths; input and output come from the data (default: 128). Give it "
            "more than once to sweep the architecture too, e.g. --sizes 32 --sizes 64 --sizes "
            "128,64: the table gets a sizes column (see --pad-sizes for how the shapes share programs)",
        )
    else:
        model.add_argument(
            "--sizes",
            type=sizes,
            default=[128],
            metavar="W,W",
            help="hidden layer widths; input and output come from the data (default: 128)",
        )
    model.add_argument(
        "--model",
        default="auto",
        choices=["auto", "mlp", "cnn"],
        help="mlp, or cnn (convolution blocks, then the --sizes dense layers); auto: cnn for images (default)",
    )
    model.add_argument(
        "--channels", type=sizes, metavar="C,C", help="cnn: channels of each convolution block (default: 16,32)"
    )
    model.add_argument("--kernel-size", type=positive_int, metavar="K", help="cnn: convolution window (default: 3)")
    model.add_argument(
        "--pool",
        type=positive_int,
        metavar="P",
        help="cnn: max-pooling window after each block, 1 for none (default: 2)",
    )
    model.add_argument(
        "--activation",
        default="relu",
        choices=[a for a in ACTIVATIONS if a != "softmax"],
        metavar="NAME",
        help="hidden activation (default: relu)",
    )


def _add_output_options(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        default="runs/sweep" if sweep else "runs/train",
        metavar="DIR",
        help="output directory, replaced as a whole by a successful run "
        f"(default: runs/{'sweep' if sweep else 'train'})",
    )
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    output.add_argument(
        "--log",
        choices=("tensorboard", "mlflow", "none"),
        help="where every run's curves and hyperparameters go: a TensorBoard log in DIR/tensorboard "
        "(the default; none with sweep --cv), an MLflow experiment, or none",
    )
    output.add_argument(
        "--tracking-uri",
        metavar="URI",
        help="--log mlflow: the tracking server or database, e.g. sqlite:///runs/mlflow.db (default: MLflow's own)",
    )
    output.add_argument(
        "--experiment", default="jaxnn", metavar="NAME", help="--log mlflow: the experiment (default: jaxnn)"
    )
    output.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help=f"save the run's state here as it trains, so that an interrupted run can be resumed "
        f"(default: {CHECKPOINT}/ inside --out; removed when the run succeeds)",
    )
    output.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run saved in the checkpoint directory (give the same options)",
    )
    output.add_argument("--no-checkpoint", action="store_true", help="save no state while training")
    if not sweep:
        output.add_argument(
            "--checkpoint-every",
            type=positive_int,
            metavar="N",
            help="epochs between saves of the state (default: a twentieth of --epochs)",
        )
    output.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="compile from scratch: do not load or save compiled programs in ~/.cache/jaxnn/xla "
        "(also JAXNN_COMPILATION_CACHE=0; JAXNN_CACHE_DIR moves the cache)",
    )
