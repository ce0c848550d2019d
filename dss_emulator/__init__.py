"""A local emulator of the Dataiku DSS public REST API, for the demo, the tests and the benchmarks.

The real, unmodified ``dataikuapi.DSSClient`` talks to it over HTTP::

    from dss_emulator import EmulatedDSS

    with EmulatedDSS.start(flows=["examples/flows/clinical.json"]) as dss:
        project = dss.client().get_project("CLINICAL")
        job = project.get_recipe("group_LAB_RESULTS_AGG").run(no_fail=True)
        dss.fail_recipe("CLINICAL", "join_ML_TRAINING_DATA", "boom", times=1)

Fault controls (thread-safe, also on the ``/emulator/`` admin HTTP API, see :mod:`dss_emulator.api.admin`):
``set_duration``, ``fail_recipe``, ``hang_recipe``, ``fail_requests``, ``slow_requests``, ``abort_job``,
``restart``, ``clear_faults``, ``job_starts`` and ``load_flow``; ``job_overhead`` (a property) is the seconds every job
stays RUNNING before its first activity and after its last.

``restart()`` does to jobs what a DSS restart does: every job still running is lost. It ends ``ABORTED`` (activities
that had not finished too) with a ``baseStatus.unexpectedFailure`` saying DSS was restarted, and running futures are
forgotten (polling them answers "No future by that id"). Data, projects and finished jobs survive, as on disk.
"""

from __future__ import annotations

import os
import secrets
import threading
from typing import Any, Iterable, List, Optional, Union

from .execution.scheduler import Scheduler
from .faults import FaultControls
from .server import EmulatorHTTPServer
from .state import EmulatorState
from .storage import DatasetStorage

FlowSource = Union[str, "os.PathLike[str]", dict]

__all__ = ["EmulatedDSS"]


class EmulatedDSS:
    """One running emulator: an HTTP server on 127.0.0.1 plus the instance state it serves."""

    def __init__(
        self,
        flows: Iterable[FlowSource] = (),
        api_key: Optional[str] = None,
        read_only_api_key: Optional[str] = None,
        activity_cap: int = 5,
        port: int = 0,
        host: str = "127.0.0.1",
        job_overhead: float = 0.0,
    ) -> None:
        from .api import build_routers

        if job_overhead < 0:
            raise ValueError(f"job_overhead must be zero or more seconds, got {job_overhead}")

        self.api_key = api_key or "emu-" + secrets.token_hex(12)
        self.read_only_api_key = read_only_api_key
        if self.read_only_api_key and self.read_only_api_key == self.api_key:
            raise ValueError("read_only_api_key must differ from api_key")
        self.faults = FaultControls()
        self.storage = DatasetStorage()
        self.state = EmulatorState(self.storage, self.faults)
        self.scheduler = Scheduler(self.state, activity_cap, job_overhead)
        for flow in flows:
            self.load_flow(flow)
        public, admin = build_routers()
        self._server = EmulatorHTTPServer((host, port), self, public, admin, self.api_key, self.read_only_api_key)
        self._thread: Optional[threading.Thread] = None
        self._stopped = False

    # -- life cycle ---------------------------------------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        flows: Iterable[FlowSource] = (),
        api_key: Optional[str] = None,
        read_only_api_key: Optional[str] = None,
        activity_cap: int = 5,
        port: int = 0,
        job_overhead: float = 0.0,
    ) -> EmulatedDSS:
        """Load the flows and serve on 127.0.0.1 (an ephemeral port unless ``port`` is given), in a daemon thread.

        ``job_overhead``: seconds every job stays RUNNING before its first activity and after its last, as a real
        DSS spends computing the job graph and cleaning up (a flow file's ``emulation.jobOverhead`` wins).
        """
        dss = cls(
            flows,
            api_key=api_key,
            read_only_api_key=read_only_api_key,
            activity_cap=activity_cap,
            port=port,
            job_overhead=job_overhead,
        )
        dss._thread = threading.Thread(
            target=dss._server.serve_forever, kwargs={"poll_interval": 0.1}, name="dss-emulator-http", daemon=True
        )
        dss._thread.start()
        return dss

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or KeyboardInterrupt)."""
        self._server.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving, abort running jobs and free the port. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._server.stopping.set()
        self.state.stopping.set()
        self.scheduler.restart(timeout=5.0)
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)

    def __enter__(self) -> EmulatedDSS:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- connection -------------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def request_count(self) -> int:
        """Public-API requests served so far (admin requests not counted), for benchmarks."""
        return self._server.request_count

    def client(self, api_key: Optional[str] = None) -> Any:
        """A real ``dataikuapi.DSSClient`` on this emulator (the admin key unless another is given)."""
        import dataikuapi

        return dataikuapi.DSSClient(self.url, api_key or self.api_key)

    @property
    def job_overhead(self) -> float:
        """The instance's per-job overhead in seconds (jobs started later use a new value)."""
        return self.scheduler.job_overhead

    @job_overhead.setter
    def job_overhead(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"job_overhead must be zero or more seconds, got {seconds}")
        self.scheduler.job_overhead = float(seconds)

    # -- flows ------------------------------------------------------------------------------------------------------
    def load_flow(self, source: FlowSource) -> str:
        """Add the project a flow file (path or dict) describes; returns its project key."""
        from .flowfile import load_flow
        from .loading import install_flow

        flow = load_flow(source)
        return install_flow(self.state, flow).key

    # -- fault controls -------------------------------------------------------------------------------------------
    def set_duration(self, project_key: str, recipe: str, seconds: float) -> None:
        """Make every later run of ``recipe`` last ``seconds``."""
        self._check_recipe(project_key, recipe)
        self.faults.set_duration(project_key, recipe, seconds)

    def fail_recipe(
        self, project_key: str, recipe: str, message: str, times: Optional[int] = None, error_type: Optional[str] = None
    ) -> None:
        """Make ``recipe`` fail with ``message``: every run (times None) or the next ``times`` runs."""
        self._check_recipe(project_key, recipe)
        self.faults.fail_recipe(project_key, recipe, message, times, error_type)

    def hang_recipe(self, project_key: str, recipe: str) -> None:
        """Make later runs of ``recipe`` run until aborted (or until :meth:`clear_faults`)."""
        self._check_recipe(project_key, recipe)
        self.faults.hang_recipe(project_key, recipe)

    def _check_recipe(self, project_key: str, recipe: str) -> None:
        """A fault for a recipe that does not exist would never fire: a typo must fail loudly (HTTP 404 on the API)."""
        from .state import NOT_FOUND, DSSError

        with self.state.lock:
            project = self.state.projects.get(project_key)
            if project is None:
                known = ", ".join(sorted(self.state.projects)) or "none"
                raise DSSError(404, NOT_FOUND, f"No project {project_key!r} on this emulator (projects: {known})")
            if recipe not in project.recipes:
                known = ", ".join(project.recipes) or "none"
                raise DSSError(404, NOT_FOUND, f"No recipe {recipe!r} in project {project_key} (recipes: {known})")

    def fail_requests(self, count: int, mode: str = "500") -> None:
        """The next ``count`` public-API requests answer an HTTP 500 or 503 page that is not a DSS error (modes "500",
        "503": what a servlet container or a proxy sends) or get no answer at all ("drop")."""
        self.faults.fail_requests(count, mode)

    def slow_requests(self, seconds: float, count: int) -> None:
        """The next ``count`` public-API requests are answered ``seconds`` late."""
        self.faults.slow_requests(seconds, count)

    def abort_job(self, project_key: str, job_id: str) -> None:
        """Abort a job as a user would from the DSS UI."""
        self.scheduler.abort_job(project_key, job_id, "aborted by a user")

    def restart(self) -> List[str]:
        """Lose the running jobs and futures as a DSS restart does; returns the ids of the jobs lost."""
        lost = self.scheduler.restart()
        with self.state.lock:
            for future in self.state.futures.values():
                future.cancel.set()
            self.state.futures.clear()
        return [job.id for job in lost]

    def add_api_key(self, key: str, permissions) -> None:
        """Accept another API key with these project permissions (``READ_CONF``, ``WRITE_CONF``; empty: none)."""
        from .server import PERMISSION_NAMES

        unknown = set(permissions) - set(PERMISSION_NAMES)
        if unknown or key in (self.api_key, self.read_only_api_key):
            raise ValueError(f"bad key or permissions: {sorted(unknown)}")
        self._server.key_permissions[key] = frozenset(permissions)

    def set_count_speed(self, rows_per_s: float) -> None:
        """How fast metric computations count rows (``0``: at once); the default takes seconds for millions of rows."""
        if rows_per_s < 0:
            raise ValueError("rows_per_s must be >= 0")
        self.state.count_rows_per_s = rows_per_s

    def clear_faults(self) -> None:
        """Remove every injected fault (flow-file ``emulation`` knobs stay); releases hanging recipes."""
        self.faults.clear()

    def job_starts(self, project_key: str) -> int:
        """How many jobs were started in the project (by clients, or by schema propagation's auto-rebuild)."""
        with self.state.lock:
            return self.state.project(project_key).job_starts

    def wait_for_job(self, project_key: str, job_id: str, timeout: float = 30.0) -> str:
        """Block until the job is DONE, FAILED or ABORTED (for tests); returns the final state."""
        job = self.scheduler.get_job(project_key, job_id)
        if not job.finished.wait(timeout):
            raise TimeoutError(f"Job {project_key}.{job_id} still {job.state} after {timeout:.1f} s")
        return job.state

    def wait_for_activity_state(
        self, project_key: str, job_id: str, activity_id: str, states: Iterable[str], timeout: float = 30.0
    ) -> str:
        """Block until an activity of a job reaches one of ``states`` (for tests); returns that state."""
        wanted = set(states)
        job = self.scheduler.get_job(project_key, job_id)
        with self.state.lock:
            ok = self.state.changed.wait_for(
                lambda: activity_id in job.activities and job.activities[activity_id].state in wanted, timeout
            )
            if not ok:
                current = job.activities[activity_id].state if activity_id in job.activities else "absent"
                raise TimeoutError(f"Activity {activity_id} of job {job_id} still {current} after {timeout:.1f} s")
            return job.activities[activity_id].state

    def status(self) -> dict:
        """Requests served, projects, running jobs and pending faults (what ``GET /emulator/status`` answers)."""
        with self.state.lock:
            running = [
                {"projectKey": p.key, "jobId": j.id, "state": j.state}
                for p in self.state.projects.values()
                for j in p.jobs.values()
                if not j.terminal
            ]
            return {
                "requestCount": self.request_count,
                "projects": list(self.state.projects),
                "runningJobs": running,
                "activitySlotsInUse": self.scheduler.slots.in_use,
                "activityCap": self.scheduler.slots.cap,
                "jobOverhead": self.scheduler.job_overhead,
                "faults": self.faults.describe(),
            }
