"""Environment hosts (digest §1) and custom URLs."""
import pytest

from ksef_protocol import Environment


def test_official_hosts():
    assert Environment.get("test").api_url == "https://api-test.ksef.mf.gov.pl/v2"
    assert Environment.get("TEST").qr_url == "https://qr-test.ksef.mf.gov.pl"
    assert Environment.get("demo").api_url == "https://api-demo.ksef.mf.gov.pl/v2"
    assert Environment.get("demo").qr_url == "https://qr-demo.ksef.mf.gov.pl"
    prod = Environment.get("prod")
    assert (prod.api_url, prod.qr_url) == ("https://api.ksef.mf.gov.pl/v2", "https://qr.ksef.mf.gov.pl")
    assert prod.is_production and not Environment.get("test").is_production
    assert Environment.get("prd") is prod


def test_custom_environment():
    env = Environment.custom("http://127.0.0.1:8123/v2/")
    assert env.api_url == "http://127.0.0.1:8123/v2" and env.qr_url == "http://127.0.0.1:8123"
    assert env.name == "custom"
    with pytest.raises(ValueError, match="absolute"):
        Environment.custom("127.0.0.1:8000")
    with pytest.raises(ValueError, match="test, demo, prod"):
        Environment.get("staging")
