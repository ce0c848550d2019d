"""The DSS adapter against the answers a real DSS gives (issue 12): deterministic errors arrive as HTTP 500 with an
``errorType`` and are not retried; proxy pages and dropped connections are; futures are read the way DSS serves
them. Each through the real ``dataikuapi`` client against the emulator, checked against the emulator's own state."""

from __future__ import annotations

import pytest
from dataikuapi.utils import DataikuException
from flow_orchestrator.port import OutputRef, TransientAPIError

from dss_emulator import EmulatedDSS
from tests.reliability.harness import fast_clinical_flow, gateway_for

pytestmark = pytest.mark.emulator_only

PROJECT = "CLINICAL"


@pytest.fixture(scope="module")
def dss():
    with EmulatedDSS.start(flows=[fast_clinical_flow()]) as emulator:
        yield emulator


@pytest.fixture
def gateway(dss):
    yield gateway_for(dss, PROJECT)
    dss.clear_faults()


def test_a_job_start_dss_refuses_with_a_500_is_not_retried(dss, gateway):
    """An unknown object in a job definition: DSS answers HTTP 500 with an errorType; starting again cannot help."""
    # Not a TransientAPIError: the runner fails the recipe at once instead of starting it again and again.
    with pytest.raises(DataikuException, match="dataset does not exist: CLINICAL.NOPE"):
        gateway.start_job([OutputRef(id="NOPE")], "NON_RECURSIVE_FORCED_BUILD")
    assert dss.job_starts(PROJECT) == 0


def test_a_read_dss_refuses_with_a_500_is_answered_at_once(dss, gateway):
    """An illegal argument is an answer about the request: a read is not retried (one request, no pause)."""
    start = gateway.request_count
    with pytest.raises(DataikuException, match="IllegalArgumentException: No future by that id"):
        gateway._read("Reading a future", gateway.client.get_future("nosuchfuture").get_state)
    assert gateway.request_count - start == 1


@pytest.mark.parametrize("mode", ["500", "503", "drop"])
def test_proxy_pages_and_dropped_connections_are_retried(dss, gateway, mode):
    dss.fail_requests(2, mode)
    assert "standard" in gateway.get_variables()


@pytest.mark.parametrize("mode", ["500", "503"])
def test_a_proxy_page_is_transient_for_a_single_call(dss, gateway, mode):
    dss.fail_requests(1, mode)
    with pytest.raises(TransientAPIError, match=f"HTTP {mode}"):
        gateway.call("Reading project variables", gateway.project.get_variables)


@pytest.mark.parametrize(
    "status, message, transient",
    [
        (500, "java.lang.IllegalArgumentException: Connection 'x' does not exist", False),
        (500, "com.dataiku.dip.server.controllers.NotFoundException: dataset does not exist: P.X", False),
        (500, "com.dataiku.dip.exceptions.DSSInternalErrorException: Internal error", False),
        (500, "java.net.SocketTimeoutException: Read timed out", True),
        (500, "com.dataiku.dip.exceptions.CodedException: Connection reset by peer", True),
        (500, "Unknown error: <html>HTTP ERROR 500</html>", True),
        (502, "Unknown error: Bad Gateway", True),
        (503, "Unknown error: Service Unavailable", True),
        (504, "Unknown error: Gateway Timeout", True),
        (429, "Unknown error: Too Many Requests", True),
        (501, "Unknown error: Not Implemented", False),
        (400, "com.dataiku.dip.exceptions.APIIllegalArgumentException: bad", False),
    ],
)
def test_errors_are_classified_by_type_and_message_not_status(status, message, transient):
    from flow_orchestrator.dss.client import is_transient_answer

    assert is_transient_answer(status, message) is transient


@pytest.mark.compat_smoke
@pytest.mark.parametrize("verify_tls", [True, False])
def test_connect_works_with_the_client_dss_bundles(dss, verify_tls):
    """DSS runs the plugin with its own dataikuapi: the certificate option is passed the way that release takes it
    (``no_check_certificate``, ``insecure_tls`` or neither), never by a version string."""
    from flow_orchestrator.dss import DSSGateway, connect

    client = connect(dss.url, dss.api_key, verify_tls=verify_tls)
    assert client._session.verify is verify_tls
    assert DSSGateway(client, PROJECT).check_access()["projectKey"] == PROJECT


class _Session:
    verify = True


class _Client13_3_2:
    """The constructor of clients 13.3.2 and later."""

    def __init__(self, host, api_key=None, internal_ticket=None, extra_headers=None, no_check_certificate=False):
        self.given = {"no_check_certificate": no_check_certificate}
        self._session = _Session()


class _Client12_4:
    """The constructor of clients 12.4 to 13.3.1."""

    def __init__(self, host, api_key=None, internal_ticket=None, extra_headers=None, insecure_tls=False):
        self.given = {"insecure_tls": insecure_tls}
        self._session = _Session()


class _Client12_0:
    """The constructor of clients 12.0 to 12.3: no certificate option at all."""

    def __init__(self, host, api_key=None, internal_ticket=None, extra_headers=None):
        self.given = {}
        self._session = _Session()


@pytest.mark.parametrize(
    "client_class, given, session_verify",
    [
        (_Client13_3_2, {"no_check_certificate": True}, True),
        (_Client12_4, {"insecure_tls": True}, True),
        (_Client12_0, {}, False),
    ],
)
def test_the_certificate_option_follows_the_client_signature(client_class, given, session_verify):
    from flow_orchestrator.dss import new_client

    client = new_client(client_class, "http://dss", "key", verify_tls=False)
    assert client.given == given  # the option the constructor takes, by name
    assert client._session.verify is session_verify  # set directly only when the constructor has no option


def test_a_job_log_without_charset_is_read_as_utf8(dss, gateway):
    """DSS sends job logs as text/plain with no charset; requests would decode them as ISO-8859-1."""
    message = "Échec : données invalides pour la clé « patient_id » ✗"
    dss.fail_recipe(PROJECT, "group_LAB_RESULTS_AGG", message, times=1)
    job_id = gateway.start_job([OutputRef(id="LAB_RESULTS_AGG")], "NON_RECURSIVE_FORCED_BUILD")
    assert dss.wait_for_job(PROJECT, job_id) == "FAILED"
    assert message in gateway.job_log(job_id)
