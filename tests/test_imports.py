"""``import jaxnn`` is light: JAX, Optax and the rest load on first use of a name that needs them."""

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import jaxnn

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("jax", "jaxlib", "optax", "chex", "flax", "scipy", "sklearn", "matplotlib", "tensorboard", "pyarrow")


def imported_after(code: str) -> list[str]:
    """The heavy packages in ``sys.modules`` of a fresh process that ran ``code``."""
    probe = f"{code}\nimport sys; print('\\nloaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.splitlines()[-1].split()[1:]


def test_import_jaxnn_imports_neither_jax_nor_optax():
    assert imported_after("import jaxnn; jaxnn.__version__; jaxnn.__all__; dir(jaxnn)") == []
    assert imported_after("import jaxnn; jaxnn.cache.cache_dir(); jaxnn.errors.ConfigError") == []
    assert {"jax", "optax"} <= set(imported_after("import jaxnn; jaxnn.fit"))  # and the first use loads them


@pytest.mark.parametrize("name", jaxnn.__all__)
def test_every_public_name_resolves_to_the_object_its_module_defines(name):
    value = getattr(jaxnn, name)
    if name in jaxnn._MODULES:
        assert value is importlib.import_module(jaxnn._MODULES[name])
    elif name != "__version__":
        assert value is getattr(importlib.import_module(jaxnn._EXPORTS[name]), name)
    assert name in dir(jaxnn)


def test_star_import_and_unknown_names():
    namespace: dict = {}
    exec("from jaxnn import *", namespace)
    assert {name for name in namespace if name != "__builtins__"} == set(jaxnn.__all__)
    with pytest.raises(AttributeError, match="module 'jaxnn' has no attribute 'fitt'"):
        jaxnn.fitt  # noqa: B018
    assert not hasattr(jaxnn, "_not_public")
    # Submodules that are not re-exported are still reached as attributes, as when jaxnn imported them eagerly.
    assert imported_after("import jaxnn; assert jaxnn.train.STATUS[0] == 'completed'; jaxnn.plotting") != []


def test_what_type_checkers_see_is_the_lazy_table():
    """The ``if TYPE_CHECKING:`` imports name the same objects, from the same modules, as the lazy table."""
    tree = ast.parse((ROOT / "jaxnn" / "__init__.py").read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If))
    seen = {}
    for node in block.body:
        for alias in node.names:
            name = alias.asname or alias.name
            seen[name] = f"jaxnn.{alias.name}" if node.module == "jaxnn" else node.module
    assert seen == {**jaxnn._MODULES, **jaxnn._EXPORTS}


def test_the_command_line_prints_its_version_without_importing_jax():
    code = "from jaxnn.cli import main; main(['--version'])"
    assert imported_after(code) == []
    completed = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", "--version"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert (completed.returncode, completed.stdout) == (0, f"jaxnn {jaxnn.__version__}\n")
