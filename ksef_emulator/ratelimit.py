"""Sliding-window rate limits (1 s / 60 s / 60 min) per (context, client IP, group).

Values come from each operation's ``x-rate-limits`` in open-api.json. Endpoints of
the documented groups share one counter (e.g. opening and closing online sessions);
other endpoints each have their own. Public endpoints are counted per IP only.
"""
import bisect
import collections
import math
import threading

# Spec paths sharing one counter (limity-api.md). Unlisted operations count alone.
GROUPS = {
    "POST /sessions/online": "onlineSession",
    "POST /sessions/online/{referenceNumber}/close": "onlineSession",
    "POST /sessions/online/{referenceNumber}/invoices": "invoiceSend",
    "POST /sessions/batch": "batchSession",
    "POST /sessions/batch/{referenceNumber}/close": "batchSession",
    "GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}": "invoiceStatus",
    "GET /sessions": "sessionList",
    "GET /sessions/{referenceNumber}/invoices": "sessionInvoiceList",
    "GET /sessions/{referenceNumber}/invoices/failed": "sessionInvoiceList",
    "GET /sessions/{referenceNumber}": "sessionMisc",
    "GET /sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo": "sessionMisc",
    "GET /sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo": "sessionMisc",
    "GET /sessions/{referenceNumber}/upo/{upoReferenceNumber}": "sessionMisc",
    "POST /invoices/query/metadata": "invoiceMetadata",
    "POST /invoices/exports": "invoiceExport",
    "GET /invoices/exports/{referenceNumber}": "invoiceExportStatus",
    "GET /invoices/ksef/{ksefNumber}": "invoiceDownload",
}
DEFAULT_LIMITS = {"perSecond": 10, "perMinute": 30, "perHour": 120}
WINDOWS = (("perSecond", 1.0, "sekundę"), ("perMinute", 60.0, "minutę"), ("perHour", 3600.0, "godzinę"))


class RateLimiter:
    def __init__(self, clock):
        self._clock = clock
        self._hits = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def reset(self):
        with self._lock:
            self._hits.clear()

    def check(self, key, limits, now=None):
        """Record one request for ``key`` arriving at ``now`` (default: the clock's time); return None,
        or ``(retry_after_seconds, message)`` if it is over a limit."""
        now = self._clock.time() if now is None else now
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - 3600.0:
                hits.popleft()
            for name, window, label in WINDOWS:
                limit = limits.get(name)
                if not limit:
                    continue
                start = now - window
                inside = [t for t in hits if t > start] if window < 3600.0 else hits
                if len(inside) >= limit:
                    oldest = inside[len(inside) - limit]
                    retry_after = max(1, int(math.ceil(oldest + window - now)))
                    return retry_after, ("Przekroczono limit %d żądań na %s. Spróbuj ponownie po %d sekundach."
                                         % (limit, label, retry_after))
            if hits and hits[-1] > now:  # concurrent requests may be checked out of arrival order
                bisect.insort(hits, now)
            else:
                hits.append(now)
        return None


def group_for(operation):
    """Counter name for a spec operation."""
    return GROUPS.get(operation.key, operation.key)
