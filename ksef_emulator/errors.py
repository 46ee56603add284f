"""Error bodies in the shapes of open-api.json.

Handlers ``raise ApiError(21405, "...", ["detail"])`` (400 by default) or one of
the problem-details errors below; the server renders them. 400 uses the
deprecated ``ExceptionResponse`` unless the client sent
``X-Error-Format: problem-details``; 401/403/410 are always problem details.
"""
import uuid

# Polish descriptions as in the spec's 400 tables.
DESCRIPTIONS = {
    21001: "Nieczytelna treść.",
    21111: "Nieprawidłowe wyzwanie autoryzacyjne.",
    21115: "Nieprawidłowy certyfikat.",
    21117: "Nieprawidłowy identyfikator podmiotu dla wskazanego typu kontekstu.",
    21155: "Przekroczono dozwoloną liczbę faktur w sesji.",
    21157: "Nieprawidłowy rozmiar części pakietu.",
    21161: "Przekroczono dozwoloną liczbę części pakietu.",
    21164: "Faktura o podanym identyfikatorze nie istnieje.",
    21165: "Faktura o podanym numerze KSeF nie jest jeszcze dostępna.",
    21173: "Brak sesji o wskazanym numerze referencyjnym.",
    21178: "Nie znaleziono UPO dla podanych kryteriów.",
    21180: "Status sesji nie pozwala na wykonanie operacji.",
    21181: "Nieprawidłowe żądanie eksportu faktur.",
    21184: "Sesja tymczasowo niedostępna.",
    21205: "Pakiet nie może być pusty.",
    21208: "Czas oczekiwania na requesty upload lub finish został przekroczony.",
    21301: "Brak autoryzacji.",
    21304: "Brak uwierzytelnienia.",
    21401: "Dokument nie jest zgodny ze schemą (xsd).",
    21402: "Nieprawidłowy rozmiar pliku.",
    21403: "Nieprawidłowy skrót pliku.",
    21405: "Błąd walidacji danych wejściowych.",
    21406: "Konflikt podpisu i typu uwierzytelnienia.",
    21418: "Przekazany token kontynuacji ma nieprawidłowy format.",
    21470: "Identyfikator klucza jest nieznany lub wskazuje na wycofany klucz.",
    9101: "Nieprawidłowy dokument.",
    9102: "Brak podpisu.",
    9103: "Przekroczona liczba dozwolonych podpisów.",
    9105: "Nieprawidłowy podpis.",
}


def new_trace_id():
    return uuid.uuid4().hex


class ApiError(Exception):
    """A 400-style KSeF exception (``exceptionCode`` + description + details)."""

    def __init__(self, code, description=None, details=None, http_status=400):
        self.code = int(code)
        self.description = description or DESCRIPTIONS.get(self.code, "Błąd.")
        self.details = list(details or [])
        self.http_status = http_status
        super().__init__("%s %s %s" % (self.code, self.description, "; ".join(self.details)))


class ProblemError(Exception):
    """An error always rendered as ``application/problem+json`` (401, 403, 410, ...)."""

    def __init__(self, status, title, detail, extra=None, headers=None):
        self.status = status
        self.title = title
        self.detail = detail
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        super().__init__("%s %s: %s" % (status, title, detail))


def unauthorized(detail="Wymagane jest uwierzytelnienie."):
    return ProblemError(401, "Unauthorized", detail)


def forbidden(reason_code, detail, security=None):
    return ProblemError(403, "Forbidden", detail, {"reasonCode": reason_code, "security": security})


def missing_permissions(required, present):
    return forbidden(
        "missing-permissions",
        "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście.",
        {"requiredAnyOfPermissions": list(required), "presentPermissions": list(present)},
    )


def gone(detail="Status operacji nie jest już dostępny (upłynął okres retencji)."):
    return ProblemError(410, "Gone", detail)


class RateLimited(Exception):
    def __init__(self, retry_after, detail):
        self.retry_after = int(retry_after)
        self.detail = detail
        super().__init__(detail)


def exception_response(error, timestamp, reference_number=None):
    """``ExceptionResponse`` body for an :class:`ApiError` (or a list of them)."""
    errors = error if isinstance(error, list) else [error]
    return {
        "exception": {
            "exceptionDetailList": [
                {"exceptionCode": e.code, "exceptionDescription": e.description, "details": e.details} for e in errors
            ],
            "referenceNumber": reference_number,
            "serviceCode": new_trace_id(),
            "serviceCtx": "srvEMULA",
            "serviceName": "ksef-emulator",
            "timestamp": timestamp,
        }
    }


def bad_request_problem(error, timestamp, instance):
    errors = error if isinstance(error, list) else [error]
    return {
        "title": "Bad Request",
        "status": 400,
        "instance": instance,
        "detail": "Żądanie jest nieprawidłowe.",
        "errors": [{"code": e.code, "description": e.description, "details": e.details} for e in errors],
        "timestamp": timestamp,
        "traceId": new_trace_id(),
    }


def problem_body(problem, timestamp, instance):
    body = {"title": problem.title, "status": problem.status, "detail": problem.detail, "instance": instance,
            "traceId": new_trace_id(), "timestamp": timestamp}
    body.update(problem.extra)
    return body


def too_many_requests_body(limited, timestamp, instance, problem_details):
    if problem_details:
        return {"title": "Too Many Requests", "status": 429, "instance": instance, "detail": limited.detail,
                "timestamp": timestamp, "traceId": new_trace_id()}
    return {"status": {"code": 429, "description": "Too Many Requests", "details": [limited.detail]}}
