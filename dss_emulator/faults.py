"""Fault controls: what tests and demos inject to make the emulated DSS slow, failing or unreachable.

Two kinds of faults live here, both thread-safe:

* recipe faults (duration, failure, hang), consulted by the scheduler each time a recipe's activity runs. The flow
  file's ``emulation`` knobs are the defaults; the control methods override them until :meth:`FaultControls.clear`.
* request faults (HTTP 500 or 503 pages that are not DSS errors, dropped connection, slow answer), consulted by the HTTP server once per public-API request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

#: Seconds an activity lasts when neither the flow file nor :meth:`FaultControls.set_duration` says otherwise.
DEFAULT_DURATION = 0.05

#: "500": the servlet container's own error page (HTML, no DSS ``errorType``), as when the backend is overloaded;
#: "503": a reverse proxy's page while DSS restarts; "drop": the connection closes without an answer.
REQUEST_FAULT_MODES = ("500", "503", "drop")

RecipeKey = Tuple[str, str]


@dataclass
class FailureSpec:
    """A recipe failure to inject: ``remaining`` None means every run, N means the next N runs."""

    message: str
    error_type: Optional[str] = None
    remaining: Optional[int] = None

    def consume(self) -> bool:
        """True if this run must fail; counts the run down when limited."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass(frozen=True)
class RunFaults:
    """What one run of a recipe's activity must do, decided when the activity starts running."""

    duration: float
    failure: Optional[Tuple[str, Optional[str]]]  # (message, error type) when the run must fail
    hang: bool


@dataclass(frozen=True)
class RequestFault:
    """What to do to one HTTP request: wait ``delay`` seconds, then answer normally, with a 500, or not at all."""

    delay: float = 0.0
    mode: Optional[str] = None  # None (answer normally), "500", "503" or "drop"


@dataclass
class _RecipeKnobs:
    duration: Optional[float] = None
    failure: Optional[FailureSpec] = None
    hang: bool = False


class FaultControls:
    """All injected faults of one emulator instance, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flow_defaults: Dict[RecipeKey, _RecipeKnobs] = {}
        self._overrides: Dict[RecipeKey, _RecipeKnobs] = {}
        self._failing_requests = 0
        self._failing_mode = "500"
        self._slow_requests = 0
        self._slow_seconds = 0.0

    # -- flow-file defaults -------------------------------------------------------------------------------------------
    def register_recipe(self, project_key: str, recipe: str, emulation: Optional[dict]) -> None:
        """Record a recipe's flow-file ``emulation`` knobs (duration, fail, hang) as its defaults."""
        emulation = emulation or {}
        knobs = _RecipeKnobs(duration=emulation.get("duration"), hang=bool(emulation.get("hang", False)))
        fail = emulation.get("fail")
        if fail:
            knobs.failure = FailureSpec(
                message=str(fail.get("message") or "Injected failure"),
                error_type=fail.get("errorType"),
                remaining=fail.get("times"),
            )
        with self._lock:
            self._flow_defaults[(project_key, recipe)] = knobs

    def rename_recipe(self, project_key: str, old: str, new: str) -> None:
        """Keep a recipe's knobs when it is renamed through the API."""
        with self._lock:
            for table in (self._flow_defaults, self._overrides):
                if (project_key, old) in table:
                    table[(project_key, new)] = table.pop((project_key, old))

    # -- recipe faults ------------------------------------------------------------------------------------------------
    def set_duration(self, project_key: str, recipe: str, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"duration must be >= 0 seconds, got {seconds!r}")
        with self._lock:
            self._overrides.setdefault((project_key, recipe), _RecipeKnobs()).duration = float(seconds)

    def fail_recipe(
        self, project_key: str, recipe: str, message: str, times: Optional[int] = None, error_type: Optional[str] = None
    ) -> None:
        if times is not None and int(times) < 0:
            raise ValueError(f"times must be None (every run) or >= 0, got {times!r}")
        with self._lock:
            knobs = self._overrides.setdefault((project_key, recipe), _RecipeKnobs())
            knobs.failure = FailureSpec(
                message=message, error_type=error_type, remaining=None if times is None else int(times)
            )

    def hang_recipe(self, project_key: str, recipe: str) -> None:
        with self._lock:
            self._overrides.setdefault((project_key, recipe), _RecipeKnobs()).hang = True

    def plan_run(self, project_key: str, recipe: str) -> RunFaults:
        """Decide the faults of one run of ``recipe`` (consumes one count of a limited failure)."""
        with self._lock:
            override = self._overrides.get((project_key, recipe)) or _RecipeKnobs()
            default = self._flow_defaults.get((project_key, recipe)) or _RecipeKnobs()
            duration = override.duration if override.duration is not None else default.duration
            failure = None
            spec = override.failure if override.failure is not None else default.failure
            if spec is not None and spec.consume():
                failure = (spec.message, spec.error_type)
            return RunFaults(
                duration=DEFAULT_DURATION if duration is None else float(duration),
                failure=failure,
                hang=override.hang or default.hang,
            )

    def still_hanging(self, project_key: str, recipe: str) -> bool:
        """False once :meth:`clear` released the hang (a hanging activity then finishes normally)."""
        with self._lock:
            override = self._overrides.get((project_key, recipe))
            default = self._flow_defaults.get((project_key, recipe))
            return bool((override and override.hang) or (default and default.hang))

    # -- request faults -----------------------------------------------------------------------------------------------
    def fail_requests(self, count: int, mode: str = "500") -> None:
        if mode not in REQUEST_FAULT_MODES:
            raise ValueError("mode must be one of {}, got {!r}".format(", ".join(REQUEST_FAULT_MODES), mode))
        if int(count) < 0:
            raise ValueError(f"count must be >= 0, got {count!r}")
        with self._lock:
            self._failing_requests = int(count)
            self._failing_mode = mode

    def slow_requests(self, seconds: float, count: int) -> None:
        if seconds < 0 or int(count) < 0:
            raise ValueError(f"seconds and count must be >= 0, got {seconds!r} and {count!r}")
        with self._lock:
            self._slow_seconds = float(seconds)
            self._slow_requests = int(count)

    def take_request_fault(self) -> RequestFault:
        """The fault for the request being served now (consumes one count of each pending request fault)."""
        with self._lock:
            delay = 0.0
            mode = None
            if self._slow_requests > 0:
                self._slow_requests -= 1
                delay = self._slow_seconds
            if self._failing_requests > 0:
                self._failing_requests -= 1
                mode = self._failing_mode
            return RequestFault(delay=delay, mode=mode)

    # -- all ----------------------------------------------------------------------------------------------------------
    def clear(self) -> None:
        """Drop every fault injected through the controls; the flow files' own ``emulation`` knobs stay."""
        with self._lock:
            self._overrides.clear()
            self._failing_requests = 0
            self._slow_requests = 0
            self._slow_seconds = 0.0

    def describe(self) -> dict:
        """The pending faults, for the admin endpoint."""
        with self._lock:
            recipes = []
            for (project_key, recipe), knobs in sorted(self._overrides.items()):
                entry = {"projectKey": project_key, "recipe": recipe, "hang": knobs.hang}
                if knobs.duration is not None:
                    entry["duration"] = knobs.duration
                if knobs.failure is not None:
                    entry["fail"] = {
                        "message": knobs.failure.message,
                        "errorType": knobs.failure.error_type,
                        "remaining": knobs.failure.remaining,
                    }
                recipes.append(entry)
            return {
                "recipes": recipes,
                "failingRequests": {"count": self._failing_requests, "mode": self._failing_mode},
                "slowRequests": {"count": self._slow_requests, "seconds": self._slow_seconds},
            }
