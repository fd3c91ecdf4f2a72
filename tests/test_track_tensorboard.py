"""A sweep's TensorBoard log as a user looks at it: the real ``tensorboard`` server, over HTTP, and in Chromium.

The server is started here on 127.0.0.1 (on a port the OS picks) against a 16-row sweep's log
directory and always stopped. One test reads what the HParams dashboard reads (the plugin's
``experiment`` and ``session_groups`` endpoints), the other opens the dashboard in headless
Chromium (Debian's ``chromium``, driven by Playwright; no browser is downloaded), checks that
every row is shown and keeps the screenshot in the test's temporary directory.

``python -m tests.test_track_tensorboard docs/_static/tensorboard-hparams.png`` writes the
docs' screenshot the same way.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
import pytest

import jaxnn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPACE = {"learning_rate": [float(v) for v in np.geomspace(1e-3, 0.3, 8)]}
NUM_ROWS = 16  # 8 learning rates x 2 seeds
STARTUP_S = 120.0  # the most the server may take to start and load the log (usually ~5 s)

pytestmark = pytest.mark.slow


def sweep_log(logdir: str) -> jaxnn.SweepResult:
    """A 16-row sweep (8 learning rates x 2 seeds, small MLP on breast_cancer) logged to ``logdir``."""
    data = jaxnn.datasets.load("breast_cancer", seed=0)
    return jaxnn.sweep(
        jaxnn.mlp([30, 8, 1]),
        data,
        space=SPACE,
        seeds=2,
        optimizer="sgd",
        momentum=0.9,
        num_epochs=8,
        batch_size=64,
        key=0,
        progress=False,
        log=logdir,
    )


@contextlib.contextmanager
def tensorboard_server(logdir: str, scratch: str):
    """``tensorboard --logdir logdir`` on 127.0.0.1 (a free port); yields its URL once the log is loaded."""
    output = open(os.path.join(scratch, "tensorboard.log"), "w+")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            logdir,
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--reload_interval",
            "1",
        ],
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # its own group: its data server goes too
    try:
        url = _wait_for(lambda: _served_url(output), what="the server to start", output=output)
        _wait_for(lambda: len(session_groups(url)) == NUM_ROWS or None, what="the rows to load", output=output)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        output.close()


def _served_url(output) -> str | None:
    output.seek(0)
    found = re.search(r"at (http://127\.0\.0\.1:\d+/)", output.read())
    return found.group(1) if found else None


def _wait_for(check, *, what: str, output) -> object:
    """Poll ``check()`` until it returns something truthy (the server works in the background)."""
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            value = check()
            if value:
                return value
        time.sleep(0.2)
    output.seek(0)
    raise AssertionError(f"timed out waiting for {what}; tensorboard said:\n{output.read()[-3000:]}")


def post(url: str, route: str, body: dict) -> dict:
    """POST JSON to one of the HParams plugin's data endpoints, as its dashboard does."""
    request = urllib.request.Request(
        url + "data/plugin/hparams/" + route,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def session_groups(url: str) -> list[dict]:
    """Every row (a session group) with its hyperparameters and metrics."""
    body = {
        "experimentName": "",
        "startIndex": 0,
        "sliceSize": 1000,
        "colParams": [],
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    }
    return post(url, "session_groups", body).get("sessionGroups", [])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("tensorboard")
    folder = tmp_path_factory.mktemp("served")
    result = sweep_log(str(folder / "tb"))
    with tensorboard_server(str(folder / "tb"), str(folder)) as url:
        yield result, url


def test_the_hparams_dashboard_reads_every_row_with_its_values(served):
    result, url = served
    experiment = post(url, "experiment", {"experimentName": ""})
    assert {info["name"] for info in experiment["hparamInfos"]} == {"learning_rate", "seed", "status"}
    learning_rates = next(i for i in experiment["hparamInfos"] if i["name"] == "learning_rate")["domainDiscrete"]
    assert learning_rates == pytest.approx(SPACE["learning_rate"])
    tags = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"best/val_accuracy", "best/val_loss", "test/accuracy", "epochs_run"} <= tags
    groups = {group["name"]: group for group in session_groups(url)}
    assert sorted(groups) == [f"row-{n:03d}" for n in range(NUM_ROWS)]
    for i in range(len(result)):
        row = {name: column[i] for name, column in result.table.items()}
        group = groups[f"row-{int(row['config']) * 2 + int(row['seed']):03d}"]
        assert group["hparams"]["learning_rate"] == pytest.approx(row["learning_rate"], rel=1e-12)
        assert (
            group["hparams"]["seed"] == row["seed"] and group["hparams"]["status"] == jaxnn.track.STATUS[row["status"]]
        )
        metrics = {value["name"]["tag"]: value["value"] for value in group["metricValues"]}
        assert metrics["best/val_accuracy"] == pytest.approx(row["best_val_metric"], rel=1e-6)
        assert metrics["test/loss"] == pytest.approx(row["test_loss"], rel=1e-6)
        assert metrics["epochs_run"] == row["epochs_run"]


def screenshot_dashboard(url: str, path: str, scratch: str) -> list[str]:
    """Open the HParams dashboard in headless Chromium, wait for every row, save a screenshot; the rows' names."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            os.path.join(scratch, "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1500, "height": 1000},
        )  # a fresh profile (--user-data-dir) of its own
        try:
            page = browser.new_page()
            page.goto(url + "#hparams")
            rows = page.get_by_text(re.compile(r"^row-\d{3}$"))  # Playwright's text engine reaches into shadow roots
            rows.nth(NUM_ROWS - 1).wait_for(timeout=60_000)
            names = sorted(rows.all_inner_texts())
            page.screenshot(path=path)
        finally:
            browser.close()
    return names


def test_the_hparams_dashboard_shows_every_row_in_chromium(served, tmp_path):
    pytest.importorskip("playwright")
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    _, url = served
    path = tmp_path / "hparams.png"
    names = screenshot_dashboard(url, str(path), str(tmp_path))
    assert names == [f"row-{n:03d}" for n in range(NUM_ROWS)]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def main(out: str) -> None:
    """Write the docs' screenshot of a 16-row sweep's HParams dashboard to ``out``."""
    with tempfile.TemporaryDirectory(prefix="jaxnn-screenshot-") as scratch:
        sweep_log(os.path.join(scratch, "tb"))
        with tensorboard_server(os.path.join(scratch, "tb"), scratch) as url:
            screenshot_dashboard(url, os.path.join(scratch, "hparams.png"), scratch)
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        shutil.copyfile(os.path.join(scratch, "hparams.png"), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1])
