"""The ``jaxnn`` command line: ``train``, ``sweep``, ``predict``, ``info`` and ``demo``.

Every command reports bad input as one ``jaxnn: error: ...`` line in the command
line's own words (``--batch-size full``, not ``batch_size=None``) and exits with
status 2, without a traceback. ``train`` and ``sweep`` check their output
directory before any training starts and write their files into a staging
directory that replaces ``--out`` only when the run succeeded, so ``--out``
always holds one complete run: never a failed run's files, never a mix of two.
"""

import argparse
import contextlib
import difflib
import math
import os
import platform
import re
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from typing import Any

import jaxnn
from jaxnn import cache, hyperparams, parallel, plotting
from jaxnn._io import atomic_write, staged_directory
from jaxnn.data import NAMES, TASKS
from jaxnn.layers import ACTIVATIONS
from jaxnn.losses import METRICS
from jaxnn.optim import OPTIMIZERS, SCHEDULES

# Hyperparameter flags come from jaxnn.hyperparams.TABLE: --learning-rate for learning_rate, and so on.
PROGRAM_SPACE_KEYS = {"optimizer": "optimizer", "batch-size": "batch_size", "epochs": "num_epochs", "schedule": "schedule"}
CHECKPOINT = "checkpoint"  # the default checkpoint directory, inside --out (replaced with it when the run succeeds)
RUN_FILES = ("model.msgpack", "history.csv", "curves.png", "sweep.csv", "sweep.json", "best.msgpack", CHECKPOINT)

SWEEP_EXAMPLE = """\
A sweep file (--config FILE) is TOML. Its keys are this command's option names
(dashes or underscores); the command line wins over the file. Hyperparameters
take the same specifications as on the command line, or a list of values;
[space] may also vary optimizer, batch-size, epochs and schedule (each value
compiles its own program):

    dataset = "digits"
    sizes = [64, 64]
    epochs = 30
    batch-size = 64
    seeds = 2
    samples = 16                      # random search: 16 draws
    patience = 5
    out = "runs/digits-sweep"

    [space]
    learning-rate = "1e-4:1e-1:log"   # log-uniform
    weight-decay = [0.0, 1e-4]
    optimizer = ["adam", "adamw"]

Example: jaxnn sweep --learning-rate 1e-4:1e-1:log:8 --seeds 2

Schedulers: --scheduler asha trains every configuration to --min-epochs, then
only the best 1/--reduction-factor of them three times as long, and so on
(pruned rows stop costing compute); --scheduler pbt lets the worst quarter of
the configurations copy the weights of the best every --pbt-interval epochs
and perturb their hyperparameters. For example:

  $ jaxnn sweep --dataset digits --optimizer adamw --epochs 60 --samples 64 \
      --learning-rate 1e-4:1e-1:log --weight-decay 1e-6:1e-2:log --scheduler asha
"""

SCHEDULER_OPTIONS = {"asha": ("min_epochs", "reduction_factor"), "pbt": ("pbt_interval", "pbt_fraction", "pbt_perturb")}


class UsageError(Exception):
    """Bad input found by the CLI itself; reported as one line."""


class Interrupted(Exception):
    """Ctrl-C during training; ``.checkpoint_dir`` holds the state saved so far (None without one)."""

    def __init__(self, checkpoint_dir: str | None):
        super().__init__(checkpoint_dir)
        self.checkpoint_dir = checkpoint_dir


class RunFailed(Exception):
    """The command ran but its result is unusable (e.g. every run of a sweep diverged)."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are exceptions (one line each, reported by :func:`main`)."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)")


def _hyperparameter_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------------------
# The command line's own words in messages from the library


def _python_names() -> dict[str, str]:
    """Library argument names -> the flags that set them."""
    names = {name: _hyperparameter_flag(name) for name in hyperparams.NAMES}
    return names | {
        "num_epochs": "--epochs", "num_samples": "--samples", "batch_size": "--batch-size",
        "val_fraction": "--val-fraction", "test_fraction": "--test-fraction", "max_parallel": "--max-parallel",
        "warmup_steps": "--warmup-steps", "seeds": "--seeds", "task": "--task", "metric": "--metric",
        "optimizer": "--optimizer", "schedule": "--schedule", "seed": "--seed", "sizes": "--sizes",
        "patience": "--patience", "early_stopping.patience": "--patience", "checkpoint_dir": "--checkpoint-dir",
        "checkpoint_every": "--checkpoint-every", "channels": "--channels", "kernel_size": "--kernel-size",
        "pool": "--pool", "standardize": "--standardize",
    }


def in_cli_words(message: str) -> str:
    """Rewrite the library's Python spellings (`` `batch_size` ``, ``task='regression'``) as flags."""
    names = _python_names()

    def assignment(match: re.Match) -> str:
        name, value = match.group(1), match.group(2).strip("'\"")
        if name == "stratify" and value == "False":
            return "--no-stratify"
        if name not in names:
            return match.group(0)
        if value == "None":
            value = "full" if name == "batch_size" else "none"
        return f"{names[name]} {value}"

    message = re.sub(r"`([\w.]+)`", lambda m: names.get(m.group(1), m.group(0)), message)
    return re.sub(r"\b([\w.]+)=(None|True|False|'[^']*'|\"[^\"]*\"|[^\s,;)]+)", assignment, message)


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


def _integer(minimum: int):
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


_positive_int = _integer(1)


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


    flag = _hyperparameter_flag(name)

    def number(part: str) -> float:
        try:
            return float(part)
        except ValueError:
            raise UsageError(f"{flag}: {part!r} is not a number (in {text!r})") from None

    text = text.strip()
    if ":" not in text:
        values = [number(part) for part in text.split(",") if part.strip()]
        if not values:
            raise UsageError(f"{flag}: no values in {text!r}")
        return values
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[2] not in ("log", "lin"):
        raise UsageError(f"{flag}: malformed range {text!r}; expected LOW:HIGH:log|lin[:COUNT], e.g. 1e-4:1e-1:log:8")
    low, high = number(parts[0]), number(parts[1])
    if not low <= high:
        raise UsageError(f"{flag}: range {text!r} needs LOW <= HIGH")
    if parts[2] == "log" and low <= 0:
        raise UsageError(f"{flag}: a log range needs LOW > 0, got {text!r}")
    if len(parts) == 3:
        return jaxnn.loguniform(low, high) if parts[2] == "log" else jaxnn.uniform(low, high)
    try:
        count = int(parts[3])
    except ValueError:
        raise UsageError(f"{flag}: the count in {text!r} must be an integer") from None
    if count < 1:
        raise UsageError(f"{flag}: the count in {text!r} must be >= 1")
    values = np.geomspace(low, high, count) if parts[2] == "log" else np.linspace(low, high, count)
    return [float(v) for v in values]


# ---------------------------------------------------------------------------
# Sweep files: TOML whose keys are the command's option names


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings if option.startswith("--")}


def _config_tokens(path: str, parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, list]]:
    """The command-line tokens a sweep file stands for, and its [space] entries that no flag can hold."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config: no such file {path!r}") from None
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"--config {path!r} is not a readable TOML file: {error}") from None
    space = document.pop("space", {})
    if not isinstance(space, dict):
        raise UsageError(f"--config {path!r}: 'space' must be a table, written [space]")
    flags = _flags(parser)
    tokens, program_space = [], {}
    for key, value in document.items():
        tokens += _config_option(path, key, value, flags)
    for key, value in space.items():
        name = key.replace("_", "-")
        if name in PROGRAM_SPACE_KEYS:
            program_space[PROGRAM_SPACE_KEYS[name]] = _program_values(path, name, value, flags)
        elif _hyperparameter_name(name) is None:
            raise UsageError(f"--config {path!r}: [space] {key!r} is not a hyperparameter or one of "
                             f"{', '.join(PROGRAM_SPACE_KEYS)}")
        else:
            tokens += _config_option(path, key, value, flags)
    return tokens, program_space


def _hyperparameter_name(key: str) -> str | None:
    name = key.replace("-", "_")
    return name if name in hyperparams.NAMES else None


def _config_option(path: str, key: str, value: Any, flags: dict[str, argparse.Action]) -> list[str]:
    """The tokens for one ``key = value`` of a sweep file."""
    flag = "--" + key.replace("_", "-")
    action = flags.get(flag)
    if action is None or flag in ("--config", "--help"):
        known = [option[2:] for option in flags if option not in ("--config", "--help")]
        hint = _python_names().get(key)
        close = difflib.get_close_matches(key, known, n=1)
        suggestion = f" (did you mean {hint[2:]!r}?)" if hint else f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"--config {path!r}: unknown option {key!r}{suggestion}; see jaxnn sweep --help")
    if action.nargs == 0:  # a switch such as --nesterov
        if not isinstance(value, bool):
            raise UsageError(f"--config {path!r}: {key!r} is a switch: write {key} = true or false")
        return [flag] if value else []
    if isinstance(value, bool) or isinstance(value, dict):
        raise UsageError(f"--config {path!r}: {key!r} needs a value such as on the command line, got {value!r}")
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    return [flag, str(value)]


def _program_values(path: str, name: str, value: Any, flags: dict[str, argparse.Action]) -> list:
    """The values of a [space] entry that changes the program (optimizer, batch-size, epochs, schedule)."""
    action = flags["--" + name]
    values = value if isinstance(value, list) else [value]
    parsed = []
    for item in values:
        try:
            item = action.type(str(item)) if action.type is not None else item
        except (argparse.ArgumentTypeError, ValueError) as error:
            raise UsageError(f"--config {path!r}: [space] {name}: {error}") from None
        if action.choices is not None and item not in action.choices:
            raise UsageError(f"--config {path!r}: [space] {name}: invalid choice {item!r} "
                             f"(choose from {', '.join(map(str, action.choices))})")
        parsed.append(item)
    return parsed


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; a sweep's ``--config FILE`` supplies options the command line does not give."""
    args = parser.parse_args(argv)
    args.program_space = {}
    if getattr(args, "config", None) is None:
        return args
    sweep_parser = parser.subcommands.choices["sweep"]
    tokens, program_space = _config_tokens(args.config, sweep_parser)
    try:
        sweep_parser.parse_args(tokens)
    except UsageError as error:
        raise UsageError(f"--config {args.config!r}: {error}") from None
    args = parser.parse_args([argv[0], *tokens, *argv[1:]])  # later tokens win: the command line over the file
    args.program_space = program_space
    return args


# ---------------------------------------------------------------------------
# Checks of options that would do nothing


def check_options(args: argparse.Namespace, *, sweep: bool) -> None:
    """Refuse options that the other options make meaningless, instead of silently dropping them."""
    if args.csv is not None and args.npz is not None:
        raise UsageError("give one of --csv and --npz")
    if args.csv is None:
        if args.target is not None:
            source = f"--npz {args.npz} holds its targets as array 'y'" if args.npz else f"the built-in --dataset {args.dataset} fixes its own"
            raise UsageError(f"--target is for --csv data; {source}")
        if args.task is not None and args.npz is None:
            raise UsageError(f"--task is for --csv or --npz data; the built-in --dataset {args.dataset} fixes its own")
    elif args.target is None:
        raise UsageError("--csv needs --target COLUMN (the column to predict)")
    if args.images and (args.csv or args.npz):
        raise UsageError("--images is for the built-in --dataset digits; an --npz file with images holds x as (n, height, width, channels)")
    if args.model == "mlp" and (args.channels is not None or args.kernel_size is not None or args.pool is not None):
        raise UsageError("--channels, --kernel-size and --pool describe a --model cnn")
    optimizers = args.program_space.get("optimizer", [args.optimizer])
    schedules = args.program_space.get("schedule", [args.schedule])
    given = [name for name in hyperparams.NAMES if getattr(args, name) is not None]
    for name in given:
        reasons = [hyperparams.unused([name], optimizer=o, schedule=s) for o in optimizers for s in schedules]
        if all(reasons):
            _, users = reasons[0][0]
            setting = f"--optimizer {args.optimizer}" if users.startswith("optimizer") else f"--schedule {args.schedule}"
            raise UsageError(f"{_hyperparameter_flag(name)} has no effect with {setting}; it is used only by --{users}")
    if args.nesterov and not set(optimizers) & {"sgd", "rmsprop"}:
        raise UsageError(f"--nesterov has no effect with --optimizer {args.optimizer}; it is used only by sgd or rmsprop")
    if args.warmup_steps and "warmup_cosine" not in schedules:
        raise UsageError(f"--warmup-steps has no effect with --schedule {args.schedule}; it is used only by warmup_cosine")
    if sweep:
        for scheduler, names in SCHEDULER_OPTIONS.items():
            for name in names:
                if getattr(args, name) is not None and args.scheduler != scheduler:
                    raise UsageError(f"--{name.replace('_', '-')} has no effect without --scheduler {scheduler}")
    rates = args.learning_rate
    if rates is not None:
        values = parse_range("learning_rate", rates) if sweep else [rates]
        if isinstance(values, list) and 0.0 in values:
            raise UsageError("--learning-rate 0 would not train: give a learning rate > 0")


def _checkpoint_dir(args: argparse.Namespace) -> str | None:
    """The run's checkpoint directory (None with --no-checkpoint), checked against --resume before training."""
    if args.no_checkpoint:
        if args.resume or args.checkpoint_dir is not None:
            raise UsageError(f"--no-checkpoint cannot be combined with {'--resume' if args.resume else '--checkpoint-dir'}")
        return None
    path = args.checkpoint_dir or os.path.join(args.out, CHECKPOINT)
    saved = os.path.isdir(path) and any(name.endswith(".msgpack") for name in os.listdir(path))
    if args.resume and not saved:
        raise UsageError(f"--resume: there is nothing to resume in {path} (no saved run state)")
    if saved and not args.resume:
        raise UsageError(f"{path} holds the state of an interrupted run: add --resume to continue it, "
                         f"or remove {path} to start over")
    return path


@contextlib.contextmanager
def _resumable(path: str | None) -> Iterator[None]:
    """Ctrl-C as :class:`Interrupted` (naming where the state is). The state is removed once the run has
    succeeded, or diverged (resuming would diverge again); any other failure keeps it, to resume from."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(path) from None
    except jaxnn.TrainingDiverged:
        _remove_state(path)
        raise
    _remove_state(path)


def _remove_state(path: str | None) -> None:
    """Remove a checkpoint directory's run files, and the directory once empty (process 0 only)."""
    import jax

    if path is None or not os.path.isdir(path) or jax.process_index() != 0:
        return
    for name in os.listdir(path):
        if name.endswith(".msgpack"):
            os.remove(os.path.join(path, name))
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _holds_only_run_files(path: str) -> bool:
    """Whether a directory holds only files a jaxnn train or sweep writes (so it may be replaced)."""
    return all(name in RUN_FILES or re.fullmatch(r"metric_vs_\w+\.png", name) for name in os.listdir(path))


@contextlib.contextmanager
def _staged_output(out: str) -> Iterator[str]:
    """A staging directory for a run's files that replaces ``out`` when the run succeeds."""
    here = os.path.realpath(os.getcwd())
    target = os.path.realpath(out)
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        raise UsageError(f"--out {out!r} is the current directory or contains it; give a directory of its own")

    try:
        with staged_directory(out, replaceable=_holds_only_run_files) as staging:
            yield staging
    except FileExistsError as error:
        raise UsageError(f"--out {error}") from None


# ---------------------------------------------------------------------------
# Shared pieces


def _load_data(args: argparse.Namespace):
    split = {"seed": args.seed, "val_fraction": args.val_fraction, "test_fraction": args.test_fraction,
             "stratify": not args.no_stratify, "standardize": args.standardize}
    if args.csv is not None:
        return jaxnn.datasets.from_csv(args.csv, args.target, task=args.task, **split)
    if args.npz is not None:
        return jaxnn.datasets.from_npz(args.npz, task=args.task, **split)
    return jaxnn.datasets.load(args.dataset, as_images=args.images, **split)


def _build_model(args: argparse.Namespace, data: Any):
    outputs = 1 if data.task in ("binary", "regression") else data.num_classes
    dropout = args.dropout if isinstance(args.dropout, float) else 0.0
    kind = args.model if args.model != "auto" else ("cnn" if len(data.input_shape) > 1 else "mlp")
    if kind == "cnn":
        if len(data.input_shape) == 1:
            raise UsageError(f"--model cnn needs images or sequences, but the data has {data.num_features} flat features; "
                             "use --images (digits) or an --npz file whose x is (n, height, width, channels)")
        options = {"channels": args.channels, "kernel_size": args.kernel_size, "pool": args.pool}
        return jaxnn.cnn(data.input_shape, outputs, hidden=args.sizes, activation=args.activation, dropout=dropout,
                         **{name: value for name, value in options.items() if value is not None})
    if len(data.input_shape) > 1:
        raise UsageError(f"--model mlp takes flat features, but the data holds examples of shape {data.input_shape}: "
                         "use --model cnn, or flatten x in the --npz file")
    return jaxnn.mlp([data.num_features, *args.sizes, outputs], activation=args.activation, dropout=dropout)


def _describe_model(model: Any) -> str:
    """The model in a few words, for the line printed before training."""
    config = model.config
    if config["type"] == "cnn":
        return (f"cnn {tuple(config['input_shape'])}: conv {config['channels']} (kernel {config['kernel_size']}, "
                f"pool {config['pool']}), dense {[*config['hidden'], config['outputs']]} {config['activation']}")
    return f"{config['sizes']} {config['activation']}"


def _early_stopping(args: argparse.Namespace):
    return None if args.patience is None else jaxnn.EarlyStopping(patience=args.patience)


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


# ---------------------------------------------------------------------------
# Commands


def _train(args: argparse.Namespace) -> int:
    check_options(args, sweep=False)
    given = {name: getattr(args, name) for name in hyperparams.NAMES if getattr(args, name) is not None}
    given.pop("dropout", None)  # the model's own rate
    checkpoint_dir = _checkpoint_dir(args)
    with _resumable(checkpoint_dir), _staged_output(args.out) as staging:
        plotting.preload()
        data = _load_data(args)
        model = _build_model(args, data)
        print(data.describe())
        print(f"model: {_describe_model(model)}, optimizer {args.optimizer}, {args.epochs} epochs, "
              f"batch {args.batch_size or 'full'}")
        started = time.perf_counter()
        result = jaxnn.fit(
            model, data, key=args.seed, optimizer=args.optimizer, num_epochs=args.epochs, batch_size=args.batch_size,
            schedule=args.schedule, warmup_steps=args.warmup_steps, nesterov=args.nesterov, metric=args.metric,
            early_stopping=_early_stopping(args), progress=not args.no_progress, devices=args.devices,
            checkpoint_dir=checkpoint_dir, checkpoint_every=args.checkpoint_every, **given,
        )
        elapsed = time.perf_counter() - started
        metrics = {split: jaxnn.evaluate(model, result.params, data, split=split, metric=args.metric)
                   for split in ("train", "val", "test") if getattr(data, f"num_{split}") > 0}
        metric = next(name for name in next(iter(metrics.values())) if name not in ("loss", "num_examples"))
        print(f"{result.status} after {result.stopped_epoch} epochs in {elapsed:.1f} s (best epoch {result.best_epoch})")
        for split, values in metrics.items():
            label = {"val": "validation"}.get(split, split)
            print(f"{label + ' loss':>16} {_fmt(values['loss'])}   {label} {metric.replace('_', ' ')} {_fmt(values[metric])}")
        used = hyperparams.Hyperparams(**given)._asdict()
        metadata = {"command": "train", "hyperparameters": used, "optimizer": args.optimizer, "epochs": args.epochs,
                    "batch_size": args.batch_size, "seed": args.seed, "status": result.status,
                    "best_epoch": result.best_epoch, "metrics": metrics}
        jaxnn.save(os.path.join(staging, "model.msgpack"), model, result.params, dataset=data, metadata=metadata)
        result.to_csv(os.path.join(staging, "history.csv"))
        plotting.plot_history(result.history, os.path.join(staging, "curves.png"), metric=metric)
    print(f"wrote {args.out}: model.msgpack, history.csv, curves.png")
    return 0


def _sweep_space(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(space, fixed hyperparameters) from the hyperparameter flags and the sweep file's [space]."""
    space: dict[str, Any] = dict(args.program_space)
    fixed: dict[str, Any] = {}
    for name in hyperparams.NAMES:
        text = getattr(args, name)
        if text is None:
            continue
        values = parse_range(name, text)
        if isinstance(values, list) and len(values) == 1:
            fixed[name] = values[0]
        else:
            space[name] = values
    if not space:
        raise UsageError("nothing to sweep: give a range such as --learning-rate 1e-4:1e-1:log:8 or --config FILE")
    return space, fixed


def _sweep(args: argparse.Namespace) -> int:
    import jax


    check_options(args, sweep=True)
    space, fixed = _sweep_space(args)
    scheduler = _scheduler(args)
    writes = jax.process_index() == 0  # every process holds the gathered table; process 0 writes it
    checkpoint_dir = _checkpoint_dir(args)
    with _resumable(checkpoint_dir), _staged_output(args.out) if writes else contextlib.nullcontext() as staging:
        if writes:
            plotting.preload()
        data = _load_data(args)
        model = _build_model(args, data)
        devices = jax.devices()
        print(data.describe())
        hosts = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
        print(f"sweeping {', '.join(space)} on {len(devices)} {devices[0].platform} device(s){hosts}")
        started = time.perf_counter()
        result = jaxnn.sweep(
            model, data, space=space, key=args.seed, early_stopping=_early_stopping(args), optimizer=args.optimizer,
            num_epochs=args.epochs, batch_size=args.batch_size, schedule=args.schedule, warmup_steps=args.warmup_steps,
            nesterov=args.nesterov, seeds=args.seeds, num_samples=args.samples, max_parallel=args.max_parallel,
            metric=args.metric, progress=not args.no_progress, scheduler=scheduler, checkpoint_dir=checkpoint_dir,
            **fixed,
        )
        elapsed = time.perf_counter() - started
        if not writes:
            return 0
        print(f"{len(result)} runs in {elapsed:.1f} s ({elapsed / len(result) * 1e3:.0f} ms per run)")
        print(result.format(top=args.top))
        result.to_csv(os.path.join(staging, "sweep.csv"))
        result.to_json(os.path.join(staging, "sweep.json"))
        written = [os.path.basename(path) for path in result.plot(staging)]
        usable = result.table["status"][0] != "diverged"
        if usable:
            best = result.best
            hyper = {name: best[name] for name in result.hyperparameters} | fixed
            metadata = {"command": "sweep", "row": best, "hyperparameters": hyper}
            if args.scheduler == "pbt":
                metadata["hyperparameter_schedule"] = result.schedule(0)
            jaxnn.save(os.path.join(staging, "best.msgpack"), model, result.params(0), dataset=data, metadata=metadata)
    print(f"wrote {args.out}: sweep.csv, sweep.json, {', '.join(written)}" + (", best.msgpack" if usable else ""))
    if not usable:
        raise RunFailed(
            f"all {len(result)} runs diverged (NaN or infinite loss), so there is no best model and no best.msgpack; "
            f"the table is in {os.path.join(args.out, 'sweep.csv')}. Lower --learning-rate or set --clip-norm"
        )
    return 0


def _scheduler(args: argparse.Namespace) -> Any:
    """The --scheduler and its options as a jaxnn.ASHA or jaxnn.PBT (None without one), checked before training."""
    flags = {"ASHA min_epochs": "--min-epochs", "ASHA reduction_factor": "--reduction-factor",
             "PBT interval": "--pbt-interval", "PBT fraction": "--pbt-fraction", "PBT perturb": "--pbt-perturb",
             "num_epochs": "--epochs"}
    if args.scheduler is not None and args.program_space:
        raise UsageError(f"--scheduler compares the runs of one program, but [space] varies "
                         f"{', '.join(args.program_space)}; run one jaxnn sweep per value")
    try:
        if args.scheduler == "asha":
            options = {"min_epochs": args.min_epochs, "reduction_factor": args.reduction_factor}
            scheduler = jaxnn.ASHA(**{name: value for name, value in options.items() if value is not None})
            scheduler.rungs(args.epochs)
            return scheduler
        if args.scheduler == "pbt":
            options = {"interval": args.pbt_interval, "fraction": args.pbt_fraction, "perturb": args.pbt_perturb}
            scheduler = jaxnn.PBT(**{name: value for name, value in options.items() if value is not None})
            scheduler.interval_for(args.epochs)
            return scheduler
    except ValueError as error:
        message = str(error)
        for name, flag in flags.items():
            message = message.replace(name, flag)
        raise UsageError(message) from None
    return None


def _factors(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected factors such as 0.8,1.25, got {text!r}") from None


def _prediction_features(args: argparse.Namespace, info: Any):
    """The features to predict on, matched to the names the model was trained with."""
    import numpy as np


    if args.csv is not None:
        table = jaxnn.datasets.read_features(args.csv, info.feature_names, target_name=info.target_name,
                                             header=not args.no_header)
        if table.ignored:
            print(f"note: ignoring {len(table.ignored)} column(s) the model was not trained on: "
                  f"{', '.join(table.ignored)}", file=sys.stderr)
        return table.x
    x = jaxnn.datasets.read_npz(args.npz, {"--key array": args.key})[args.key]
    if x.dtype.kind not in "biuf":
        raise UsageError(f"{args.npz}: array {args.key!r} holds {x.dtype} values, not numbers")
    if len(info.input_shape) > 1:
        if x.shape[1:] != info.input_shape:
            raise UsageError(f"the data holds examples of shape {x.shape[1:]} but the model expects {info.input_shape}")
    elif x.ndim != 2 or x.shape[1] != info.num_features:
        got = f"{x.shape[1]} features" if x.ndim == 2 else f"shape {x.shape}"
        raise UsageError(f"the data has {got} but the model expects {info.num_features} features")
    return np.asarray(x, np.float64)


def _predict(args: argparse.Namespace) -> int:
    if args.csv is not None and args.key != "x":
        raise UsageError("--key names an array of an --npz file; it does nothing with --csv")
    if args.npz is not None and args.no_header:
        raise UsageError("--no-header is for --csv files")
    checkpoint = jaxnn.load(args.model)
    info = checkpoint.info
    if info is None:
        raise UsageError(f"{args.model} holds no dataset information (feature names, scaling); "
                         "it was not written by `jaxnn train` or `jaxnn sweep`")
    if args.proba and info.task == "regression":
        raise UsageError("--proba gives class probabilities, but this model does regression")
    x = _prediction_features(args, info)
    output = jaxnn.predict(checkpoint.model, checkpoint.params, x, dataset=info, proba=args.proba)
    text = jaxnn.datasets.predictions_csv(output, info, proba=args.proba)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.out, text)
        print(f"wrote {len(output)} predictions to {args.out}", file=sys.stderr)
    return 0


def _info(args: argparse.Namespace) -> int:
    from importlib.metadata import PackageNotFoundError, version

    import jax


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


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="digits", choices=NAMES, metavar="NAME",
                      help=f"built-in dataset: {', '.join(NAMES)} (default: digits)")
    data.add_argument("--csv", metavar="FILE", help="train on a CSV file with a header row instead")
    data.add_argument("--target", metavar="COLUMN", help="the CSV column to predict")
    data.add_argument("--task", choices=TASKS, metavar="TASK",
                      help="binary, multiclass or regression (default: inferred from --target: whole numbers or "
                           "strings are classes, other numbers regression)")
    data.add_argument("--metric", choices=list(METRICS), metavar="NAME",
                      help=f"validation metric: {', '.join(METRICS)} (default: accuracy for classes, "
                           "mean_squared_error for regression)")
    data.add_argument("--val-fraction", type=float, default=0.15, metavar="F", help="validation share (default: 0.15)")
    data.add_argument("--test-fraction", type=float, default=0.15, metavar="F", help="test share (default: 0.15)")
    data.add_argument("--no-stratify", action="store_true", help="split without keeping the class proportions")
    data.add_argument("--npz", metavar="FILE",
                      help="train on arrays x and y of an .npz file instead; x may be (n, features) or images (n, height, width, channels)")
    data.add_argument("--images", action="store_true", help="the built-in digits as 8x8 one-channel images (a --model cnn)")
    data.add_argument("--standardize", default="feature", choices=["feature", "global", "none"],
                      help="scale each feature (pixel) by its own training mean and deviation, all by one, or none (default: feature)")


def _add_training_options(parser: argparse.ArgumentParser, *, sweep: bool) -> None:
    _add_data_options(parser)
    model = parser.add_argument_group("model")
    model.add_argument("--sizes", type=_sizes, default=[128], metavar="W,W",
                       help="hidden layer widths; input and output come from the data (default: 128)")
    model.add_argument("--model", default="auto", choices=["auto", "mlp", "cnn"],
                       help="mlp, or cnn (convolution blocks, then the --sizes dense layers); auto: cnn for images (default)")
    model.add_argument("--channels", type=_sizes, metavar="C,C", help="cnn: channels of each convolution block (default: 16,32)")
    model.add_argument("--kernel-size", type=_positive_int, metavar="K", help="cnn: convolution window (default: 3)")
    model.add_argument("--pool", type=_positive_int, metavar="P", help="cnn: max-pooling window after each block, 1 for none (default: 2)")
    model.add_argument("--activation", default="relu", choices=[a for a in ACTIVATIONS if a != "softmax"], metavar="NAME",
                       help="hidden activation (default: relu)")
    training = parser.add_argument_group("training")
    training.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, metavar="NAME",
                          help=f"{', '.join(OPTIMIZERS)} (default: adam)")
    training.add_argument("--schedule", default="constant", choices=SCHEDULES, metavar="NAME",
                          help=f"learning-rate schedule: {', '.join(SCHEDULES)} (default: constant)")
    training.add_argument("--warmup-steps", type=_integer(0), default=0, metavar="N", help="warm-up steps for warmup_cosine")
    training.add_argument("--nesterov", action="store_true", help="Nesterov momentum (sgd, rmsprop)")
    training.add_argument("--epochs", type=_positive_int, default=30, metavar="N", help="epochs (default: 30)")
    training.add_argument("--batch-size", type=_batch_size, default=32, metavar="N",
                          help="minibatch size, or 'full' for full-batch gradient descent (default: 32)")
    training.add_argument("--patience", type=_positive_int, metavar="N", help="early stopping after N epochs without improvement")
    training.add_argument("--seed", type=int, default=0, help="seed for the split, initialization and shuffling (default: 0)")
    hyper = parser.add_argument_group(
        "hyperparameters" + (" (a value, a list a,b,c, a grid LOW:HIGH:log|lin:COUNT or a distribution LOW:HIGH:log|lin)" if sweep else "")
    )
    for row in hyperparams.TABLE:
        users = f"; {', '.join(row.optimizers or row.schedules)} only" if row.optimizers or row.schedules else ""
        default = "" if row.default is None else f" (default: {row.default:g})"
        hyper.add_argument(_hyperparameter_flag(row.name), dest=row.name, type=str if sweep else float,
                           metavar="SPEC" if sweep else "X", help=f"{row.help}{users}{default}")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default="runs/sweep" if sweep else "runs/train", metavar="DIR",
                        help=f"output directory, replaced as a whole by a successful run (default: runs/{'sweep' if sweep else 'train'})")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    output.add_argument("--checkpoint-dir", metavar="DIR",
                        help=f"save the run's state here as it trains, so that an interrupted run can be resumed "
                        f"(default: {CHECKPOINT}/ inside --out; removed when the run succeeds)")
    output.add_argument("--resume", action="store_true",
                        help="continue the interrupted run saved in the checkpoint directory (give the same options)")
    output.add_argument("--no-checkpoint", action="store_true", help="save no state while training")
    if not sweep:
        output.add_argument("--checkpoint-every", type=_positive_int, metavar="N",
                            help="epochs between saves of the state (default: a twentieth of --epochs)")
    output.add_argument("--no-compilation-cache", action="store_true",
                        help="compile from scratch: do not load or save compiled programs in ~/.cache/jaxnn/xla "
                             "(also JAXNN_COMPILATION_CACHE=0; JAXNN_CACHE_DIR moves the cache)")


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxnn`` parser: one sub-parser per command (``parser.subcommands.choices``)."""
    parser = _Parser(prog="jaxnn", description="Neural networks as pure JAX functions.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    parser.subcommands = commands
    for add_command in (_add_train, _add_sweep, _add_predict, _add_info_and_demo):
        add_command(commands)
    return parser


def _add_train(commands: Any) -> None:
    train = commands.add_parser(
        "train", help="train an MLP on a built-in dataset or a CSV file",
        description="Train an MLP with one compiled XLA program; print train/validation/test metrics and write "
        "DIR/model.msgpack, DIR/history.csv and DIR/curves.png.",
    )
    _add_training_options(train, sweep=False)
    train.add_argument("--devices", type=_devices, default=None, metavar="N|all",
                       help="data parallelism: split each minibatch across N devices (default: one device)")
    train.set_defaults(run=_train)


def _add_sweep(commands: Any) -> None:
    sweep = commands.add_parser(
        "sweep", help="train many hyperparameter configurations in one compiled program",
        description="A vmapped hyperparameter sweep over every CPU core (or every GPU). Writes DIR/sweep.csv, "
        "DIR/sweep.json, plots and DIR/best.msgpack (the best row's parameters: the ones its table row reports).",
        epilog=SWEEP_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_training_options(sweep, sweep=True)
    runs = sweep.add_argument_group("sweep")
    runs.add_argument("--seeds", type=_positive_int, default=1, metavar="N", help="seeds per configuration (default: 1)")
    runs.add_argument("--samples", type=_positive_int, metavar="N", help="random search: configurations drawn from the distributions")
    runs.add_argument("--max-parallel", type=_positive_int, metavar="N", help="most runs trained at once (default: what memory allows)")
    runs.add_argument("--config", metavar="FILE", help="TOML file of options and a [space] table (format below)")
    runs.add_argument("--top", type=_positive_int, default=10, metavar="N", help="rows of the table to print (default: 10)")
    scheduling = sweep.add_argument_group("schedulers (inside the one sweep; both rank by the validation split)")
    scheduling.add_argument("--scheduler", choices=("asha", "pbt"),
                            help="asha: stop the worse configurations at rungs of growing epoch budgets; "
                            "pbt: population-based training (default: every configuration trains every epoch)")
    scheduling.add_argument("--min-epochs", type=_positive_int, metavar="N", help="asha: the first rung's epochs (default: 1)")
    scheduling.add_argument("--reduction-factor", type=float, metavar="X",
                            help="asha: each rung keeps the best 1/X and trains X times as long (default: 3)")
    scheduling.add_argument("--pbt-interval", type=_positive_int, metavar="N",
                            help="pbt: epochs between exploit-and-explore steps (default: a tenth of --epochs)")
    scheduling.add_argument("--pbt-fraction", type=float, metavar="X",
                            help="pbt: the bottom fraction copies the top fraction (default: 0.25)")
    scheduling.add_argument("--pbt-perturb", type=_factors, metavar="A,B",
                            help="pbt: factors a copied hyperparameter is multiplied by (default: 0.8,1.25)")
    hosts = sweep.add_argument_group("several hosts (jax.distributed)")
    hosts.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0; start one jaxnn sweep per host")
    hosts.add_argument("--num-processes", type=int, metavar="N", help="number of processes in the job")
    hosts.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1 (0 writes the files)")
    sweep.set_defaults(run=_sweep)


def _add_predict(commands: Any) -> None:
    predict = commands.add_parser(
        "predict", help="predict with a saved model",
        description="Apply a checkpoint written by `jaxnn train` or `jaxnn sweep` to new data (raw features: the "
        "saved standardization is applied) and write the predictions as CSV, in the training data's labels.",
    )
    predict.add_argument("--model", required=True, metavar="FILE", help="the checkpoint (model.msgpack)")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="FILE", help="features as CSV; columns are matched by their header names "
                        "to the ones the model was trained on (other columns, e.g. the target, are ignored)")
    source.add_argument("--npz", metavar="FILE", help="features as an array in an .npz file, columns in training order")
    predict.add_argument("--no-header", action="store_true",
                         help="the CSV has no header row: its columns are the training features, in training order")
    predict.add_argument("--key", default="x", help="the array's name in the .npz file (default: x)")
    predict.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    predict.add_argument("--out", metavar="FILE", help="write the CSV here instead of to standard output")
    predict.set_defaults(run=_predict)


def _add_info_and_demo(commands: Any) -> None:
    info = commands.add_parser("info", help="versions, JAX backend and devices",
                               description="Print versions, the JAX backend and the devices JAX sees.")
    info.set_defaults(run=_info)
    demo = commands.add_parser("demo", help="the functional API in twenty lines (jax.grad + jit + optax)",
                               description="Train a [30, 16, 1] MLP on breast cancer with a hand-written jitted step.")
    demo.add_argument("--steps", type=_positive_int, default=300, help="full-batch training steps (default: 300)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(run=_demo)


def _start_jax(args: argparse.Namespace) -> None:
    """Devices and processes, before JAX starts: a sweep shards across every core, and across hosts."""
    if args.command not in ("train", "sweep"):
        return
    if not args.no_compilation_cache and cache.compilation_cache_wanted():
        cache.enable_compilation_cache()
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        with contextlib.suppress(RuntimeError):  # JAX has started already (main called from Python): keep its devices
            parallel.use_cpu_devices()
    if getattr(args, "coordinator", None) is not None:
        if args.num_processes is None or args.process_id is None:
            raise UsageError("--coordinator needs --num-processes and --process-id")
        parallel.initialize_distributed(args.coordinator, args.num_processes, args.process_id)


def _error_message(error: BaseException) -> str:
    if isinstance(error, jaxnn.TrainingDiverged):
        return (f"training diverged at epoch {error.epoch}: the loss became NaN or infinite; "
                "lower --learning-rate or set --clip-norm")
    if isinstance(error, FileNotFoundError) and error.filename is not None:
        return f"no such file: {error.filename}"
    return in_cli_words(str(error))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_arguments(build_parser(), argv)
        _start_jax(args)
        return args.run(args)
    except SystemExit as exit_:  # --help
        return int(exit_.code or 0)
    except BrokenPipeError:  # e.g. `jaxnn sweep ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("jaxnn: interrupted", file=sys.stderr)
        return 130
    except Interrupted as interrupted:
        where = interrupted.checkpoint_dir
        if where is not None and os.path.isdir(where) and any(name != "run.msgpack" for name in os.listdir(where)):
            print(f"jaxnn: interrupted; the state so far is saved in {where}: run the same command with --resume "
                  "to continue", file=sys.stderr)
        else:
            print("jaxnn: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - reported below, or re-raised when unexpected

        expected = (UsageError, RunFailed, ValueError, TypeError, OSError, jaxnn.TrainingDiverged, jaxnn.CheckpointError)
        if not isinstance(error, expected):
            raise
        print(f"jaxnn: error: {_error_message(error)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
