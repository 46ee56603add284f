"""A small XAdES-BES enveloped signer for the emulator's tests (independent of ksef_protocol).

Builds ``AuthTokenRequest`` documents and signs them with RSA PKCS#1 v1.5 SHA-256
or ECDSA P-256 (raw R||S), exclusive C14N, with SignedProperties.
"""
import base64
import datetime
import hashlib
import uuid

from cryptography import x509
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID, ObjectIdentifier
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
AUTH_NS = "http://ksef.mf.gov.pl/auth/token/2.0"


def make_certificate(*, nip=None, seal_nip=None, pesel=None, key_type="rsa", days=(-1, 365), common_name="Test"):
    """Self-signed certificate + private key with KSeF-style subject attributes."""
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048, backend=default_backend())
    else:
        key = ec.generate_private_key(ec.SECP256R1(), default_backend())
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if nip:
        attributes += [x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"), x509.NameAttribute(NameOID.SURNAME, "Testowy"),
                       x509.NameAttribute(NameOID.SERIAL_NUMBER, "TINPL-%s" % nip)]
    if pesel:
        attributes += [x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOPL-%s" % pesel)]
    if seal_nip:
        attributes += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Firma Testowa"),
                       x509.NameAttribute(ObjectIdentifier("2.5.4.97"), "VATPL-%s" % seal_nip)]
    name = x509.Name(attributes)
    now = datetime.datetime.utcnow()
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now + datetime.timedelta(days=days[0]))
                   .not_valid_after(now + datetime.timedelta(days=days[1]))
                   .sign(key, hashes.SHA256(), default_backend()))
    return certificate, key


def auth_request(challenge, context_nip, subject_type="certificateSubject", namespace=AUTH_NS):
    root = etree.Element("{%s}AuthTokenRequest" % namespace, nsmap={None: namespace})
    etree.SubElement(root, "{%s}Challenge" % namespace).text = challenge
    context = etree.SubElement(root, "{%s}ContextIdentifier" % namespace)
    etree.SubElement(context, "{%s}Nip" % namespace).text = context_nip
    etree.SubElement(root, "{%s}SubjectIdentifierType" % namespace).text = subject_type
    return root


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _el(parent, name, ns=DS, **attributes):
    return etree.SubElement(parent, "{%s}%s" % (ns, name), **attributes)


def sign(root, certificate, key, *, ecdsa_der=False, enveloping=False):
    """Sign ``root`` with XAdES-BES and return the serialized bytes.

    Enveloped (default): ``ds:Signature`` becomes the last child of ``root``. Enveloping: the result
    is a ``ds:Signature`` document carrying ``root`` inside ``ds:Object``."""
    cert_der = certificate.public_bytes(serialization.Encoding.DER)
    signature_id = "Signature-" + uuid.uuid4().hex[:8]
    props_id = "SignedProperties-" + uuid.uuid4().hex[:8]
    object_id = "Object-" + uuid.uuid4().hex[:8]

    if enveloping:
        signature = etree.Element("{%s}Signature" % DS, nsmap={"ds": DS}, Id=signature_id)
    else:
        document_digest = hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True)).digest()
        signature = etree.SubElement(root, "{%s}Signature" % DS, nsmap={"ds": DS}, Id=signature_id)
    signed_info = _el(signature, "SignedInfo")
    _el(signed_info, "CanonicalizationMethod", Algorithm=EXC)
    if isinstance(key, rsa.RSAPrivateKey):
        method = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    else:
        method = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
    _el(signed_info, "SignatureMethod", Algorithm=method)
    reference = _el(signed_info, "Reference", URI="#" + object_id if enveloping else "")
    transforms = _el(reference, "Transforms")
    if not enveloping:
        _el(transforms, "Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
    _el(transforms, "Transform", Algorithm=EXC)
    _el(reference, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    document_digest_value = _el(reference, "DigestValue")
    props_reference = _el(signed_info, "Reference", URI="#" + props_id, Type="http://uri.etsi.org/01903#SignedProperties")
    props_transforms = _el(props_reference, "Transforms")
    _el(props_transforms, "Transform", Algorithm=EXC)
    _el(props_reference, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    props_digest = _el(props_reference, "DigestValue")
    signature_value = _el(signature, "SignatureValue")
    key_info = _el(signature, "KeyInfo")
    _el(_el(key_info, "X509Data"), "X509Certificate").text = _b64(cert_der)
    if enveloping:
        carrier = _el(signature, "Object", Id=object_id)
        carrier.append(root)
        document_digest = hashlib.sha256(etree.tostring(carrier, method="c14n", exclusive=True)).digest()
    document_digest_value.text = _b64(document_digest)
    obj = _el(signature, "Object")
    qualifying = etree.SubElement(obj, "{%s}QualifyingProperties" % XADES, nsmap={"xades": XADES}, Target="#" + signature_id)
    signed_props = _el(qualifying, "SignedProperties", XADES, Id=props_id)
    sig_props = _el(signed_props, "SignedSignatureProperties", XADES)
    _el(sig_props, "SigningTime", XADES).text = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")
    cert_ref = _el(_el(_el(sig_props, "SigningCertificate", XADES), "Cert", XADES), "CertDigest", XADES)
    _el(cert_ref, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    _el(cert_ref, "DigestValue").text = _b64(hashlib.sha256(cert_der).digest())

    props_digest.text = _b64(hashlib.sha256(etree.tostring(signed_props, method="c14n", exclusive=True)).digest())
    signed = etree.tostring(signed_info, method="c14n", exclusive=True)
    if isinstance(key, rsa.RSAPrivateKey):
        value = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    else:
        der = key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if ecdsa_der:
            value = der
        else:
            r, s = utils.decode_dss_signature(der)
            value = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    signature_value.text = _b64(value)
    return etree.tostring(signature if enveloping else root, xml_declaration=True, encoding="utf-8")


def make_ca_issued_certificate(nip):
    """``(ca_certificate, leaf_certificate, leaf_key)``: a test CA and a personal certificate it issued."""
    ca_certificate, ca_key = make_certificate(common_name="Test CA")
    key = ec.generate_private_key(ec.SECP256R1(), default_backend())
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"), x509.NameAttribute(NameOID.COMMON_NAME, "Jan"),
                         x509.NameAttribute(NameOID.SERIAL_NUMBER, "TINPL-%s" % nip)])
    now = datetime.datetime.utcnow()
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_certificate.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .sign(ca_key, hashes.SHA256(), default_backend()))
    return ca_certificate, leaf, key
