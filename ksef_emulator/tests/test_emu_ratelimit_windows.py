"""The sliding windows of the emulator's rate limiter, with a fake clock."""
from ksef_emulator.ratelimit import RateLimiter


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now


def test_per_second_window_slides():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limits = {"perSecond": 10, "perMinute": 30, "perHour": 180}
    for index in range(10):
        clock.now = 1000.0 + index * 0.01
        assert limiter.check("k", limits) is None
    retry_after, message = limiter.check("k", limits)
    assert retry_after == 1 and "10" in message
    clock.now = 1001.0  # the first request (t=1000.0) leaves the window exactly now
    assert limiter.check("k", limits) is None
    assert limiter.check("other key", limits) is None


def test_per_minute_and_per_hour_windows():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limits = {"perSecond": 100, "perMinute": 3, "perHour": 4}
    for index in range(3):
        clock.now = 1000.0 + index
        assert limiter.check("k", limits) is None
    retry_after, _ = limiter.check("k", limits)
    assert retry_after == 58  # the first hit at t=1000 leaves the minute window at t=1060
    clock.now = 1061.0
    assert limiter.check("k", limits) is None
    clock.now = 1200.0
    retry_after, message = limiter.check("k", limits)
    assert "godzinę" in message and retry_after == 3400
    clock.now = 4600.5
    assert limiter.check("k", limits) is None


def test_out_of_order_arrivals_are_kept_sorted():
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limits = {"perSecond": 2}
    assert limiter.check("k", limits, now=1000.5) is None
    assert limiter.check("k", limits, now=1000.2) is None
    assert limiter.check("k", limits, now=1001.3) is None  # 1000.2 has left the window
