"""``ksef2`` (stacking-hq/ksef2, PyPI ``ksef2``) against the emulator, through the SDK's public API:
``Client(Environment.TEST, http_client=...)``, ``client.authentication``, the authenticated client's
sessions, ``invoices``, ``batch``, ``tokens``, ``certificates``, ``limits`` and ``testdata``.

ksef2 binds to the official TEST URL only (``http_client.base_url must match the selected environment``),
so the suite passes it an ``httpx.Client`` whose transport sends ``api-test.ksef.mf.gov.pl`` to the
emulator; everything above the transport is the SDK's own code."""
import base64
import datetime

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import fa3_invoice, random_nip, sha256_b64, skip_unless_collective_identifiers
from ksef2 import Client, Environment, FormSchema
from ksef2.models import BatchInvoice, InvoicesFilter

TEST_HOST = "api-test.ksef.mf.gov.pl"
POLL = 0.05


class EmulatorTransport(httpx.BaseTransport):
    """Sends requests for the TEST host to the local emulator (plain HTTP); the Host header stays
    ``api-test.ksef.mf.gov.pl``, so the emulator's pre-signed URLs point at that host as KSeF's do."""

    def __init__(self, port):
        self.port = port
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request):
        if request.url.host == TEST_HOST:
            request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return self.inner.handle_request(request)

    def close(self):
        self.inner.close()


@pytest.fixture
def client(emulator):
    http = httpx.Client(base_url="https://%s/v2/" % TEST_HOST, transport=EmulatorTransport(emulator.port),
                        timeout=30)
    with Client(Environment.TEST, http_client=http) as sdk_client:
        yield sdk_client
    http.close()


def token_login(client, emulator, nip, permissions=("InvoiceRead", "InvoiceWrite")):
    token = emulator.create_token(nip, list(permissions))["token"]
    return client.authentication.with_token(ksef_token=token, nip=nip, poll_interval=POLL)


def test_public_keys(client):
    certificates = client.encryption.get_certificates()
    usages = {str(usage) for certificate in certificates for usage in certificate.usage}
    assert any("Token" in usage or "token" in usage for usage in usages), usages
    assert any("Symmetric" in usage or "symmetric" in usage for usage in usages), usages


def test_token_and_xades_login_and_refresh(client, emulator):
    nip = random_nip()
    auth = token_login(client, emulator, nip)
    refreshed = client.authentication.refresh(refresh_token=auth.refresh_token)
    assert refreshed.access_token and refreshed.access_token != auth.access_token
    xades = client.authentication.with_test_certificate(nip=nip, poll_interval=POLL)
    assert xades.access_token
    sessions = list(xades.sessions.list())
    assert len(sessions) >= 2


def test_online_send_status_upo_and_close(client, emulator):
    nip = random_nip()
    auth = token_login(client, emulator, nip)
    xml = fa3_invoice("K2/%s/1" % nip, nip)
    with auth.online_session(form_code=FormSchema.FA3) as session:
        submission = session.send_invoice(xml)
        status = submission.wait(timeout=20.0, poll_interval=POLL)
        assert status.ksef_number and status.invoice_hash == sha256_b64(xml)
        upo = submission.download_upo()
        assert b"Potwierdzenie" in upo and status.ksef_number.encode() in upo
        assert session.download_invoice_upo(ksef_number=status.ksef_number) == upo
        reference = session.reference_number
    # leaving the block closed the session; its UPO follows
    session.wait(timeout=20.0, poll_interval=POLL)
    pages = session.download_upo()
    assert pages and b"Potwierdzenie" in pages[0] and reference


def test_batch_session_zip(client, emulator):
    """ksef2 builds ZIP packages only (``auth.batch.prepare``: "Build a ZIP package")."""
    nip = random_nip()
    auth = token_login(client, emulator, nip)
    files = [BatchInvoice(file_name="fa-%d.xml" % index, content=fa3_invoice("K2B/%s/%d" % (nip, index), nip))
             for index in range(3)]
    prepared = auth.batch.prepare(files)
    with auth.batch_session(prepared_batch=prepared) as session:
        session.upload_parts()
    status = session.wait(timeout=20.0, poll_interval=POLL)
    assert status.successful_invoice_count == 3
    invoices = session.list_invoices()
    hashes = {item.invoice_hash for item in invoices.invoices} if hasattr(invoices, "invoices") else \
        {item.invoice_hash for item in invoices}
    assert hashes == {sha256_b64(item.content) for item in files}
    assert session.download_upo()


def _sell_one(client, emulator, seller, buyer):
    auth = token_login(client, emulator, seller)
    xml = fa3_invoice("K2E/%s/%s" % (seller, random_nip()), seller, buyer)
    with auth.online_session(form_code=FormSchema.FA3) as session:
        status = session.send_invoice(xml).wait(timeout=20.0, poll_interval=POLL)
    return xml, status.ksef_number


def test_metadata_download_and_export_with_part_hashes(client, emulator):
    seller, buyer = random_nip(), random_nip()
    xml, ksef_number = _sell_one(client, emulator, seller, buyer)
    auth = token_login(client, emulator, buyer, ["InvoiceRead"])
    since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    filters = InvoicesFilter(role="buyer", date_type="permanent_storage", date_from=since)
    found = list(auth.invoices.search(filters))
    assert [item.ksef_number for item in found] == [ksef_number]
    assert auth.invoices.download(ksef_number=ksef_number) == xml
    for compression in ("zip", "tar_gz"):
        # the SDK verifies encryptedPartHash/partHash and sizes of every part (export_parts.py)
        package = auth.invoices.export(filters, compression_type=compression).wait(timeout=20.0, poll_interval=POLL)
        files = dict(package.invoices())
        assert list(files.values()) == [xml] and ksef_number in list(files)[0]
        assert [item.ksef_number for item in package.metadata] == [ksef_number]


def _csr(data):
    key = ec.generate_private_key(ec.SECP256R1())
    fields = [(NameOID.COMMON_NAME, data.common_name), (NameOID.COUNTRY_NAME, data.iso_country_code)]
    for oid, value in ((NameOID.GIVEN_NAME, data.name), (NameOID.SURNAME, data.surname),
                       (NameOID.SERIAL_NUMBER, data.serial_number), (NameOID.ORGANIZATION_NAME, data.organization_name),
                       (x509.ObjectIdentifier("2.5.4.97"), data.organization_identifier),
                       (x509.ObjectIdentifier("2.5.4.45"), data.unique_identifier)):
        if value:
            fields.append((oid, value))
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(oid, value) for oid, value in fields])).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.DER)).decode()


def test_tokens_and_certificates(client):
    nip = random_nip()
    auth = client.authentication.with_test_certificate(nip=nip, poll_interval=POLL)
    generated = auth.tokens.generate(permissions=["invoice_read", "collective_identifier_manage"],
                                     description="Token konformancji ksef2")
    generated.wait(timeout=20.0, poll_interval=POLL)
    listed = list(auth.tokens.list())
    mine = [item for item in listed if item.reference_number == generated.response.reference_number]
    assert mine and mine[0].description == "Token konformancji ksef2"
    auth.tokens.revoke(reference_number=generated.response.reference_number)
    assert auth.certificates.get_limits().can_request
    data = auth.certificates.get_enrollment_data()
    enrollment = auth.certificates.enroll(certificate_name="Certyfikat ksef2", certificate_type="authentication",
                                          csr=_csr(data))
    status = enrollment.wait(timeout=20.0, poll_interval=POLL)
    serial = status.certificate_serial_number
    retrieved = auth.certificates.retrieve(certificate_serial_numbers=[serial])
    assert retrieved
    auth.testdata.update_certificate_valid_to(
        serial_number=serial, valid_to=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1))
    auth.certificates.revoke(certificate_serial_number=serial)


def test_limits(client, emulator):
    auth = token_login(client, emulator, random_nip())
    rate_limits = auth.limits.get_api_rate_limits()
    assert rate_limits.online_session_close.per_second == 20
    assert rate_limits.batch_session_close.per_minute == 40
    assert rate_limits.global_.per_minute == -1
    assert auth.limits.get_context_limits().collective_identifier.max_invoices == 500
    assert auth.limits.get_subject_limits() is not None
    auth.limits.set_production_rate_limits()
    assert auth.limits.get_api_rate_limits().online_session.per_second == 10  # PRD: the documented limits (limity-api.md)
    auth.limits.reset_api_rate_limits()
    assert auth.limits.get_api_rate_limits().online_session.per_second == 10


def test_collective_identifiers(client, emulator, collective_identifiers_served):
    skip_unless_collective_identifiers(collective_identifiers_served)
    seller, buyer = random_nip(), random_nip()
    numbers = [_sell_one(client, emulator, seller, buyer)[1] for _ in range(2)]
    auth = token_login(client, emulator, seller)
    from ksef2._domain.models.collective_identifiers import CollectiveIdentifierInvoice
    created = auth.collective_identifiers.generate(
        invoices=[CollectiveIdentifierInvoice(ksef_number=number) for number in numbers])
    assert created.collective_identifier_number.startswith(seller + "-IZ")


def test_errors_and_rate_limits_reach_the_sdk_as_documented(client, emulator):
    """A 400 carries its exceptionCode; on 429 the SDK waits
    for Retry-After and retries (limity-api.md), so the call still succeeds."""
    from ksef2 import KSeFApiError
    auth = token_login(client, emulator, random_nip())
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(Exception, match="100 days"):  # refused by the SDK itself, as the docs limit it
        InvoicesFilter(role="seller", date_type="issue_date", date_from=start,
                       date_to=start + datetime.timedelta(days=150))
    with pytest.raises(KSeFApiError) as error:  # 21173 "Brak sesji o wskazanym numerze referencyjnym."
        auth.invoice_sessions.download_upo("20260101-SO-0000000000-0000000000-00",
                                           upo_reference_number="20260101-UP-0000000000-0000000000-00")
    assert "21173" in str(error.value)
    emulator.admin("/config", {"rateLimitsEnabled": True})
    try:
        for _ in range(12):  # "other" endpoints: 10 req/s; the 11th gets 429 + Retry-After
            assert auth.limits.get_context_limits().collective_identifier.max_invoices == 500
    finally:
        emulator.admin("/config", {"rateLimitsEnabled": False})
        emulator.admin("/rate-limits/reset")
