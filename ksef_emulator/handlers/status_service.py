"""KSeF's public status service ("Latarnia") and what the API does while it announces an outage.

Not in the Ministry's integrator docs: shaped as third-party SDKs describe it (docs-changes §8).
The real service has its own host; the emulator serves it at its root, next to ``/v2``:

* ``GET /status`` -> ``{"status": AVAILABLE|MAINTENANCE|FAILURE|TOTAL_FAILURE, "messages": [...]}``
  (``messages``: the messages of the events behind the current status; left out when AVAILABLE);
* ``GET /messages`` -> every published message: ``id``, ``eventId``, ``category``, ``type``,
  ``title``, ``text``, ``start``, ``end`` (or null), ``version``, ``published``.

While the status is MAINTENANCE, FAILURE or TOTAL_FAILURE every KSeF API call (everything but
``/admin`` and the status service) is answered ``503 Service Unavailable`` (problem details, with
``Retry-After`` until the announced end when there is one), unless ``blockApi`` is false. The API
calls seen and refused are counted, so tests can prove a client wasted none.

Admin API:
* ``GET /admin/status-service`` -> ``{"status", "blockApi", "messages", "apiRequests", "apiRefused"}``;
* ``POST /admin/status-service {"status"?, "blockApi"?}``: set the status / the API's behaviour;
* ``POST /admin/status-service/messages {"category", "type", "eventId"?, "title"?, "text"?, "start"?,
  "end"?, "status"?}``: publish a message (``id``, ``version`` per event and ``published`` are set
  by the emulator; ``eventId`` defaults to a new event; ``start`` to now). Unless ``status`` is given,
  FAILURE_START sets the status to the category (FAILURE or TOTAL_FAILURE), FAILURE_END sets it
  back to AVAILABLE, and a MAINTENANCE_ANNOUNCEMENT (an announcement ahead) changes nothing;
* ``DELETE /admin/status-service``: AVAILABLE, no messages, counters at zero.
"""
import threading

from ..clock import iso, parse_iso
from ..web import json_response

STATUSES = ("AVAILABLE", "MAINTENANCE", "FAILURE", "TOTAL_FAILURE")
OUTAGES = ("MAINTENANCE", "FAILURE", "TOTAL_FAILURE")
CATEGORIES = ("FAILURE", "TOTAL_FAILURE", "MAINTENANCE")
TYPES = ("FAILURE_START", "FAILURE_END", "MAINTENANCE_ANNOUNCEMENT")
#: Paths the outage gate never refuses.
OPEN_PREFIXES = ("/admin", "/status", "/messages")
#: Longest Retry-After sent on a 503 (the announced end may be days away).
MAX_RETRY_AFTER_SECONDS = 3600


class StatusBoard:
    """The published status and messages (in memory: a restart is a fresh, available KSeF)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.status = "AVAILABLE"
        self.block_api = True
        self.messages = []
        self.api_requests = 0
        self.api_refused = 0

    def snapshot(self):
        return {"status": self.status, "blockApi": self.block_api, "messages": list(self.messages),
                "apiRequests": self.api_requests, "apiRefused": self.api_refused}

    def publish(self, spec):
        category, kind = spec.get("category"), spec.get("type")
        if category not in CATEGORIES:
            raise ValueError("'category' must be one of %s" % ", ".join(CATEGORIES))
        if kind not in TYPES:
            raise ValueError("'type' must be one of %s" % ", ".join(TYPES))
        for name in ("start", "end"):
            if spec.get(name) is not None:
                parse_iso(str(spec[name]))  # ValueError when it is not a timestamp
        now = iso(self.app.clock.now())
        event_id = spec.get("eventId")
        if event_id is None:
            event_id = max([m["eventId"] for m in self.messages] or [1000]) + 1
        version = 1 + max([m["version"] for m in self.messages if m["eventId"] == event_id] or [0])
        message = {"id": "%s-%s" % (event_id, version), "eventId": int(event_id), "category": category,
                   "type": kind, "title": spec.get("title") or _default_title(category, kind),
                   "text": spec.get("text") or "", "start": spec.get("start") or now, "end": spec.get("end"),
                   "version": version, "published": now}
        self.messages.append(message)
        status = spec.get("status")
        if status is None:
            if kind == "FAILURE_START":
                status = category
            elif kind == "FAILURE_END":
                status = "AVAILABLE"
        if status is not None:
            self.set_status(status)
        return message

    def set_status(self, status):
        if status not in STATUSES:
            raise ValueError("'status' must be one of %s" % ", ".join(STATUSES))
        self.status = status

    def current_messages(self):
        """The latest version of each event behind the current status (none when available)."""
        if self.status == "AVAILABLE":
            return []
        latest = {}
        for message in self.messages:
            latest[message["eventId"]] = message
        ended = {m["eventId"] for m in self.messages if m["type"] == "FAILURE_END"}
        return [m for m in latest.values() if m["category"] == self.status and m["eventId"] not in ended]

    def announced_end(self):
        ends = [m["end"] for m in self.current_messages() if m.get("end")]
        return parse_iso(max(ends, key=parse_iso)) if ends else None


def _default_title(category, kind):
    if kind == "FAILURE_END":
        return "Zakończenie awarii KSeF"
    return {"MAINTENANCE": "Planowana niedostępność KSeF", "FAILURE": "Awaria KSeF",
            "TOTAL_FAILURE": "Awaria całkowita KSeF"}[category]


def _board(request):
    return request.app.services["status_service"]


def _body(request):
    try:
        body = request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else ({} if body is None else None)


# -- the public service ---------------------------------------------------------------------------
def get_status(request):
    board = _board(request)
    with board.lock:
        body = {"status": board.status}
        current = board.current_messages()
        if current:
            body["messages"] = current
    return json_response(200, body)


def get_messages(request):
    board = _board(request)
    with board.lock:
        return json_response(200, list(board.messages))


# -- the API while an outage is announced ---------------------------------------------------------
def outage_gate(request):
    if request.path.startswith(OPEN_PREFIXES):
        return None
    board = _board(request)
    with board.lock:
        board.api_requests += 1
        if board.status not in OUTAGES or not board.block_api:
            return None
        board.api_refused += 1
        status, end = board.status, board.announced_end()
    headers = {}
    if end is not None:
        seconds = int((end - request.app.clock.now()).total_seconds())
        headers["Retry-After"] = str(min(max(seconds, 1), MAX_RETRY_AFTER_SECONDS))
    detail = {"MAINTENANCE": "Trwają prace serwisowe KSeF.", "FAILURE": "Trwa awaria KSeF.",
              "TOTAL_FAILURE": "Trwa awaria całkowita KSeF."}[status]
    request.log_note = "outage=%s" % status
    return json_response(503, {"title": "Service Unavailable", "status": 503, "detail": detail,
                               "instance": request.path, "timestamp": request.app.now_iso()},
                         headers=headers, content_type="application/problem+json")


# -- admin --------------------------------------------------------------------------------------------
def admin_get(request):
    board = _board(request)
    with board.lock:
        return json_response(200, board.snapshot())


def _admin_change(request, change, status=200):
    """Apply ``change(board, body)`` to the board under its lock; its ValueError is the client's 400."""
    body = _body(request)
    if body is None:
        return json_response(400, {"error": "body must be a JSON object"})
    board = _board(request)
    with board.lock:
        try:
            return json_response(status, change(board, body))
        except ValueError as exc:
            return json_response(400, {"error": str(exc)})


def _set_status(board, body):
    if "status" in body:
        board.set_status(body["status"])
    if "blockApi" in body:
        board.block_api = bool(body["blockApi"])
    return board.snapshot()


def admin_set(request):
    return _admin_change(request, _set_status)


def admin_publish(request):
    return _admin_change(request, lambda board, body: {"message": board.publish(body), "status": board.status},
                         status=201)


def admin_reset(request):
    board = _board(request)
    with board.lock:
        board.reset()
        return json_response(200, board.snapshot())


def register(app):
    app.services["status_service"] = StatusBoard(app)
    app.request_gates.append(outage_gate)
    add = app.router.add
    add("GET", "/status", get_status, spec=False)
    add("GET", "/messages", get_messages, spec=False)
    add("GET", "/admin/status-service", admin_get, spec=False)
    add("POST", "/admin/status-service", admin_set, spec=False)
    add("DELETE", "/admin/status-service", admin_reset, spec=False)
    add("POST", "/admin/status-service/messages", admin_publish, spec=False)
