"""``ksef-client`` (smekcio/ksef-client-python, PyPI ``ksef-client``) against the emulator, through the
SDK's public API only: typed clients (``client.auth``, ``client.sessions``...) and its workflows
(``AuthCoordinator``, ``OnlineSessionWorkflow``, ``BatchSessionWorkflow``, ``ExportWorkflow``)."""
import datetime
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import fa3_invoice, random_nip, sha256_b64, since, skip_unless_collective_identifiers
from ksef_client import KsefClient, KsefClientOptions
from ksef_client import models as m
from ksef_client.services import AuthCoordinator
from ksef_client.services.crypto import build_encryption_data
from ksef_client.services.csr import generate_csr_ec
from ksef_client.services.workflows import BatchSessionWorkflow, ExportWorkflow, OnlineSessionWorkflow
from ksef_client.utils.zip_utils import build_tar_gz, build_zip

FA3 = m.FormCode(system_code="FA (3)", schema_version="1-0E", value="FA")
POLL = 0.05


@pytest.fixture
def client(api_root):
    # KSeF's pre-signed URLs are https on public hosts; the emulator's are http on this machine's host
    # name, so the https requirement is relaxed (localhost/loopback IPs stay refused by the SDK).
    options = KsefClientOptions(base_url=api_root, strict_presigned_url_validation=False, timeout_seconds=30)
    with KsefClient(options) as sdk_client:
        yield sdk_client


def token_login(client, emulator, nip, permissions=("InvoiceRead", "InvoiceWrite")):
    token = emulator.create_token(nip, list(permissions))["token"]
    pem = client.security.get_public_key_certificate_pem(m.PublicKeyCertificateUsage.KSEFTOKENENCRYPTION)
    return AuthCoordinator(client.auth).authenticate_with_ksef_token(
        token=token, public_certificate=pem, context_identifier_type="nip", context_identifier_value=nip,
        poll_interval_seconds=POLL, max_attempts=200)


def self_signed(nip):
    """A self-signed personal certificate (TEST accepts them for XAdES) for ``nip``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"), x509.NameAttribute(NameOID.SURNAME, "Kowalski"),
                      x509.NameAttribute(NameOID.SERIAL_NUMBER, "TINPL-%s" % nip),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Jan Kowalski"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    return (certificate.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def xades_login(client, nip):
    certificate_pem, key_pem = self_signed(nip)
    return AuthCoordinator(client.auth).authenticate_with_xades(
        context_identifier_type="nip", context_identifier_value=nip, subject_identifier_type="certificateSubject",
        certificate_pem=certificate_pem, private_key_pem=key_pem, poll_interval_seconds=POLL, max_attempts=200)


def symmetric_certificate(client):
    return client.security.get_public_key_certificate_pem(m.PublicKeyCertificateUsage.SYMMETRICKEYENCRYPTION)


def wait_for(fetch, done, timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(POLL)


def test_public_keys(client):
    certificates = client.security.get_public_key_certificates()
    usages = {usage for certificate in certificates for usage in certificate.usage}
    assert {m.PublicKeyCertificateUsage.KSEFTOKENENCRYPTION, m.PublicKeyCertificateUsage.SYMMETRICKEYENCRYPTION} <= usages


def test_token_login_refresh_and_sessions(client, emulator):
    nip = random_nip()
    result = token_login(client, emulator, nip)
    refreshed = client.auth.refresh_access_token(result.refresh_token)
    assert refreshed.access_token.token and refreshed.access_token.token != result.access_token
    sessions = client.auth.get_active_sessions(access_token=refreshed.access_token.token)
    assert any(item.is_current for item in sessions.items)


def test_xades_login(client):
    nip = random_nip()
    result = xades_login(client, nip)
    assert result.access_token and result.refresh_token


def test_online_send_status_upo_and_close(client, emulator):
    nip = random_nip()
    access = token_login(client, emulator, nip).access_token
    session = OnlineSessionWorkflow(client.sessions).open_session(
        form_code=FA3, public_certificate=symmetric_certificate(client), access_token=access)
    xml = fa3_invoice("KC/%s/1" % nip, nip)
    sent = session.send_invoice(xml, access_token=access)
    status = wait_for(lambda: session.get_invoice_status(sent.reference_number, access_token=access),
                      lambda s: s.status.code != 150 and s.status.code != 100)
    assert status.status.code == 200, status
    assert status.invoice_hash == sha256_b64(xml) and status.ksef_number
    upo = session.get_invoice_upo_by_ref(sent.reference_number, access_token=access)  # bytes
    assert b"Potwierdzenie" in upo and status.ksef_number.encode() in upo
    assert session.get_invoice_upo_by_ksef(status.ksef_number, access_token=access) == upo
    session.close(access_token=access)
    final = wait_for(lambda: session.get_status(access_token=access), lambda s: s.status.code == 200)
    assert final.status.code == 200 and final.upo.pages
    page = client.sessions.get_session_upo(session.reference_number, final.upo.pages[0].reference_number,
                                           access_token=access)
    assert b"Potwierdzenie" in page


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_batch_session(client, emulator, compression):
    nip = random_nip()
    access = token_login(client, emulator, nip).access_token
    files = {"fa-%d.xml" % index: fa3_invoice("KCB/%s/%d" % (nip, index), nip) for index in range(3)}
    archive = build_zip(files) if compression == "Zip" else build_tar_gz(files)
    reference = BatchSessionWorkflow(client.sessions, client.http_client).open_upload_and_close(
        form_code=FA3, archive_bytes=archive, compression_type=compression,
        public_certificate=symmetric_certificate(client), access_token=access)
    status = wait_for(lambda: client.sessions.get_session_status(reference, access_token=access),
                      lambda s: s.status.code not in (100, 150, 170))
    assert status.status.code == 200, status
    assert status.successful_invoice_count == 3
    invoices = client.sessions.get_session_invoices(reference, access_token=access)
    assert {item.invoice_hash for item in invoices.invoices} == {sha256_b64(xml) for xml in files.values()}


def _sell_one(client, emulator, seller, buyer):
    access = token_login(client, emulator, seller).access_token
    session = OnlineSessionWorkflow(client.sessions).open_session(
        form_code=FA3, public_certificate=symmetric_certificate(client), access_token=access)
    xml = fa3_invoice("KCE/%s/%s" % (seller, random_nip()), seller, buyer)
    sent = session.send_invoice(xml, access_token=access)
    status = wait_for(lambda: session.get_invoice_status(sent.reference_number, access_token=access),
                      lambda s: s.status.code == 200)
    session.close(access_token=access)
    return xml, status.ksef_number


def test_metadata_query_download_and_export_with_part_hash_check(client, emulator):
    seller, buyer = random_nip(), random_nip()
    xml, ksef_number = _sell_one(client, emulator, seller, buyer)
    access = token_login(client, emulator, buyer, ["InvoiceRead"]).access_token
    found = client.invoices.query_invoice_metadata_by_date_range(
        subject_type=m.InvoiceQuerySubjectType.SUBJECT2, date_type=m.InvoiceQueryDateType.PERMANENTSTORAGE,
        date_from=since(30), access_token=access, page_size=10)
    assert [item.ksef_number for item in found.invoices] == [ksef_number]
    downloaded = client.invoices.get_invoice_bytes(ksef_number, access_token=access)
    assert downloaded.content == xml and downloaded.sha256_base64 == sha256_b64(xml)
    encryption = build_encryption_data(symmetric_certificate(client))
    for compression in (m.CompressionType.ZIP, m.CompressionType.TARGZ):
        started = client.invoices.export_invoices(m.InvoiceExportRequest(
            encryption=encryption.encryption_info, compression_type=compression,
            filters=m.InvoiceQueryFilters(subject_type=m.InvoiceQuerySubjectType.SUBJECT2, date_range=m.InvoiceQueryDateRange(
                date_type=m.InvoiceQueryDateType.PERMANENTSTORAGE, from_=since(30)))), access_token=access)
        status = wait_for(lambda: client.invoices.get_export_status(started.reference_number, access_token=access),
                          lambda s: s.status.code != 100)
        assert status.status.code == 200 and status.package.compression_type == compression
        # require_export_part_hash=True (the SDK's default): every part must carry x-ms-meta-hash
        workflow = ExportWorkflow(client.invoices, client.http_client, require_export_part_hash=True)
        result = workflow.download_and_process_package(status.package, encryption)
        assert list(result.invoice_xml_files.values()) == [xml.decode("utf-8")]
        assert [item["ksefNumber"] for item in result.metadata_summaries] == [ksef_number]


def test_tokens(client):
    nip = random_nip()
    access = xades_login(client, nip).access_token
    created = client.tokens.generate_token(m.GenerateTokenRequest(
        description="Token konformancji", permissions=[m.TokenPermissionType.INVOICEREAD,
                                                       m.TokenPermissionType.COLLECTIVEIDENTIFIERMANAGE]),
        access_token=access)
    status = wait_for(lambda: client.tokens.get_token_status(created.reference_number, access_token=access),
                      lambda s: s.status == m.AuthenticationTokenStatus.ACTIVE)
    assert status.description == "Token konformancji"
    listed = client.tokens.list_tokens(access_token=access)
    assert created.reference_number in [item.reference_number for item in listed.tokens]
    client.tokens.revoke_token(created.reference_number, access_token=access)
    revoked = client.tokens.get_token_status(created.reference_number, access_token=access)
    assert revoked.status in (m.AuthenticationTokenStatus.REVOKING, m.AuthenticationTokenStatus.REVOKED)


def test_certificates(client):
    nip = random_nip()
    access = xades_login(client, nip).access_token
    limits = client.certificates.get_limits(access_token=access)
    assert limits.can_request
    data = client.certificates.get_enrollment_data(access_token=access)
    csr = generate_csr_ec(data.to_dict())
    enrolled = client.certificates.send_enrollment(m.EnrollCertificateRequest(
        certificate_name="Certyfikat SDK", certificate_type=m.KsefCertificateType.AUTHENTICATION,
        csr=csr.csr_base64), access_token=access)
    status = wait_for(lambda: client.certificates.get_enrollment_status(enrolled.reference_number, access_token=access),
                      lambda s: s.status.code != 100)
    assert status.status.code == 200 and status.certificate_serial_number
    serial = status.certificate_serial_number
    retrieved = client.certificates.retrieve_certificate(
        m.RetrieveCertificatesRequest(certificate_serial_numbers=[serial]), access_token=access)
    assert retrieved.certificates[0].certificate_serial_number == serial
    listed = client.certificates.query_certificates(m.QueryCertificatesRequest(), access_token=access)
    assert serial in [item.certificate_serial_number for item in listed.certificates]
    # PUT /testdata/certificates/{serialNumber} (2.7.0): shorten the validity to test expiry
    client.testdata.update_certificate(serial, m.TestDataUpdateCertificateRequest(
        valid_to=(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat()),
        access_token=access)
    client.certificates.revoke_certificate(serial, m.RevokeCertificateRequest(), access_token=access)


def test_limits_and_test_data_overrides(client, emulator):
    nip = random_nip()
    access = token_login(client, emulator, nip).access_token
    rate_limits = client.rate_limits.get_rate_limits(access)
    assert rate_limits.online_session_close.per_second == 20 and rate_limits.batch_session_close.per_minute == 40
    assert rate_limits.global_.per_minute == -1
    context = client.limits.get_context_limits(access)
    assert context.collective_identifier.max_invoices == 500
    subject = client.limits.get_subject_limits(access)
    assert subject.certificate is not None
    client.testdata.restore_production_rate_limits(access_token=access)
    assert client.rate_limits.get_rate_limits(access).online_session.per_second == 10  # PRD: the documented limits (limity-api.md)
    client.testdata.reset_rate_limits(access_token=access)
    assert client.rate_limits.get_rate_limits(access).online_session.per_second == 10


def test_system_warning_handler_sees_the_test_warning(api_root, emulator):
    seen = []
    options = KsefClientOptions(base_url=api_root, strict_presigned_url_validation=False,
                                custom_headers={"X-Test-System-Warning": "[T1]: Test ostrzezenia"},
                                system_warning_handler=seen.append)
    with KsefClient(options) as sdk_client:
        sdk_client.security.get_public_key_certificates()
    assert seen == ["[T1]: Test ostrzezenia"]


def test_collective_identifiers(client, emulator, collective_identifiers_served):
    """POST /collective-identifiers (2 invoices of one seller), query, invoices, by KSeF number."""
    skip_unless_collective_identifiers(collective_identifiers_served)
    seller, buyer = random_nip(), random_nip()
    numbers = [_sell_one(client, emulator, seller, buyer)[1] for _ in range(2)]
    access = token_login(client, emulator, seller).access_token
    created = client.collective_identifiers.generate_for_ksef_numbers(numbers, access_token=access)
    number = created.collective_identifier_number
    assert number.startswith(seller + "-IZ") and len(number) == 35
    now = datetime.datetime.now(datetime.timezone.utc)
    found = client.collective_identifiers.query_by_created_range(
        (now - datetime.timedelta(days=1)).isoformat(), (now + datetime.timedelta(minutes=1)).isoformat(),
        access_token=access, page_size=10)
    assert number in [item.collective_identifier_number for item in found.collective_identifiers]
    invoices = client.collective_identifiers.list_invoices(number, access_token=access, page_size=10)
    assert sorted(item.ksef_number for item in invoices.invoices) == sorted(numbers)
    by_invoice = client.collective_identifiers.list_by_ksef_number(numbers[0], access_token=access, page_size=10)
    assert number in [item.collective_identifier_number for item in by_invoice.collective_identifiers]


def test_errors_and_rate_limits_reach_the_sdk_as_documented(client, emulator):
    """A 400 carries its exceptionCode; a 429 carries
    Retry-After (limity-api.md: "Dokładny czas blokady jest zwracany w nagłówku odpowiedzi Retry-After")."""
    from ksef_client.exceptions import KsefApiError, KsefRateLimitError
    nip = random_nip()
    access = token_login(client, emulator, nip).access_token
    # The SDK refuses a range over 100 days itself ("100 dni w strefie UTC", InvoiceQueryDateRange)
    with pytest.raises(ValueError, match="100 days"):
        client.invoices.query_invoice_metadata_by_date_range(
            subject_type=m.InvoiceQuerySubjectType.SUBJECT1, date_type=m.InvoiceQueryDateType.ISSUE,
            date_from="2026-01-01T00:00:00Z", date_to="2026-06-01T00:00:00Z", access_token=access)
    with pytest.raises(KsefApiError) as error:  # 21173 "Brak sesji o wskazanym numerze referencyjnym."
        client.sessions.get_session_status("20260101-SO-0000000000-0000000000-00", access_token=access)
    assert error.value.status_code == 400 and "21173" in str(error.value.response_body)
    emulator.admin("/config", {"rateLimitsEnabled": True})
    try:
        client.limits.get_context_limits(access)
        with pytest.raises(KsefRateLimitError) as limited:
            for _ in range(40):  # "other" endpoints: 10 req/s
                client.limits.get_context_limits(access)
        assert limited.value.status_code == 429 and limited.value.retry_after >= 1
    finally:
        emulator.admin("/config", {"rateLimitsEnabled": False})
        emulator.admin("/rate-limits/reset")
