"""The ``jaxnn`` command line: ``train``, ``sweep``, ``predict``, ``info`` and ``demo``.

Every command prints a one-line ``jaxnn: error: ...`` and exits with status 2
on bad input (no traceback), and writes its files only once it has succeeded,
each one atomically, so a failed run never damages earlier results.
"""

import argparse
import csv
import io
import math
import os
import platform
import sys
import time
import tomllib
from collections.abc import Sequence
from typing import Any

# Hyperparameter options shared by `train` and `sweep`: (flag, Hyperparams field, help).
HYPERPARAMETER_OPTIONS = [
    ("--learning-rate", "learning_rate", "learning rate"),
    ("--weight-decay", "weight_decay", "L2 / decoupled weight decay"),
    ("--momentum", "momentum", "momentum (sgd, rmsprop)"),
    ("--dropout", "dropout", "dropout rate after each hidden layer"),
    ("--b1", "b1", "Adam's first-moment decay"),
    ("--b2", "b2", "Adam's second-moment decay"),
    ("--decay-rate", "decay_rate", "final learning-rate factor of exponential_decay"),
    ("--final-fraction", "final_fraction", "final learning-rate fraction of the cosine schedules"),
    ("--init-scale", "init_scale", "factor on the initial weights"),
    ("--clip-norm", "clip_norm", "clip the gradient's global norm"),
]
DEFAULTS = {"learning_rate": 1e-3, "weight_decay": 0.0, "momentum": 0.0}


class UsageError(Exception):
    """Bad input found by the CLI itself; reported as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to read more, no usage dump."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------
# Parsing helpers


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated hidden widths such as 64,64, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"hidden widths must be positive, got {text!r}")
    return sizes


def _devices(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a device count or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a device count >= 1 or 'all', got {text!r}")
    return value


def _batch_size(text: str) -> int | None:
    if text.lower() in ("full", "none", "0"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'full', got {text!r}")
    return value


def parse_range(name: str, text: str) -> Any:
    """A sweep value specification.

    ``a,b,c`` is a list; ``lo:hi:log:n`` / ``lo:hi:lin:n`` a grid of n values;
    ``lo:hi:log`` / ``lo:hi:lin`` (no count) a log-uniform / uniform distribution
    for random search (with ``--samples``); a single number is a fixed value.
    """
    import numpy as np

    import jaxnn

    def number(part: str) -> float:
        try:
            return float(part)
        except ValueError:
            raise UsageError(f"--{name.replace('_', '-')}: {part!r} is not a number (in {text!r})") from None

    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (3, 4) or parts[2] not in ("log", "lin"):
            raise UsageError(
                f"--{name.replace('_', '-')}: malformed range {text!r}; expected LOW:HIGH:log|lin[:COUNT], "
                f"e.g. 1e-4:1e-1:log:8"
            )
        low, high = number(parts[0]), number(parts[1])
        if not low <= high:
            raise UsageError(f"--{name.replace('_', '-')}: range {text!r} needs LOW <= HIGH")
        if parts[2] == "log" and low <= 0:
            raise UsageError(f"--{name.replace('_', '-')}: a log range needs LOW > 0, got {text!r}")
        if len(parts) == 3:
            return jaxnn.loguniform(low, high) if parts[2] == "log" else jaxnn.uniform(low, high)
        try:
            count = int(parts[3])
        except ValueError:
            raise UsageError(f"--{name.replace('_', '-')}: the count in {text!r} must be an integer") from None
        if count < 1:
            raise UsageError(f"--{name.replace('_', '-')}: the count in {text!r} must be >= 1")
        values = np.geomspace(low, high, count) if parts[2] == "log" else np.linspace(low, high, count)
        return [float(v) for v in values]
    values = [number(part) for part in text.split(",") if part.strip()]
    if not values:
        raise UsageError(f"--{name.replace('_', '-')}: no values in {text!r}")
    return values


# ---------------------------------------------------------------------------
# Shared pieces


def _load_data(args: argparse.Namespace):
    import jaxnn

    split = {"seed": args.seed, "val_fraction": args.val_fraction, "test_fraction": args.test_fraction}
    if args.csv is not None:
        if args.target is None:
            raise UsageError("--csv needs --target COLUMN (the column to predict)")
        return jaxnn.datasets.from_csv(args.csv, args.target, **split)
    if args.target is not None:
        raise UsageError("--target is only used with --csv")
    return jaxnn.datasets.load(args.dataset, **split)


def _build_model(args: argparse.Namespace, data: Any):
    import jaxnn

    outputs = 1 if data.task in ("binary", "regression") else data.num_classes
    dropout = args.dropout if isinstance(args.dropout, float) else 0.0
    return jaxnn.mlp([data.num_features, *args.sizes, outputs], activation=args.activation, dropout=dropout)


def _early_stopping(args: argparse.Namespace):
    import jaxnn

    return None if args.patience is None else jaxnn.EarlyStopping(patience=args.patience)


def _output_directory(path: str) -> str:
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--out {path!r} exists and is not a directory")
    return path


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


# ---------------------------------------------------------------------------
# Commands


def _train(args: argparse.Namespace) -> int:
    import jaxnn
    from jaxnn import plotting

    out = _output_directory(args.out)
    data = _load_data(args)
    model = _build_model(args, data)
    hyper = {field: getattr(args, field) for _, field, _ in HYPERPARAMETER_OPTIONS if getattr(args, field) is not None}
    hyper = DEFAULTS | hyper
    hyper.pop("dropout", None)  # already the model's rate
    print(data.describe())
    print(f"model: {model.config['sizes']} {args.activation}, optimizer {args.optimizer}, {args.epochs} epochs, "
          f"batch {args.batch_size or 'full'}")
    started = time.perf_counter()
    result = jaxnn.fit(
        model,
        data,
        key=args.seed,
        optimizer=args.optimizer,
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        schedule=args.schedule,
        warmup_steps=args.warmup_steps,
        nesterov=args.nesterov,
        early_stopping=_early_stopping(args),
        progress=not args.no_progress,
        devices=args.devices,
        **hyper,
    )
    elapsed = time.perf_counter() - started
    metrics = {split: jaxnn.evaluate(model, result.params, data, split=split)
               for split in ("train", "val", "test") if getattr(data, f"num_{split}") > 0}
    metric = next(name for name in next(iter(metrics.values())) if name not in ("loss", "num_examples"))
    print(f"{result.status} after {result.stopped_epoch} epochs in {elapsed:.1f} s (best epoch {result.best_epoch})")
    for split, values in metrics.items():
        label = {"val": "validation"}.get(split, split)
        print(f"{label + ' loss':>16} {_fmt(values['loss'])}   {label} {metric.replace('_', ' ')} {_fmt(values[metric])}")
    metadata = {"command": "train", "hyperparameters": hyper, "optimizer": args.optimizer, "epochs": args.epochs,
                "batch_size": args.batch_size, "seed": args.seed, "status": result.status,
                "best_epoch": result.best_epoch, "metrics": metrics}
    history_csv = io.StringIO()
    writer = csv.writer(history_csv)
    writer.writerow(["epoch", *result.history])
    for epoch in range(result.stopped_epoch):
        writer.writerow([epoch + 1, *(float(result.history[name][epoch]) for name in result.history)])
    from jaxnn._io import atomic_write

    jaxnn.save(os.path.join(out, "model.msgpack"), model, result.params, dataset=data, metadata=metadata)
    atomic_write(os.path.join(out, "history.csv"), history_csv.getvalue())
    plotting.plot_history(result.history, os.path.join(out, "curves.png"), metric=metric)
    print(f"wrote {out}/model.msgpack, history.csv, curves.png")
    return 0


def _sweep_space(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(space, fixed hyperparameters, other options) from the flags and an optional TOML file."""
    space: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    options: dict[str, Any] = {}
    if args.config is not None:
        try:
            with open(args.config, "rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            raise UsageError(f"--config: no such file {args.config!r}") from None
        except tomllib.TOMLDecodeError as error:
            raise UsageError(f"--config {args.config!r} is not valid TOML: {error}") from None
        file_space = document.get("space", {})
        if not isinstance(file_space, dict):
            raise UsageError(f"--config {args.config!r}: 'space' must be a table such as [space]")
        options = {k: v for k, v in document.items() if k != "space"}
    else:
        file_space = {}
    for flag, field, _ in HYPERPARAMETER_OPTIONS:
        text = getattr(args, field)
        if text is None:
            continue
        values = parse_range(field, text)
        if isinstance(values, list) and len(values) == 1:
            fixed[field] = values[0]
        else:
            space[field] = values
    for name, value in file_space.items():  # the command line wins over the file
        if name not in space and name not in fixed:
            space[name] = parse_range(name, value) if isinstance(value, str) else value
    if not space:
        raise UsageError("nothing to sweep: give a range such as --learning-rate 1e-4:1e-1:log:8 or --config FILE")
    for name, value in DEFAULTS.items():
        if name not in space:
            fixed.setdefault(name, value)
    return space, fixed, options


def _sweep(args: argparse.Namespace) -> int:
    import jaxnn

    out = _output_directory(args.out)
    space, fixed, options = _sweep_space(args)
    data = _load_data(args)
    model = _build_model(args, data)
    import jax

    devices = jax.devices()
    print(data.describe())
    hosts = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    print(f"sweeping {', '.join(space)} on {len(devices)} {devices[0].platform} device(s){hosts}")
    started = time.perf_counter()
    settings = dict(
        optimizer=args.optimizer, num_epochs=args.epochs, batch_size=args.batch_size, schedule=args.schedule,
        warmup_steps=args.warmup_steps, nesterov=args.nesterov, seeds=args.seeds, num_samples=args.samples,
        max_parallel=args.max_parallel,
    ) | options
    result = jaxnn.sweep(
        model, data, space=space, key=args.seed, early_stopping=_early_stopping(args),
        progress=not args.no_progress, **settings, **fixed,
    )
    elapsed = time.perf_counter() - started
    if jax.process_index() != 0:  # every process holds the gathered table; process 0 reports and writes it
        return 0
    print(f"{len(result)} runs in {elapsed:.1f} s ({elapsed / len(result) * 1e3:.0f} ms per run)")
    print(result.format(top=args.top))
    best = result.best
    hyper = {name: best[name] for name in result.hyperparameters} | fixed
    metadata = {"command": "sweep", "row": best, "hyperparameters": hyper}
    result.to_csv(os.path.join(out, "sweep.csv"))
    result.to_json(os.path.join(out, "sweep.json"))
    result.plot(out)
    jaxnn.save(os.path.join(out, "best.msgpack"), model, result.params(0), dataset=data, metadata=metadata)
    print(f"wrote {out}/sweep.csv, sweep.json, curves.png, metric_vs_*.png, best.msgpack")
    return 0


def _read_features(args: argparse.Namespace, dataset: Any):
    import numpy as np

    if args.npz is not None:
        try:
            with np.load(args.npz, allow_pickle=False) as archive:
                if args.key not in archive:
                    raise UsageError(f"{args.npz} has no array {args.key!r}; it has {', '.join(archive.files)}")
                return np.asarray(archive[args.key], dtype=np.float64)
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot read {args.npz}: {error}") from None
    try:
        with open(args.csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise UsageError(f"{args.csv} is not a text CSV file") from None
    if not rows:
        raise UsageError(f"{args.csv} is empty")
    header, body = rows[0], [row for row in rows[1:] if row]
    if dataset is not None and dataset.target_name in header:  # tolerate the target column
        drop = header.index(dataset.target_name)
        header = header[:drop] + header[drop + 1 :]
        body = [row[:drop] + row[drop + 1 :] for row in body]
    values = np.empty((len(body), len(header)))
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise UsageError(f"{args.csv} line {line} has {len(row)} cells but the header has {len(header)}")
        for column, cell in enumerate(row):
            try:
                values[line - 2, column] = float(cell)
            except ValueError:
                raise UsageError(f"{args.csv} line {line}, column {header[column]!r}: {cell!r} is not a number") from None
    return values


def _predict(args: argparse.Namespace) -> int:
    import numpy as np

    import jaxnn
    from jaxnn._io import atomic_write

    checkpoint = jaxnn.load(args.model)
    dataset = checkpoint.dataset
    x = _read_features(args, dataset)
    expected = checkpoint.model.config.get("sizes", [None])[0] or checkpoint.model.config.get("in_features")
    if x.ndim != 2 or x.shape[1] != expected:
        raise UsageError(f"the data has {x.shape[1] if x.ndim == 2 else x.shape} features but the model expects {expected}")
    task = dataset.task if dataset is not None else None
    if task is None:
        raise UsageError("this checkpoint has no dataset information; it was not written by `jaxnn train`")
    output = jaxnn.predict(checkpoint.model, checkpoint.params, x, dataset=dataset, proba=args.proba)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if task == "regression":
        writer.writerow([dataset.target_name])
        writer.writerows([[float(v)] for v in output])
    elif args.proba:
        names = dataset.class_names if task == "multiclass" else [dataset.class_names[1]]
        writer.writerow([f"p({name})" for name in names])
        writer.writerows([[f"{p:.6g}" for p in np.atleast_1d(row)] for row in output])
    else:
        writer.writerow([dataset.target_name])
        writer.writerows([[dataset.class_names[int(label)]] for label in output])
    if args.out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write(args.out, buffer.getvalue())
        print(f"wrote {len(output)} predictions to {args.out}", file=sys.stderr)
    return 0


def _info(args: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    import jax

    import jaxnn

    versions = {"jaxnn": jaxnn.__version__, "python": platform.python_version()}
    for package in ("jax", "jaxlib", "optax", "flax", "chex", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    for name, value in versions.items():
        print(f"{name:>10}: {value}")
    devices = jax.devices()
    print(f"{'backend':>10}: {jax.default_backend()}")
    print(f"{'devices':>10}: {len(devices)} x {devices[0].device_kind} ({', '.join(str(d) for d in devices)})")
    print(f"{'cpu cores':>10}: {os.cpu_count()}")
    print(f"{'XLA_FLAGS':>10}: {os.environ.get('XLA_FLAGS') or '(not set)'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The functional API end to end: mlp + loss + jax.grad + jit + optax, no trainer."""
    import jax
    import optax

    import jaxnn

    data = jaxnn.datasets.load("breast_cancer", seed=args.seed)
    model = jaxnn.mlp([data.num_features, 16, 1], activation="relu")
    params = model.init(jax.random.key(args.seed))
    opt = jaxnn.optimizer("sgd", learning_rate=0.1, momentum=0.9)
    opt_state = opt.init(params)

    def loss_fn(params, x, y):
        return jaxnn.losses.binary_cross_entropy(model.apply(params, x), y)

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    for i in range(1, args.steps + 1):
        params, opt_state, loss = step(params, opt_state, data.x_train, data.y_train)
        if i % max(1, args.steps // 5) == 0:
            print(f"step {i:4d}  train loss {float(loss):.4f}")
    accuracy = float(jaxnn.losses.accuracy(model.apply(params, data.x_test), data.y_test))
    print(f"test loss {float(loss_fn(params, data.x_test, data.y_test)):.4f}  test accuracy {accuracy:.3f}")
    return 0


# ---------------------------------------------------------------------------
# The parser


def _add_training_options(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
    from jaxnn.data import NAMES
    from jaxnn.layers import ACTIVATIONS
    from jaxnn.optim import OPTIMIZERS, SCHEDULES

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="digits", choices=NAMES, metavar="NAME",
                      help=f"built-in dataset: {', '.join(NAMES)} (default: digits)")
    data.add_argument("--csv", metavar="FILE", help="train on a CSV file with a header row instead")
    data.add_argument("--target", metavar="COLUMN", help="the CSV column to predict")
    data.add_argument("--val-fraction", type=float, default=0.15, metavar="F", help="validation share (default: 0.15)")
    data.add_argument("--test-fraction", type=float, default=0.15, metavar="F", help="test share (default: 0.15)")
    model = parser.add_argument_group("model")
    model.add_argument("--sizes", type=_sizes, default=[128], metavar="W,W",
                       help="hidden layer widths; input and output come from the data (default: 128)")
    model.add_argument("--activation", default="relu", choices=[a for a in ACTIVATIONS if a != "softmax"], metavar="NAME",
                       help="hidden activation (default: relu)")
    training = parser.add_argument_group("training")
    training.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, metavar="NAME",
                          help=f"{', '.join(OPTIMIZERS)} (default: adam)")
    training.add_argument("--schedule", default="constant", choices=SCHEDULES, metavar="NAME",
                          help=f"learning-rate schedule: {', '.join(SCHEDULES)} (default: constant)")
    training.add_argument("--warmup-steps", type=int, default=0, metavar="N", help="warm-up steps for warmup_cosine")
    training.add_argument("--nesterov", action="store_true", help="Nesterov momentum")
    training.add_argument("--epochs", type=int, default=30, metavar="N", help="epochs (default: 30)")
    training.add_argument("--batch-size", type=_batch_size, default=32, metavar="N",
                          help="minibatch size, or 'full' for full-batch gradient descent (default: 32)")
    training.add_argument("--patience", type=int, metavar="N", help="early stopping after N epochs without improvement")
    training.add_argument("--seed", type=int, default=0, help="seed for the split, initialization and shuffling (default: 0)")
    hyper = parser.add_argument_group(
        "hyperparameters" + (" (a value, a list a,b,c, a grid LOW:HIGH:log|lin:COUNT or a distribution LOW:HIGH:log|lin)" if sweep else "")
    )
    for flag, field, text in HYPERPARAMETER_OPTIONS:
        default = DEFAULTS.get(field)
        suffix = f" (default: {default:g})" if default is not None else ""
        hyper.add_argument(flag, dest=field, type=str if sweep else float, metavar="SPEC" if sweep else "X", help=text + suffix)
    output = parser.add_argument_group("output")
    output.add_argument("--out", default="runs/sweep" if sweep else "runs/train", metavar="DIR",
                        help=f"output directory (default: runs/{'sweep' if sweep else 'train'})")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxnn", description="Neural networks as pure JAX functions.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train", help="train an MLP on a built-in dataset or a CSV file",
        description="Train an MLP with one compiled XLA program; print train/validation/test metrics and write "
        "DIR/model.msgpack, DIR/history.csv and DIR/curves.png.",
    )
    _add_training_options(train, sweep=False)
    train.add_argument("--devices", type=_devices, default=None, metavar="N|all",
                       help="data parallelism: split each minibatch across N devices (default: one device)")
    train.set_defaults(run=_train)

    sweep = commands.add_parser(
        "sweep", help="train many hyperparameter configurations in one compiled program",
        description="A vmapped hyperparameter sweep over every CPU core (or every GPU). Writes DIR/sweep.csv, "
        "DIR/sweep.json, plots and DIR/best.msgpack. Example: jaxnn sweep --learning-rate 1e-4:1e-1:log:8 --seeds 2",
    )
    _add_training_options(sweep, sweep=True)
    runs = sweep.add_argument_group("sweep")
    runs.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per configuration (default: 1)")
    runs.add_argument("--samples", type=int, metavar="N", help="random search: configurations drawn from the distributions")
    runs.add_argument("--max-parallel", type=int, metavar="N", help="most runs trained at once (default: what memory allows)")
    runs.add_argument("--config", metavar="FILE", help="TOML file with a [space] table and sweep options")
    runs.add_argument("--top", type=int, default=10, metavar="N", help="rows of the table to print (default: 10)")
    hosts = sweep.add_argument_group("several hosts (jax.distributed)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0; start one jaxnn sweep per host")
    hosts.add_argument("--num-processes", type=int, metavar="N", help="number of processes in the job")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1 (0 writes the files)")
    sweep.set_defaults(run=_sweep)

    predict = commands.add_parser(
        "predict", help="predict with a saved model",
        description="Apply a checkpoint written by `jaxnn train` or `jaxnn sweep` to new data (raw features: the "
        "saved standardization is applied) and write the predictions as CSV.",
    )
    predict.add_argument("--model", required=True, metavar="FILE", help="the checkpoint (model.msgpack)")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="FILE", help="features as CSV with a header row (a target column is ignored)")
    source.add_argument("--npz", metavar="FILE", help="features as an array in an .npz file")
    predict.add_argument("--key", default="x", help="the array's name in the .npz file (default: x)")
    predict.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    predict.add_argument("--out", metavar="FILE", help="write the CSV here instead of to standard output")
    predict.set_defaults(run=_predict)

    info = commands.add_parser("info", help="versions, JAX backend and devices",
                               description="Print versions, the JAX backend and the devices JAX sees.")
    info.set_defaults(run=_info)

    demo = commands.add_parser("demo", help="the functional API in twenty lines (jax.grad + jit + optax)",
                               description="Train a [30, 16, 1] MLP on breast cancer with a hand-written jitted step.")
    demo.add_argument("--steps", type=int, default=300, help="full-batch training steps (default: 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("train", "sweep"):
        # Every core as its own device, before JAX starts: sweeps shard across them.
        from jaxnn import parallel

        if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
            parallel.use_cpu_devices()
        if getattr(args, "coordinator", None) is not None:
            if args.num_processes is None or args.process_id is None:
                parser.error("--coordinator needs --num-processes and --process-id")
            parallel.initialize_distributed(args.coordinator, args.num_processes, args.process_id)
    import jaxnn

    expected = (UsageError, ValueError, TypeError, OSError, jaxnn.TrainingDiverged, jaxnn.CheckpointError)
    try:
        return args.run(args)
    except expected as error:
        message = str(error)
        if isinstance(error, FileNotFoundError) and error.filename is not None:
            message = f"no such file: {error.filename}"
        print(f"jaxnn: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `jaxnn sweep ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("jaxnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
