"""The client's session reads the environment's proxy and certificate settings once, as requests would per call."""

from __future__ import annotations

import dataikuapi
import requests
from flow_orchestrator.dss import DSSGateway, new_client


def test_the_gateway_reads_proxies_and_certificates_from_the_environment_once(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read here", encoding="utf-8")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = new_client(dataikuapi.DSSClient, "https://dss.example.com:11200", "secret-key")
    expected = requests.Session().merge_environment_settings("https://dss.example.com:11200", {}, None, True, None)
    DSSGateway(client, "P")
    session = client._session
    assert session.trust_env is False  # requests no longer scans the environment on every call
    assert session.proxies == expected["proxies"] and session.proxies["https"] == "http://proxy.example.com:3128"
    assert session.verify == str(bundle)
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example.com:3128")  # read once: later changes are not seen
    assert session.proxies["https"] == "http://proxy.example.com:3128"


def test_an_instance_the_environment_exempts_from_the_proxy_keeps_no_proxy_and_a_disabled_check_stays_off(
    monkeypatch,
):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("NO_PROXY", "dss.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nowhere/ca.pem")
    client = new_client(dataikuapi.DSSClient, "https://dss.internal:11200", "secret-key", verify_tls=False)
    DSSGateway(client, "P")
    assert client._session.proxies.get("https") is None
    assert client._session.verify is False
