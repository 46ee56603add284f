"""Export packages (``POST /invoices/exports``): the archive, its parts and their encryption.

The package is a ZIP or tar.gz of ``{ksefNumber}.xml`` files plus ``_metadata.json``
(``{"invoices": [InvoiceMetadata, ...]}``), cut at ``exportMaxPackageBytes`` of compressed invoices
(see :func:`package_files`). The archive bytes are cut into parts of
``exportPartSizeBytes``; each part is encrypted on its own with AES-256-CBC (PKCS#7) using the
key and IV the client sent, so the client decrypts every part, concatenates them in
``ordinalNumber`` order and unpacks the result.
"""
import base64
import hashlib
import io
import json
import tarfile
import zipfile
import zlib

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def b64_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def build_archive(files, compression):
    """``files``: ordered ``{name: bytes}``; ``compression``: ``Zip`` or ``TarGz``."""
    buffer = io.BytesIO()
    if compression == "TarGz":
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    return buffer.getvalue()


def package_files(app, metadata_list, only_metadata, max_bytes):
    """``(files, count)``: the archive members for the first ``count`` invoices of ``metadata_list``.

    Members are every invoice's exact XML (unless ``only_metadata``) and ``_metadata.json``. The
    invoices stop before their compressed size (raw deflate of each XML, summed) would pass
    ``max_bytes`` (the documented 1 GB; ``_metadata.json`` does not count); at least one is
    always included so a client that moves its ``from`` date always progresses."""
    count = len(metadata_list)
    files = {}
    if not only_metadata:
        numbers = [item["ksefNumber"] for item in metadata_list]
        contents = _contents(app, numbers)
        total = 0
        for index, number in enumerate(numbers):
            total += compressed_size(contents[number])
            if total > max_bytes and index > 0:
                count = index
                break
            files["%s.xml" % number] = contents[number]
    files["_metadata.json"] = json.dumps({"invoices": metadata_list[:count]}, ensure_ascii=False).encode("utf-8")
    return files, count


def _contents(app, numbers):
    contents = {}
    for start in range(0, len(numbers), 500):  # SQLite's bound-parameter limit
        chunk = numbers[start:start + 500]
        for row in app.store.query("SELECT ksef_number, content FROM invoices WHERE ksef_number IN (%s)"
                                   % ",".join("?" * len(chunk)), chunk):
            contents[row["ksef_number"]] = bytes(row["content"])
    return contents


def compressed_size(data):
    """Bytes of ``data`` compressed with raw deflate (what it adds to a package)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return len(compressor.compress(data)) + len(compressor.flush())


def aes_encrypt(key, iv, data):
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv), backend=default_backend()).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def encrypted_parts(archive, key, iv, part_size):
    """``[(plain_part, encrypted_part), ...]`` in ordinal order (at least one part)."""
    part_size = max(1, int(part_size))
    chunks = [archive[start:start + part_size] for start in range(0, len(archive), part_size)] or [archive]
    return [(chunk, aes_encrypt(key, iv, chunk)) for chunk in chunks]
