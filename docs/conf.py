"""Sphinx configuration for jaxnn's documentation.

Build (offline, warnings are errors, every guide and tutorial page executed)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

What fails the build, on purpose:

* an example on a guide or tutorial page that raises (myst-nb executes the pages);
* a cross-reference that does not resolve (nitpicky mode; see ``nitpick_ignore_regex``
  for the only exceptions: other projects' types, which have no inventory offline);
* a public function, class, method or property without a docstring;
* a name of ``jaxnn.__all__`` that no API page documents.

The API pages of the modules (``api/modules/*.rst``) are generated here at every
build from the package itself, so a new public module gets its page without anyone
writing one, and its docstrings are checked like the others.
"""

import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import sys

from sphinx.ext.napoleon import docstring as napoleon_docstring
from sphinx.util import logging

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Built pages run on one CPU device, quietly; the pages that need more devices say so.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# jaxnn.sweep imports tqdm.auto even with progress=False; in a kernel without ipywidgets tqdm then warns
# "IProgress not found" on stderr, which would fail the build (nb_output_stderr = "warn"). Only that
# warning is silenced; any other output on stderr still fails the build.
os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:IProgress not found"]))
# The pages run `jaxnn ...` commands: the command of the environment that builds the docs, even when it
# is not activated.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])

import jaxnn  # noqa: E402

logger = logging.getLogger("jaxnn.docs")

project = "jaxnn"
author = "the jaxnn developers"
copyright = "2026, the jaxnn developers"
release = jaxnn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store", "jupyter_execute"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"

# --- theme ------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = f"jaxnn {release}"
html_static_path = ["_static"]
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
}
html_last_updated_fmt = None
html_show_sourcelink = False

# --- MyST and execution -----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# "force": every build runs every page, so a page that no longer runs cannot pass on a
# cached result. JAXNN_DOCS_EXECUTION=cache (or off) speeds up local edits of the prose.
nb_execution_mode = os.environ.get("JAXNN_DOCS_EXECUTION", "force")
nb_execution_raise_on_error = True  # an example that raises fails the build
nb_execution_timeout = 600  # seconds per cell: a page that hangs fails; a busy shared machine alone does not
nb_execution_in_temp = True  # pages write their files (checkpoints, CSVs) into a temporary directory
nb_merge_streams = True
nb_output_stderr = "warn"  # an unexpected warning printed by an example is a warning, so an error under -W
nb_execution_show_tb = True

# --- API reference ----------------------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_inherit_docstrings = False
autoclass_content = "class"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" rendered like "Args:": one field list (also for "a, b: ..." entries), no separate objects
# that would duplicate the fields autodoc knows.
napoleon_custom_sections = [("Attributes", "params_style")]
napoleon_use_rtype = False
python_maximum_signature_line_length = 88
add_module_names = True

nitpicky = True
# Other projects' objects: their inventories (intersphinx) cannot be fetched in an offline
# build, so references to them stay plain text. Every jaxnn reference must resolve.
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(jax|jaxlib|numpy|np|optax|flax|equinox|eqx|optuna|chex|concurrent|collections|typing|os|pathlib|"
        r"contextlib|argparse|csv|dataclasses|types|builtins|functools|tqdm|matplotlib|sklearn)(\..*)?",
    ),
    (
        r"py:.*",
        r"(Any|Callable|Iterator|Iterable|Mapping|Sequence|Hashable|Union|Optional|NoneType|None|"
        r"int|float|str|bool|bytes|dict|list|tuple|set|object|complex|Exception|ValueError|TypeError|"
        r"OSError|FileNotFoundError|FileExistsError|NotADirectoryError|PermissionError|IndexError|"
        r"MemoryError|RuntimeError|KeyboardInterrupt|ArithmeticError|LookupError|"
        r"ArrayLike|Array|PRNGKey|Params|Shape)",
    ),
]

# jaxnn references that cannot resolve, each reported to the maintainers: remove an entry once
# its docstring or signature is fixed.
nitpick_ignore = [
    ("py:class", "jaxnn.sweeps.run._Job"),  # a private type in run_configs' signature
    ("py:class", "jaxnn.sweeps.scheduled.Context"),  # not in jaxnn.sweeps.scheduled.__all__
    ("py:func", "jaxnn._io.atomic_write"),  # jaxnn.resume's docstring names a private module
    ("py:meth", "_drain"),  # RunDirectory.write's docstring names a private method
    ("py:func", "jaxnn.sweeps.run.run_rows"),  # jaxnn.sweeps.scheduled's docstring: moved to jaxnn.sweeps.rows
    ("py:class", "jaxnn.sweeps.scheduled._Population"),  # a private type in a scheduled-sweep helper's signature
    ("py:class", "jaxnn.data.dataset._T"),  # the TypeVar of Dataset.replace's signature
    ("py:class", "jaxnn.train._Splitter"),  # the protocol of fit's cv= splitters, in its overloads
]

# Public names known to have no docstring yet, reported to the maintainers; each entry
# must be removed once its docstring exists (the build says so).
KNOWN_MISSING_DOCSTRINGS = {
    "jaxnn.choice.sample",
    "jaxnn.loguniform.sample",
    "jaxnn.uniform.sample",
    "jaxnn.resume.RunDirectory.file",
}

# Names that reach users under another module path than where they are defined.
MODULE_ALIASES = {"jaxnn.datasets": "jaxnn.data"}

# The command line is documented from its argument parser (cli.md), not as a Python API.
UNDOCUMENTED_MODULES = ("jaxnn.cli",)

DOCS = pathlib.Path(__file__).resolve().parent
GENERATED = DOCS / "api" / "modules"


# --- docstrings as jaxnn writes them --------------------------------------------------------

_napoleon_parse = napoleon_docstring.GoogleDocstring._parse


def _parse_like_a_function(self) -> None:
    """Read a property's or constant's docstring as any other Google docstring.

    Napoleon reads the first line of an attribute's docstring as ``type: description``;
    jaxnn's summaries often read ``What it is: detail`` (and its properties have
    ``Raises:`` sections), so they are parsed the way function docstrings are.
    """
    if self._what in ("attribute", "data", "property"):
        name, self._name = self._name, ""
        try:
            _napoleon_parse(self)
        finally:
            self._name = name
    else:
        _napoleon_parse(self)


napoleon_docstring.GoogleDocstring._parse = _parse_like_a_function


def join_wrapped_argument_names(app, what, name, obj, options, lines) -> None:
    """Join an "Args:" entry whose list of names wraps (``a, b,`` / ``c: description``) into one line,
    as napoleon reads an entry from its first line only."""
    i = 0
    while i < len(lines) - 1:
        line, following = lines[i], lines[i + 1]
        if (
            re.fullmatch(r"\s+[A-Za-z_][\w, ]*,", line)
            and re.match(r"\s+[A-Za-z_][\w, ]*:", following)
            and len(following) - len(following.lstrip()) == len(line) - len(line.lstrip())
        ):
            lines[i : i + 2] = [line + " " + following.lstrip()]
        else:
            i += 1


def drop_type_docstrings(app, what, name, obj, options, lines) -> None:
    """A constant or alias without a docstring of its own shows its value, not the docstring of its type or
    of what it stands for (``dict()``, ``list``, ``jax.Array``)."""
    if what in ("data", "attribute") and lines and obj is not None:
        text = "\n".join(lines).strip()
        if text in ((inspect.getdoc(type(obj)) or "").strip(), (inspect.getdoc(obj) or "").strip()):
            lines.clear()


# --- which modules and members the reference documents ------------------------------------


def public_modules() -> list[str]:
    """Every importable jaxnn module whose path has no part starting with ``_``, packages first."""
    names = ["jaxnn"]
    for info in pkgutil.walk_packages(jaxnn.__path__, "jaxnn."):
        parts = info.name.split(".")
        if any(part.startswith("_") for part in parts) or info.name.startswith(UNDOCUMENTED_MODULES):
            continue
        names.append(info.name)
    return sorted(names, key=lambda name: (name.count("."), name))


def exported_names(module) -> list[str]:
    """The module's ``__all__``, or its public names defined in it when it has none."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", module.__name__) == module.__name__
        and not inspect.ismodule(value)
    ]


def _is_object(value) -> bool:
    """Whether ``value`` is documented once, under its first name, rather than under every name that holds it:
    jaxnn's own functions and classes, and container constants. Not numbers or strings (equal to unrelated
    ones), nor other projects' objects that jaxnn names (``jaxnn.typing.Params`` is ``typing.Any``)."""
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return True
    return callable(value) and (getattr(value, "__module__", None) or "").startswith("jaxnn")


def documented_places() -> dict[int, str]:
    """``id(object) -> the full name it is documented under``: the top-level name for ``jaxnn.__all__``,
    else the shortest module path that exports it (a package before its submodules)."""
    places: dict[int, str] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in exported_names(module):
            value = getattr(module, name, None)
            if value is not None and not inspect.ismodule(value) and _is_object(value):
                places.setdefault(id(value), f"{module_name}.{name}")
    return places


def _directive(value) -> str:
    if inspect.isclass(value) and issubclass(value, BaseException):
        return "autoexception"
    if inspect.isclass(value):
        return "autoclass"
    if inspect.isfunction(value) or inspect.isbuiltin(value) or (callable(value) and hasattr(value, "__wrapped__")):
        return "autofunction"
    return "autodata"


def module_page(module_name: str, places: dict[int, str]) -> str:
    """The reST of one module's API page: its docstring, then every member documented here."""
    module = importlib.import_module(module_name)
    title = f"``{module_name}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {module_name}", "   :no-members:", ""]
    elsewhere = []
    for name in exported_names(module):
        value = getattr(module, name)
        if inspect.ismodule(value):
            continue
        place = places.get(id(value), f"{module_name}.{name}") if _is_object(value) else f"{module_name}.{name}"
        if place != f"{module_name}.{name}":
            elsewhere.append(place)
            continue
        directive = _directive(value)
        lines.append(f".. {directive}:: {module_name}.{name}")
        if directive in ("autoclass", "autoexception"):
            lines += ["   :members:"]
        lines.append("")
    if elsewhere:
        lines += ["Also exported here, and documented where they are listed first:", ""]
        lines += [f"* :py:obj:`{place}`" for place in sorted(set(elsewhere))]
        lines.append("")
    return "\n".join(lines)


def write_module_pages(app) -> None:
    """Generate ``api/modules/<module>.rst`` for every public module (only files whose text changed)."""
    GENERATED.mkdir(parents=True, exist_ok=True)
    places = documented_places()
    wanted = {f"{name}.rst": module_page(name, places) for name in public_modules() if name != "jaxnn"}
    for path in GENERATED.glob("*.rst"):
        if path.name not in wanted:
            path.unlink()
    for file_name, text in wanted.items():
        path = GENERATED / file_name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


# --- members: what to leave out, what must have a docstring ------------------------------


def skip_member(app, what, name, obj, skip, options):
    """Leave out the per-field entries of NamedTuples (their "Attributes:" section documents the fields)."""
    if what in ("class", "exception") and (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    if what == "class" and (getattr(obj, "__module__", None) or "").startswith("sklearn."):
        return True  # scikit-learn's own methods of jaxnn.sklearn's estimators (score, set_*_request, ...): its docs
    return skip


AUTO_DOC = re.compile(r"^\w+\(.*\)$", re.S)  # the docstring namedtuple and dataclass make up


def _doc(value) -> str | None:
    doc = inspect.getdoc(value)
    if inspect.isclass(value) and doc and (AUTO_DOC.match(doc.strip()) or doc == inspect.getdoc(value.__mro__[1])):
        return None  # made up by namedtuple/dataclass, or inherited from the base class
    return doc


def missing_docstrings() -> list[str]:
    """The public functions, classes, methods and properties of the documented modules without a docstring."""
    missing, seen = [], set()
    for place_name in sorted(set(documented_places().values())):
        module_name, name = place_name.rsplit(".", 1)
        value = getattr(importlib.import_module(module_name), name)
        if id(value) in seen:
            continue
        seen.add(id(value))
        if not _doc(value):
            missing.append(place_name)
        if inspect.isclass(value):
            for member, attribute in vars(value).items():
                if member.startswith("_") or not (inspect.isfunction(attribute) or isinstance(attribute, property)):
                    continue
                if not inspect.getdoc(attribute):
                    missing.append(f"{place_name}.{member}")
    return missing


def check_docstrings(app) -> None:
    """A public name without a docstring is a warning (an error under -W), unless known and reported."""
    missing = missing_docstrings()
    for name in missing:
        if name not in KNOWN_MISSING_DOCSTRINGS:
            logger.warning(f"public name {name} has no docstring")
    for name in sorted(KNOWN_MISSING_DOCSTRINGS - set(missing)):
        logger.warning(
            f"{name} has a docstring now (or is gone): remove it from KNOWN_MISSING_DOCSTRINGS in docs/conf.py"
        )


_ARRAY_LIKE = (
    "jax.jaxlib._jax.Array",
    "numpy.ndarray",
    "numpy.bool",
    "numpy.number",
    "bool",
    "int",
    "float",
    "complex",
)


def short_signatures(app, what, name, obj, options, signature, return_annotation):
    """Write the types users read: ``jax.typing.ArrayLike`` for the union it stands for, ``jax.Array``
    for its private path, and a default that is a type as code that parses."""

    def tidy(text):
        if text is None:
            return None
        text = text.replace(" | ".join(_ARRAY_LIKE), "jax.typing.ArrayLike")
        text = text.replace(f"Union[{', '.join(_ARRAY_LIKE)}]", "jax.typing.ArrayLike")
        text = re.sub(
            rf"(typing\.)?Union\[{re.escape(', '.join(_ARRAY_LIKE))}, (.*?)\]", r"jax.typing.ArrayLike | \2", text
        )
        text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
        text = text.replace("jax.jaxlib._jax.Array", "jax.Array").replace("jax._src.mesh.Mesh", "jax.sharding.Mesh")
        text = text.replace("optax._src.base.GradientTransformation", "optax.GradientTransformation")
        text = text.replace("concurrent.futures._base.Future", "concurrent.futures.Future")
        text = text.replace("numpy.random._generator.Generator", "numpy.random.Generator")
        return text

    return tidy(signature), tidy(return_annotation)


# --- references ---------------------------------------------------------------------------


def _context(node) -> tuple[str, str]:
    """``(module, object)`` a reference was written in: for a docstring, where the docstring is defined
    (``jaxnn/loop.py:docstring of jaxnn.TrainResult`` -> ``jaxnn.loop``), else the page's current module."""
    source = node.source or ""
    match = re.match(r"(.*?\.py):docstring of ([\w.]+)", source)
    if match:
        path = pathlib.Path(match.group(1)).resolve()
        with_suffix = path.relative_to(ROOT).with_suffix("") if path.is_relative_to(ROOT) else None
        if with_suffix is not None:
            parts = list(with_suffix.parts)
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts), match.group(2)
    return node.get("py:module") or "", ""


_MISSING = object()


def _import_path(path: str):
    """The object at the dotted ``path`` (the longest importable module, then attributes), or ``_MISSING``."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            value = getattr(value, attribute, _MISSING)
            if value is _MISSING:
                return _MISSING
        return value
    return _MISSING


def _field_owner(documented: str, field: str) -> str | None:
    """``documented`` or its nearest parent that is a class with a NamedTuple or dataclass field ``field``."""
    parts = documented.split(".")
    for end in range(len(parts), 1, -1):
        value = _import_path(".".join(parts[:end]))
        fields = getattr(value, "_fields", None) or getattr(value, "__dataclass_fields__", None) or ()
        if inspect.isclass(value) and field in fields:
            return ".".join(parts[:end])
    return None


_PLACES: dict[int, str] = {}


def _documented_name(target: str) -> str | None:
    """The name under which the reference documents the object at import path ``target`` (e.g. a re-export)."""
    value = _import_path(target)
    if value is _MISSING or not _is_object(value):
        return None
    if not _PLACES:
        _PLACES.update(documented_places())
    return _PLACES.get(id(value))


def resolve_short_names(app, env, node, contnode):
    """Resolve a jaxnn reference that Sphinx's own lookup missed.

    Docstrings name things as their module sees them (``:func:`from_arrays``` inside
    ``jaxnn.data.files``, ``:class:`jaxnn.datasets.DataInfo```, ``:attr:`info``` for a field
    of the class). Retry such a reference with the module aliases applied, as a field of the
    class whose docstring it is in, then as the unique documented jaxnn object whose name ends
    with it, preferring the one nearest the module the docstring belongs to. Anything else
    stays unresolved, and nitpicky mode reports it.
    """
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"].lstrip("~.")
    for alias, real in MODULE_ALIASES.items():
        if target == alias or target.startswith(alias + "."):
            target = real + target[len(alias) :]
    here, documented = _context(node)
    found = _documented_name(target)
    if found is not None and found in domain.objects:
        return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], found, node, contnode)
    if node["reftype"] == "attr" and "." not in target and documented:
        owner = _field_owner(documented, target)
        if owner is not None and owner in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, "class", owner, node, contnode)
    objtypes = domain.objtypes_for_role(node["reftype"]) or []
    candidates = [
        name
        for name, obj in domain.objects.items()
        if (name == target or name.endswith("." + target))
        and name.startswith("jaxnn")
        and (obj.objtype in objtypes or node["reftype"] == "obj")
    ]
    if not candidates:
        return None

    def distance(name):
        return -len(os.path.commonprefix([name.split(".")[:-1], here.split(".")]))

    nearest = min(map(distance, candidates))
    targets = {
        (domain.objects[name].docname, domain.objects[name].node_id) for name in candidates if distance(name) == nearest
    }
    if len(targets) != 1:
        return None  # ambiguous: let nitpicky report it
    best = min(name for name in candidates if distance(name) == nearest)
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], best, node, contnode)


def check_api_coverage(app, env):
    """Every name of ``jaxnn.__all__`` has an entry in the API reference."""
    objects = env.get_domain("py").objects
    modules = env.get_domain("py").modules
    for name in jaxnn.__all__:
        value = getattr(jaxnn, name)
        if inspect.ismodule(value):
            if value.__name__ not in modules:
                logger.warning(f"module jaxnn.{name} ({value.__name__}) has no page in the API reference")
        elif f"jaxnn.{name}" not in objects:
            logger.warning(
                f"jaxnn.{name} is in jaxnn.__all__ but no API page documents it: add it to a page of "
                f"docs/api/ (see docs/api/index.md)"
            )


def setup(app):
    app.connect("builder-inited", write_module_pages)
    app.connect("autodoc-skip-member", skip_member)
    app.connect("autodoc-process-docstring", join_wrapped_argument_names, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-docstring", drop_type_docstrings, priority=400)
    app.connect("builder-inited", check_docstrings)
    app.connect("autodoc-process-signature", short_signatures)
    app.connect("missing-reference", resolve_short_names)
    app.connect("env-check-consistency", check_api_coverage)
    return {"parallel_read_safe": True}
