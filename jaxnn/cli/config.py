"""Sweep files (``jaxnn sweep --config FILE``): TOML whose keys are the command's option names.

A file stands for command-line tokens: ``epochs = 30`` is ``--epochs 30``, a list is a comma-separated
value, a ``[space]`` table holds hyperparameter ranges and the program settings that each compile their
own program (optimizer, batch size, epochs, schedule). The command line wins over the file.
"""

import argparse
import difflib
import tomllib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from jaxnn import hyperparams
from jaxnn.cli.options import FLAGS, UsageError

if TYPE_CHECKING:
    from jaxnn.cli import Parser

__all__ = ["EXAMPLE", "PROGRAM_SPACE_KEYS", "parse_arguments"]

PROGRAM_SPACE_KEYS = {
    "optimizer": "optimizer",
    "batch-size": "batch_size",
    "epochs": "num_epochs",
    "schedule": "schedule",
}

EXAMPLE = """\
A sweep file (--config FILE) is TOML. Its keys are this command's option names
(dashes or underscores); the command line wins over the file. Hyperparameters
take the same specifications as on the command line, or a list of values;
[space] may also vary optimizer, batch-size, epochs and schedule (each value
compiles its own program), and sizes, a list of hidden widths lists such as
sizes = [[32], [64], [128, 64]] (one program padded to the widest shape, or
one per shape: see --pad-sizes):

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
(pruned rows stop costing compute); --scheduler hyperband deals the
configurations to such brackets starting at successive rungs (--brackets N),
so good configurations that start slowly are still found; --scheduler pbt lets the worst quarter of
the configurations copy the weights of the best every --pbt-interval epochs
and perturb their hyperparameters. For example:

  $ jaxnn sweep --dataset digits --optimizer adamw --epochs 60 --samples 64 \
      --learning-rate 1e-4:1e-1:log --weight-decay 1e-6:1e-2:log --scheduler asha
"""


def parse_arguments(parser: "Parser", argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; a sweep's ``--config FILE`` supplies options the command line does not give
    (``args.program_space`` holds its ``[space]`` program settings)."""
    args = parser.parse_args(argv)
    args.program_space = {}
    if getattr(args, "config", None) is None:
        return args
    sweep_parser = parser.subcommands.choices["sweep"]
    tokens, program_space = _tokens(args.config, sweep_parser)
    try:
        sweep_parser.parse_args(tokens)
    except UsageError as error:
        raise UsageError(f"--config {args.config!r}: {error}") from None
    command = argv.index("sweep")
    if any(token == "--sizes" or token.startswith("--sizes=") for token in argv):  # --sizes repeats: no merging
        tokens = [
            token for i, token in enumerate(tokens) if token != "--sizes" and (i == 0 or tokens[i - 1] != "--sizes")
        ]
    args = parser.parse_args([*argv[: command + 1], *tokens, *argv[command + 1 :]])  # the command line wins
    args.program_space = program_space
    return args


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings if option.startswith("--")}


def _tokens(path: str, parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, list]]:
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
        tokens += _option(path, key, value, flags)
    for key, value in space.items():
        name = key.replace("_", "-")
        if name in PROGRAM_SPACE_KEYS:
            program_space[PROGRAM_SPACE_KEYS[name]] = _program_values(path, name, value, flags)
        elif name == "sizes":  # a list of size lists: one --sizes each
            lists = value if isinstance(value, list) and all(isinstance(item, list) for item in value) else None
            if not lists:
                raise UsageError(
                    f"--config {path!r}: [space] sizes is a list of hidden layer widths lists, "
                    f"such as [[32], [64], [128, 64]], got {value!r}"
                )
            for widths in lists:
                tokens += _option(path, "sizes", widths, flags)
        elif key.replace("-", "_") not in hyperparams.NAMES:
            raise UsageError(
                f"--config {path!r}: [space] {key!r} is not a hyperparameter or one of {', '.join(PROGRAM_SPACE_KEYS)}"
            )
        else:
            tokens += _option(path, key, value, flags)
    return tokens, program_space


def _option(path: str, key: str, value: Any, flags: dict[str, argparse.Action]) -> list[str]:
    """The tokens for one ``key = value`` of a sweep file."""
    flag = "--" + key.replace("_", "-")
    action = flags.get(flag)
    if action is None or flag in ("--config", "--help"):
        known = [option[2:] for option in flags if option not in ("--config", "--help")]
        word = FLAGS.get(key)
        close = difflib.get_close_matches(key, known, n=1)
        suggestion = (
            f" (did you mean {word.flag[2:]!r}?)" if word else f" (did you mean {close[0]!r}?)" if close else ""
        )
        raise UsageError(f"--config {path!r}: unknown option {key!r}{suggestion}; see jaxnn sweep --help")
    if action.nargs == 0:  # a switch such as --nesterov
        if not isinstance(value, bool):
            raise UsageError(f"--config {path!r}: {key!r} is a switch: write {key} = true or false")
        return [flag] if value else []
    if isinstance(value, (bool, dict)):
        raise UsageError(f"--config {path!r}: {key!r} needs a value such as on the command line, got {value!r}")
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    return [flag, str(value)]


def _program_values(path: str, name: str, value: Any, flags: dict[str, argparse.Action]) -> list:
    """The values of a [space] entry that changes the program (optimizer, batch-size, epochs, schedule)."""
    action = flags["--" + name]
    values = value if isinstance(value, list) else [value]
    convert = cast("Callable[[str], Any] | None", action.type)  # jaxnn's options: callables, never registry names
    parsed = []
    for item in values:
        try:
            item = convert(str(item)) if convert is not None else item
        except (argparse.ArgumentTypeError, ValueError) as error:
            raise UsageError(f"--config {path!r}: [space] {name}: {error}") from None
        if action.choices is not None and item not in action.choices:
            raise UsageError(
                f"--config {path!r}: [space] {name}: invalid choice {item!r} "
                f"(choose from {', '.join(map(str, action.choices))})"
            )
        parsed.append(item)
    return parsed
