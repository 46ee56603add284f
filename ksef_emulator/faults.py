"""Fault injection: the next N requests matching a path pattern misbehave.

Rule (``POST /admin/faults``): ``{"pathPattern": "regex on the path", "method": "POST"?,
"count": 1, "kind": ..., "status": ..., "delaySeconds": ...}`` where ``kind`` is
- ``html``: answer ``status`` (default 502) with an HTML error page (like a proxy);
- ``status``: answer ``status`` (default 550) with a JSON body;
- ``timeout``: wait ``delaySeconds`` (default 30) and close the connection without an answer;
- ``drop``: process the request normally (it IS accepted), then drop the connection unanswered;
- ``slow``: wait ``delaySeconds`` (default 3) then answer normally.
Slow *invoice processing* is the ``invoiceProcessingDelaySeconds`` config value instead.
"""
import re
import threading

KINDS = ("html", "status", "timeout", "drop", "slow")


class FaultRule:
    def __init__(self, spec):
        if spec.get("kind") not in KINDS:
            raise ValueError("kind must be one of %s" % ", ".join(KINDS))
        try:
            self.regex = re.compile(spec.get("pathPattern") or ".*")
        except re.error as exc:
            raise ValueError("pathPattern is not a valid regular expression: %s" % exc)
        self.spec = dict(spec)
        self.kind = spec["kind"]
        self.method = (spec.get("method") or "").upper() or None
        self.remaining = int(spec.get("count", 1))
        default_status = {"html": 502, "status": 550}.get(self.kind)
        self.status = int(spec.get("status") or default_status or 0)
        self.delay = float(spec.get("delaySeconds", {"timeout": 30.0, "slow": 3.0}.get(self.kind, 0.0)))

    def as_dict(self):
        return dict(self.spec, remaining=self.remaining)


class FaultInjector:
    def __init__(self):
        self._rules = []
        self._lock = threading.Lock()

    def add(self, spec):
        rule = FaultRule(spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self):
        with self._lock:
            self._rules = []

    def list(self):
        with self._lock:
            return [rule.as_dict() for rule in self._rules]

    def take(self, method, path):
        """The first matching rule (its count decremented), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.remaining > 0 and (rule.method in (None, method)) and rule.regex.search(path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    return rule
        return None
