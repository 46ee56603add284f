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


#: KSeF certificate-enrollment refusals (certyfikaty-KSeF.md, open-api.json) and what to do next.
def _enrollment_next_steps(env):
    return {
        25001: env._("KSeF issues certificates only after a login with a qualified electronic signature or seal "
                     "(not with a KSeF token). Upload your qualified certificate (.p12/.pfx, or .crt with .key) "
                     "under KSeF credentials > Upload, then try again."),
        25002: env._("KSeF does not allow a certificate request for this login method. Log in with a qualified "
                     "certificate of a person or seal holding credentials-management rights for the company."),
        25003: env._("The certificate data do not match the login identity. Try again; if it repeats, request "
                     "the certificate in the KSeF taxpayer application."),
        25006: env._("The limit of certificate requests is reached. Wait for pending requests to finish, or "
                     "ask the tax office to raise the limit."),
        25007: env._("The limit of active KSeF certificates is reached. Revoke certificates you no longer use "
                     "(KSeF credentials > Certificates > Revoke, or the KSeF taxpayer application), then try "
                     "again."),
        25010: env._("KSeF refused the key type. Choose EC P-256 or RSA 2048."),
    }


def raise_enrollment_error(env, error):
    """Raise a UserError for a refused certificate request, with the exact next step when known."""
    codes = set(getattr(error, 'codes', None) or ())
    steps = _enrollment_next_steps(env)
    for code in sorted(codes):
        if code in steps:
            raise UserError(env._("KSeF refused the certificate request (%(code)s). %(next_step)s",
                                  code=code, next_step=steps[code])) from None
    if getattr(error, 'http_status', None) == 403:
        raise UserError(env._(
            "KSeF refused the certificate request: the login identity lacks the right to manage credentials "
            "for this company. Ask the company's owner (or a person with CredentialsManage rights) to grant it "
            "in the KSeF taxpayer application, or log in with their certificate.")) from None
    raise_ksef_error(env, error, env._("request a certificate"))
