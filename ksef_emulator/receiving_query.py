"""Invoice selection for the receiving area (metadata queries and exports).

One function, :func:`select_invoices`, turns an ``InvoiceQueryFilters`` object (open-api.json)
into the sorted list of ``InvoiceMetadata`` the caller's context may see, applying the
documented rules: the subject type decides the caller's role on the invoice, the date range
is at most 100 days ("100 dni w strefie UTC", API 2.9.0; it was 3 months), a date without an offset is
read as Europe/Warsaw time (the 2.9.0 text lists only ``Z`` or an explicit offset; clients must send one),
and with
``restrictToPermanentStorageHwmDate`` the range ends at the high-water mark (HWM).

Timestamps are compared as whole microseconds (the precision of the dates the API returns),
so a date the client copies from a response (``permanentStorageHwmDate``,
``lastPermanentStorageDate``) selects exactly the same boundary again.
"""
import datetime
import json

from .clock import UTC
from .errors import ApiError

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")
#: Subject types a context type can play on an invoice. The docs name the rule only through error
#: 21181 ("Nie można wyeksportować paczki faktur dla wybranego podmiotu ({subjecttype}) i zalogowanego
#: identyfikatora kontekstu ({type})"); this table follows where each identifier can appear in FA/PEF
#: data: an internal identifier (InternalId) only as Podmiot3/IDWew, a Peppol provider (PeppolId) in no role.
SUBJECT_TYPES_BY_CONTEXT = {"Nip": SUBJECT_TYPES, "NipVatUe": SUBJECT_TYPES, "InternalId": ("Subject3",),
                            "PeppolId": ()}
DATE_COLUMNS = {"Invoicing": "invoicing_ts", "PermanentStorage": "permanent_storage_ts"}
FORM_TYPES = {"FA": ("FA",), "PEF": ("PEF",), "FA_RR": ("FA_RR", "RR")}
MAX_RANGE = datetime.timedelta(days=100)  # InvoiceQueryDateRange: "100 dni w strefie UTC"
AMOUNT_FIELDS = {"Brutto": "grossAmount", "Netto": "netAmount", "Vat": "vatAmount"}


class Selection:
    """Result of :func:`select_invoices`: ``records`` (InvoiceMetadata, sorted), ``hwm_micros``
    (the HWM used, or None when the query is not by PermanentStorage), ``date_type``."""

    def __init__(self, records, hwm_micros, date_type):
        self.records = records
        self.hwm_micros = hwm_micros
        self.date_type = date_type


def micros(moment):
    """Whole microseconds since the epoch for an aware datetime or a POSIX timestamp."""
    if isinstance(moment, (int, float)):
        moment = datetime.datetime.fromtimestamp(moment, UTC)
    return (moment - EPOCH) // datetime.timedelta(microseconds=1)


def from_micros(value):
    return EPOCH + datetime.timedelta(microseconds=value)


def hwm_micros(app):
    """The permanent-storage high-water mark (HWM) of the whole system.

    It is the permanent storage date of the newest invoice stored at or before
    ``now - permanentStorageHwmLagSeconds`` (``now - lag`` while nothing is stored). Invoices
    still in processing get a permanent storage date at or after the moment they are stored,
    so nothing new can appear at or below the HWM; and it does not move while no invoice is
    stored, so it stays the same for every page of one query."""
    threshold = app.clock.time() - float(app.config["permanentStorageHwmLagSeconds"])
    row = app.store.one("SELECT MAX(permanent_storage_ts) FROM invoices WHERE status_code=200"
                        " AND permanent_storage_ts<=?", (threshold,))
    return micros(row[0] if row[0] is not None else threshold)


def parse_query_date(text, field):
    """An ISO 8601 date-time; without an offset it is Europe/Warsaw local time (documented rule)."""
    raw = text.strip()
    normalized = raw.replace("Z", "+00:00").replace("z", "+00:00")
    if "." in normalized:  # fromisoformat in 3.11 accepts at most 6 fractional digits
        head, tail = normalized.split(".", 1)
        digits = ""
        for index, char in enumerate(tail):
            if not char.isdigit():
                rest = tail[index:]
                break
            digits += char
        else:
            rest = ""
        normalized = "%s.%s%s" % (head, (digits + "000000")[:6], rest)
    try:
        moment = datetime.datetime.fromisoformat(normalized)
    except ValueError:
        raise ApiError(21405, details=["%s: %r nie jest datą ISO 8601 (np. 2025-08-28T09:22:13.388+00:00)." % (field, text)])
    if moment.tzinfo is None:
        # Warsaw local -> UTC: assume winter time, then apply the offset in force at that instant
        winter = moment.replace(tzinfo=UTC) - datetime.timedelta(hours=1)
        moment = moment.replace(tzinfo=UTC) - datetime.timedelta(hours=warsaw_offset_hours(winter))
    return moment.astimezone(UTC)


def warsaw_offset_hours(moment):
    """2 (CEST) or 1 (CET) at an aware UTC instant (EU rule: last Sundays of March/October, 01:00 UTC)."""
    def last_sunday(month):
        day = datetime.datetime(moment.year, month + 1, 1, 1, tzinfo=UTC) - datetime.timedelta(days=1)
        return day - datetime.timedelta(days=(day.weekday() + 1) % 7)
    return 2 if last_sunday(3) <= moment < last_sunday(10) else 1


def _add_months(moment, months):
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, days[month - 1]))


def issue_date_micros(issue_date):
    """Midnight in Warsaw of an ``issueDate`` (``YYYY-MM-DD``), as microseconds."""
    day = datetime.datetime.strptime(issue_date, "%Y-%m-%d")
    return micros(parse_query_date(day.isoformat(), "issueDate"))


def record_date_micros(row, metadata, date_type):
    if date_type == "Issue":
        return issue_date_micros(metadata["issueDate"])
    return micros(row[DATE_COLUMNS[date_type]])


def subject_type_allowed(subject_type, context_type):
    """Whether a context of ``context_type`` can play the ``subject_type`` role (see SUBJECT_TYPES_BY_CONTEXT)."""
    return subject_type in SUBJECT_TYPES_BY_CONTEXT.get(context_type, SUBJECT_TYPES)


def _subject_clause(subject_type, context_type, context_value):
    """SQL pre-filter for the caller's role on the invoice (refined in :func:`_plays_role`)."""
    nip = context_value.split("-", 1)[0]
    if subject_type == "Subject1":
        return "seller_nip=?", (nip,)
    if subject_type == "Subject2":
        return "buyer_nip=?", (nip,)
    return "metadata LIKE ?", ("%%%s%%" % nip,)


def _plays_role(metadata, subject_type, context_type, context_value):
    nip = context_value.split("-", 1)[0]
    if subject_type == "Subject3":
        for third in metadata.get("thirdSubjects") or []:
            identifier = third.get("identifier") or {}
            if identifier.get("value") in (nip, context_value):
                return True
        return False
    if subject_type == "SubjectAuthorized":
        return (metadata.get("authorizedSubject") or {}).get("nip") == nip
    return True


def _matches(metadata, filters):
    if filters.get("ksefNumber") and metadata["ksefNumber"] != filters["ksefNumber"]:
        return False
    if filters.get("invoiceNumber") and metadata["invoiceNumber"] != filters["invoiceNumber"]:
        return False
    if filters.get("sellerNip") and metadata["seller"]["nip"] != filters["sellerNip"]:
        return False
    amount = filters.get("amount")
    if amount:
        value = metadata.get(AMOUNT_FIELDS[amount["type"]])
        if value is None:
            return False
        if amount.get("from") is not None and value < amount["from"]:
            return False
        if amount.get("to") is not None and value > amount["to"]:
            return False
    buyer = filters.get("buyerIdentifier")
    if buyer:
        identifier = (metadata.get("buyer") or {}).get("identifier") or {"type": "None"}
        if identifier.get("type") != buyer["type"]:
            return False
        if buyer.get("value") and identifier.get("value") != buyer["value"]:
            return False
    if filters.get("currencyCodes") and metadata.get("currency") not in filters["currencyCodes"]:
        return False
    if filters.get("invoicingMode") and metadata.get("invoicingMode") != filters["invoicingMode"]:
        return False
    for flag, field in (("isSelfInvoicing", "isSelfInvoicing"), ("hasAttachment", "hasAttachment")):
        if filters.get(flag) is not None and bool(metadata.get(field)) != filters[flag]:
            return False
    if filters.get("formType") and (metadata.get("formCode") or {}).get("value") not in FORM_TYPES[filters["formType"]]:
        return False
    if filters.get("invoiceTypes") and metadata.get("invoiceType") not in filters["invoiceTypes"]:
        return False
    return True


def resolve_range(app, date_range):
    """``(from_us, to_us, hwm_us)`` after the range rules; raises 21405 / 21183.

    ``hwm_us`` (PermanentStorage queries only) is the system HWM, or ``to`` when that is older
    (the documented ``permanentStorageHwmDate`` for an older period equals the query's bound)."""
    date_type = date_range["dateType"]
    start = parse_query_date(date_range["from"], "dateRange.from")
    end = parse_query_date(date_range["to"], "dateRange.to") if date_range.get("to") else None
    if end is not None and end < start:
        raise ApiError(21405, details=["dateRange.to (%s) jest wcześniejsza niż dateRange.from (%s)." % (
            date_range["to"], date_range["from"])])
    if (end or app.clock.now()) - start > MAX_RANGE:
        raise ApiError(21405, details=["Zakres dat (dateRange) może obejmować najwyżej %d dni w strefie UTC; "
                                       "podziel zapytanie na krótsze okresy." % MAX_RANGE.days])
    end_us = micros(end) if end is not None else micros(app.clock.now())
    if date_type != "PermanentStorage":
        return micros(start), end_us, None
    system_hwm = hwm_micros(app)
    if date_range.get("restrictToPermanentStorageHwmDate"):
        if micros(start) > system_hwm:
            raise ApiError(21183, description="Data początkowa jest późniejsza niż data HWM.",
                           details=["dateRange.from (%s) jest późniejsza niż permanentStorageHwmDate (%s); "
                                    "ustaw from na ostatnią otrzymaną datę HWM." % (date_range["from"],
                                                                                   from_micros(system_hwm).isoformat())])
        end_us = min(end_us, system_hwm)
    return micros(start), end_us, min(system_hwm, micros(end)) if end is not None else system_hwm


def select_invoices(app, auth, filters, *, descending=False):
    """Every invoice visible to ``auth`` that matches ``filters``, sorted by the date type.

    Only invoices already in permanent storage (``permanentStorageDate <= now``) are visible."""
    date_type = filters["dateRange"]["dateType"]
    start_us, end_us, hwm = resolve_range(app, filters["dateRange"])
    clause, params = _subject_clause(filters["subjectType"], auth.context_type, auth.context_value)
    rows = app.store.query(
        "SELECT ksef_number, invoicing_ts, permanent_storage_ts, metadata FROM invoices"
        " WHERE status_code=200 AND ksef_number IS NOT NULL AND permanent_storage_ts<=? AND " + clause,
        (app.clock.time(),) + params)
    selected = []
    for row in rows:
        metadata = json.loads(row["metadata"])
        if not _plays_role(metadata, filters["subjectType"], auth.context_type, auth.context_value):
            continue
        moment = record_date_micros(row, metadata, date_type)
        if not (start_us <= moment <= end_us) or not _matches(metadata, filters):
            continue
        selected.append((moment, micros(row["permanent_storage_ts"]), metadata["ksefNumber"], metadata))
    selected.sort(key=lambda item: item[:3], reverse=descending)
    return Selection([item[3] for item in selected], hwm, date_type)
