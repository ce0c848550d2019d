"""How the command line words an error: one line naming what failed on which object, never a secret."""

from __future__ import annotations

import argparse

from dataikuapi.utils import DataikuException
from flow_orchestrator.cli.common import describe_error, report_error
from flow_orchestrator.errors import SelectionError
from flow_orchestrator.redaction import forget_secrets, register_secret


def test_a_dss_answer_names_the_request_and_its_object():
    error = DataikuException("com.dataiku.dip.server.controllers.NotFoundException: recipe does not exist: P.r\nat …")
    error.request_description = "Reading recipe r"
    assert describe_error(error) == (
        "Reading recipe r failed: DSS answered com.dataiku.dip.server.controllers.NotFoundException: recipe does not "
        "exist: P.r (run with -v for the traceback)"
    )


def test_other_errors_are_one_line_too():
    assert describe_error(SelectionError("'X' is not a recipe of the Flow")) == "'X' is not a recipe of the Flow"
    assert describe_error(RuntimeError("boom\nsecond line")) == (
        "unexpected error RuntimeError: boom (please report it) (run with -v for the traceback)"
    )
    assert describe_error(KeyboardInterrupt()).startswith("interrupted:")


def test_v_prints_the_traceback_first_and_redacted(capsys):
    register_secret("tok-5c9e-41aa")
    try:
        try:
            raise RuntimeError("failed with tok-5c9e-41aa")
        except RuntimeError as error:
            report_error(error, argparse.Namespace(verbose=True))
        err = capsys.readouterr().err
        assert err.startswith("Traceback (most recent call last)")
        assert err.splitlines()[-1].startswith("flow-orchestrator: unexpected error RuntimeError: failed with ***")
        assert "tok-5c9e-41aa" not in err
    finally:
        forget_secrets()
