"""Interactive (online) sessions, session/invoice status and UPO downloads (digest §4, §6, §7).

``send_invoice`` is the one call that must never be blindly repeated: if the
POST may have reached KSeF (timeout, dropped connection, 5xx) the session's
invoice list is searched for the same ``invoiceHash`` first; only when it is
not there is the invoice sent again.  A resend that KSeF still sees as a
duplicate ends as invoice status 440 with ``extensions.originalKsefNumber``,
which callers should adopt.
"""
import base64
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List, Optional

from ._dates import parse_datetime
from .crypto import FileDigest
from .errors import KsefError, KsefProtocolError, KsefRateLimitHandOver, KsefServerError, KsefTransportError
from .forms import FA3_FORM_CODE
from .public_keys import USAGE_SYMMETRIC_KEY
from .upo import UpoDocument

_logger = logging.getLogger("ksef_protocol")

_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass
class OnlineSessionInfo:
    """An opened interactive session."""

    reference_number: str
    valid_until: object


@dataclass
class SentInvoice:
    """What was sent: KSeF's invoice reference plus hashes/sizes of plaintext and ciphertext."""

    reference_number: str
    invoice_hash: str
    invoice_size: int
    encrypted_invoice_hash: str
    encrypted_invoice_size: int


@dataclass
class UpoPage:
    """One page of a session UPO (``download_url`` is pre-signed and expires at ``expires_at``)."""

    reference_number: str
    download_url: Optional[str]
    expires_at: object


@dataclass
class SessionStatus:
    """``GET /sessions/{ref}``: ``code`` 100 open, 170 closed, 150 processing, 200 processed, 4xx failed."""

    code: int
    description: str
    details: List[str]
    invoice_count: Optional[int]
    successful_invoice_count: Optional[int]
    failed_invoice_count: Optional[int]
    valid_until: object
    upo_pages: List[UpoPage] = field(default_factory=list)
    date_created: object = None
    date_updated: object = None

    @classmethod
    def from_api(cls, payload):
        """Build from the JSON response."""
        status = payload.get("status") or {}
        pages = ((payload.get("upo") or {}).get("pages")) or []
        return cls(
            code=status.get("code"), description=status.get("description") or "",
            details=list(status.get("details") or []), invoice_count=payload.get("invoiceCount"),
            successful_invoice_count=payload.get("successfulInvoiceCount"),
            failed_invoice_count=payload.get("failedInvoiceCount"),
            valid_until=parse_datetime(payload.get("validUntil")),
            upo_pages=[UpoPage(p.get("referenceNumber"), p.get("downloadUrl"),
                               parse_datetime(p.get("downloadUrlExpirationDate"))) for p in pages],
            date_created=parse_datetime(payload.get("dateCreated")),
            date_updated=parse_datetime(payload.get("dateUpdated")))


@dataclass
class InvoiceStatus:
    """Status of one invoice in a session (``code`` 200 accepted with ``ksef_number``, 440 duplicate, ...)."""

    code: int
    description: str
    details: List[str]
    extensions: dict
    ksef_number: Optional[str]
    invoice_number: Optional[str]
    reference_number: str
    invoice_hash: Optional[str]
    acquisition_date: object
    invoicing_date: object
    invoicing_mode: Optional[str]
    upo_download_url: Optional[str]
    ordinal_number: Optional[int] = None
    invoice_file_name: Optional[str] = None
    permanent_storage_date: object = None
    upo_download_url_expires_at: object = None

    @classmethod
    def from_api(cls, payload):
        """Build from a ``SessionInvoiceStatusResponse``."""
        status = payload.get("status") or {}
        return cls(
            code=status.get("code"), description=status.get("description") or "",
            details=list(status.get("details") or []), extensions=dict(status.get("extensions") or {}),
            ksef_number=payload.get("ksefNumber"), invoice_number=payload.get("invoiceNumber"),
            reference_number=payload.get("referenceNumber"), invoice_hash=payload.get("invoiceHash"),
            acquisition_date=parse_datetime(payload.get("acquisitionDate")),
            invoicing_date=parse_datetime(payload.get("invoicingDate")),
            invoicing_mode=payload.get("invoicingMode"), upo_download_url=payload.get("upoDownloadUrl"),
            ordinal_number=payload.get("ordinalNumber"), invoice_file_name=payload.get("invoiceFileName"),
            permanent_storage_date=parse_datetime(payload.get("permanentStorageDate")),
            upo_download_url_expires_at=parse_datetime(payload.get("upoDownloadUrlExpirationDate")))


def check_invoice_bytes(xml_bytes):
    """Reject inputs KSeF is sure to refuse, with a message saying what to fix."""
    if not isinstance(xml_bytes, (bytes, bytearray)):
        raise TypeError("Invoice XML must be bytes (the exact UTF-8 file to send), not %s." % type(xml_bytes).__name__)
    if not xml_bytes:
        raise ValueError("Invoice XML is empty.")
    if xml_bytes.startswith(_UTF8_BOM):
        raise ValueError("Invoice XML starts with a UTF-8 BOM, which KSeF rejects: remove the BOM and send again.")


class SessionsApiMixin:
    """Online session endpoints and the status/UPO endpoints shared with batch sessions."""

    def open_online_session(self, key, form_code=FA3_FORM_CODE):
        """``POST /sessions/online`` with ``key`` wrapped by the ``SymmetricKeyEncryption`` public key."""
        def send(certificate):
            return self._request("POST", "/sessions/online", rate_group="onlineSession", expected=(201,),
                                 json={"formCode": dict(form_code), "encryption": key.encryption_info(certificate)})
        payload = self._with_public_key(USAGE_SYMMETRIC_KEY, send)
        return OnlineSessionInfo(payload["referenceNumber"], parse_datetime(payload.get("validUntil")))

    def send_invoice(self, session_reference, key, xml_bytes, *, offline_mode=False, hash_of_corrected_invoice=None):
        """Encrypt and send one invoice (``xml_bytes`` exactly as issued); returns :class:`SentInvoice`.

        Verification is asynchronous: poll :meth:`get_invoice_status` with the returned reference.
        """
        check_invoice_bytes(xml_bytes)
        xml_bytes = bytes(xml_bytes)
        plain = FileDigest.of(xml_bytes)
        encrypted = key.encrypt(xml_bytes)
        cipher = FileDigest.of(encrypted)
        body = {
            "invoiceHash": plain.sha256_b64, "invoiceSize": plain.size,
            "encryptedInvoiceHash": cipher.sha256_b64, "encryptedInvoiceSize": cipher.size,
            "encryptedInvoiceContent": base64.b64encode(encrypted).decode("ascii"),
            "offlineMode": bool(offline_mode),
        }
        if hash_of_corrected_invoice:
            body["hashOfCorrectedInvoice"] = hash_of_corrected_invoice
        path = "/sessions/online/%s/invoices" % session_reference
        attempt = 0
        while True:
            try:
                payload = self._request("POST", path, json=body, rate_group="invoiceSend", expected=(202,))
                reference = payload["referenceNumber"]
                break
            except KsefRateLimitHandOver as handover:
                # Not sent now; an earlier attempt of this invoice may have reached KSeF.
                handover.may_have_been_accepted = attempt > 0
                raise
            except (KsefTransportError, KsefServerError) as exc:
                if not exc.may_have_been_accepted or attempt >= self.max_retries:
                    raise
                # The POST may have been accepted: look before sending it again.
                try:
                    existing = self.find_session_invoice_by_hash(session_reference, plain.sha256_b64)
                except KsefRateLimitHandOver as handover:
                    handover.may_have_been_accepted = True
                    raise
                if existing is not None:
                    _logger.info("KSeF already holds the invoice sent in session %s as %s",
                                 session_reference, existing.reference_number)
                    reference = existing.reference_number
                    break
                self._sleep(self._backoff(attempt))
                attempt += 1
            except (TypeError, KeyError):
                raise KsefProtocolError("KSeF send-invoice response has no referenceNumber.")
        return SentInvoice(reference, plain.sha256_b64, plain.size, cipher.sha256_b64, cipher.size)

    def close_online_session(self, session_reference):
        """``POST /sessions/online/{ref}/close``: starts processing and generation of the session UPO."""
        self._request("POST", "/sessions/online/%s/close" % session_reference, rate_group="onlineSessionClose",
                      expected=(204,))

    def get_session_status(self, session_reference):
        """``GET /sessions/{ref}`` as :class:`SessionStatus`."""
        return SessionStatus.from_api(
            self._request("GET", "/sessions/%s" % session_reference, rate_group="sessionMisc") or {})

    def get_invoice_status(self, session_reference, invoice_reference):
        """``GET /sessions/{ref}/invoices/{invoiceRef}`` as :class:`InvoiceStatus`."""
        return InvoiceStatus.from_api(self._request(
            "GET", "/sessions/%s/invoices/%s" % (session_reference, invoice_reference),
            rate_group="invoiceStatus") or {})

    def iter_session_invoices(self, session_reference, failed_only=False, page_size=100):
        """Yield :class:`InvoiceStatus` for every (or every failed) invoice of a session, following
        ``x-continuation-token`` paging."""
        path = "/sessions/%s/invoices%s" % (session_reference, "/failed" if failed_only else "")
        continuation = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            payload = self._request("GET", path, params={"pageSize": page_size}, headers=headers,
                                    rate_group="sessionInvoiceList") or {}
            for item in payload.get("invoices") or []:
                yield InvoiceStatus.from_api(item)
            continuation = payload.get("continuationToken")
            if not continuation:
                return

    def find_session_invoice_by_hash(self, session_reference, invoice_hash):
        """The session invoice whose ``invoiceHash`` equals ``invoice_hash``, or ``None``."""
        for status in self.iter_session_invoices(session_reference):
            if status.invoice_hash == invoice_hash:
                return status
        return None

    def list_sessions(self, session_type="Online", page_size=10, **filters):
        """Yield session summaries of ``GET /sessions`` (``filters`` e.g. ``statuses=["InProgress"]``)."""
        params = {"sessionType": session_type, "pageSize": page_size}
        params.update({k: v for k, v in filters.items() if v is not None})
        continuation = None
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            payload = self._request("GET", "/sessions", params=params, headers=headers,
                                    rate_group="sessionList") or {}
            for item in payload.get("sessions") or []:
                yield item
            continuation = payload.get("continuationToken")
            if not continuation:
                return

    # -- UPO -------------------------------------------------------------------------------
    def _download_upo(self, path_or_url, auth="access", rate_group="sessionMisc"):
        response = self._request("GET", path_or_url, auth=auth, rate_group=rate_group, raw=True,
                                 headers={"Accept": "application/xml"})
        return UpoDocument.from_download(response.content, response.header("x-ms-meta-hash"))

    def get_invoice_upo(self, session_reference, *, invoice_reference=None, ksef_number=None):
        """UPO of one accepted invoice, by invoice reference or KSeF number (bytes kept unchanged)."""
        if bool(invoice_reference) == bool(ksef_number):
            raise ValueError("Pass exactly one of invoice_reference or ksef_number.")
        if ksef_number:
            path = "/sessions/%s/invoices/ksef/%s/upo" % (session_reference, ksef_number)
        else:
            path = "/sessions/%s/invoices/%s/upo" % (session_reference, invoice_reference)
        return self._download_upo(path)

    def get_session_upo(self, session_reference, upo_reference):
        """One page of the session UPO (``upo_reference`` from :attr:`SessionStatus.upo_pages`)."""
        return self._download_upo("/sessions/%s/upo/%s" % (session_reference, upo_reference))

    def download_upo_url(self, url):
        """Fetch a UPO from a pre-signed ``downloadUrl`` / ``upoDownloadUrl`` (no token, not rate-limited)."""
        return self._download_upo(url, auth="none", rate_group=None)

    def upo_downloads(self, urls, max_workers=8, ahead=500):
        """The UPOs of many pre-signed links, fetched ahead in the background (they are not rate-limited):
        see :class:`UpoDownloads`. Use as a context manager."""
        return UpoDownloads(self, urls, max_workers=max_workers, ahead=ahead)


class UpoDownloads:
    """UPOs of pre-signed links fetched ahead of their use, ``max_workers`` at a time, at most ``ahead``
    waiting: a batch session's thousands of receipts arrive while the caller records the earlier ones,
    instead of one download after the other between the caller's database writes.

    ``take(url)`` returns that link's :class:`UpoDocument`, or the :class:`KsefError` its download raised
    (one failed link does not lose the others). Links are fetched in the order given; a link taken out
    of order, or not in the list, is fetched at once. ``close()`` (or leaving the ``with`` block) cancels
    what was not started.
    """

    def __init__(self, client, urls, max_workers=8, ahead=500):
        self._client = client
        self._urls = list(urls)
        self._next = 0
        self._ahead = max(1, ahead)
        self._pending = {}
        self._taken = set()
        self._pool = ThreadPoolExecutor(max_workers=max(1, max_workers), thread_name_prefix="ksef-upo")
        self._fill()

    def _fetch(self, url):
        try:
            return self._client.download_upo_url(url)
        except KsefError as error:
            return error

    def _fill(self):
        while self._next < len(self._urls) and len(self._pending) < self._ahead:
            url = self._urls[self._next]
            self._next += 1
            if url not in self._taken and url not in self._pending:
                self._pending[url] = self._pool.submit(self._fetch, url)

    def take(self, url):
        self._taken.add(url)
        future = self._pending.pop(url, None)
        result = future.result() if future is not None else self._fetch(url)
        self._fill()
        return result

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
