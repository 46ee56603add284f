"""Admin API under ``/admin`` (JSON, no authentication): tokens, config, clock,
faults, key rotation, rate-limit reset, state info. Not part of KSeF."""
from ..errors import ApiError
from ..ksef_tokens import create_token
from ..web import json_response


def _body(request):
    try:
        body = request.json()
    except ValueError as exc:
        raise ApiError(21405, details=["Body must be JSON: %s" % exc])
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(21405, details=["Body must be a JSON object."])
    return body


def _bad(message):
    return json_response(400, {"error": message})


def create_ksef_token(request):
    body = _body(request)
    if not isinstance(body.get("nip"), str):
        return _bad("'nip' (string, 10 digits) is required")
    try:
        result = create_token(request.app.store, request.app.clock, body["nip"],
                              body.get("permissions") or ["InvoiceRead", "InvoiceWrite"],
                              body.get("description", "Token created by the admin API"),
                              context_type=body.get("contextType", "Nip"),
                              status=body.get("status", "Active"))
    except ValueError as exc:
        return _bad(str(exc))
    return json_response(201, result)


def set_token_status(request):
    body = _body(request)
    status = body.get("status")
    if status not in ("Pending", "Active", "Revoking", "Revoked", "Failed"):
        return _bad("'status' must be Pending, Active, Revoking, Revoked or Failed")
    cursor = request.app.store.execute("UPDATE ksef_tokens SET status=? WHERE reference_number=?",
                                       (status, request.path_params["referenceNumber"]))
    if not cursor.rowcount:
        return json_response(404, {"error": "no such token"})
    return json_response(200, {"referenceNumber": request.path_params["referenceNumber"], "status": status})


def get_config(request):
    return json_response(200, request.app.config.values)


def update_config(request):
    try:
        values = request.app.config.update(_body(request))
    except ValueError as exc:
        return _bad(str(exc))
    return json_response(200, values)


def set_clock(request):
    body = _body(request)
    app = request.app
    if "offsetSeconds" in body:
        app.clock.set_offset(float(body["offsetSeconds"]))
    elif "advanceSeconds" in body:
        app.clock.set_offset(app.clock.offset + float(body["advanceSeconds"]))
    else:
        return _bad("send {'offsetSeconds': N} (absolute) or {'advanceSeconds': N} (relative)")
    return json_response(200, {"offsetSeconds": app.clock.offset, "now": app.now_iso()})


def get_clock(request):
    return json_response(200, {"offsetSeconds": request.app.clock.offset, "now": request.app.now_iso()})


def add_fault(request):
    body = _body(request)
    rules = body.get("rules", [body])
    try:
        added = [request.app.faults.add(rule).as_dict() for rule in rules]
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    return json_response(201, {"added": added, "active": request.app.faults.list()})


def list_faults(request):
    return json_response(200, {"active": request.app.faults.list()})


def clear_faults(request):
    request.app.faults.clear()
    return json_response(200, {"active": []})


def rotate_keys(request):
    body = _body(request)
    usages = body.get("usages") or ["KsefTokenEncryption", "SymmetricKeyEncryption"]
    try:
        result = request.app.keys.rotate(tuple(usages))
    except KeyError as exc:
        return _bad("unknown usage %s" % exc)
    return json_response(200, result)


def set_session_state(request):
    """Make KSeF end or suspend a session behind the client's back (what tests of 21180/21184 need).

    ``{"state": "closed"}``: KSeF closed the session (as on expiry): sending answers 21180.
    ``{"state": "maintenance"}``: the session is temporarily unavailable: sending answers 21184.
    ``{"state": "open"}``: maintenance is over.
    """
    app = request.app
    reference = request.path_params["referenceNumber"]
    state = _body(request).get("state")
    row = app.store.one("SELECT * FROM sessions WHERE reference_number=?", (reference,))
    if row is None or row["session_type"] != "Online":
        return json_response(404, {"error": "no such online session"})
    if state == "closed":
        if row["status_code"] == 100:
            now = app.clock.time()
            app.store.execute("UPDATE sessions SET status_code=170, status_description=?, closed_ts=?, updated_ts=?"
                              " WHERE reference_number=?",
                              ("Sesja interaktywna zamknięta", now, now, reference))
        app.sessions_in_maintenance.discard(reference)
    elif state == "maintenance":
        app.sessions_in_maintenance.add(reference)
    elif state == "open":
        app.sessions_in_maintenance.discard(reference)
    else:
        return _bad("'state' must be closed, maintenance or open")
    return json_response(200, {"referenceNumber": reference, "state": state})


def reset_rate_limits(request):
    request.app.limiter.reset()
    return json_response(200, {"reset": True})


def info(request):
    app = request.app
    return json_response(200, {"stateDir": app.state_dir, "now": app.now_iso(), "config": app.config.values,
                               "publicKeyIds": {u: p.public_key_id for u, p in app.keys.active.items()}})


def register(app):
    add = app.router.add
    add("POST", "/admin/tokens", create_ksef_token, spec=False)
    add("POST", "/admin/tokens/{referenceNumber}/status", set_token_status, spec=False)
    add("GET", "/admin/config", get_config, spec=False)
    add("POST", "/admin/config", update_config, spec=False)
    add("GET", "/admin/clock", get_clock, spec=False)
    add("POST", "/admin/clock", set_clock, spec=False)
    add("GET", "/admin/faults", list_faults, spec=False)
    add("POST", "/admin/faults", add_fault, spec=False)
    add("DELETE", "/admin/faults", clear_faults, spec=False)
    add("POST", "/admin/keys/rotate", rotate_keys, spec=False)
    add("POST", "/admin/rate-limits/reset", reset_rate_limits, spec=False)
    add("POST", "/admin/sessions/{referenceNumber}/state", set_session_state, spec=False)
    add("GET", "/admin/info", info, spec=False)
