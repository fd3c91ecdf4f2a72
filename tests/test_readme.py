"""The README is real: CI runs its test command, its Python blocks run as written, its commands parse,
and what it tells users to install is this checkout."""

import os
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

import jax
import pytest

from jaxnn import cli
from jaxnn.cli import config as cli_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# Every page that tells a user what to install: the README and the documentation's pages.
INSTRUCTIONS = {
    path.relative_to(ROOT): path.read_text()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    if "_build" not in path.parts
}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    commands = quick_start_commands()
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_quick_start_main_command_runs(tmp_path):
    main = quick_start_commands()[0].split("&&", 1)[1].split()
    assert main[0] == "jaxnn"
    completed = subprocess.run(
        [sys.executable, "-m", "jaxnn.cli", *main[1:]], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stderr
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", completed.stdout).group(1))
    assert accuracy >= 0.9
    assert (tmp_path / "runs" / "train" / "model.msgpack").exists()


def test_info_reports_backend_and_devices():
    completed = subprocess.run([sys.executable, "-m", "jaxnn.cli", "info"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    # The process inherits the session's environment (XLA_FLAGS included): it sees the devices this one does.
    devices = jax.devices()
    assert f"backend: {devices[0].platform}" in completed.stdout
    assert f"devices: {len(devices)} x {devices[0].platform}" in completed.stdout


@pytest.mark.slow
def test_every_python_block_runs_as_written(tmp_path, monkeypatch):
    """The blocks in order, in one namespace, as a reader pastes them into one session."""
    monkeypatch.chdir(tmp_path)  # they write sweep.csv, plots/ ...
    namespace: dict = {}
    python_blocks = blocks("python")
    assert python_blocks
    for block in python_blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert os.path.exists("sweep.csv") and os.path.isdir("plots")


def test_every_jaxnn_command_parses():
    """Every `jaxnn ...` line in a bash block is a valid command line."""
    commands = [line.split("#")[0] for block in blocks("bash") for line in block.splitlines()]
    commands = [shlex.split(line) for line in commands if line.strip().startswith("jaxnn ")]
    assert len(commands) >= 3
    parser = cli.build_parser()
    for command in commands:
        cli_config.parse_arguments(parser, command[1:])


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_install_instructions_never_fetch_another_projects_jaxnn():
    """The name `jaxnn` on the public package index is an unrelated project: no page installs it by name."""
    by_name = re.compile(r"pip install\s+(?:-\S+\s+)*[\"']?jaxnn(?![-\w.])")
    for path, text in INSTRUCTIONS.items():
        assert not by_name.search(text), f"{path} installs jaxnn by name from the package index"
    installs = [line for text in INSTRUCTIONS.values() for line in text.splitlines() if "pip install" in line]
    assert any('pip install -e ".[' in line or "pip install -e ." in line for line in installs)


def test_readme_names_the_distribution_pyproject_builds():
    name = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert name != "jaxnn" and f"**`{name}`**" in README
