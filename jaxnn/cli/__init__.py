"""The ``jaxnn`` command line: ``train``, ``sweep``, ``merge``, ``predict``, ``evaluate``, ``info`` and ``demo``.

Thin by design: each command parses its flags, calls the library and prints. Bad input — a
:class:`jaxnn.errors.JaxnnError` from the library, or argparse's own — ends with one
``jaxnn: error: ...`` line in the command line's words (``--batch-size full``, not
``batch_size=None``: library messages are rendered with :data:`jaxnn.cli.options.FLAGS`) and exit
status 2. Anything else is a bug in jaxnn: one ``jaxnn: internal error: ...`` line and exit
status 1; ``--debug`` shows the traceback instead. Ctrl-C exits with status 130 and SIGTERM (what
batch schedulers and ``docker stop`` send) with 143, both after the run's state is saved, with
the hint to ``--resume``. ``train`` and ``sweep`` check their output directory before any training
starts and write their files into a staging directory that replaces ``--out`` only when the run
succeeded, so ``--out`` always holds one complete run.
"""

import argparse
import contextlib
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence

import jaxnn
from jaxnn import cache, errors

__all__ = ["build_parser", "main"]

# The commands and their options (which import JAX) load in build_parser: `jaxnn --version` needs neither.


class Parser(argparse.ArgumentParser):
    """argparse whose errors are exceptions (one line each, reported by :func:`main`)."""

    subcommands: "argparse._SubParsersAction[Parser]"  # set by build_parser: one sub-parser per command

    def error(self, message: str):
        from jaxnn.cli.options import UsageError

        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> Parser:
    """The ``jaxnn`` parser: one sub-parser per command (``parser.subcommands.choices``)."""
    from jaxnn.cli import evaluate, info, merge, predict, sweep, train

    parser = Parser(prog="jaxnn", description="Neural networks as pure JAX functions.")
    parser.add_argument("--version", action="version", version=f"jaxnn {jaxnn.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="on an error, show Python's traceback")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    parser.subcommands = commands
    for command in (train, sweep, merge, predict, evaluate, info):
        command.add(commands, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``jaxnn ARGV``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # what argparse's version action prints, without importing JAX for it
        print(f"jaxnn {jaxnn.__version__}")
        return 0
    from jaxnn.cli.config import parse_arguments
    from jaxnn.cli.options import FLAGS

    debug = "--debug" in argv
    try:
        with errors.spoken_as(FLAGS), _sigterm_interrupts(), _one_line_warnings():
            args = parse_arguments(build_parser(), argv)
            _start_jax(args)
            return args.run(args)
    except SystemExit as exit_:  # --help, --version
        return int(exit_.code or 0)
    except BrokenPipeError:  # e.g. `jaxnn sweep ... | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as errors.Interrupted
        return _interrupted(stop)
    except errors.JaxnnError as error:
        if debug:
            raise
        print(f"jaxnn: error: {_one_line(_message(error))}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - a bug in jaxnn: said so, with the way to the traceback
        if debug:
            raise
        print(
            f"jaxnn: internal error: {type(error).__name__}: {_one_line(str(error))} "
            "(run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _message(error: errors.JaxnnError) -> str:
    if isinstance(error, errors.TrainingDiverged) and not isinstance(error, errors.AllRunsDiverged):
        return (
            f"training diverged at epoch {error.epoch}: the loss became NaN or infinite; "
            "lower --learning-rate or set --clip-norm"
        )
    return str(error)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _interrupted(stop: KeyboardInterrupt) -> int:
    """Exit status 130 for Ctrl-C, 143 for SIGTERM, with where the saved state is."""
    where = getattr(stop, "checkpoint_dir", None)
    if where is not None:
        print(
            f"jaxnn: interrupted; the state so far is saved in {where}: run the same command with --resume to continue",
            file=sys.stderr,
        )
    else:
        print("jaxnn: interrupted", file=sys.stderr)
    return 143 if getattr(stop, "signal_name", "SIGINT") == "SIGTERM" else 130


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM handled like Ctrl-C (an :class:`~jaxnn.errors.Interrupted`: the run saves its state and stops)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise errors.Interrupted(signal_name="SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Library warnings as one ``jaxnn: warning: ...`` line each (not Python's two lines with a source line)."""

    def show(message: Warning | str, category: type, *args: object, **kwargs: object) -> None:
        print(f"jaxnn: warning: {_one_line(str(message)).removeprefix('jaxnn: ')}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _start_jax(args: argparse.Namespace) -> None:
    """Devices and processes, before JAX starts: a sweep shards across every core, and across hosts."""
    from jaxnn import parallel
    from jaxnn.cli.options import UsageError

    if args.command not in ("train", "sweep"):
        return
    if args.no_compilation_cache:
        cache.disable_compilation_cache()
    elif cache.compilation_cache_wanted():
        cache.enable_compilation_cache()
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        with contextlib.suppress(errors.SetupError):  # JAX has started already (main called from Python)
            parallel.use_cpu_devices()
    if getattr(args, "coordinator", None) is not None:
        if args.num_processes is None or args.process_id is None:
            raise UsageError("--coordinator needs --num-processes and --process-id")
        parallel.initialize_distributed(args.coordinator, args.num_processes, args.process_id)


if __name__ == "__main__":
    sys.exit(main())
