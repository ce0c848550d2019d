"""Transient/permanent classification, log excerpts and redaction on realistic DSS messages and logs."""

from __future__ import annotations

import re

import pytest
from flow_orchestrator.errors import ConfigError
from flow_orchestrator.failures import classify, compile_patterns, extract_log_excerpt
from flow_orchestrator.redaction import redact

# --------------------------------------------------------------------------------------------------------------------
# classify
# --------------------------------------------------------------------------------------------------------------------

TRANSIENT = [
    ("Failed to connect to the database: ERR_SQL_DB_UNREACHABLE", None),
    ("Too many sessions", "ERR_SQL_POSTGRESQL_TOOMANYSESSIONS"),
    ("FATAL: sorry, too many clients already", None),
    ("java.sql.SQLException: Too many connections", None),
    ("Connection reset by peer", "java.net.SocketException"),
    ("Connection refused (Connection refused)", "java.net.ConnectException"),
    ("Read timed out", "java.net.SocketTimeoutException"),
    ("Error in Python process: At line 12: <class 'requests.exceptions.ConnectionError'>: Max retries exceeded", None),
    ("Error in Python process: At line 3: <class 'TimeoutError'>: timed out", None),
    ("Remote API call failed: HTTP 503 Service Unavailable", None),
    ("Upstream answered 502 Bad Gateway", None),
    ("Gateway Timeout", None),
    ("HTTP status 500 while calling the storage service", None),
    ("Deadlock found when trying to get lock; try restarting transaction", None),
    ("ERROR: could not serialize access due to concurrent update", None),
    ("Connection to the cluster lost", "ERR_CONNECTION_SQL_FAILED"),
    ("server closed the connection unexpectedly", "org.postgresql.util.PSQLException"),
]

PERMANENT = [
    ("Error in Python process: At line 7: <class 'KeyError'>: 'amount'", None),
    ("Error in Python process: At line 7: <class 'KeyError'>: 'timeout'", None),  # the word is data, not a cause
    ("Error in Python process: At line 2: <class 'NameError'>: name 'pd' is not defined", None),
    ("Column 'customer_id' does not exist in input dataset", None),
    ("Cannot check schema consistency", "ERR_RECIPE_CANNOT_CHECK_SCHEMA_CONSISTENCY"),
    (
        "Cannot check schema consistency on this recipe type",
        "ERR_RECIPE_CANNOT_CHECK_SCHEMA_CONSISTENCY_ON_RECIPE_TYPE",
    ),
    ("dataset does not exist: PROJ.missing_ds", "com.dataiku.dip.server.controllers.NotFoundException"),
    ("Failed to read project permissions", "com.dataiku.dip.exceptions.UnauthorizedException"),
    ("Internal error", "com.dataiku.dip.exceptions.DSSInternalErrorException"),
    ("No space left on device", "ERR_MISC_ENOSPC"),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize("message,error_type", TRANSIENT)
def test_infrastructure_errors_are_transient(message, error_type):
    assert classify(message, error_type) is True


@pytest.mark.parametrize("message,error_type", PERMANENT)
def test_recipe_errors_and_unknown_errors_are_permanent(message, error_type):
    assert classify(message, error_type) is False


def test_user_patterns_mark_more_errors_transient_and_win():
    message = "Error in Python process: At line 9: <class 'ValueError'>: upstream API quota exhausted"
    assert classify(message) is False
    assert classify(message, extra_patterns=("quota exhausted",)) is True
    assert classify(message, extra_patterns=(re.compile("QUOTA", re.IGNORECASE),)) is True
    assert classify("something else", extra_patterns=("quota exhausted",)) is False


def test_invalid_user_pattern_names_its_index():
    with pytest.raises(ConfigError) as info:
        compile_patterns(["ok", "(unclosed"])
    assert info.value.problems[0][0] == "retry.transient_patterns[1]"
    assert "(unclosed" in info.value.problems[0][1]


# --------------------------------------------------------------------------------------------------------------------
# redact
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,secret",
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc", "eyJhbGciOiJIUzI1NiJ9"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("X-DKU-APITicket: tkt_8f1c2a9b77e04d5c", "tkt_8f1c2a9b77e04d5c"),
        ("calling https://dss/api?api_key=sk1234567890abcdef&x=1", "sk1234567890abcdef"),
        ('{"apiKey": "AbCdEf0123456789", "name": "x"}', "AbCdEf0123456789"),
        ('{\\"apiKey\\": \\"AbCdEf0123456789\\"}', "AbCdEf0123456789"),
        ("password=hunter2 user=bob", "hunter2"),
        ('"password": "correct horse battery"', "correct horse battery"),
        ("DKU_API_TICKET=abcdef123456 python run.py", "abcdef123456"),
        ("connecting to postgresql://etl:S3cr3t!@db.internal:5432/dwh", "S3cr3t!"),
        ("flow-orchestrator build --api-key 0123456789abcdef --project P", "0123456789abcdef"),
        ("'secret': 'xyz-987'", "xyz-987"),
    ],
)
def test_redact_removes_secrets(text, secret):
    out = redact(text)
    assert secret not in out
    assert "***" in out


def test_redact_keeps_ordinary_text():
    text = "[INFO] Computing 3 partitions of orders_prepared; 42 rows; see https://dss.example.com/projects/P/"
    assert redact(text) == text
    assert redact(None) is None
    assert redact("") == ""


# --------------------------------------------------------------------------------------------------------------------
# extract_log_excerpt
# --------------------------------------------------------------------------------------------------------------------

PYTHON_LOG = """\
[2026/09/02-14:34:00.100] [FRT-76-FlowRunnable] [INFO] [dku.flow.jobrunner] act.compute_orders_NP - Allocated a slot
[2026/09/02-14:34:00.200] [FRT-76-FlowRunnable] [INFO] [dku.security.process] act.compute_orders_NP - Starting process, X-DKU-APITicket: tkt_8f1c2a9b77e04d5c
[2026/09/02-14:34:00.900] [FRT-76-FlowRunnable] [INFO] [dku.flow.python] act.compute_orders_NP - Starting execution of user's Python code
[2026/09/02-14:34:01.500] [null-err-85] [INFO] [dku.utils]  - 2026-09-02 14:34:01,499 INFO Setup complete, ready to execute Python code
[2026/09/02-14:34:01.700] [null-out-84] [INFO] [dku.utils]  - read 1200 rows
[2026/09/02-14:34:01.800] [null-err-85] [INFO] [dku.utils]  - *************** Recipe code failed **************
[2026/09/02-14:34:01.801] [null-err-85] [INFO] [dku.utils]  - Begin Python stack
[2026/09/02-14:34:01.802] [null-err-85] [INFO] [dku.utils]  - Traceback (most recent call last):
[2026/09/02-14:34:01.803] [null-err-85] [INFO] [dku.utils]  -   File "<string>", line 7, in <module>
[2026/09/02-14:34:01.804] [null-err-85] [INFO] [dku.utils]  -     df["total"] = df["amount"] * df["qty"]
[2026/09/02-14:34:01.805] [null-err-85] [INFO] [dku.utils]  - KeyError: 'amount'
[2026/09/02-14:34:01.806] [null-err-85] [INFO] [dku.utils]  - End Python stack
[2026/09/02-14:34:02.000] [FRT-76-FlowRunnable] [ERROR] [dku.flow.activity] act.compute_orders_NP - Activity failed
[2026/09/02-14:34:02.466] [ActivityExecutor-66] [INFO] [dku.flow.activity] running compute_orders_NP - Activity is finished
"""

JAVA_FRAMES = "".join(f"\tat com.dataiku.dip.dataflow.exec.Frame{i}.run(Frame{i}.java:{100 + i})\n" for i in range(40))
JAVA_LOG = (
    "[2026/09/02-15:00:00.000] [FRT-12-FlowRunnable] [INFO] [dku.flow.activity] act.join_X_NP - Run activity\n"
    "[2026/09/02-15:00:01.000] [FRT-12-FlowRunnable] [INFO] [dku.flow.sql] act.join_X_NP - Executing SQL on "
    "postgresql://etl:S3cr3t!@db.internal:5432/dwh\n"
    "[2026/09/02-15:00:02.000] [FRT-12-FlowRunnable] [ERROR] [dku.flow.activity] act.join_X_NP - Activity failed\n"
    "com.dataiku.common.server.APIError$SerializedErrorException: Failed to execute SQL\n"
    + JAVA_FRAMES
    + 'Caused by: java.sql.SQLException: ERROR: column "customer_id" does not exist\n'
    + JAVA_FRAMES
    + 'Caused by: org.postgresql.util.PSQLException: ERROR: column "customer_id" does not exist\n  Position: 42\n'
    + JAVA_FRAMES
    + "\t... 12 more\n"
    "[2026/09/02-15:00:02.100] [ActivityExecutor-3] [INFO] [dku.flow.activity] running join_X_NP - Activity is finished\n"
)


def test_python_traceback_is_kept_whole_with_the_error_line():
    excerpt = extract_log_excerpt(PYTHON_LOG)
    assert "Traceback (most recent call last):" in excerpt
    assert 'File "<string>", line 7, in <module>' in excerpt
    assert "KeyError: 'amount'" in excerpt
    assert "Recipe code failed" in excerpt
    assert "[ERROR] [dku.flow.activity] act.compute_orders_NP - Activity failed" in excerpt
    assert "Allocated a slot" not in excerpt  # far from the error: dropped
    assert "tkt_8f1c2a9b77e04d5c" not in excerpt  # the ticket line may be context, but redacted


def test_java_caused_by_chain_keeps_first_frame_and_drops_noise():
    excerpt = extract_log_excerpt(JAVA_LOG)
    lines = excerpt.splitlines()
    assert "com.dataiku.common.server.APIError$SerializedErrorException: Failed to execute SQL" in lines
    assert any(line.startswith("Caused by: java.sql.SQLException") for line in lines)
    assert any(line.startswith("Caused by: org.postgresql.util.PSQLException") for line in lines)
    frames = [line for line in lines if line.lstrip().startswith("at ")]
    assert len(frames) == 3  # one first frame per exception in the chain
    assert all("Frame0.run" in f for f in frames)
    assert "[... " in excerpt  # the dropped frames are marked
    assert "S3cr3t!" not in excerpt


def test_excerpt_is_bounded_in_lines_and_characters():
    noisy = "".join(
        f"[2026/09/02-15:00:{i % 60:02d}.000] [w-{i}] [ERROR] [dku.x] act.a - failure number {i} " + "x" * 200 + "\n"
        for i in range(500)
    )
    excerpt = extract_log_excerpt(noisy, max_lines=60, max_chars=6000)
    assert len(excerpt) <= 6000
    kept = [line for line in excerpt.splitlines() if not line.startswith("[... ")]
    assert len(kept) <= 60
    assert "failure number 499" in excerpt  # the end holds the latest, most relevant failure


def test_a_huge_single_line_is_cut():
    excerpt = extract_log_excerpt("[2026/09/02-15:00:00.000] [t] [ERROR] [dku.x]  - " + "y" * 100_000, max_chars=2000)
    assert len(excerpt) <= 2000
    assert "[ERROR]" in excerpt


def test_log_without_error_markers_gives_its_tail():
    log = "".join(f"[2026/09/02-15:00:00.000] [t] [INFO] [dku.x]  - line {i}\n" for i in range(100))
    excerpt = extract_log_excerpt(log, max_lines=10)
    assert excerpt.splitlines()[-1].endswith("line 99")
    assert "line 89" not in excerpt
    assert extract_log_excerpt("") == ""
    assert extract_log_excerpt(None) == ""


def test_plain_python_traceback_without_dss_markers():
    log = (
        "some output\n"
        "Traceback (most recent call last):\n"
        '  File "/opt/code/step.py", line 3, in <module>\n'
        "    main()\n"
        '  File "/opt/code/step.py", line 2, in main\n'
        "    1 / 0\n"
        "ZeroDivisionError: division by zero\n"
        "trailing noise\n"
    )
    excerpt = extract_log_excerpt(log)
    assert "ZeroDivisionError: division by zero" in excerpt
    assert "1 / 0" in excerpt
    assert "trailing noise" not in excerpt
