"""End-to-end limits: effective rate limits feed the client-side limiter, which keeps us below 429."""
from _core_invoices import SELLER_NIP
from ksef_protocol import Environment, KsefClient, RateLimiter, SessionKey


def test_rate_limits_endpoint_updates_limiter(emulator, emulator_client):
    emulator_client.authenticate_with_ksef_token(SELLER_NIP, emulator.create_token(SELLER_NIP, ["InvoiceRead"])["token"])
    limits = emulator_client.get_rate_limits()
    assert limits["invoiceSend"]["perHour"] > 0
    assert emulator_client.limiter.limits["invoiceSend"] == (
        limits["invoiceSend"]["perSecond"], limits["invoiceSend"]["perMinute"], limits["invoiceSend"]["perHour"])
    assert "onlineSession" in emulator_client.get_context_limits()


def test_client_side_limiter_prevents_server_429(emulator):
    emulator.admin("/config", {"rateLimitsEnabled": True})
    emulator.admin("/rate-limits/reset", {})
    try:
        client = KsefClient(Environment.custom(emulator.base_url), max_retries=0, limiter=RateLimiter())
        client.authenticate_with_ksef_token(
            SELLER_NIP, emulator.create_token(SELLER_NIP, ["InvoiceWrite"])["token"])
        session = client.open_online_session(SessionKey.generate())
        # sessionMisc allows 10 requests per second: 14 calls must be spread by the client, and
        # with max_retries=0 a single server 429 would fail the test.
        for _ in range(14):
            assert client.get_session_status(session.reference_number).code == 100
    finally:
        emulator.admin("/config", {"rateLimitsEnabled": False})
        emulator.admin("/rate-limits/reset", {})
