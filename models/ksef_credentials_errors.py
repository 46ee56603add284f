"""Turn protocol errors met while managing KSeF credentials into messages a user can act on."""
from odoo.exceptions import UserError

from ..ksef_protocol import certificates as ksef_certificates


def certificate_error_message(env, error, *, pkcs12=False):
    """A translated message for a ``ksef_protocol.certificates.CertificateError`` (never containing secrets)."""
    if isinstance(error, ksef_certificates.WrongPasswordError):
        if pkcs12:
            return env._("The PKCS#12 file cannot be opened: the password is wrong or the file is damaged. "
                         "Check the password and the file.")
        return env._("The private key is encrypted and the password is missing or wrong. Enter the key's password.")
    if isinstance(error, ksef_certificates.KeyMismatchError):
        return env._("The private key does not belong to this certificate. Choose the key file created "
                     "together with the certificate.")
    if isinstance(error, ksef_certificates.UnsupportedKeyError):
        return env._("KSeF accepts only RSA keys of at least 2048 bits and EC P-256 keys; this certificate or "
                     "key is not one of them. Obtain a certificate with a supported key.")
    if isinstance(error, ksef_certificates.CertificateExpiredError):
        return env._("The certificate has expired. Obtain a new certificate.")
    if isinstance(error, ksef_certificates.CertificateNotYetValidError):
        return env._("The certificate is not valid yet. Check its start date.")
    if isinstance(error, ksef_certificates.CertificateFormatError):
        return env._("The file is damaged or not of the expected kind: upload the certificate as .crt/.cer/.pem "
                     "(PEM or DER) with its .key file (PEM), or a .p12/.pfx bundle. Details: %(details)s",
                     details=str(error))
    return env._("The certificate cannot be used: %(details)s", details=str(error))


def raise_ksef_error(env, error, action):
    """Raise a UserError describing a ``ksef_protocol`` error met during ``action`` (translated text)."""
    codes = ', '.join(str(code) for code in sorted(getattr(error, 'codes', None) or ()))
    raise UserError(env._(
        "KSeF refused to %(action)s: %(message)s%(codes)s",
        action=action, message=getattr(error, 'message', None) or str(error),
        codes=(" (%s)" % codes) if codes else '')) from None
