"""Batch packages: ZIP or TarGz archive of invoice XMLs, split binarily into parts (digest §5).

The archive is described unencrypted (``batchFile.fileSize``/``fileHash``); each
part (≤ 100 MB before encryption, at most 50 parts) is encrypted on its own with
the session key/IV and described by the hash/size of the *encrypted* bytes.
Archives are built deterministically (fixed timestamps, sorted names) so the
same invoices give the same package hash.
"""
import gzip
import io
import tarfile
import zipfile
from typing import Dict, List

from .crypto import FileDigest, sha256_b64

MAX_PART_SIZE = 100_000_000
MAX_PARTS = 50
MAX_ARCHIVE_SIZE = 5_000_000_000
COMPRESSIONS = ("Zip", "TarGz")
_FIXED_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def _build_zip(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def _build_targz(files):
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            info.mtime = 946684800
            archive.addfile(info, io.BytesIO(files[name]))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        gz.write(tar_buffer.getvalue())
    return out.getvalue()


def unpack_archive(content):
    """Extract ``{name: bytes}`` from ZIP or tar.gz bytes (format detected from magic bytes)."""
    if content[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    if content[:2] == b"\x1f\x8b":
        with tarfile.open(fileobj=io.BytesIO(content), mode="r:gz") as archive:
            return {member.name: archive.extractfile(member).read() for member in archive.getmembers()
                    if member.isfile()}
    raise ValueError("Unknown archive format (neither ZIP nor tar.gz).")


class BatchArchive:
    """A batch package ready to be encrypted and uploaded.

    ``content`` is the whole archive, ``parts`` its binary split, ``invoice_hashes``
    the Base64 SHA-256 of every XML by file name (statuses report ``invoiceHash``
    and ``invoiceFileName``, so callers can reconcile).
    """

    def __init__(self, content, compression, part_size, invoice_hashes):
        self.content = content
        self.compression = compression
        self.part_size = part_size
        self.invoice_hashes = invoice_hashes
        self.file = FileDigest.of(content)
        self.parts = [content[i:i + part_size] for i in range(0, len(content), part_size)] or [b""]
        self._encrypted = {}

    @classmethod
    def build(cls, files: Dict[str, bytes], compression="Zip", part_size=MAX_PART_SIZE):
        """Archive ``{"file.xml": bytes}`` with ``compression`` (``"Zip"`` or ``"TarGz"``) and split it."""
        if compression not in COMPRESSIONS:
            raise ValueError("Batch compression must be Zip or TarGz, got %r." % (compression,))
        if not files:
            raise ValueError("A batch package needs at least one invoice file.")
        if not 0 < part_size <= MAX_PART_SIZE:
            raise ValueError("Batch part size must be between 1 and %d bytes." % MAX_PART_SIZE)
        for name, data in files.items():
            if not isinstance(data, bytes) or not data:
                raise ValueError("Batch file %r must be non-empty bytes." % name)
        content = _build_zip(files) if compression == "Zip" else _build_targz(files)
        if len(content) > MAX_ARCHIVE_SIZE:
            raise ValueError("Batch archive is %d bytes; KSeF accepts at most %d: split the invoices into "
                             "several batch sessions." % (len(content), MAX_ARCHIVE_SIZE))
        archive = cls(content, compression, part_size, {name: sha256_b64(data) for name, data in files.items()})
        if len(archive.parts) > MAX_PARTS:
            raise ValueError("Batch archive needs %d parts; KSeF accepts at most %d: use a larger part size or "
                             "fewer invoices per session." % (len(archive.parts), MAX_PARTS))
        return archive

    def encrypted_parts(self, key) -> List[bytes]:
        """Every part encrypted with ``key`` (cached: open and upload need the same bytes)."""
        cache_key = (key.key, key.iv)
        if cache_key not in self._encrypted:
            self._encrypted = {cache_key: [key.encrypt(part) for part in self.parts]}
        return self._encrypted[cache_key]

    def batch_file_info(self, key):
        """The ``batchFile`` JSON object of ``POST /sessions/batch``."""
        return {
            "fileSize": self.file.size, "fileHash": self.file.sha256_b64, "compressionType": self.compression,
            "fileParts": [{"ordinalNumber": number, "fileSize": len(part), "fileHash": sha256_b64(part)}
                          for number, part in enumerate(self.encrypted_parts(key), start=1)],
        }
