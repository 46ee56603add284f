"""Receiving invoices: metadata query, single download, exports and HWM incremental sync (digest §8).

Paging of ``POST /invoices/query/metadata`` follows the documented rules:
``hasMore=false`` stops; ``hasMore`` without ``isTruncated`` moves ``pageOffset``;
``isTruncated`` (10,000-record cap) moves ``dateRange.from`` to the last
record's date and resets the offset.  Records repeated across such a window
shift are yielded once (by ``ksefNumber``).

Incremental sync uses exports with ``dateType=PermanentStorage`` and
``restrictToPermanentStorageHwmDate=true``: the next checkpoint is
``lastPermanentStorageDate`` when the package was truncated, else
``permanentStorageHwmDate`` (digest §8.4).  Callers store one checkpoint per
company and subject type and deduplicate by KSeF number.
"""
import copy
import datetime
import re
import json
from dataclasses import dataclass, field
from typing import List, Optional

from .batch import unpack_archive
from ._dates import format_datetime, parse_datetime, warsaw_midnight
from .crypto import sha256_b64
from .errors import KsefOperationFailed, KsefOperationPending, KsefProtocolError
from .public_keys import USAGE_SYMMETRIC_KEY

SUBJECT_TYPES = ("Subject1", "Subject2", "Subject3", "SubjectAuthorized")
DATE_FIELDS = {"Issue": "issueDate", "Invoicing": "invoicingDate", "PermanentStorage": "permanentStorageDate"}
METADATA_FILE = "_metadata.json"
EXPORT_POLL_INTERVALS = (1.0, 2.0, 3.0, 5.0, 10.0)
#: InvoiceQueryDateRange (API 2.9.0): "Maksymalny zakres ... 100 dni w strefie UTC"; dates carry ``Z`` or an offset.
MAX_DATE_RANGE = datetime.timedelta(days=100)
_OFFSET_RE = re.compile(r"(Z|z|[+-]\d{2}:?\d{2})$")


@dataclass
class ExportPackage:
    """A decrypted export: invoice XMLs by file name and the ``_metadata.json`` records."""

    files: dict
    metadata: List[dict] = field(default_factory=list)
    is_truncated: bool = False
    invoice_count: int = 0
    permanent_storage_hwm_date: Optional[str] = None
    last_permanent_storage_date: Optional[str] = None

    def invoices_by_ksef_number(self):
        """``{ksefNumber: xml_bytes}`` for the files named ``{ksefNumber}.xml``."""
        return {name[:-4]: data for name, data in self.files.items() if name.endswith(".xml")}


@dataclass
class IncrementalSyncResult:
    """Outcome of one HWM sync step: the package and the checkpoint to store for the next run."""

    package: ExportPackage
    next_checkpoint: Optional[str]
    has_more: bool


def next_checkpoint(package_info, previous=None):
    """Next ``from`` for HWM sync from an export status ``package`` object (digest §8.4)."""
    package_info = package_info or {}
    if package_info.get("isTruncated"):
        return package_info.get("lastPermanentStorageDate") or previous
    return package_info.get("permanentStorageHwmDate") or previous


def _check_filters(filters):
    if not isinstance(filters, dict):
        raise TypeError("Invoice query filters must be a dict shaped like KSeF's InvoiceQueryFilters.")
    if filters.get("subjectType") not in SUBJECT_TYPES:
        raise ValueError("Invoice query needs subjectType, one of %s." % ", ".join(SUBJECT_TYPES))
    date_range = filters.get("dateRange") or {}
    if date_range.get("dateType") not in DATE_FIELDS or not date_range.get("from"):
        raise ValueError("Invoice query needs dateRange with dateType (Issue, Invoicing or PermanentStorage) "
                         "and from (at most 100 days before 'to').")
    for name in ("from", "to"):
        value = date_range.get(name)
        if value and not _OFFSET_RE.search(str(value).strip()):
            raise ValueError("Invoice query dateRange.%s (%s) needs an explicit offset (Z or +hh:mm)." % (name, value))
    start, end = parse_datetime(date_range["from"]), parse_datetime(date_range.get("to"))
    if end is not None and end - start > MAX_DATE_RANGE:
        raise ValueError("Invoice query dateRange spans more than 100 days (%s to %s); split it into windows."
                         % (date_range["from"], date_range["to"]))


def date_windows(start, end, size=MAX_DATE_RANGE):
    """Split ``[start, end]`` (aware datetimes) into adjacent ``(from, to)`` windows of at most ``size``
    (KSeF refuses a dateRange over 100 days)."""
    windows = []
    while start < end:
        stop = min(start + size, end)
        windows.append((start, stop))
        start = stop
    return windows


class ReceivingApiMixin:
    """Metadata query, invoice download and exports."""

    def query_invoice_metadata(self, filters, *, page_offset=0, page_size=250, sort_order="Asc"):
        """One page of ``POST /invoices/query/metadata`` (raw JSON)."""
        _check_filters(filters)
        return self._request("POST", "/invoices/query/metadata", json=filters, rate_group="invoiceMetadata",
                             params={"pageOffset": page_offset, "pageSize": page_size, "sortOrder": sort_order},
                             idempotent=True) or {}

    def iter_invoice_metadata(self, filters, *, page_size=250, sort_order="Asc"):
        """Yield every ``InvoiceMetadata`` dict matching ``filters`` across pages and truncation windows.

        A ``dateRange`` longer than KSeF's 100 days is queried window by window (ascending order only)."""
        date_range = (filters or {}).get("dateRange") or {}
        start, end = parse_datetime(date_range.get("from")), parse_datetime(date_range.get("to"))
        if start and end and end - start > MAX_DATE_RANGE and sort_order == "Asc":
            seen = set()  # both bounds are inclusive: a record on a window boundary comes twice
            for window_start, window_end in date_windows(start, end):
                window = copy.deepcopy(filters)
                window["dateRange"]["from"] = format_datetime(window_start)
                window["dateRange"]["to"] = format_datetime(window_end)
                for invoice in self._iter_invoice_metadata(window, page_size, sort_order):
                    if invoice.get("ksefNumber") not in seen:
                        seen.add(invoice.get("ksefNumber"))
                        yield invoice
            return
        yield from self._iter_invoice_metadata(filters, page_size, sort_order)

    def _iter_invoice_metadata(self, filters, page_size, sort_order):
        filters = copy.deepcopy(filters)
        _check_filters(filters)
        date_field = DATE_FIELDS[filters["dateRange"]["dateType"]]
        seen = set()
        offset = 0
        while True:
            page = self.query_invoice_metadata(filters, page_offset=offset, page_size=page_size,
                                               sort_order=sort_order)
            invoices = page.get("invoices") or []
            for invoice in invoices:
                number = invoice.get("ksefNumber")
                if number in seen:
                    continue
                seen.add(number)
                yield invoice
            if not page.get("hasMore"):
                return
            if page.get("isTruncated"):
                if not invoices or not invoices[-1].get(date_field):
                    raise KsefProtocolError("KSeF truncated the metadata result without a last record date.")
                new_from = invoices[-1][date_field]
                if len(new_from) == 10:  # issueDate is a calendar day: its Warsaw midnight, with offset
                    new_from = warsaw_midnight(new_from)
                if new_from == filters["dateRange"]["from"]:
                    raise KsefProtocolError("KSeF truncated the metadata result inside one timestamp (%s); "
                                            "narrow the filters." % new_from)
                filters["dateRange"]["from"] = new_from
                offset = 0
            else:
                offset += 1

    def download_invoice(self, ksef_number):
        """``GET /invoices/ksef/{ksefNumber}``: the invoice XML bytes (hash checked when declared)."""
        response = self._request("GET", "/invoices/ksef/%s" % ksef_number, rate_group="invoiceDownload", raw=True,
                                 headers={"Accept": "application/xml"})
        declared = response.header("x-ms-meta-hash")
        if declared and declared.strip() != sha256_b64(response.content):
            raise KsefProtocolError("Invoice %s download is corrupted (x-ms-meta-hash mismatch)." % ksef_number)
        return response.content

    def start_export(self, filters, key, *, only_metadata=False, compression="Zip"):
        """``POST /invoices/exports``: start an encrypted export and return its reference number."""
        _check_filters(filters)
        if compression not in ("Zip", "TarGz"):
            raise ValueError("Export compression must be Zip or TarGz.")

        def send(certificate):
            return self._request("POST", "/invoices/exports", rate_group="invoiceExport", expected=(201,), json={
                "encryption": key.encryption_info(certificate), "filters": filters,
                "onlyMetadata": bool(only_metadata), "compressionType": compression})
        payload = self._with_public_key(USAGE_SYMMETRIC_KEY, send)
        try:
            return payload["referenceNumber"]
        except (TypeError, KeyError):
            raise KsefProtocolError("KSeF export response has no referenceNumber.")

    def get_export_status(self, reference):
        """``GET /invoices/exports/{ref}`` (raw JSON: ``status``, ``package`` with pre-signed parts)."""
        return self._request("GET", "/invoices/exports/%s" % reference, rate_group="invoiceExportStatus") or {}

    def wait_for_export(self, reference, *, wait=60.0):
        """Poll an export until status 200 and return the status; raises
        :class:`KsefOperationFailed` on a failure status and :class:`KsefOperationPending`
        if still running after ``wait`` seconds of sleeping."""
        slept, poll = 0.0, 0
        while True:
            status = self.get_export_status(reference)
            code = (status.get("status") or {}).get("code")
            if code == 200:
                return status
            if code != 100:
                info = status.get("status") or {}
                raise KsefOperationFailed("KSeF export %s ended with status %s: %s" % (
                    reference, code, info.get("description") or ""), status_code=code, reference_number=reference)
            if slept >= wait:
                raise KsefOperationPending("KSeF export %s is still being prepared." % reference,
                                           reference_number=reference)
            interval = min(EXPORT_POLL_INTERVALS[min(poll, len(EXPORT_POLL_INTERVALS) - 1)], wait - slept)
            self._sleep(interval)
            slept += interval
            poll += 1

    def download_export(self, status, key):
        """Download, verify, decrypt, concatenate (by ``ordinalNumber``) and unpack an export package."""
        package = (status or {}).get("package")
        if not package:
            if ((status or {}).get("status") or {}).get("code") == 200:
                return ExportPackage(files={})  # finished, nothing matched the filters
            raise KsefProtocolError("Export status has no package: wait until its status is 200.")
        chunks = []
        for part in sorted(package.get("parts") or [], key=lambda p: p["ordinalNumber"]):
            response = self._request(part.get("method") or "GET", part["url"], auth="none", rate_group=None,
                                     raw=True, headers={"Accept": "application/octet-stream"})
            encrypted = response.content
            # InvoicePackagePart.url: the download answer carries x-ms-meta-hash, the SHA-256 of the encrypted part.
            declared = response.header("x-ms-meta-hash")
            if declared and declared.strip() != sha256_b64(encrypted):
                raise KsefProtocolError("Export part %s is corrupted (x-ms-meta-hash mismatch)." % part["ordinalNumber"])
            if part.get("encryptedPartHash") and sha256_b64(encrypted) != part["encryptedPartHash"]:
                raise KsefProtocolError("Export part %s is corrupted (encrypted hash mismatch)." % part["ordinalNumber"])
            plain = key.decrypt(encrypted)
            if part.get("partHash") and sha256_b64(plain) != part["partHash"]:
                raise KsefProtocolError("Export part %s decrypted to unexpected content (hash mismatch)."
                                        % part["ordinalNumber"])
            chunks.append(plain)
        archive = b"".join(chunks)
        expected_magic = {"Zip": b"PK", "TarGz": b"\x1f\x8b"}.get(package.get("compressionType"))
        if archive and expected_magic and archive[:2] != expected_magic:
            raise KsefProtocolError("Export package is not the declared %s archive." % package["compressionType"])
        files = unpack_archive(archive) if chunks else {}
        metadata = []
        if METADATA_FILE in files:
            try:
                metadata = json.loads(files.pop(METADATA_FILE).decode("utf-8")).get("invoices") or []
            except (ValueError, AttributeError):
                raise KsefProtocolError("Export _metadata.json is unreadable.") from None
        return ExportPackage(files=files, metadata=metadata, is_truncated=bool(package.get("isTruncated")),
                             invoice_count=package.get("invoiceCount") or 0,
                             permanent_storage_hwm_date=package.get("permanentStorageHwmDate"),
                             last_permanent_storage_date=package.get("lastPermanentStorageDate"))

    def sync_invoices_since(self, subject_type, checkpoint, key, *, wait=60.0, only_metadata=False,
                            compression="Zip", extra_filters=None):
        """One HWM incremental-sync step for ``subject_type`` from ``checkpoint`` (ISO date-time).

        Exports ``PermanentStorage`` dates from the checkpoint up to the HWM and returns
        :class:`IncrementalSyncResult` with the next checkpoint; ``has_more`` is True when
        the package was truncated and another step should follow at once.
        """
        filters = dict(extra_filters or {})
        filters["subjectType"] = subject_type
        filters["dateRange"] = {"dateType": "PermanentStorage", "from": checkpoint,
                                "restrictToPermanentStorageHwmDate": True}
        reference = self.start_export(filters, key, only_metadata=only_metadata, compression=compression)
        status = self.wait_for_export(reference, wait=wait)
        package = self.download_export(status, key)
        package_info = status.get("package") or {}
        return IncrementalSyncResult(package=package, next_checkpoint=next_checkpoint(package_info, checkpoint),
                                     has_more=bool(package_info.get("isTruncated")))
