"""Client-side sliding-window rate limiter mirroring KSeF's limits (digest §13).

KSeF counts requests per (context, client IP) in three sliding windows at once
(last 1 s, 60 s and 60 min) and answers 429 on the first breach, with blocks
that grow on repeated breaches.  Waiting on our side is therefore cheaper than
being throttled.  One limiter instance should be shared by every client that
talks for the same context from the same machine.

The clock and sleep are injectable so tests can check timing without waiting.
The state lives in a *store*: by default in this process; a caller that runs in
several processes (Odoo workers and cron runs) passes a store that keeps it in
its database, so the limits hold across runs and workers.
"""
import contextlib
import threading
import time

from .errors import KsefRateLimited, KsefRateLimitHandOver

#: Sliding windows in seconds, in the order of ``(per_second, per_minute, per_hour)``.
WINDOWS = (1.0, 60.0, 3600.0)

#: Documented defaults (digest §13 table, also ``x-rate-limits`` in open-api.json).
DEFAULT_LIMITS = {
    "onlineSession": (10, 30, 120),
    "onlineSessionClose": (20, 60, 240),   # own group since API 2.9.0
    "invoiceSend": (10, 30, 180),
    "batchSession": (10, 20, 60),
    "batchSessionClose": (20, 40, 120),    # own group since API 2.9.0
    "collectiveIdentifier": (20, 120, 240),
    "invoiceStatus": (30, 120, 1200),
    "sessionList": (5, 10, 60),
    "sessionInvoiceList": (10, 20, 200),
    "sessionMisc": (10, 120, 1200),
    "invoiceMetadata": (8, 16, 20),
    "invoiceExport": (8, 16, 20),
    "invoiceExportStatus": (10, 60, 600),
    "invoiceDownload": (8, 16, 64),
    "other": (10, 30, 120),
    # Public endpoints (/auth/*, /security/public-key-certificates): 60 req/s per IP only.
    "public": (60, None, None),
}


class GroupState:
    """What the limiter remembers of one group: request times (ascending) and a server block."""

    __slots__ = ("history", "blocked_until")

    def __init__(self, history=None, blocked_until=0.0):
        self.history = list(history or [])
        self.blocked_until = blocked_until or 0.0


class MemoryRateLimitStore:
    """Keeps the limiter's state in this process (the default store).

    A store has one method, ``locked(group)``: a context manager yielding that group's
    :class:`GroupState`, exclusively, and saving the changes made to it on exit.
    """

    def __init__(self):
        self._states = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self, group):
        with self._lock:
            yield self._states.setdefault(group, GroupState())
def _limit(value):
    """A window's limit, or None when KSeF gives none (missing, -1 or not a positive integer)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class RateLimiter:
    """Per-group sliding-window limiter.

    ``acquire(group)`` blocks (through the injected ``sleep``) until a request of
    that group fits in all windows, then records it.  If the needed wait exceeds
    ``max_wait`` seconds it raises :class:`KsefRateLimited` instead, so a cron job
    can reschedule rather than hang for up to an hour.

    ``deadline`` (a time of ``clock``, None: none) is when the caller's own run must end: a wait
    that would end after it is not slept; :class:`KsefRateLimitHandOver` is raised at once with the
    delay, so the caller can hand over to a run scheduled for when the limit frees.
    """

    def __init__(self, limits=None, *, clock=time.monotonic, sleep=time.sleep, max_wait=60.0, safety_margin=0.05,
                 store=None):
        self._limits = dict(DEFAULT_LIMITS)
        if limits:
            self._limits.update(limits)
        self._clock = clock
        self._sleep = sleep
        self.max_wait = max_wait
        # Extra seconds added to every window: requests reach KSeF with varying latency, so a
        # request sent exactly one window after an earlier one may arrive inside the window.
        self.safety_margin = safety_margin
        # A shared store needs a clock all processes agree on: pass ``clock=time.time`` with it.
        self._store = store if store is not None else MemoryRateLimitStore()
        self._acquired = {}  # group -> time recorded for this limiter's last request of the group
        self.deadline = None

    @property
    def limits(self):
        """Current limits: ``{group: (per_second, per_minute, per_hour)}`` (None = unlimited)."""
        return dict(self._limits)

    def update_from_api(self, payload):
        """Adopt the effective limits returned by ``GET /rate-limits``.

        ``payload`` is ``{group: {"perSecond", "perMinute", "perHour"}}``; unknown
        groups are added, malformed entries ignored. A value of -1 (API 2.9.0: ``anonymous`` and
        ``global`` per minute/hour) means no limit in that window; ``anonymous`` is our ``public`` group.
        """
        for group, values in (payload or {}).items():
            if isinstance(values, dict):
                limits = tuple(_limit(values.get(name)) for name in ("perSecond", "perMinute", "perHour"))
                self._limits["public" if group == "anonymous" else group] = limits

    def _group_limits(self, group):
        return self._limits.get(group) or self._limits["other"]

    def delay_for(self, group):
        """Seconds to wait before a request of ``group`` fits all windows (0.0 if it fits now)."""
        with self._store.locked(group) as state:
            return self._delay(group, state, self._clock())

    def _delay(self, group, state, now):
        history = state.history
        # Forget requests older than the longest window, and more than the largest limit can use.
        limits = self._group_limits(group)
        keep = max([limit for limit in limits if limit] or [1])
        del history[:max(0, len(history) - keep)]
        while history and history[0] <= now - WINDOWS[-1]:
            history.pop(0)
        delay = max(0.0, (state.blocked_until or now) - now)
        for window, limit in zip(WINDOWS, limits):
            if not limit:
                continue
            in_window = [t for t in history if t > now - window - self.safety_margin]
            if len(in_window) >= limit:
                # The oldest request that must leave the window before we may go.
                oldest_blocking = in_window[len(in_window) - limit]
                delay = max(delay, oldest_blocking + window + self.safety_margin - now)
        return delay

    def acquire(self, group):
        """Wait until a ``group`` request is allowed, record it and return the seconds waited."""
        if group is None:
            return 0.0
        waited = 0.0
        while True:
            with self._store.locked(group) as state:
                now = self._clock()
                delay = self._delay(group, state, now)
                if delay <= 0:
                    state.history.append(now)
                    self._acquired[group] = now
                    return waited
            if self.deadline is not None and now + delay > self.deadline:
                raise KsefRateLimitHandOver(
                    "Client-side rate limit for KSeF group %r: the next request is allowed in %.1f s, after "
                    "the caller's deadline." % (group, delay), retry_after=delay)
            if waited + delay > self.max_wait:
                raise KsefRateLimited(
                    "Client-side rate limit for KSeF group %r reached; retry in %.1f s." % (group, delay),
                    retry_after=delay)
            self._sleep(delay)
            waited += delay

    def answered(self, group):
        """The last request of ``group`` got its answer: count it from now.

        KSeF counts a request when it arrives, which is after it was recorded here (encryption, a busy
        machine, the network): counting it from its answer keeps our windows behind KSeF's.
        """
        recorded = self._acquired.pop(group, None)
        if recorded is None:
            return
        with self._store.locked(group) as state:
            history = state.history
            for index in range(len(history) - 1, -1, -1):
                if history[index] == recorded:
                    history[index] = max(recorded, self._clock())
                    history.sort()
                    break

    def penalize(self, group, seconds):
        """Record a server 429 so the whole group pauses for ``seconds`` (no parallel retries)."""
        if group is None or not seconds:
            return
        with self._store.locked(group) as state:
            state.blocked_until = max(self._clock() + seconds, state.blocked_until or 0.0)
