"""Headless Chromium for tests that check what a person sees in an HTML report (Debian's ``chromium`` package).

Chromium runs as a subprocess with a throw-away profile: ``dump_dom`` returns the DOM after the page's scripts ran,
``screenshot`` writes a PNG. Tests use ``requires_chromium`` so they are skipped, with the reason, where it is absent
(``make test`` installs it with apt when it can).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"  # gitignored: screenshots are artifacts, not committed files
_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def find_chromium() -> Optional[str]:
    """Path of a Chromium executable, or None."""
    for candidate in _CANDIDATES:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    return None


requires_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium not found (/usr/bin/chromium or chromium on PATH); `make test` installs the Debian "
    "package `chromium` when apt is available",
)


def _run(args: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess:
    executable = find_chromium()
    if executable is None:
        pytest.skip("headless Chromium not found")
    with tempfile.TemporaryDirectory(prefix="fo-chromium-") as profile:
        command: List[str] = [executable, *_FLAGS, f"--user-data-dir={profile}", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise AssertionError(f"chromium exited with {result.returncode}: {result.stderr[-2000:]}")
    return result


def dump_dom(page: Path, *, timeout: float = 120, settle_ms: Optional[int] = None) -> str:
    """The serialized DOM of a local page after its scripts ran.

    ``settle_ms``: virtual milliseconds the page may run after loading (tasks it queued, such as a ``toggle``
    event, run before the dump); virtual time only advances when the page is idle, so this is no wall-clock wait."""
    budget = [f"--virtual-time-budget={settle_ms}"] if settle_ms is not None else []
    return _run([*budget, "--dump-dom", page.resolve().as_uri()], timeout=timeout).stdout


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 1600, timeout: float = 120) -> Path:
    """A PNG of the top ``width`` x ``height`` pixels of a local page."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    _run([f"--screenshot={out.resolve()}", f"--window-size={width},{height}", page.resolve().as_uri()], timeout=timeout)
    if not out.exists() or out.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot at {out}")
    return out
