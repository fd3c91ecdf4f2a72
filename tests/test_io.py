"""Atomic writes: permissions like a plain open(), leftovers of killed processes cleaned, whole directories staged."""

import os
import re
import stat
import subprocess
import sys

import pytest

import jaxnn
from jaxnn import _io
from jaxnn._io import atomic_write, staged_directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.fixture(scope="module")
def dead_pid():
    """The id of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def snapshot(directory):
    """Every file under ``directory`` with its bytes."""
    return {
        os.path.relpath(os.path.join(root, name), directory): open(os.path.join(root, name), "rb").read()
        for root, _, names in os.walk(directory)
        for name in names
    }


def write_run(directory, files):
    for name, text in files.items():
        atomic_write(os.path.join(directory, name), text)


# atomic_write


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_the_permissions_the_umask_gives(tmp_path, umask, mask, expected):
    umask(mask)
    atomic_write(tmp_path / "a.txt", "hello")
    assert mode(tmp_path / "a.txt") == expected
    assert (tmp_path / "a.txt").read_text() == "hello"


@pytest.mark.parametrize("existing", [0o600, 0o640, 0o444])
def test_an_existing_file_keeps_its_mode(tmp_path, umask, existing):
    path = tmp_path / "a.txt"
    path.write_text("old")
    os.chmod(path, existing)
    atomic_write(path, b"new")
    assert mode(path) == existing
    assert path.read_bytes() == b"new"


def test_the_temporary_name_says_host_and_process(tmp_path, monkeypatch):
    renamed = []
    replace = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: renamed.append(source) or replace(source, target))
    atomic_write(tmp_path / "a.txt", "x")
    pattern = re.escape(f".a.txt.{_io._host()}-{os.getpid()}.") + r"[0-9a-f]+\.tmp"
    assert re.fullmatch(pattern, os.path.basename(renamed[0]))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    atomic_write(path, "old")

    def fail(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(jaxnn.errors.OutputError, match=rf"^cannot write '{re.escape(str(path))}': disk full$"):
        atomic_write(path, "new")  # the user's path in the message, never the temporary's name
    assert os.listdir(tmp_path) == ["a.txt"] and path.read_text() == "old"


def test_temporaries_of_dead_processes_of_this_host_are_removed(tmp_path, dead_pid):
    host = _io._host()
    stale = f".a.txt.{host}-{dead_pid}.0123abcd.tmp"
    kept = [
        f".a.txt.{host}-{os.getpid()}.0123abcd.tmp",  # a live process: maybe writing right now
        f".a.txt.another-host-{dead_pid}.0123abcd.tmp",  # another machine on a shared filesystem
        f".b.txt.{host}-{dead_pid}.0123abcd.tmp",  # a temporary of another file
        f".a.txt.{host}-{dead_pid}.0123abcd.tmp.keep",  # not a name jaxnn writes
    ]
    for name in [stale, *kept]:
        (tmp_path / name).write_text("partial")
    atomic_write(tmp_path / "a.txt", "x")
    assert sorted(os.listdir(tmp_path)) == sorted(["a.txt", *kept])


# staged_directory


def test_a_successful_run_replaces_the_directory_as_a_unit(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    write_run(out, {"model.msgpack": "old model", "curves.png": "old plot"})
    seen = []
    with staged_directory(out, replaceable=lambda path: seen.append(path) or True) as staging:
        assert os.path.dirname(staging) == str(tmp_path) and os.listdir(staging) == []
        write_run(staging, {"model.msgpack": "new model", "history.csv": "epoch"})
        assert snapshot(out) == {"model.msgpack": b"old model", "curves.png": b"old plot"}  # not yet
    assert seen == [str(out)]
    assert snapshot(out) == {"model.msgpack": b"new model", "history.csv": b"epoch"}
    assert os.listdir(tmp_path) == ["run"]  # no staging or old directory left behind


@pytest.mark.parametrize("existing", ["missing", "empty"])
def test_a_new_or_empty_directory_is_filled(tmp_path, umask, existing):
    out = tmp_path / "runs" / "first"
    if existing == "empty":
        out.mkdir(parents=True)
    never_asked = lambda path: pytest.fail("only asked about a non-empty directory")  # noqa: E731
    with staged_directory(out, replaceable=never_asked) as staging:
        write_run(staging, {"model.msgpack": "model"})
    assert snapshot(out) == {"model.msgpack": b"model"}
    assert mode(out) == 0o755 and os.listdir(tmp_path / "runs") == ["first"]


@pytest.mark.parametrize("interruption", [RuntimeError("training diverged"), KeyboardInterrupt()])
def test_a_failed_run_leaves_the_old_directory_untouched(tmp_path, interruption):
    out = tmp_path / "run"
    out.mkdir()
    write_run(out, {"model.msgpack": "old model", "history.csv": "old"})
    before = snapshot(out)
    with pytest.raises(type(interruption)):
        with staged_directory(out, replaceable=lambda path: True) as staging:
            write_run(staging, {"model.msgpack": "half a new run"})
            raise interruption
    assert snapshot(out) == before
    assert os.listdir(tmp_path) == ["run"]


def test_a_directory_with_foreign_files_is_refused_before_the_run(tmp_path):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(FileExistsError, match=r"'.*photos' is not empty and holds files jaxnn did not write"):
        with staged_directory(out, replaceable=lambda path: False):
            pytest.fail("the body must not run")
    assert snapshot(out) == {"holiday.jpg": b"\xff\xd8"} and os.listdir(tmp_path) == ["photos"]


def test_a_file_in_place_of_the_directory_is_refused(tmp_path):
    (tmp_path / "run").write_text("a file")
    with pytest.raises(NotADirectoryError, match=r"'.*run' exists and is not a directory"):
        with staged_directory(tmp_path / "run", replaceable=lambda path: True):
            pytest.fail("the body must not run")


def test_an_unwritable_parent_is_reported_before_the_run(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    parent = tmp_path / "locked"
    parent.mkdir()
    os.chmod(parent, 0o555)
    try:
        expected = r"cannot write the output directory '.*locked/run': permission denied in '.*locked'"
        with pytest.raises(PermissionError, match=expected):
            with staged_directory(parent / "run", replaceable=lambda path: True):
                pytest.fail("the body must not run")
    finally:
        os.chmod(parent, 0o755)
    assert os.listdir(parent) == []


@pytest.mark.parametrize("below", ["run", "deeper/run"])
def test_a_parent_that_is_a_file_is_reported_before_the_run(tmp_path, below):
    (tmp_path / "notes.txt").write_text("a file")
    out = str(tmp_path / "notes.txt" / below)
    expected = re.escape(f"cannot write the output directory {out!r}: ") + r"'.*notes\.txt' is not a directory"
    with pytest.raises(NotADirectoryError, match=expected):
        with staged_directory(out, replaceable=lambda path: True):
            pytest.fail("the body must not run")
    assert (tmp_path / "notes.txt").read_text() == "a file"


def test_a_symbolic_link_to_the_directory_is_kept(tmp_path):
    (tmp_path / "disk" / "run").mkdir(parents=True)
    write_run(tmp_path / "disk" / "run", {"model.msgpack": "old"})
    (tmp_path / "run").symlink_to(tmp_path / "disk" / "run")
    with staged_directory(tmp_path / "run", replaceable=lambda path: True) as staging:
        write_run(staging, {"model.msgpack": "new"})
    assert (tmp_path / "run").is_symlink() and snapshot(tmp_path / "disk") == {"run/model.msgpack": b"new"}


def test_leftovers_of_dead_processes_of_this_host_are_removed(tmp_path, dead_pid):
    host = _io._host()
    stale = [f".run.{host}-{dead_pid}.0123abcd.staging", f".run.{host}-{dead_pid}.0123abcd.old"]
    kept = [
        f".run.{host}-{os.getpid()}.0123abcd.staging",  # a live process: maybe another run right now
        f".run.another-host-{dead_pid}.0123abcd.staging",  # another machine on a shared filesystem
        f".other.{host}-{dead_pid}.0123abcd.staging",  # another output directory
    ]
    for name in [*stale, *kept]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.msgpack").write_text("partial")
    with staged_directory(tmp_path / "run", replaceable=lambda path: True) as staging:
        assert sorted(os.listdir(tmp_path)) == sorted([*kept, os.path.basename(staging)])
        write_run(staging, {"model.msgpack": "model"})
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "run"])


KILLED_MID_RUN = """
import os, signal, sys
from jaxnn._io import atomic_write, staged_directory

def die(handle):
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup can run: the leftovers stay

with staged_directory(sys.argv[1], replaceable=lambda path: True) as staging:
    atomic_write(os.path.join(staging, "history.csv"), "epoch")
    os.fsync = die
    atomic_write(sys.argv[2], "half")
"""


def test_leftovers_of_a_run_killed_with_sigkill_are_removed_by_the_next(tmp_path):
    out, log = tmp_path / "run", tmp_path / "log.txt"
    out.mkdir()
    write_run(out, {"model.msgpack": "old"})
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_RUN, out, log], capture_output=True, timeout=120, cwd=ROOT
    )
    assert killed.returncode == -9, killed.stderr.decode()
    assert snapshot(out) == {"model.msgpack": b"old"}
    # A killed process leaves its staging directory and a temporary file behind ...
    assert sorted(name.rsplit(".", 1)[-1] for name in os.listdir(tmp_path)) == ["run", "staging", "tmp"]
    with staged_directory(out, replaceable=lambda path: True) as staging:
        write_run(staging, {"model.msgpack": "new"})
    atomic_write(log, "done")
    # ... which the next writes to the same destinations remove.
    assert sorted(os.listdir(tmp_path)) == ["log.txt", "run"]
    assert snapshot(out) == {"model.msgpack": b"new"}
