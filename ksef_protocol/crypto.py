"""Symmetric session keys, RSA-OAEP key wrapping and KSeF hashes.

KSeF encrypts invoices, batch parts and export packages with AES-256-CBC and
PKCS#7 padding; the 32-byte key is wrapped with the Ministry's public key using
RSAES-OAEP with SHA-256 and MGF1-SHA-256.  Hashes sent to KSeF are standard
Base64 SHA-256 (44 chars) of the exact bytes.

**IV placement (decision).**  ``sesja-interaktywna.md`` and ``sesja-wsadowa.md``
say the IV is "attached as a prefix to the ciphertext", but the IV also travels
in ``encryption.initializationVector`` and every size example in
``open-api.json`` fits plain CBC+PKCS#7 *without* a prefix: 6480 -> 6496
(online invoice), 16037 -> 16048 (batch part) and 22425060 -> 22425072 (export
part); with a 16-byte prefix they would be 6512, 16064 and 22425088.  The
official C# client also adds no prefix.  We therefore send the IV only in
``initializationVector`` and the ciphertext is exactly ``AES-CBC(PKCS7(data))``.
"""
import base64
import hashlib
import json
import os
from typing import NamedTuple

from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import KsefProtocolError

AES_KEY_SIZE = 32
AES_BLOCK_SIZE = 16


def sha256_b64(data):
    """Standard Base64 of SHA-256 over ``data`` (the 44-char form KSeF fields use)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


class FileDigest(NamedTuple):
    """Size in bytes and Base64 SHA-256 of one blob."""

    size: int
    sha256_b64: str

    @classmethod
    def of(cls, data):
        """Digest of ``data``."""
        return cls(len(data), sha256_b64(data))


def rsa_oaep_encrypt(public_key, plaintext):
    """Encrypt ``plaintext`` with RSA-OAEP SHA-256 / MGF1-SHA-256 (KSeF's only RSA scheme)."""
    return public_key.encrypt(plaintext, asym_padding.OAEP(
        mgf=asym_padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))


class SessionKey:
    """An AES-256 key plus IV used for one session or export.

    The key material is secret: persist ``to_json()`` only in protected storage.
    ``repr`` never shows it.
    """

    def __init__(self, key, iv):
        if not isinstance(key, bytes) or len(key) != AES_KEY_SIZE:
            raise ValueError("A KSeF session key must be exactly 32 bytes (AES-256).")
        if not isinstance(iv, bytes) or len(iv) != AES_BLOCK_SIZE:
            raise ValueError("A KSeF initialization vector must be exactly 16 bytes.")
        self.key = key
        self.iv = iv

    @classmethod
    def generate(cls):
        """A fresh random key and IV from the OS CSPRNG (one per session is recommended)."""
        return cls(os.urandom(AES_KEY_SIZE), os.urandom(AES_BLOCK_SIZE))

    def __repr__(self):
        return "SessionKey(<secret>)"

    def __eq__(self, other):
        return isinstance(other, SessionKey) and (self.key, self.iv) == (other.key, other.iv)

    def __hash__(self):
        return hash((self.key, self.iv))

    def _cipher(self):
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv), backend=default_backend())

    def encrypt(self, data):
        """AES-256-CBC with PKCS#7 padding; no IV prefix (see the module docstring)."""
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return encryptor.update(padded) + encryptor.finalize()

    def decrypt(self, data):
        """Inverse of :meth:`encrypt`; raises :class:`KsefProtocolError` on a wrong key or damaged data."""
        if len(data) % AES_BLOCK_SIZE:
            raise KsefProtocolError("Encrypted KSeF data is not a whole number of AES blocks (%d bytes)."
                                    % len(data))
        decryptor = self._cipher().decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise KsefProtocolError("Cannot decrypt KSeF data: wrong session key or damaged content.") from None

    def to_json(self):
        """Serialize key and IV (Base64) for the caller's secret storage."""
        return json.dumps({"key": base64.b64encode(self.key).decode("ascii"),
                           "iv": base64.b64encode(self.iv).decode("ascii")})

    @classmethod
    def from_json(cls, text):
        """Restore a key saved with :meth:`to_json`."""
        try:
            payload = json.loads(text)
            return cls(base64.b64decode(payload["key"]), base64.b64decode(payload["iv"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError("Stored KSeF session key is unreadable (%s); start a new session."
                             % type(exc).__name__) from None

    def encryption_info(self, public_key_certificate):
        """The ``EncryptionInfo`` JSON object for opening a session or export with this key."""
        info = {
            "encryptedSymmetricKey": base64.b64encode(
                rsa_oaep_encrypt(public_key_certificate.public_key(), self.key)).decode("ascii"),
            "initializationVector": base64.b64encode(self.iv).decode("ascii"),
        }
        if public_key_certificate.public_key_id:
            info["publicKeyId"] = public_key_certificate.public_key_id
        return info
