"""The command line as users run it, against an emulator served in its own process, with what each run cost.

Shared by the benchmarks that measure through the CLI (``plan_path``, ``scale``). The CLI runs in a child process
started by :data:`MEASURED_CLI`, a few lines that count before handing over to ``flow_orchestrator.cli.main``:

* every HTTP request the CLI sends (its ``requests`` sessions), with the time to its full answer;
* the bytes the process received (counted at the socket, so that streamed answers count too), per request for
  answers read whole (job status and job list polls among them);
* the process's CPU time (user + system, all threads) and peak resident memory (``VmHWM``: the whole process,
  not only the allocations ``tracemalloc`` sees; not ``ru_maxrss``, which on Linux starts from the size of the
  parent that forked it);
* the bytes it wrote to files (``wchar`` of ``/proc/self/io``, minus what went to its stdout and stderr, which are
  files here): the run record (and whatever journal keeps it current), since nothing else is written.

The emulator is ``python -m dss_emulator serve`` in another process, so that its CPU and memory are not the CLI's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-cli-key"

#: Runs in the child: counts, then runs the CLI. argv: stats file, then the CLI's arguments.
MEASURED_CLI = r"""
import json, os, resource, socket, sys, threading, time

started = time.perf_counter()
stats_path, argv = sys.argv[1], sys.argv[2:]
lock = threading.Lock()
local = threading.local()
received = [0]
requests_seen = []  # (method, path, seconds, bytes or -1 when streamed)

original_recv_into = socket.socket.recv_into


def recv_into(self, buffer, *args):
    count = original_recv_into(self, buffer, *args)
    with lock:
        received[0] += count
    local.received = getattr(local, "received", 0) + count
    return count


socket.socket.recv_into = recv_into

import requests  # noqa: E402

original_send = requests.Session.send


def send(self, request, **kwargs):
    before = getattr(local, "received", 0)
    began = time.perf_counter()
    response = original_send(self, request, **kwargs)
    size = -1 if kwargs.get("stream") else getattr(local, "received", 0) - before
    with lock:
        requests_seen.append((request.method, request.path_url.split("?")[0], time.perf_counter() - began, size))
    return response


requests.Session.send = send


def proc_field(path, name, scale=1):
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(name):
                    return int(line.split()[1]) * scale
    except OSError:
        return None


from flow_orchestrator import cli  # noqa: E402

code = 70
try:
    code = cli.main(argv)
finally:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    written = proc_field("/proc/self/io", "wchar:")
    # VmHWM: this process's own peak. ru_maxrss would include the parent's size at fork: Linux keeps it across exec.
    peak = proc_field("/proc/self/status", "VmHWM:", 1024) or usage.ru_maxrss * 1024
    with lock:
        seen = list(requests_seen)
    with open(stats_path, "w") as handle:
        json.dump(
            {
                "exit_code": code,
                "wall_s": time.perf_counter() - started,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_bytes": peak,
                "received_bytes": received[0],
                "written_bytes": written,
                "requests": seen,
            },
            handle,
        )
sys.exit(code)
"""


@dataclass
class CliRun:
    """What one CLI run did and cost (see the module's docstring for how each figure is taken)."""

    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    received_bytes: int
    file_bytes_written: Optional[int]
    requests: List[Tuple[str, str, float, int]]
    timed_out: bool = False
    record: Optional[dict] = None
    stderr_tail: str = ""

    def status_polls(self) -> List[Tuple[str, str, float, int]]:
        """Job status reads: GETs of the job list or of one job's status (not its log)."""
        return [r for r in self.requests if r[0] == "GET" and _is_status_path(r[1])]

    def latencies_s(self) -> List[float]:
        return [r[2] for r in self.requests if r[3] >= 0]


def _is_status_path(path: str) -> bool:
    parts = [p for p in path.split("/") if p]
    if "jobs" not in parts:
        return False
    tail = parts[parts.index("jobs") + 1 :]
    return len(tail) == 0 or (len(tail) == 1 and tail[0] != "running")


def child_env(bytecode_cache: Optional[str] = None) -> Dict[str, str]:
    """The environment of a measured child; ``bytecode_cache``: a folder where it keeps compiled modules (as an
    installed command has them), else it compiles every module it imports from source."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python-lib"), str(ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if bytecode_cache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE")
        env["PYTHONPYCACHEPREFIX"] = bytecode_cache
    for name in ("DSS_URL", "DSS_API_KEY", "DSS_PROJECT"):
        env.pop(name, None)
    return env


def process_cpu_s(pid: int) -> Optional[float]:
    """CPU seconds (user + system, all threads) a live process has used so far; None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14 and 15)


@contextlib.contextmanager
def served_emulator(
    flow: dict, activity_cap: int = 60, process_ids: Optional[List[int]] = None, job_overhead: float = 0.0
) -> Iterator[Tuple[str, float]]:
    """``(url, seconds it took to load)`` of an emulator serving ``flow`` in its own process; stopped on exit.

    ``process_ids``: a list the emulator's process id is appended to (for :func:`process_cpu_s`). ``job_overhead``:
    seconds each job spends RUNNING before its first activity and after its last (DSS's own cost)."""
    with tempfile.TemporaryDirectory(prefix="fo-bench-emu-") as folder:
        flow_file = Path(folder) / "flow.json"
        flow_file.write_text(json.dumps(flow), encoding="utf-8")
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "dss_emulator", "serve", "--flow", str(flow_file), "--api-key", API_KEY]
            + ["--activity-cap", str(activity_cap), "--job-overhead", str(job_overhead)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=str(ROOT),
        )
        if process_ids is not None:
            process_ids.append(process.pid)
        try:
            line = process.stdout.readline()
            if not line.startswith("DSS emulator listening on "):
                raise RuntimeError(f"the emulator did not start: {line!r} {process.stderr.read()[-2000:]}")
            yield line.split()[4], time.perf_counter() - started
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)


def run_cli(
    args: Sequence[str],
    *,
    timeout_s: Optional[float] = None,
    record_path: Optional[str] = None,
    bytecode_cache: Optional[str] = None,
) -> CliRun:
    """Run ``flow-orchestrator ARGS`` measured; past ``timeout_s`` it gets Ctrl-C (it aborts its jobs) and is waited.

    ``record_path``: the ``--json`` file the run writes; read back into ``CliRun.record``. ``bytecode_cache``: see
    :func:`child_env`.
    """
    with tempfile.TemporaryDirectory(prefix="fo-bench-cli-") as folder:
        stats_path = Path(folder) / "stats.json"
        out_path, err_path = Path(folder) / "stdout.txt", Path(folder) / "stderr.txt"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", MEASURED_CLI, str(stats_path), *args],
                stdout=out,
                stderr=err,
                env=child_env(bytecode_cache),
                cwd=str(ROOT),
            )
            timed_out = False
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                process.send_signal(signal.SIGINT)  # the CLI's own cancel: it aborts the jobs it started
                try:
                    process.wait(120)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(30)
        stderr_tail = err_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        if not stats_path.exists():
            raise RuntimeError(f"the CLI ended (code {process.returncode}) without its figures: {stderr_tail}")
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        written = stats["written_bytes"]
        if written is not None:
            written -= out_path.stat().st_size + err_path.stat().st_size
    record = None
    if record_path and os.path.exists(record_path):
        with open(record_path, encoding="utf-8") as handle:
            record = json.load(handle)
    return CliRun(
        exit_code=stats["exit_code"],
        wall_s=stats["wall_s"],
        cpu_s=stats["cpu_s"],
        peak_rss_bytes=stats["peak_rss_bytes"],
        received_bytes=stats["received_bytes"],
        file_bytes_written=written,
        requests=[tuple(r) for r in stats["requests"]],
        timed_out=timed_out,
        record=record,
        stderr_tail=stderr_tail,
    )


def connection_args(url: str, project_key: str) -> List[str]:
    return ["--url", url, "--api-key", API_KEY, "--project", project_key]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))]


@dataclass
class Goal:
    """One goal of a benchmark: what is measured, its goal, and whether it was met."""

    what: str
    target: str
    met: bool
    owner: str = ""  # who must act when it is missed (printed with the miss)
    notes: List[str] = field(default_factory=list)

    def line(self) -> str:
        verdict = "PASS" if self.met else "GOAL MISSED"
        return f"{verdict:<12}{self.what} (goal {self.target})" + (f" [{self.owner}]" if self.owner else "")
