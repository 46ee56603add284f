"""Asynchronous invoice processing (off the request path) and lazy session state.

Sends only store the decrypted document (status 100). A single worker thread
validates each one after ``invoiceAcceptDelaySeconds + invoiceProcessingDelaySeconds``:
XSD + semantic checks, duplicate detection (:mod:`duplicates`), KSeF number. The duplicate
check and the acceptance share one transaction (seeding writes from request threads).
Session statuses (170 -> 200/440/445, batch 150 -> 200/445, 12 h expiry) are computed when read.
"""
import datetime
import heapq
import json
import threading
import time
import traceback

from .clock import UTC, iso
from .duplicates import DUPLICATE_CODE, DUPLICATE_DESCRIPTION, duplicate_status, find_original
from .ids import ksef_number
from .invoice_xml import invoice_metadata, polish_date, schema_for, verify_invoice

FINAL_INVOICE_CODES = (200, 405, 410, 415, 430, 435, 440, 450, 500, 550)
INVOICE_STATUS = {
    100: "Faktura przyjęta do dalszego przetwarzania",
    150: "Trwa przetwarzanie",
    200: "Sukces",
    405: "Przetwarzanie anulowane z powodu błędu sesji",
    415: "Brak możliwości wysyłania faktury z załącznikiem",
    430: "Błąd weryfikacji pliku faktury",
    435: "Błąd odszyfrowania pliku",
    440: "Duplikat faktury",
    450: "Błąd weryfikacji semantyki dokumentu faktury",
}
ONLINE_STATUS = {
    100: "Sesja interaktywna otwarta",
    170: "Sesja interaktywna zamknięta",
    200: "Sesja interaktywna przetworzona pomyślnie",
    415: "Błąd odszyfrowania dostarczonego klucza",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}
BATCH_STATUS = {
    100: "Sesja wsadowa rozpoczęta",
    150: "Trwa przetwarzanie",
    200: "Sesja wsadowa przetworzona pomyślnie",
    405: "Błąd weryfikacji poprawności dostarczonych elementów paczki",
    415: "Błąd odszyfrowania dostarczonego klucza",
    420: "Przekroczony limit faktur w sesji",
    430: "Błąd dekompresji pierwotnego archiwum",
    435: "Błąd odszyfrowania zaszyfrowanych części archiwum",
    440: "Sesja anulowana",
    445: "Błąd weryfikacji, brak poprawnych faktur",
}


class Processor:
    """The invoice worker thread. ``submit(reference)`` after inserting an invoice with status 100."""

    def __init__(self, app):
        self.app = app
        self._heap = []
        self._condition = threading.Condition()
        self._thread = None
        self.sequence = 0

    def start(self):
        pending = self.app.store.query("SELECT reference_number FROM invoices WHERE status_code IN (100, 150)"
                                       " ORDER BY invoicing_ts")
        for row in pending:
            self.submit(row["reference_number"], delay=0.0)
        self._thread = threading.Thread(target=self._run, name="invoice-worker", daemon=True)
        self._thread.start()
        # compile the XSDs now, not on the first invoice
        threading.Thread(target=self._warm_up, name="xsd-warm-up", daemon=True).start()

    @staticmethod
    def _warm_up():
        schema_for("FA (3)")
        schema_for("FA (2)")

    def submit(self, reference, delay=None):
        if delay is None:
            delay = float(self.app.config["invoiceAcceptDelaySeconds"]) + float(self.app.config["invoiceProcessingDelaySeconds"])
        with self._condition:
            self.sequence += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self.sequence, reference))
            self._condition.notify()

    def submit_task(self, function, delay=0.0):
        """Run ``function()`` on the worker thread (e.g. a batch package) after ``delay`` seconds."""
        with self._condition:
            self.sequence += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self.sequence, function))
            self._condition.notify()

    def _run(self):
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = (self._heap[0][0] - time.monotonic()) if self._heap else None
                    self._condition.wait(timeout)
                _, _, reference = heapq.heappop(self._heap)
            try:
                if callable(reference):
                    reference()
                    continue
                self.process(reference)
            except Exception:  # keep the worker alive; the invoice gets 500
                self.app.log("ERROR processing %s\n%s" % (reference, traceback.format_exc()))
                self.app.store.execute("UPDATE invoices SET status_code=500, status_description=? WHERE reference_number=?",
                                       ("Nieznany błąd (500)", reference))

    def process(self, reference):
        app = self.app
        row = app.store.one("SELECT * FROM invoices WHERE reference_number=?", (reference,))
        if row is None or row["status_code"] not in (100, 150):
            return
        form_code = json.loads(row["form_code"])
        invoicing = datetime.datetime.fromtimestamp(row["invoicing_ts"], UTC)
        verdict = verify_invoice(row["content"], form_code["systemCode"], polish_date(app.clock.now()))
        facts = verdict.facts
        updates = {"status_code": verdict.code, "status_description": verdict.description,
                   "status_details": json.dumps(verdict.details), "invoice_number": facts.get("invoice_number"),
                   "issue_date": facts.get("issue_date"), "seller_nip": facts.get("seller_nip"),
                   "buyer_nip": facts.get("buyer_nip"), "invoice_type": facts.get("rodzaj_faktury")}
        with app.store.transaction():  # the duplicate check and the acceptance are one step (seeding runs in parallel)
            if verdict.code == 200 and facts["has_attachment"] and row["source"] == "online" \
                    and not row["hash_of_corrected_invoice"]:
                # attachments travel only in batch sessions (or in an online technical correction)
                updates.update(status_code=415, status_description=INVOICE_STATUS[415],
                               status_details=json.dumps(["Faktury z załącznikami można wysyłać wyłącznie w sesji"
                                                          " wsadowej."]))
            elif verdict.code == 200 and facts["has_attachment"] and not app.services.get(
                    "attachments_allowed", lambda *_: True)(row["context_type"], row["context_value"]):
                # the consent is given in e-Urząd Skarbowy (on TE: POST /testdata/attachment)
                updates.update(status_code=415, status_description=INVOICE_STATUS[415],
                               status_details=json.dumps(["Podmiot nie ma zgody na wystawianie faktur z załącznikiem"
                                                          " (zgłoszenie w e-Urzędzie Skarbowym)."]))
            elif verdict.code == 200:
                original = find_original(app.store, facts)
                if original is not None:
                    details, extensions = duplicate_status(original)
                    updates.update(status_code=DUPLICATE_CODE, status_description=DUPLICATE_DESCRIPTION,
                                   status_details=json.dumps(details), status_extensions=json.dumps(extensions))
                else:
                    updates.update(self._acceptance(row, facts, form_code, invoicing))
            columns = ", ".join("%s=?" % key for key in updates)
            app.store.execute("UPDATE invoices SET %s WHERE reference_number=?" % columns,
                              list(updates.values()) + [reference])

    def _acceptance(self, row, facts, form_code, invoicing):
        """Columns of an accepted invoice: KSeF number, dates, invoicing mode and metadata."""
        app = self.app
        now = app.clock.time()
        acquisition = datetime.datetime.fromtimestamp(now, UTC)
        number = ksef_number(facts["seller_nip"], invoicing)
        storage_ts = now + float(app.config["permanentStorageDelaySeconds"])
        offline = bool(row["offline_mode"]) or (facts["issue_date"] or "9999") < polish_date(invoicing).isoformat()
        mode = "Offline" if offline else "Online"
        return dict(
            ksef_number=number, acquisition_ts=now, permanent_storage_ts=storage_ts, invoicing_mode=mode,
            metadata=json.dumps(invoice_metadata(
                facts, ksef_number=number, invoice_hash=row["invoice_hash"], form_code=form_code,
                invoicing_date=iso(invoicing), acquisition_date=iso(acquisition),
                permanent_storage_date=iso(storage_ts), invoicing_mode=mode,
                hash_of_corrected_invoice=row["hash_of_corrected_invoice"])))


# -- lazy status views -------------------------------------------------------------------------------
def invoice_status(app, row):
    """``(code, description, details, extensions)`` of an invoice as a client sees it now."""
    code = row["status_code"]
    if code == 100 and app.clock.time() >= row["invoicing_ts"] + float(app.config["invoiceAcceptDelaySeconds"]):
        code = 150
    details = json.loads(row["status_details"] or "[]")
    extensions = json.loads(row["status_extensions"]) if row["status_extensions"] else None
    return code, (row["status_description"] if code == row["status_code"] else INVOICE_STATUS[code]), details, extensions


def refresh_session(app, row):
    """Apply expiry/closing transitions to a session row; return the fresh row."""
    store = app.store
    now = app.clock.time()
    code = row["status_code"]
    reference = row["reference_number"]
    if code == 100 and now < row["valid_until_ts"]:
        return row  # open and young: nothing to do (the common case on the send path)
    if row["session_type"] == "Online":
        if code == 100 and now >= row["valid_until_ts"]:
            store.execute("UPDATE sessions SET status_code=170, status_description=?, closed_ts=?, updated_ts=?"
                          " WHERE reference_number=? AND status_code=100",
                          (ONLINE_STATUS[170], row["valid_until_ts"], now, reference))
            code = 170
        if code == 170:
            _finalize(app, reference, ONLINE_STATUS)
    else:
        if code == 100 and now >= row["valid_until_ts"]:
            store.execute("UPDATE sessions SET status_code=440, status_description=?, status_details=?, updated_ts=?"
                          " WHERE reference_number=? AND status_code=100",
                          (BATCH_STATUS[440], json.dumps(["Przekroczono czas wysyłki"]), now, reference))
        elif code == 150 and store.get_json("batch_unpacked", reference):
            _finalize(app, reference, BATCH_STATUS)
    return store.one("SELECT * FROM sessions WHERE reference_number=?", (reference,))


def _finalize(app, reference, texts):
    counts = app.store.one(
        "SELECT COUNT(*) AS total, SUM(status_code IN (100,150)) AS pending, SUM(status_code=200) AS ok"
        " FROM invoices WHERE session_reference=?", (reference,))
    if counts["pending"]:
        return
    if not counts["total"]:
        code, details = 440, ["Nie przesłano faktur"]
    elif counts["ok"]:
        code, details = 200, []
    else:
        code, details = 445, []
    cursor = app.store.execute(
        "UPDATE sessions SET status_code=?, status_description=?, status_details=?, updated_ts=?"
        " WHERE reference_number=? AND status_code IN (150, 170)",
        (code, texts[code], json.dumps(details), app.clock.time(), reference))
    if cursor.rowcount and code == 200:
        on_final = app.services.get("session_finalized")
        if on_final:
            on_final(app, reference)
