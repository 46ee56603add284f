"""Batch archives: ZIP and TarGz, binary split, per-part encryption."""
import pytest

from ksef_protocol import BatchArchive, SessionKey, sha256_b64
from ksef_protocol.batch import unpack_archive

FILES = {"fa-%03d.xml" % i: ("<Faktura nr='%d'>%s</Faktura>" % (i, "x" * (i * 37))).encode() for i in range(30)}


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_archive_round_trip_and_determinism(compression):
    archive = BatchArchive.build(FILES, compression=compression)
    assert unpack_archive(archive.content) == FILES
    assert BatchArchive.build(FILES, compression=compression).content == archive.content
    assert archive.file == (len(archive.content), sha256_b64(archive.content))
    assert archive.invoice_hashes["fa-001.xml"] == sha256_b64(FILES["fa-001.xml"])


@pytest.mark.parametrize("compression", ["Zip", "TarGz"])
def test_binary_split_and_per_part_encryption(compression):
    archive = BatchArchive.build(FILES, compression=compression, part_size=500)
    assert len(archive.parts) == -(-len(archive.content) // 500) > 1
    assert all(len(part) <= 500 for part in archive.parts)
    assert b"".join(archive.parts) == archive.content
    key = SessionKey.generate()
    info = archive.batch_file_info(key)
    encrypted = archive.encrypted_parts(key)
    assert info["fileSize"] == len(archive.content) and info["compressionType"] == compression
    for number, (part, described) in enumerate(zip(encrypted, info["fileParts"]), start=1):
        # Parts are described by their ENCRYPTED size and hash, and decrypt independently.
        assert described == {"ordinalNumber": number, "fileSize": len(part), "fileHash": sha256_b64(part)}
        assert key.decrypt(part) == archive.parts[number - 1]


def test_bad_input_messages():
    with pytest.raises(ValueError, match="Zip or TarGz"):
        BatchArchive.build(FILES, compression="Rar")
    with pytest.raises(ValueError, match="at least one"):
        BatchArchive.build({})
    with pytest.raises(ValueError, match="at most 50"):
        BatchArchive.build(FILES, part_size=10)
    with pytest.raises(ValueError, match="non-empty bytes"):
        BatchArchive.build({"a.xml": "text"})
    with pytest.raises(ValueError, match="Unknown archive"):
        unpack_archive(b"plain")


def test_parts_are_uploaded_without_bearer_with_given_headers(fake_server, fake_client):
    from ksef_protocol import BatchSessionInfo
    archive = BatchArchive.build(FILES, part_size=700)
    key = SessionKey.generate()
    requests = []
    for number in range(1, len(archive.parts) + 1):
        fake_server.script("PUT", "/upload/%d" % number, [(201, {}, b"")])
        requests.append({"ordinalNumber": number, "method": "PUT",
                         "url": fake_server.base_url + "/upload/%d?sig=secret" % number,
                         "headers": {"x-ms-blob-type": "BlockBlob"}})
    fake_client.upload_batch_parts(BatchSessionInfo("20250101-SB-1", requests), key, archive)
    received = {r[1].split("?")[0]: r for r in fake_server.requests}
    assert len(received) == len(archive.parts)
    for number, encrypted in enumerate(archive.encrypted_parts(key), start=1):
        method, _, headers, body = received["/v2/upload/%d" % number]
        assert method == "PUT" and body == encrypted
        assert headers["x-ms-blob-type"] == "BlockBlob" and "Authorization" not in headers


def test_missing_upload_url_is_reported(fake_client):
    from ksef_protocol import BatchSessionInfo, KsefProtocolError
    archive = BatchArchive.build(FILES, part_size=700)
    with pytest.raises(KsefProtocolError, match="no upload URL"):
        fake_client.upload_batch_parts(BatchSessionInfo("R", []), SessionKey.generate(), archive)
