"""The seams: typed errors that are also the built-ins users catch, messages in the caller's words, one owner
of compiled programs (clear_caches, no thread at import), no import cycles or private names across modules."""

import ast
import pathlib
import subprocess
import sys

import pytest

import jaxnn
from jaxnn import errors

PACKAGE = pathlib.Path(jaxnn.__file__).parent


@pytest.mark.parametrize("name", errors.__all__)
def test_every_error_is_a_jaxnn_error_and_the_builtin_users_catch(name):
    cls = getattr(errors, name)
    if not isinstance(cls, type):
        return  # the message helpers
    if issubclass(cls, Warning):  # DataWarning: what was used with a change worth knowing, not an error
        assert issubclass(cls, UserWarning) and not issubclass(cls, errors.JaxnnError)
        return
    assert issubclass(cls, errors.JaxnnError) or name == "Word"
    if name == "Word":
        return
    builtins = {
        "ConfigError": ValueError,
        "ArgumentTypeError": TypeError,
        "IndexOutOfRange": IndexError,
        "MissingExtraError": ImportError,
        "SetupError": RuntimeError,
        "DataError": ValueError,
        "DataTypeError": TypeError,
        "DataFileNotFoundError": FileNotFoundError,
        "CheckpointError": ValueError,
        "CheckpointNotFoundError": FileNotFoundError,
        "OutputError": OSError,
        "OutputExistsError": FileExistsError,
        "OutputNotADirectoryError": NotADirectoryError,
        "OutputPermissionError": PermissionError,
        "TrainingDiverged": RuntimeError,
        "AllRunsDiverged": ValueError,
        "OutOfMemory": MemoryError,
        "Interrupted": KeyboardInterrupt,
        "JaxnnError": Exception,
        "LogError": OSError,
        "ClusterError": ConnectionError,
    }
    assert issubclass(cls, builtins[name])


def test_errors_keep_their_fields_through_pickling():
    import pickle

    diverged = pickle.loads(pickle.dumps(errors.TrainingDiverged(7, None)))
    assert diverged.epoch == 7 and "epoch 7" in str(diverged)
    stopped = pickle.loads(pickle.dumps(errors.Interrupted("runs/x", "SIGTERM")))
    assert (stopped.checkpoint_dir, stopped.signal_name) == ("runs/x", "SIGTERM")


def test_messages_name_arguments_in_the_callers_words():
    assert errors.arg("batch_size") == "`batch_size`" and errors.setting("batch_size", None) == "batch_size=None"
    words = {
        "batch_size": errors.Word("--batch-size", {None: "full"}),
        "stratify": errors.Word("--stratify", {False: "--no-stratify"}),
    }
    with errors.spoken_as(words):
        assert errors.arg("batch_size") == "--batch-size"
        assert (
            errors.setting("batch_size", None) == "--batch-size full"
            and errors.setting("batch_size", 8) == "--batch-size 8"
        )
        assert errors.setting("stratify", False) == "--no-stratify"
        assert errors.arg("learning_rate") == "`learning_rate`"  # a name the caller has no word for
        with pytest.raises(errors.ConfigError, match=r"^--batch-size \(=0\) must be >= 1$"):
            jaxnn.TrainSpec(jaxnn.mlp([2, 1]), num_epochs=1, batch_size=0)
    with pytest.raises(errors.ConfigError, match=r"^`batch_size` \(=0\) must be >= 1$"):
        jaxnn.TrainSpec(jaxnn.mlp([2, 1]), num_epochs=1, batch_size=0)


def test_importing_jaxnn_starts_no_thread():
    script = (
        "import threading; before = threading.active_count(); import jaxnn, jaxnn.cli; "
        "print(before, threading.active_count())"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1], out


def _modules() -> dict[str, pathlib.Path]:
    return {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(module: str, path: pathlib.Path) -> list[tuple[str, str]]:
    """``(imported module, name)`` of every ``from jaxnn... import name`` in ``path``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            if base.startswith("jaxnn"):
                found += [(base, alias.name) for alias in node.names]
    return found


def test_no_import_cycle_and_no_private_name_imported_across_modules():
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for base, name in _imports(module, path):
            full = f"{base}.{name}"
            private = name.startswith("_") and not name.startswith("__")
            assert not private or full in modules or base.split(".")[-1].startswith("_"), f"{module} imports {full}"
            target = full if full in modules else base
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != module and modules[target].name != "__init__.py":
                edges[module].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)) for nxt in edges[start]
        )

    cycles = [(a, b) for a in edges for b in edges[a] if reaches(b, a, set())]
    assert not cycles, cycles


def test_every_module_that_others_import_from_declares_its_public_names():
    modules = _modules()
    imported = {base for module, path in modules.items() for base, _ in _imports(module, path)} & set(modules)
    for module in sorted(imported):
        tree = ast.parse(modules[module].read_text())
        names = [
            t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)
        ]
        assert "__all__" in names or module.rpartition(".")[2].startswith("_"), f"{module} has no __all__"


def test_clear_caches_drops_the_compiled_programs(compiles, iris):
    options = dict(space={"learning_rate": [0.01, 0.1]}, key=0, num_epochs=2, progress=False, optimizer="sgd")
    model = jaxnn.mlp([4, 3, 3])
    jaxnn.sweep(model, iris, **options)
    with compiles as counter:
        jaxnn.sweep(model, iris, **options)
    warm = counter.count
    jaxnn.clear_caches()
    with compiles as counter:
        jaxnn.sweep(model, iris, **options)
    assert warm == 0 and counter.count >= 3  # init_rows, run_rows, finish_rows again
