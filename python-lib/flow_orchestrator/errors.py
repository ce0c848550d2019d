"""Errors a user can cause, each naming the object or form field involved and how to fix it."""

from __future__ import annotations


class FlowOrchestratorError(Exception):
    """Base class: every error the library raises on purpose derives from it.

    Its text is redacted whenever it is shown (a DSS message quoted in it may hold the API key in use).
    """

    def __str__(self) -> str:
        from .redaction import redact

        return redact(super().__str__()) or ""


class ConfigError(FlowOrchestratorError):
    """Invalid configuration (macro form, step config, CLI arguments, JSON spec).

    ``problems`` lists every problem found, so one run reports them all at once; each is
    ``(field, message)`` where ``field`` is the form field or JSON path (``"max_parallel"``,
    ``"datasets[2].columns"``).
    """

    def __init__(self, problems):
        if isinstance(problems, tuple) and len(problems) == 2 and isinstance(problems[0], str):
            problems = [problems]
        self.problems = [(str(f), str(m)) for f, m in problems]
        lines = [f"{field}: {message}" if field else message for field, message in self.problems]
        if len(lines) == 1:
            text = "Invalid configuration: " + lines[0]
        else:
            text = "Invalid configuration ({} problems):\n- {}".format(len(lines), "\n- ".join(lines))
        super().__init__(text)


class GraphError(FlowOrchestratorError):
    """The Flow graph cannot be scheduled: a cycle or a dangling reference."""


class SelectionError(FlowOrchestratorError):
    """A selection names something that does not exist, or an order contradicts the Flow."""


class DSSAccessError(FlowOrchestratorError):
    """DSS could not be reached or refused the request (URL, API key, permissions)."""


class DSSPermissionError(DSSAccessError):
    """DSS refused a request for lack of a project permission (HTTP 403); the message names the permission and the fix.

    ``detail`` keeps DSS's own words, so a caller that knows better what the request was for can say it again.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


class RecipesFailed(FlowOrchestratorError):
    """A run ended with failed, timed-out or aborted recipes; the message names each one and its cause."""


class VerificationFailed(FlowOrchestratorError):
    """ERROR expectations failed; the message names each one and why."""
