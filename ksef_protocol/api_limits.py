"""Effective limits: ``GET /rate-limits``, ``GET /limits/context``, ``GET /limits/subject``."""


class LimitsApiMixin:
    """Read the effective limits; ``get_rate_limits`` also feeds the client-side limiter."""

    def get_rate_limits(self, apply=True):
        """``GET /rate-limits`` (``{group: {perSecond, perMinute, perHour}}``); with ``apply`` the
        client's limiter adopts the values."""
        payload = self._request("GET", "/rate-limits") or {}
        if apply:
            self.limiter.update_from_api(payload)
        return payload

    def get_context_limits(self):
        """``GET /limits/context``: session limits (invoice size/count) of the current context."""
        return self._request("GET", "/limits/context") or {}

    def get_subject_limits(self):
        """``GET /limits/subject``: certificate/enrollment limits of the authenticated subject."""
        return self._request("GET", "/limits/subject") or {}
