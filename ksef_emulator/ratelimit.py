"""Sliding-window rate limits (1 s / 60 s / 60 min) per (context, client IP, group).

Values and groups come from open-api.json: each operation's ``x-rate-limits`` and the
``grupa`` column of its 429 description (e.g. ``onlineSessionClose``). Endpoints of one named
group share one counter (the four ``collectiveIdentifier`` endpoints, the two
``sessionInvoiceList`` ones...); endpoints of the group ``other`` each count alone.
Operations without a group and limited per second only (``/auth/*``, ``/testdata/*``, public
keys) form the ``anonymous`` group; every request also counts towards ``global``.
``POST /testdata/rate-limits`` overrides the values per context (:class:`LimitPolicy`).
"""
import bisect
import collections
import math
import re
import threading

DEFAULT_LIMITS = {"perSecond": 10, "perMinute": 30, "perHour": 120}
# The example of GET /rate-limits in open-api.json 2.9.0 (-1: no limit in that window).
ANONYMOUS_LIMITS = {"perSecond": 60, "perMinute": -1, "perHour": -1}
GLOBAL_LIMITS = {"perSecond": 75, "perMinute": -1, "perHour": -1}
# Groups of ApiRateLimitsOverride (POST /testdata/rate-limits) and EffectiveApiRateLimits.
OVERRIDABLE_GROUPS = ("onlineSession", "batchSession", "invoiceSend", "invoiceStatus", "sessionList",
                      "sessionInvoiceList", "sessionMisc", "invoiceMetadata", "invoiceExport",
                      "invoiceExportStatus", "invoiceDownload", "collectiveIdentifier", "other")
WINDOWS = (("perSecond", 1.0, "sekundę"), ("perMinute", 60.0, "minutę"), ("perHour", 3600.0, "godzinę"))
_GROUP_CELL = re.compile(r"\|\s*([A-Za-z]+)\s*$")
_WINDOW_NAMES = ("perSecond", "perMinute", "perHour")


def spec_group(operation):
    """The ``grupa`` of an operation's 429 table, ``anonymous`` for per-second-only public ones."""
    description = ((operation.responses.get("429") or {}).get("description") or "").strip()
    found = _GROUP_CELL.search(description)
    if found:
        return found.group(1)
    return "anonymous"


def group_for(operation):
    """Counter name for a spec operation (``other`` endpoints count alone)."""
    group = spec_group(operation)
    return operation.key if group == "other" else group


def default_group_limits(openapi):
    """``{group: {perSecond, perMinute, perHour}}`` as the spec documents them (TE defaults)."""
    limits = {"other": dict(DEFAULT_LIMITS), "anonymous": dict(ANONYMOUS_LIMITS), "global": dict(GLOBAL_LIMITS)}
    for operation in openapi.operations.values():
        group = spec_group(operation)
        if group in limits or not operation.rate_limits:
            continue
        limits[group] = {name: operation.rate_limits.get(name, -1) for name in _WINDOW_NAMES}
    return limits


class LimitPolicy:
    """Effective limits per context: the spec defaults, or the override set through
    ``POST /testdata/rate-limits`` (``/production`` applies the PRD values).

    limity/limity-api.md: "Na środowisku PRD stosowane są domyślne limity określone w niniejszej
    dokumentacji" and TE's defaults are ten times higher than PRD's. The defaults here are the documented
    (PRD) values, which keeps every test's limits at the production pace; ``/production`` restores exactly
    them (an earlier version divided them by ten, which is ten times stricter than production)."""

    def __init__(self, openapi, store):
        self.defaults = default_group_limits(openapi)
        self._store = store

    def effective(self, context):
        """The full ``EffectiveApiRateLimits`` body for a context ``(type, value)`` or None."""
        values = {group: dict(limits) for group, limits in self.defaults.items()}
        if context is not None:
            override = self._store.get_json("rate_limit_overrides", "%s:%s" % context, None)
            if override:
                for group, limits in override.items():
                    values.setdefault(group, {}).update(limits)
        return values

    def limits_for(self, context, group_name, operation):
        """``{perSecond, perMinute, perHour}`` for one request (``group_name`` as in the spec)."""
        values = self.effective(context) if context is not None else self.defaults
        limits = values.get(group_name)
        if limits is None:
            return operation.rate_limits or DEFAULT_LIMITS
        return limits

    def set_override(self, context, rate_limits):
        self._store.put_json("rate_limit_overrides", "%s:%s" % context, rate_limits)

    def set_production(self, context):
        production = {}
        for group, limits in self.defaults.items():
            if group in ("anonymous", "global"):
                continue
            production[group] = dict(limits)
        self.set_override(context, production)

    def reset(self, context):
        self._store.put_json("rate_limit_overrides", "%s:%s" % context, {})


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
        or ``(retry_after_seconds, message)`` if it is over a limit. A limit of -1 (or 0) is no limit."""
        now = self._clock.time() if now is None else now
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - 3600.0:
                hits.popleft()
            for name, window, label in WINDOWS:
                limit = limits.get(name)
                if not limit or limit < 0:
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
