"""``make integration-tests DSS_URL=...`` proven end to end: the real-DSS mode of the suite, run against an emulator
served as a separate process, as a user's instance would be (the test Flow created through the API, builds through
the command line, clean-up). Only the fault tests, which need the emulator's controls, are skipped there.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import dataikuapi
import pytest
from dss_targets import real_dss_settings

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "FO_REAL_MODE"
#: The integration test modules that act on ``dss_target`` (the others drive the emulator directly).
TARGET_MODULES = ("test_build_verify.py", "test_engine_cli.py", "test_real_dss_mode.py")
LISTENING = re.compile(r"DSS emulator listening on (http://127\.0\.0\.1:\d+) api-key (\S+)")

pytestmark = pytest.mark.skipif(
    real_dss_settings(os.environ) is not None, reason="already in real-DSS mode (this test starts that mode itself)"
)


def _first_line(stream, timeout_s: float = 60.0) -> str:
    """The server's first output line, waited for on a reader thread (never a sleep)."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    return lines.get(timeout=timeout_s)


def test_the_real_dss_mode_passes_against_a_separately_served_instance(tmp_path):
    flow = tmp_path / "empty-project.json"
    flow.write_text(json.dumps({"projectKey": PROJECT, "name": "An empty project", "datasets": [], "recipes": []}))
    server = subprocess.Popen(
        [sys.executable, "-m", "dss_emulator", "serve", "--flow", str(flow), "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "python-lib"), str(ROOT)])),
    )
    try:
        found = LISTENING.search(_first_line(server.stdout))
        assert found, "the emulator did not start"
        url, api_key = found.groups()
        env = dict(os.environ, DSS_URL=url, DSS_API_KEY=api_key, DSS_PROJECT=PROJECT)
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-rs", "-p", "no:cacheprovider"]
            + [str(ROOT / "tests" / "integration" / name) for name in TARGET_MODULES],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        assert api_key not in output  # the key reaches pytest through the environment only, never its output
        passed = int(re.search(r"(\d+) passed", output).group(1))
        assert passed >= 25, output[-2000:]
        skipped = re.findall(r"SKIPPED \[\d+\] (\S+?):\d+: (.*)", output)
        assert skipped and all("emulator_only" in reason for _, reason in skipped), skipped
        # The suite cleaned up after itself: the project is as empty as it was given.
        project = dataikuapi.DSSClient(url, api_key).get_project(PROJECT)
        assert project.list_recipes() == [] and project.list_datasets() == []
    finally:
        server.terminate()
        server.wait(timeout=30)
