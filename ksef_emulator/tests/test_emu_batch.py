"""Batch sessions: ZIP/TarGz parts on pre-signed URLs, part/time checks, package errors."""
import io
import json
import os
import tarfile
import zipfile

import requests

from conftest import FA3_FORM, OAEP, aes_encrypt, b64, fa3_invoice, random_nip, sha256_b64


def _zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _targz(files):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _open(api, access, archive, *, parts=2, compression="Zip", key=None, iv=None, declared=None):
    key = key or os.urandom(32)
    iv = iv or os.urandom(16)
    size = -(-len(archive) // parts)
    chunks = [archive[i:i + size] for i in range(0, len(archive), size)]
    encrypted = [aes_encrypt(key, iv, chunk) for chunk in chunks]
    rsa_key, key_id = api.public_key("SymmetricKeyEncryption")
    file_parts = declared or [{"ordinalNumber": n, "fileSize": len(c), "fileHash": sha256_b64(c)}
                              for n, c in enumerate(encrypted, 1)]
    body = {"formCode": FA3_FORM,
            "batchFile": {"fileSize": len(archive), "fileHash": sha256_b64(archive), "compressionType": compression,
                          "fileParts": file_parts},
            "encryption": {"encryptedSymmetricKey": b64(rsa_key.encrypt(key, OAEP)), "initializationVector": b64(iv),
                           "publicKeyId": key_id}}
    return api.post("/sessions/batch", access, json=body), encrypted


def _upload(opened, encrypted):
    for request, content in zip(opened.json()["partUploadRequests"], encrypted):
        assert request["method"] == "PUT"
        response = requests.put(request["url"], data=content, headers=request["headers"], timeout=10)
        assert response.status_code == 201, response.text


def _code(response):
    return response.json()["exception"]["exceptionDetailList"][0]["exceptionCode"]


def _numbers(count):
    run = os.urandom(3).hex()
    return {"faktura-%d.xml" % i: fa3_invoice("B/%s/%d" % (run, i)) for i in range(count)}


def test_zip_and_targz_batches_are_processed(api):
    access = api.access_token()
    for compression, pack in (("Zip", _zip), ("TarGz", _targz)):
        files = _numbers(3)
        files["zly.xml"] = b"<broken"
        opened, encrypted = _open(api, access, pack(files), compression=compression)
        assert opened.status_code == 201, opened.text
        reference = opened.json()["referenceNumber"]
        assert "-SB-" in reference
        _upload(opened, encrypted)
        assert api.post("/sessions/batch/%s/close" % reference, access).status_code == 204
        final = api.wait_session(access, reference)
        assert final["status"]["code"] == 200, final
        assert (final["successfulInvoiceCount"], final["failedInvoiceCount"]) == (3, 1)
        invoices = api.get("/sessions/%s/invoices?pageSize=10" % reference, access).json()["invoices"]
        names = {item["invoiceFileName"]: item for item in invoices}
        assert names["zly.xml"]["status"]["code"] == 430
        assert names["faktura-0.xml"]["invoiceHash"] == sha256_b64(files["faktura-0.xml"])
        assert names["faktura-0.xml"]["ksefNumber"]
        assert final["upo"]["pages"]


def test_part_count_and_size_limits_at_open(api):
    access = api.access_token()
    too_many = [{"ordinalNumber": n, "fileSize": 16, "fileHash": sha256_b64(b"x")} for n in range(1, 52)]
    opened, _ = _open(api, access, b"x", declared=too_many)
    assert _code(opened) == 21161
    too_big = [{"ordinalNumber": 1, "fileSize": 100000017, "fileHash": sha256_b64(b"x")}]
    opened, _ = _open(api, access, b"x", declared=too_big)
    assert _code(opened) == 21157


def test_package_size_cap_at_open(api):
    """The whole package is at most 5 GB (5,000,000,000 bytes): more is a validation error (21405)."""
    access = api.access_token()
    archive = _zip(_numbers(1))
    opened, _ = _open(api, access, archive)
    declaration = json.loads(opened.request.body)  # the same declaration again, with another total size
    for size, expected in ((5000000000, 201), (5000000001, 400)):
        declaration["batchFile"]["fileSize"] = size
        response = api.post("/sessions/batch", access, json=declaration)
        assert response.status_code == expected, response.text
    assert _code(response) == 21405
    assert "5000000000" in response.json()["exception"]["exceptionDetailList"][0]["details"][0]
    problem = api.post("/sessions/batch", access, json=declaration, headers={"X-Error-Format": "problem-details"})
    assert problem.status_code == 400 and problem.json()["errors"][0]["code"] == 21405
    # the cap is a config value (to test a client's splitting without gigabytes)
    api.emu.admin("/config", {"batchMaxPackageSizeBytes": len(archive) - 1})
    opened, _ = _open(api, access, archive)
    assert opened.status_code == 400 and _code(opened) == 21405


def test_close_checks_missing_part_and_sizes(api):
    access = api.access_token()
    opened, encrypted = _open(api, access, _zip(_numbers(2)))
    reference = opened.json()["referenceNumber"]
    first = opened.json()["partUploadRequests"][0]
    requests.put(first["url"], data=encrypted[0], headers=first["headers"], timeout=10)
    assert _code(api.post("/sessions/batch/%s/close" % reference, access)) == 21205
    second = opened.json()["partUploadRequests"][1]
    requests.put(second["url"], data=encrypted[1] + b"0" * 16, headers=second["headers"], timeout=10)
    assert _code(api.post("/sessions/batch/%s/close" % reference, access)) == 21157
    # the upload URL is bound to its path: another ordinal with the same signature is refused
    forged = first["url"].replace("/1?", "/2?")
    assert requests.put(forged, data=b"x", timeout=10).status_code == 403


def test_upload_window_expiry_gives_21208_and_440(api):
    access = api.access_token()
    opened, encrypted = _open(api, access, _zip(_numbers(1)), parts=1)
    reference = opened.json()["referenceNumber"]
    _upload(opened, encrypted)
    api.emu.admin("/config", {"accessTokenTtlSeconds": 7200})
    late_access = api.access_token()
    api.emu.admin("/clock", {"advanceSeconds": 21 * 60})
    assert _code(api.post("/sessions/batch/%s/close" % reference, late_access)) == 21208
    assert api.get("/sessions/%s" % reference, late_access).json()["status"]["code"] == 440


def test_unclosed_batch_is_cancelled_after_12_hours(api):
    access = api.access_token()
    opened, _ = _open(api, access, _zip(_numbers(1)), parts=1)
    api.emu.admin("/config", {"accessTokenTtlSeconds": 24 * 3600})
    late_access = api.access_token()
    api.emu.admin("/clock", {"advanceSeconds": 12 * 3600 + 5})
    status = api.get("/sessions/%s" % opened.json()["referenceNumber"], late_access).json()["status"]
    assert status["code"] == 440


def test_package_errors(api):
    access = api.access_token()
    # declared archive hash does not match the uploaded content -> 405
    archive = _zip(_numbers(1))
    opened, encrypted = _open(api, access, archive, parts=1)
    tampered = aes_encrypt(os.urandom(32), os.urandom(16), archive)
    declared = [{"ordinalNumber": 1, "fileSize": len(tampered), "fileHash": sha256_b64(tampered)}]
    opened, _ = _open(api, access, archive, declared=declared)
    _upload(opened, [tampered])
    api.post("/sessions/batch/%s/close" % opened.json()["referenceNumber"], access)
    status = api.wait_session(access, opened.json()["referenceNumber"], codes=(405, 435, 200, 445))
    assert status["status"]["code"] == 435  # wrong key: padding check fails while decrypting
    # not an archive -> 430
    opened, encrypted = _open(api, access, b"this is not a zip file at all", parts=1)
    _upload(opened, encrypted)
    api.post("/sessions/batch/%s/close" % opened.json()["referenceNumber"], access)
    assert api.wait_session(access, opened.json()["referenceNumber"], codes=(430,))["status"]["code"] == 430


ATTACHMENT = (b"<Zalacznik><BlokDanych><MetaDane><ZKlucz>k</ZKlucz><ZWartosc>v</ZWartosc></MetaDane>"
              b"<Tekst><Akapit>Opis</Akapit></Tekst></BlokDanych></Zalacznik>")


def _send_batch(api, access, files):
    opened, encrypted = _open(api, access, _zip(files), parts=1)
    assert opened.status_code == 201, opened.text
    reference = opened.json()["referenceNumber"]
    _upload(opened, encrypted)
    assert api.post("/sessions/batch/%s/close" % reference, access).status_code == 204
    api.wait_session(access, reference)
    listed = api.get("/sessions/%s/invoices?pageSize=10" % reference, access).json()["invoices"]
    return {item["invoiceFileName"]: item["status"] for item in listed}


def test_attachments_need_the_consent_of_the_context(api):
    """uprawnienia.md: without the e-Urząd Skarbowy consent an invoice with Zalacznik is rejected (415);
    on TE POST /testdata/attachment grants it and /testdata/attachment/revoke withdraws it."""
    nip = random_nip()
    access = api.access_token(nip, ("InvoiceWrite", "InvoiceRead", "CredentialsRead"))
    run = os.urandom(3).hex()

    def files(tag):
        with_attachment = fa3_invoice("Z/%s/%s" % (run, tag), seller_nip=nip).replace(
            b"</Fa></Faktura>", b"</Fa>" + ATTACHMENT + b"</Faktura>")
        return {"zalacznik.xml": with_attachment, "zwykla.xml": fa3_invoice("N/%s/%s" % (run, tag), seller_nip=nip)}

    status = api.get("/permissions/attachments/status", access)
    assert status.status_code == 200 and status.json() == {"isAttachmentAllowed": False, "revokedDate": None}
    refused = _send_batch(api, access, files("a"))
    assert refused["zalacznik.xml"]["code"] == 415
    assert refused["zalacznik.xml"]["description"] == "Brak możliwości wysyłania faktury z załącznikiem"
    assert refused["zwykla.xml"]["code"] == 200

    assert api.post("/testdata/attachment", json={"nip": nip}).status_code == 200
    assert api.get("/permissions/attachments/status", access).json()["isAttachmentAllowed"] is True
    assert _send_batch(api, access, files("b"))["zalacznik.xml"]["code"] == 200

    # withdrawn from a future day: allowed until then (Europe/Warsaw midnight), refused afterwards
    assert api.post("/testdata/attachment/revoke", json={"nip": nip, "expectedEndDate": "2099-01-02"}).status_code == 200
    pending = api.get("/permissions/attachments/status", access).json()
    assert pending["isAttachmentAllowed"] is True and pending["revokedDate"].startswith("2099-01-01T23:00:00")
    assert api.post("/testdata/attachment/revoke", json={"nip": nip}).status_code == 200
    assert api.get("/permissions/attachments/status", access).json()["isAttachmentAllowed"] is False
    assert _send_batch(api, access, files("c"))["zalacznik.xml"]["code"] == 415
    assert api.post("/testdata/attachment", json={"nip": "123"}).status_code == 400  # spec-validated NIP
