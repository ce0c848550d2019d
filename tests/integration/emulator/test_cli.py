"""``python -m dss_emulator serve`` and ``generate`` as separate processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import dataikuapi

ROOT = Path(__file__).resolve().parents[3]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python-lib"), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_generate_prints_a_flow_file():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dss_emulator",
            "generate",
            "--recipes",
            "12",
            "--width",
            "3",
            "--seed",
            "4",
            "--min-duration",
            "0.01",
            "--max-duration",
            "0.02",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=str(ROOT),
        timeout=60,
        check=True,
    )
    flow = json.loads(done.stdout)
    assert len(flow["recipes"]) == 12
    assert all(0.01 <= r["emulation"]["duration"] <= 0.02 for r in flow["recipes"])


def test_serve_prints_one_line_and_serves_until_interrupted():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dss_emulator",
            "serve",
            "--flow",
            str(ROOT / "examples" / "flows" / "clinical.json"),
            "--api-key",
            "cli-key",
            "--read-only-key",
            "cli-reader",
            "--job-overhead",
            "0.3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=str(ROOT),
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"DSS emulator listening on (http://127\.0\.0\.1:\d+) api-key cli-key\n", line)
        assert match, line
        client = dataikuapi.DSSClient(match.group(1), "cli-key")
        assert client.list_project_keys() == ["CLINICAL"]
        reader = dataikuapi.DSSClient(match.group(1), "cli-reader")
        assert reader.get_project("CLINICAL").get_summary()["projectKey"] == "CLINICAL"
        status = client.get_project("CLINICAL").get_recipe("group_LAB_RESULTS_AGG").run().get_status()["baseStatus"]
        (activity,) = status["activities"].values()
        assert activity["startTime"] - status["jobStartTime"] >= 300  # --job-overhead before the first activity
        assert status["jobEndTime"] - activity["endTime"] >= 300  # and after the last
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    assert process.returncode == 0
    assert process.stdout.read() == ""


def test_serve_stops_on_an_interrupt_even_when_started_with_interrupts_ignored():
    """A background job of a script (``make test &``, a CI step, ``nohup``) starts with SIGINT ignored, which its
    children inherit: ``serve`` must still stop, abort its jobs and free its port when sent one."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dss_emulator", "serve", "--api-key", "cli-key"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=str(ROOT),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"DSS emulator listening on (http://127\.0\.0\.1:\d+) api-key cli-key\n", line)
        assert match, line
        assert dataikuapi.DSSClient(match.group(1), "cli-key").list_project_keys() == []
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
