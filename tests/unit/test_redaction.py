"""One redaction for everything that leaves the process: registered secrets by value, patterns, URLs without user
info, JSON-like values, log records and live output."""

from __future__ import annotations

import io
import logging

import pytest
from flow_orchestrator.errors import ConfigError, DSSAccessError
from flow_orchestrator.redaction import (
    RedactedStream,
    RedactingFilter,
    forget_secrets,
    public_url,
    redact,
    register_secret,
    register_url_credentials,
    scrub,
)

KEY = "dkuaps-7Hq2vRk9ZpX4"


@pytest.fixture(autouse=True)
def no_secrets_left():
    forget_secrets()
    yield
    forget_secrets()


def test_a_registered_secret_is_replaced_wherever_it_stands():
    register_secret(KEY)
    assert redact(f"job failed: key={KEY}!") == "job failed: key=***!"
    assert redact(f"quoted verbatim {KEY}{KEY}") == "quoted verbatim ******"
    register_secret("s3cret/with+plus=")
    assert redact("in a URL: https://h/x?k=s3cret%2Fwith%2Bplus%3D&x=1") == "in a URL: https://h/x?k=***&x=1"
    assert KEY not in redact(f"prefix{KEY}suffix")


def test_short_values_are_not_registered():
    register_secret("abc")
    assert redact("abc abc") == "abc abc"


def test_url_credentials_are_registered_and_urls_lose_their_user_info():
    register_url_credentials("https://etl:Pa%24%24word@dss.example.com:11200/")
    assert redact("the password Pa$$word was refused") == "the password *** was refused"
    register_url_credentials("bob:hunter22@host")  # no scheme
    assert "hunter22" not in redact("login bob / hunter22")
    assert public_url("https://etl:pw@dss.example.com:11200/p?q=1") == "https://dss.example.com:11200/p?q=1"
    assert public_url("http://[::1]:8080/") == "http://[::1]:8080/"
    assert public_url(None) is None


def test_scrub_masks_secret_fields_and_redacts_every_string():
    register_secret(KEY)
    value = {"apiKey": "anything", "nested": [{"message": f"bad {KEY}"}], "count": 3, "empty_token": ""}
    assert scrub(value) == {"apiKey": "***", "nested": [{"message": "bad ***"}], "count": 3, "empty_token": ""}


def test_library_errors_redact_their_text():
    register_secret(KEY)
    assert KEY not in str(DSSAccessError(f"DSS said: unknown key {KEY}"))
    assert KEY not in str(ConfigError(("--api-key", f"{KEY} is not valid")))


def test_log_records_and_live_output_are_redacted():
    register_secret(KEY)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test_redaction")
    logger.addHandler(handler)
    try:
        logger.warning("starting with %s", KEY)
        try:
            raise ValueError(f"boom {KEY}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert KEY not in stream.getvalue() and "starting with ***" in stream.getvalue()
    assert "ValueError: boom ***" in stream.getvalue()
    live = io.StringIO()
    RedactedStream(live).write(f"[1/2] a FAILED: {KEY}\n")
    assert live.getvalue() == "[1/2] a FAILED: ***\n"
