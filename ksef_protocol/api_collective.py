"""Collective identifiers (IZ, "identyfikatory zbiorcze"), KSeF API 2.7.0+ (open-api.json 2.9.0).

One IZ names 2-500 invoices of ONE seller, so that one bank transfer paying them all quotes a
single 35-character reference instead of every KSeF number (art. 108g of the VAT act from
1 January 2027).  Endpoints (all in the rate-limit group ``collectiveIdentifier``, 20/120/240):

* ``POST /collective-identifiers`` -> 201 ``{collectiveIdentifierNumber}`` (NOT idempotent: a
  lost answer must be followed by :meth:`find_collective_identifier`, never by a blind resend);
* ``POST /collective-identifiers/query`` (creation-date range of at most 100 days, paged);
* ``POST /collective-identifiers/invoices`` (at most 10 IZs per call, paged);
* ``GET /collective-identifiers/ksef/{ksefNumber}`` (the IZs holding one invoice, paged).

Paging is the ``x-continuation-token`` header; the iterators here follow it to the end.

IZ format ``9999999999-IZRRRRMM-FFFFFFFFFFFF-FF``: seller NIP, ``IZ`` + year and month of
creation, 12 upper-case hex digits, CRC-8 (poly 0x07, init 0x00).  The docs do not say what the
CRC covers; both examples of open-api.json (``1111111111-IZ202607-65ED02180000-E7`` and the
number inside the continuation-token example, ``8631941578-IZ202607-323B52184000-CD``) check
out only over the first 32 characters, hyphens included, i.e. exactly as for KSeF numbers.
"""
import datetime
import re
from decimal import Decimal
from typing import NamedTuple, Optional

from ._dates import format_datetime, parse_datetime
from .errors import KsefProtocolError, KsefServerError, KsefTransportError
from .validators import is_valid_ksef_number, ksef_crc8

RATE_GROUP = "collectiveIdentifier"
#: Documented bounds (open-api.json 2.9.0, limity.md).
MIN_INVOICES = 2
MAX_INVOICES = 500
MAX_IDENTIFIERS_PER_INVOICE = 132
MAX_NUMBERS_PER_INVOICE_QUERY = 10
MAX_QUERY_DAYS = 100
DESCRIPTION_MAX = 512
#: Error codes of ``POST /collective-identifiers`` (400 table of open-api.json 2.9.0). 71003 is not
#: documented in any published version; it is treated as a refusal whose KSeF text is shown as is.
ERROR_INVOICE_NOT_FOUND = 71001
ERROR_TOO_MANY_IDENTIFIERS = 71002
ERROR_UNDOCUMENTED = 71003
ERROR_DIFFERENT_SELLERS = 71004
ERROR_REPEATED_NUMBER = 71005
COLLECTIVE_ERROR_CODES = (71001, 71002, 71003, 71004, 71005)

COLLECTIVE_ID_RE = re.compile(r"^(\d{10})-IZ(\d{4})(0[1-9]|1[0-2])-([0-9A-F]{12})-([0-9A-F]{2})$")
#: Finds IZs inside free text (a bank statement label); checked with :func:`is_valid_collective_identifier`.
COLLECTIVE_ID_SEARCH_RE = re.compile(r"(?<![0-9A-Za-z])\d{10}-IZ\d{6}-[0-9A-F]{12}-[0-9A-F]{2}(?![0-9A-Za-z])")
#: Finds 35-character KSeF numbers inside free text.
KSEF_NUMBER_SEARCH_RE = re.compile(r"(?<![0-9A-Za-z])\d{10}-\d{8}-[0-9A-F]{12}-[0-9A-F]{2}(?![0-9A-Za-z])")


def is_valid_collective_identifier(number):
    """True for a well-formed IZ whose CRC-8 (over the first 32 characters) is right."""
    if not isinstance(number, str) or not COLLECTIVE_ID_RE.match(number):
        return False
    return ksef_crc8(number[:32]) == number[33:]


def find_collective_identifiers(text):
    """Valid IZs quoted in ``text`` (case-insensitive, in order, without repeats)."""
    found = []
    for match in COLLECTIVE_ID_SEARCH_RE.finditer((text or "").upper()):
        if is_valid_collective_identifier(match.group(0)) and match.group(0) not in found:
            found.append(match.group(0))
    return found


def find_ksef_numbers(text):
    """Valid 35-character KSeF numbers quoted in ``text`` (in order, without repeats)."""
    found = []
    for match in KSEF_NUMBER_SEARCH_RE.finditer((text or "").upper()):
        if is_valid_ksef_number(match.group(0), allow_legacy=False) and match.group(0) not in found:
            found.append(match.group(0))
    return found


class CollectiveInvoice(NamedTuple):
    """One invoice of an IZ request/answer. ``amount`` is a ``Decimal`` or None (no payment data)."""

    ksef_number: str
    amount: Optional[Decimal] = None
    currency: Optional[str] = None
    description: Optional[str] = None
    collective_identifier: Optional[str] = None
    details_hidden: bool = False

    def to_request(self):
        item = {"ksefNumber": self.ksef_number}
        if self.amount is not None:
            item["payment"] = {"amount": float(self.amount), "currency": self.currency}
        if self.description:
            item["description"] = self.description
        return item

    def same_payment(self, other):
        """Same invoice, amount (to the grosz) and currency as ``other``."""
        def cents(value):
            return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))
        return (self.ksef_number == other.ksef_number and cents(self.amount) == cents(other.amount)
                and (self.currency or None) == (other.currency or None))


class CollectiveIdentifierInfo(NamedTuple):
    """An IZ as listed by the query endpoints (``invoice_count`` is None where KSeF omits it)."""

    number: str
    date_created: Optional[datetime.datetime]
    created_in_current_context: bool
    invoice_count: Optional[int] = None


def _as_invoice(item):
    if isinstance(item, CollectiveInvoice):
        return item
    if isinstance(item, str):
        return CollectiveInvoice(item)
    if isinstance(item, dict):
        amount = item.get("amount")
        return CollectiveInvoice(item["ksef_number"], None if amount is None else Decimal(str(amount)),
                                 item.get("currency"), item.get("description"))
    raise TypeError("An IZ invoice is a KSeF number, a dict or a CollectiveInvoice, not %r." % (item,))


def check_request(invoices, max_invoices=MAX_INVOICES):
    """Validate an IZ request locally (what KSeF would refuse anyway); returns the list of
    :class:`CollectiveInvoice`.  Raises ``ValueError`` naming the problem."""
    invoices = [_as_invoice(item) for item in invoices]
    if not MIN_INVOICES <= len(invoices) <= max_invoices:
        raise ValueError("A collective identifier needs %d to %d invoices, not %d."
                         % (MIN_INVOICES, max_invoices, len(invoices)))
    seen = set()
    for invoice in invoices:
        if not is_valid_ksef_number(invoice.ksef_number):
            raise ValueError("%r is not a valid KSeF number." % (invoice.ksef_number,))
        if invoice.ksef_number in seen:
            raise ValueError("KSeF number %s is repeated in the request." % invoice.ksef_number)
        seen.add(invoice.ksef_number)
        if (invoice.amount is None) != (invoice.currency is None):
            raise ValueError("Give both the amount and the currency of invoice %s, or neither." % invoice.ksef_number)
        if invoice.currency is not None and not re.fullmatch(r"[A-Z]{3}", invoice.currency):
            raise ValueError("%r is not an ISO 4217 currency code." % (invoice.currency,))
        if invoice.description and len(invoice.description) > DESCRIPTION_MAX:
            raise ValueError("The description of invoice %s is longer than %d characters."
                             % (invoice.ksef_number, DESCRIPTION_MAX))
    sellers = {invoice.ksef_number[:10] for invoice in invoices}
    if len(sellers) > 1:
        raise ValueError("All invoices of a collective identifier must have the same seller (NIPs %s)."
                         % ", ".join(sorted(sellers)))
    return invoices


def _page_size(value, low, high):
    if value is None:
        return None
    value = int(value)
    if not low <= value <= high:
        raise ValueError("pageSize must be between %d and %d." % (low, high))
    return value


class CollectiveApiMixin:
    """Collective-identifier calls; mixed into :class:`KsefClient` (needs ``self._request``)."""

    def generate_collective_identifier(self, invoices, max_invoices=MAX_INVOICES):
        """``POST /collective-identifiers``: the new IZ number for ``invoices`` (KSeF numbers,
        dicts ``{ksef_number, amount, currency, description}`` or :class:`CollectiveInvoice`).

        Raises :class:`KsefBadRequest` with code 71001-71005 when KSeF refuses, and
        :class:`KsefTransportError` / :class:`KsefServerError` with ``may_have_been_accepted`` when
        the answer was lost: call :meth:`find_collective_identifier` before asking again (or use
        :meth:`obtain_collective_identifier`, which does both).
        """
        invoices = check_request(invoices, max_invoices)
        payload = self._request("POST", "/collective-identifiers", json={"invoices": [i.to_request() for i in invoices]},
                                expected=(201,), rate_group=RATE_GROUP, idempotent=False) or {}
        number = payload.get("collectiveIdentifierNumber")
        if not is_valid_collective_identifier(number):
            raise KsefProtocolError("KSeF answered the collective identifier request without a valid number (%r)."
                                    % (number,))
        return number

    def find_collective_identifier(self, invoices):
        """The IZ created in the current context for exactly these invoices with the same amounts and
        currencies, or None.  Used after a lost answer and before every new request, so one set of
        payments never gets two IZs."""
        wanted = sorted((_as_invoice(item) for item in invoices), key=lambda i: i.ksef_number)
        candidates = [info.number for info in self.iter_collective_identifiers_for_invoice(wanted[0].ksef_number)
                      if info.created_in_current_context]
        for start in range(0, len(candidates), MAX_NUMBERS_PER_INVOICE_QUERY):
            chunk = candidates[start:start + MAX_NUMBERS_PER_INVOICE_QUERY]
            members = {number: [] for number in chunk}
            for invoice in self.iter_collective_identifier_invoices(chunk, page_size=500):
                members.setdefault(invoice.collective_identifier, []).append(invoice)
            for number in chunk:
                held = sorted(members.get(number) or [], key=lambda i: i.ksef_number)
                if len(held) == len(wanted) and all(a.same_payment(b) for a, b in zip(held, wanted)):
                    return number
        return None

    def obtain_collective_identifier(self, invoices, max_invoices=MAX_INVOICES):
        """``(number, created)``: the existing IZ for exactly these invoices and amounts, else a new one.

        A lost answer to the generation request (timeout, dropped connection, 5xx) is followed by a
        look-up; only when KSeF holds no such IZ is the request sent once more.
        """
        invoices = check_request(invoices, max_invoices)
        existing = self.find_collective_identifier(invoices)
        if existing:
            return existing, False
        try:
            return self.generate_collective_identifier(invoices, max_invoices), True
        except KsefTransportError as error:
            if not error.may_have_been_accepted:
                raise
        except KsefServerError:
            pass  # a 5xx to a POST may come after KSeF stored the IZ
        existing = self.find_collective_identifier(invoices)
        if existing:
            return existing, True
        return self.generate_collective_identifier(invoices, max_invoices), True

    def iter_collective_identifiers(self, date_from, date_to, *, number=None, invoice_count_from=None,
                                    invoice_count_to=None, created_in_current_context=None, page_size=None):
        """``POST /collective-identifiers/query``: yield :class:`CollectiveIdentifierInfo` created in
        ``[date_from, date_to]`` (aware datetimes at most 100 days apart), newest first."""
        if date_from.tzinfo is None or date_to.tzinfo is None:
            raise ValueError("Give the IZ creation dates with a time zone.")
        if date_to < date_from:
            raise ValueError("The IZ creation range ends before it starts.")
        if date_to - date_from > datetime.timedelta(days=MAX_QUERY_DAYS):
            raise ValueError("The IZ creation range may span at most %d days." % MAX_QUERY_DAYS)
        body = {"dateCreatedFrom": format_datetime(date_from), "dateCreatedTo": format_datetime(date_to)}
        for key, value in (("collectiveIdentifierNumber", number), ("invoiceCountFrom", invoice_count_from),
                           ("invoiceCountTo", invoice_count_to),
                           ("createdInCurrentContext", created_in_current_context)):
            if value is not None:
                body[key] = value
        params = {"pageSize": _page_size(page_size, 10, 200)} if page_size else None
        for item in self._collective_pages("POST", "/collective-identifiers/query", "collectiveIdentifiers",
                                           json=body, params=params):
            yield CollectiveIdentifierInfo(item.get("collectiveIdentifierNumber"),
                                           parse_datetime(item.get("dateCreated")),
                                           bool(item.get("createdInCurrentContext")), item.get("invoiceCount"))

    def iter_collective_identifier_invoices(self, numbers, *, page_size=None):
        """``POST /collective-identifiers/invoices``: yield the :class:`CollectiveInvoice` of up to 10 IZs."""
        numbers = list(numbers)
        if not 1 <= len(numbers) <= MAX_NUMBERS_PER_INVOICE_QUERY:
            raise ValueError("Ask for 1 to %d collective identifiers at a time." % MAX_NUMBERS_PER_INVOICE_QUERY)
        bad = [number for number in numbers if not is_valid_collective_identifier(number)]
        if bad:
            raise ValueError("Not a valid collective identifier: %s." % ", ".join(map(repr, bad)))
        params = {"pageSize": _page_size(page_size, 10, 500)} if page_size else None
        for item in self._collective_pages("POST", "/collective-identifiers/invoices", "invoices",
                                           json={"collectiveIdentifierNumbers": numbers}, params=params,
                                           idempotent=True):
            payment = item.get("payment") or {}
            amount = payment.get("amount")
            yield CollectiveInvoice(item.get("ksefNumber"), None if amount is None else Decimal(str(amount)),
                                    payment.get("currency"), item.get("description"),
                                    item.get("collectiveIdentifierNumber"), bool(item.get("detailsHidden")))

    def iter_collective_identifiers_for_invoice(self, ksef_number, *, page_size=None):
        """``GET /collective-identifiers/ksef/{ksefNumber}``: yield the IZs holding that invoice."""
        if not is_valid_ksef_number(ksef_number):
            raise ValueError("%r is not a valid KSeF number." % (ksef_number,))
        params = {"pageSize": _page_size(page_size, 10, 200)} if page_size else None
        for item in self._collective_pages("GET", "/collective-identifiers/ksef/%s" % ksef_number,
                                           "collectiveIdentifiers", params=params):
            yield CollectiveIdentifierInfo(item.get("collectiveIdentifierNumber"),
                                           parse_datetime(item.get("dateCreated")),
                                           bool(item.get("createdInCurrentContext")))

    def _collective_pages(self, method, path, key, *, json=None, params=None, idempotent=True):
        continuation = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            payload = self._request(method, path, json=json, params=params, headers=headers, rate_group=RATE_GROUP,
                                    idempotent=idempotent) or {}
            items = payload.get(key)
            if not isinstance(items, list):
                raise KsefProtocolError("KSeF answered %s %s without the list %r." % (method, path, key))
            yield from items
            next_token = payload.get("continuationToken")
            if not next_token or next_token == continuation:
                return
            continuation = next_token


def collective_identifier_errors(error):
    """The :class:`~.errors.KsefErrorDetail` entries of ``error`` with IZ codes 71001-71005."""
    return [detail for detail in getattr(error, "errors", []) if detail.code in COLLECTIVE_ERROR_CODES]


__all__ = ["CollectiveApiMixin", "CollectiveIdentifierInfo", "CollectiveInvoice", "check_request",
           "collective_identifier_errors", "find_collective_identifiers", "find_ksef_numbers",
           "is_valid_collective_identifier"]
