"""The README's quick start is real: CI runs its test command, and its main command works."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
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
    assert "backend: cpu" in completed.stdout and "devices: 1 x cpu" in completed.stdout
