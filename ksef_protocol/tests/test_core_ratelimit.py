"""Sliding-window limiter timing, checked with a fake clock (no real sleeps)."""
import pytest

from ksef_protocol import KsefRateLimited, KsefRateLimitHandOver, RateLimiter


def make(fake_clock, **kwargs):
    kwargs.setdefault("safety_margin", 0.0)
    return RateLimiter(clock=fake_clock, sleep=fake_clock.sleep, **kwargs)


def test_per_second_window(fake_clock):
    limiter = make(fake_clock, limits={"g": (2, None, None)})
    assert limiter.acquire("g") == 0.0
    assert limiter.acquire("g") == 0.0
    # Third request in the same second waits until the first leaves the 1 s window.
    assert limiter.acquire("g") == pytest.approx(1.0)
    assert fake_clock.sleeps == [pytest.approx(1.0)]


def test_per_minute_window_uses_oldest_blocking_request(fake_clock):
    limiter = make(fake_clock, limits={"g": (10, 3, None)})
    for _ in range(3):
        limiter.acquire("g")
        fake_clock.now += 10  # requests at t=0, 10, 20
    # now t=30: the 4th must wait for t=0 to leave the 60 s window -> 30 s.
    assert limiter.delay_for("g") == pytest.approx(30.0)
    limiter.acquire("g")
    assert fake_clock.sleeps == [pytest.approx(30.0)]


def test_documented_invoice_send_hourly_limit(fake_clock):
    limiter = make(fake_clock, max_wait=7200)
    # invoiceSend: 10/s, 30/min, 180/h.  Send 180 spaced 2.1 s apart (within s/min limits).
    for _ in range(180):
        limiter.acquire("invoiceSend")
        fake_clock.now += 2.1
    first = fake_clock.now - 180 * 2.1
    fake_clock.sleeps.clear()
    limiter.acquire("invoiceSend")
    # The 181st request waits until the first one is an hour old.
    assert fake_clock.now == pytest.approx(first + 3600.0)


def test_groups_are_independent_and_unknown_groups_use_other(fake_clock):
    limiter = make(fake_clock)
    for _ in range(8):
        limiter.acquire("invoiceMetadata")  # 8/s
    assert limiter.delay_for("invoiceMetadata") > 0
    assert limiter.delay_for("invoiceDownload") == 0
    assert limiter.limits.get("brandNew") is None
    for _ in range(10):
        limiter.acquire("brandNew")  # falls back to "other" 10/s
    assert limiter.delay_for("brandNew") == pytest.approx(1.0)


def test_refuses_to_wait_longer_than_max_wait(fake_clock):
    limiter = make(fake_clock, max_wait=60)
    for _ in range(20):
        limiter.acquire("invoiceExport")  # 8/s, 16/min, 20/h: spaced to reach 20
        fake_clock.now += 5
    with pytest.raises(KsefRateLimited) as info:
        limiter.acquire("invoiceExport")
    assert info.value.retry_after > 60


def test_update_from_rate_limits_endpoint(fake_clock):
    limiter = make(fake_clock)
    limiter.update_from_api({"invoiceSend": {"perSecond": 1, "perMinute": 2, "perHour": 3},
                             "ignored": "not a dict"})
    assert limiter.limits["invoiceSend"] == (1, 2, 3)
    limiter.acquire("invoiceSend")
    assert limiter.delay_for("invoiceSend") == pytest.approx(1.0)


def test_penalize_blocks_group_after_server_429(fake_clock):
    limiter = make(fake_clock)
    limiter.penalize("invoiceStatus", 12.5)
    assert limiter.delay_for("invoiceStatus") == pytest.approx(12.5)
    assert limiter.delay_for("other") == 0
    limiter.acquire("invoiceStatus")
    assert fake_clock.sleeps == [pytest.approx(12.5)]


def test_none_group_is_never_limited(fake_clock):
    limiter = make(fake_clock, limits={"other": (1, 1, 1)})
    for _ in range(5):
        assert limiter.acquire(None) == 0.0


def test_safety_margin_lengthens_every_window(fake_clock):
    limiter = make(fake_clock, limits={"g": (1, None, None)}, safety_margin=0.05)
    limiter.acquire("g")
    fake_clock.now += 1.0  # exactly one window later is still too early with the margin
    assert limiter.delay_for("g") == pytest.approx(0.05)


def test_shared_store_keeps_limits_across_limiters(fake_clock):
    """A limiter made for a later run (or another worker) sees what earlier ones sent."""
    from ksef_protocol.ratelimit import MemoryRateLimitStore
    store = MemoryRateLimitStore()
    first_run = make(fake_clock, limits={"g": (10, 3, None)}, store=store)
    for _ in range(3):
        first_run.acquire("g")
    fake_clock.now += 5
    second_run = make(fake_clock, limits={"g": (10, 3, None)}, store=store)
    assert second_run.delay_for("g") == pytest.approx(55.0)
    # Without the shared store, the new limiter would have forgotten the three requests.
    assert make(fake_clock, limits={"g": (10, 3, None)}).delay_for("g") == 0.0


def test_penalty_is_shared_through_the_store(fake_clock):
    from ksef_protocol.ratelimit import MemoryRateLimitStore
    store = MemoryRateLimitStore()
    make(fake_clock, store=store).penalize("invoiceSend", 30)
    assert make(fake_clock, store=store).delay_for("invoiceSend") == pytest.approx(30.0)


def test_request_counts_from_its_answer_not_from_its_start(fake_clock):
    """KSeF counts a request when it arrives: a slow request is counted from its answer, so the next
    request of a full window never reaches KSeF inside KSeF's own window."""
    limiter = make(fake_clock, limits={"g": (None, 1, None)}, safety_margin=0.0)
    start = fake_clock.now
    limiter.acquire("g")          # recorded at t=0
    fake_clock.now += 2.5         # encryption, a busy machine, the network: answered at t=2.5
    limiter.answered("g")
    fake_clock.now = start + 60.5
    assert limiter.delay_for("g") == pytest.approx(2.0)
    limiter.answered("g")         # nothing recorded any more: no effect
    fake_clock.now = start + 62.5
    assert limiter.delay_for("g") == 0.0


def test_deadline_hands_over_instead_of_sleeping_past_it(fake_clock):
    limiter = make(fake_clock, limits={"g": (10, 3, None)}, max_wait=3600)
    for _ in range(3):
        limiter.acquire("g")
    limiter.deadline = fake_clock.now + 45.0
    fake_clock.now += 5  # the next request fits in 55 s: later than the deadline
    with pytest.raises(KsefRateLimitHandOver) as raised:
        limiter.acquire("g")
    assert raised.value.retry_after == pytest.approx(55.0)
    assert isinstance(raised.value, KsefRateLimited)
    assert fake_clock.sleeps == [], "never slept"
    # A wait that ends before the deadline is slept as before.
    limiter.deadline = fake_clock.now + 60.0
    assert limiter.acquire("g") == pytest.approx(55.0)
