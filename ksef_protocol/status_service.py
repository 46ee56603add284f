"""KSeF's public status service ("Latarnia"): is KSeF available, and what did the Ministry announce.

Not in the Ministry's integrator documentation; described by third-party SDKs (docs-changes §8)
and used by Odoo S.A.'s own Polish module. Public, no authentication, JSON:

* ``GET {base}/status`` -> ``{"status": AVAILABLE|MAINTENANCE|FAILURE|TOTAL_FAILURE, "messages": [...]}``
  (``messages``: the announcements behind the current status; absent when fully available);
* ``GET {base}/messages`` -> ``[message, ...]``, every published announcement: ``id``, ``eventId``,
  ``category`` (FAILURE|TOTAL_FAILURE|MAINTENANCE), ``type`` (FAILURE_START|FAILURE_END|
  MAINTENANCE_ANNOUNCEMENT), ``title``, ``text``, ``start``, ``end`` (or null), ``version``, ``published``.

Hosts: TEST ``api-latarnia-test``, PROD ``api-latarnia``; DEMO has none of its own (the TEST one is
used, as the SDK does). For a custom API URL (the local emulator) the service is at the API's host
without ``/v2``. One SDK documents ``/api/status``: on a 404 the client tries that prefix too.

Tolerance: the service is informative. :meth:`StatusServiceClient.check` never raises: when the
service cannot be reached or answers nonsense it reports ``UNKNOWN`` with the reason, and the
caller carries on as if it did not exist. Unknown statuses become ``UNKNOWN`` (the raw value is
kept); unknown categories/types are kept as sent and ignored by the helpers.
"""
import datetime
import logging
import zoneinfo
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from ._dates import parse_datetime

_logger = logging.getLogger("ksef_protocol")

AVAILABLE = "AVAILABLE"
MAINTENANCE = "MAINTENANCE"
FAILURE = "FAILURE"
TOTAL_FAILURE = "TOTAL_FAILURE"
UNKNOWN = "UNKNOWN"
STATUSES = (AVAILABLE, MAINTENANCE, FAILURE, TOTAL_FAILURE)
#: Statuses in which KSeF does not take invoices: sending waits.
OUTAGE_STATUSES = (MAINTENANCE, FAILURE, TOTAL_FAILURE)

FAILURE_START = "FAILURE_START"
FAILURE_END = "FAILURE_END"
MAINTENANCE_ANNOUNCEMENT = "MAINTENANCE_ANNOUNCEMENT"

STATUS_SERVICE_URLS = {
    "test": "https://api-latarnia-test.ksef.mf.gov.pl",
    "demo": "https://api-latarnia-test.ksef.mf.gov.pl",
    "prod": "https://api-latarnia.ksef.mf.gov.pl",
}
#: Path prefixes tried in this order (the second is what one TypeScript SDK documents).
PATH_PREFIXES = ("", "/api")
DEFAULT_TIMEOUT = 10.0
_POLAND = zoneinfo.ZoneInfo("Europe/Warsaw")


def status_service_url(environment):
    """Base URL of the status service for a ``ksef_protocol.Environment`` (or its name)."""
    name = getattr(environment, "name", environment)
    if name in STATUS_SERVICE_URLS:
        return STATUS_SERVICE_URLS[name]
    parts = urlsplit(getattr(environment, "api_url", "") or "")
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    return "%s://%s%s" % (parts.scheme, parts.netloc, path)


def _moment(value):
    """Aware UTC datetime of a timestamp; one without offset is Polish time (the service is Polish)."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    text = value.strip()
    has_offset = text.endswith(("Z", "z")) or "+" in text[10:] or "-" in text[10:]
    if not has_offset:
        moment = moment.replace(tzinfo=None).replace(tzinfo=_POLAND).astimezone(datetime.timezone.utc)
    return moment


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _text(value):
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class StatusMessage:
    """One announcement. ``start``/``end``/``published`` are aware UTC datetimes or None."""

    id: str
    event_id: int
    category: str
    type: str
    title: str = ""
    text: str = ""
    start: datetime.datetime = None
    end: datetime.datetime = None
    version: int = 0
    published: datetime.datetime = None

    @classmethod
    def from_dict(cls, data):
        """Read one message; None when it is not a JSON object."""
        if not isinstance(data, dict):
            return None
        event_id = _int(data.get("eventId"))
        return cls(id=str(data.get("id") or event_id or ""), event_id=event_id,
                   category=_text(data.get("category")).upper(), type=_text(data.get("type")).upper(),
                   title=_text(data.get("title")), text=_text(data.get("text")),
                   start=_moment(data.get("start")), end=_moment(data.get("end")),
                   version=_int(data.get("version")), published=_moment(data.get("published")))

    @property
    def event_key(self):
        """Messages of one event share it (``eventId``; the message id when there is none)."""
        return self.event_id or self.id


@dataclass(frozen=True)
class OutageEvent:
    """An unavailability, failure or total failure as its messages describe it so far.

    ``end``: the announced (or, after FAILURE_END, the actual) end; None while unknown.
    ``ended``: KSeF said it is over (FAILURE_END published, or a maintenance window in the past).
    """

    key: object
    category: str
    start: datetime.datetime
    end: datetime.datetime
    ended: bool
    title: str
    text: str
    version: int
    messages: tuple = ()

    def is_active(self, now):
        """True while the event covers ``now`` (started, not over)."""
        if self.ended:
            return False
        if self.start and self.start > now:
            return False
        return not (self.end and self.end <= now)


def _order(message):
    epoch = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return (message.version, message.published or epoch, message.type == FAILURE_END)


def outage_events(messages, now=None):
    """Group messages into events (by ``eventId``), the newest version of each deciding; newest last."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    grouped = {}
    for message in messages:
        if message is not None and message.category in OUTAGE_STATUSES:
            grouped.setdefault(message.event_key, []).append(message)
    events = []
    for key, group in grouped.items():
        group.sort(key=_order)
        latest = group[-1]
        ending = [m for m in group if m.type == FAILURE_END]
        end = latest.end or (ending[-1].end if ending else None) or (ending[-1].published if ending else None)
        starts = [m.start for m in group if m.start]
        ended = bool(ending) or (latest.category == MAINTENANCE and end is not None and end <= now)
        events.append(OutageEvent(key=key, category=latest.category, start=min(starts) if starts else None,
                                  end=end, ended=ended, title=latest.title, text=latest.text,
                                  version=latest.version, messages=tuple(group)))
    epoch = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    events.sort(key=lambda e: (e.start or epoch, max((m.published or epoch) for m in e.messages)))
    return events


@dataclass(frozen=True)
class ServiceStatus:
    """What the status service said (or why it said nothing).

    ``status``: one of :data:`STATUSES`, or :data:`UNKNOWN` (service down, or a value we do not know:
    ``raw_status`` keeps it). ``messages``: the messages behind the current status;
    ``announcements``: every published message (empty when ``/messages`` failed).
    """

    status: str
    raw_status: str = ""
    messages: tuple = ()
    announcements: tuple = ()
    error: str = ""
    checked_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.timezone.utc))

    @property
    def is_outage(self):
        return self.status in OUTAGE_STATUSES

    def events(self):
        """Every known event (current messages and announcements), newest last."""
        by_id = {}
        for message in self.announcements + self.messages:
            by_id[(message.id, message.version, message.type)] = message
        return outage_events(by_id.values(), self.checked_at)

    def current_event(self):
        """The event behind the current outage status, or None (also when the service gives no message).

        The messages returned with the status win; else the newest active event of the status' category.
        """
        if not self.is_outage:
            return None
        events = self.events()
        current_keys = {m.event_key for m in self.messages}
        for event in reversed(events):
            if event.key in current_keys and event.category == self.status:
                return event
        for event in reversed(events):
            if event.category == self.status and not event.ended:
                return event
        return None


class StatusServiceClient:
    """Reads the status service at ``base_url`` (see :func:`status_service_url`)."""

    def __init__(self, base_url, *, http=None, timeout=DEFAULT_TIMEOUT, user_agent=None):
        self.base_url = (base_url or "").rstrip("/")
        self.timeout = timeout
        self._http = http if http is not None else requests.Session()
        self.user_agent = user_agent or "l10n_pl_ksef-ksef_protocol/1.0"
        self._prefix = None  # the path prefix that answered last time

    def _get(self, endpoint):
        """JSON of ``GET {base}{prefix}/{endpoint}``; raises ``ValueError`` with a readable reason."""
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError("no status service URL for this KSeF environment")
        prefixes = (self._prefix,) if self._prefix is not None else PATH_PREFIXES
        reason = ""
        for prefix in prefixes:
            url = "%s%s/%s" % (self.base_url, prefix, endpoint)
            try:
                response = self._http.get(url, timeout=self.timeout, headers={
                    "Accept": "application/json", "User-Agent": self.user_agent})
            except requests.RequestException as exc:
                raise ValueError("status service unreachable (%s)" % type(exc).__name__) from None
            if response.status_code == 404 and self._prefix is None:
                reason = "HTTP 404"
                continue
            if response.status_code != 200:
                raise ValueError("status service answered HTTP %s" % response.status_code)
            try:
                payload = response.json()
            except ValueError:
                raise ValueError("status service answered something else than JSON") from None
            self._prefix = prefix
            return payload
        raise ValueError("status service not found (%s)" % reason)

    def get_status(self):
        """``(status, raw_status, messages)``; raises ``ValueError`` when the service fails."""
        payload = self._get("status")
        if not isinstance(payload, dict):
            raise ValueError("status service answered an unexpected document")
        raw = _text(payload.get("status")).upper()
        status = raw if raw in STATUSES else UNKNOWN
        messages = payload.get("messages") if isinstance(payload.get("messages"), list) else []
        return status, raw, tuple(m for m in map(StatusMessage.from_dict, messages) if m is not None)

    def get_messages(self):
        """Every published message; raises ``ValueError`` when the service fails."""
        payload = self._get("messages")
        if isinstance(payload, dict):  # tolerate a wrapped list
            payload = payload.get("messages") or payload.get("items") or []
        if not isinstance(payload, list):
            raise ValueError("status service answered an unexpected document")
        return tuple(m for m in map(StatusMessage.from_dict, payload) if m is not None)

    def check(self):
        """Status and announcements as a :class:`ServiceStatus`; never raises."""
        try:
            status, raw, messages = self.get_status()
        except ValueError as exc:
            _logger.info("KSeF status service %s: %s", self.base_url, exc)
            return ServiceStatus(status=UNKNOWN, error=str(exc))
        try:
            announcements = self.get_messages()
            error = ""
        except ValueError as exc:
            announcements, error = (), "messages: %s" % exc
        if status == UNKNOWN and not error:
            error = "unknown status %r" % raw
        return ServiceStatus(status=status, raw_status=raw, messages=messages, announcements=announcements,
                             error=error)
