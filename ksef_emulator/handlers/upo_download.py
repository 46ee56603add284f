"""UPO downloads: bearer endpoints under ``/v2/sessions/...`` and pre-signed ``/storage/upo/...`` links."""
from .. import upo
from ..errors import ApiError
from ..web import xml_response
from .sessions import check_session_access, load_session


def _not_found(detail):
    return ApiError(21178, details=[detail])


def _invoice_upo(app, session, where, value):
    row = app.store.one("SELECT * FROM invoices WHERE session_reference=? AND %s=?" % where,
                        (session["reference_number"], value))
    if row is None or row["status_code"] != 200:
        raise _not_found("Brak UPO dla faktury %s w sesji %s (UPO jest wydawane tylko dla faktur przyjętych)."
                         % (value, session["reference_number"]))
    return _respond(upo.build_upo(app, session, [row]))


def _respond(content):
    return xml_response(content, headers={"x-ms-meta-hash": upo.upo_hash(content)})


def _session(request):
    session = load_session(request.app, request.path_params["referenceNumber"])
    check_session_access(request, session)
    return session


def by_invoice_reference(request):
    return _invoice_upo(request.app, _session(request), "reference_number", request.path_params["invoiceReferenceNumber"])


def by_ksef_number(request):
    return _invoice_upo(request.app, _session(request), "ksef_number", request.path_params["ksefNumber"])


def session_page(request):
    session = _session(request)
    content = upo.page_document(request.app, session, request.path_params["upoReferenceNumber"])
    if content is None:
        raise _not_found("Brak strony UPO %s dla sesji %s." % (request.path_params["upoReferenceNumber"],
                                                              session["reference_number"]))
    return _respond(content)


def presigned(request):
    app = request.app
    app.signer.check(request)
    session = load_session(app, request.path_params["sessionReference"])
    if request.path_params["kind"] == "invoice":
        return _invoice_upo(app, session, "reference_number", request.path_params["item"])
    content = upo.page_document(app, session, request.path_params["item"])
    if content is None:
        raise _not_found("Brak strony UPO.")
    return _respond(content)


def register(app):
    app.services["session_finalized"] = lambda app, reference: upo.create_session_pages(app, reference)
    add = app.router.add
    add("GET", "/v2/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo", by_invoice_reference)
    add("GET", "/v2/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo", by_ksef_number)
    add("GET", "/v2/sessions/{referenceNumber}/upo/{upoReferenceNumber}", session_page)
    add("GET", "/storage/upo/{sessionReference}/{kind}/{item}", presigned, spec=False)
