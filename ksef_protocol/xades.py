"""XAdES-BES signature of the ``AuthTokenRequest`` used by ``POST /auth/xades-signature``.

The signature is *enveloped* (``ds:Signature`` is the last child of the root;
KSeF rejects detached signatures) and uses only algorithms from
``auth/podpis-xades.md``: exclusive C14N, SHA-256 digests, RSA PKCS#1 v1.5
with SHA-256 or ECDSA with SHA-256 whose ``SignatureValue`` is the raw
``R || S`` pair (XMLDSig 1.1), not the DER structure cryptography returns.

Only lxml and cryptography are used.  :func:`verify_xades_signature` checks
the same subset and serves our tests and diagnostics; it is not a general
XML-DSig validator.
"""
import base64
import datetime
import hashlib
import os
import uuid

from lxml import etree
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from .certificates import CertificateError, coerce_certificate, coerce_private_key, keys_match

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.3.2#"
AUTH_NAMESPACES = {
    "2.0": "http://ksef.mf.gov.pl/auth/token/2.0",
    "2.1": "http://ksef.mf.gov.pl/auth/token/2.1",
}
_SCHEMA_FILES = {"2.0": "schemat_auth_v2-0.xsd", "2.1": "schemat_auth_v2-1.xsd"}

ALG_EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALG_EXC_C14N_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
ALG_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ALG_C14N_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
ALG_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
ALG_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
ALG_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ALG_ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

_DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": hashlib.sha1,
    ALG_SHA256: hashlib.sha256,
    "http://www.w3.org/2001/04/xmldsig-more#sha384": hashlib.sha384,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashlib.sha512,
}
_SIGNATURE_METHODS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": ("RSA", hashes.SHA1),
    ALG_RSA_SHA256: ("RSA", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": ("RSA", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": ("RSA", hashes.SHA512),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1": ("EC", hashes.SHA1),
    ALG_ECDSA_SHA256: ("EC", hashes.SHA256),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": ("EC", hashes.SHA384),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": ("EC", hashes.SHA512),
}
_C14N_METHODS = {
    ALG_EXC_C14N: (True, False),
    ALG_EXC_C14N_COMMENTS: (True, True),
    ALG_C14N: (False, False),
    ALG_C14N_COMMENTS: (False, True),
}

CONTEXT_IDENTIFIER_TYPES = ("Nip", "InternalId", "NipVatUe", "PeppolId")
SUBJECT_IDENTIFIER_TYPES = ("certificateSubject", "certificateFingerprint")


class XadesError(ValueError):
    """The AuthTokenRequest cannot be built or signed; the message says why."""


class XadesVerificationError(XadesError):
    """A signed document failed verification."""


def _ds(tag):
    return "{%s}%s" % (DS_NS, tag)


def _xades(tag):
    return "{%s}%s" % (XADES_NS, tag)


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _c14n(element, exclusive=True, with_comments=False):
    return etree.tostring(element, method="c14n", exclusive=exclusive, with_comments=with_comments)


_schema_cache = {}


def _auth_schema(version):
    if version not in _schema_cache:
        path = os.path.join(os.path.dirname(__file__), "schemas", "auth", _SCHEMA_FILES[version])
        document = etree.parse(path)
        # The 2.0 schema's Ip4* patterns use Perl syntax (\b, ^, $) that is not
        # valid XSD and that libxml2 refuses; drop those facets (the 2.0 policy
        # is refused in build_auth_token_request anyway).
        for pattern in document.iter("{http://www.w3.org/2001/XMLSchema}pattern"):
            if "\\b" in (pattern.get("value") or ""):
                pattern.getparent().remove(pattern)
        _schema_cache[version] = etree.XMLSchema(document)
    return _schema_cache[version]


# --------------------------------------------------------------------------- the request document

def build_auth_token_request(challenge, context_identifier, subject_identifier_type="certificateSubject", *,
                             context_type="Nip", namespace_version="2.0", authorization_policy=None):
    """Build and XSD-validate the unsigned ``AuthTokenRequest`` root element.

    ``authorization_policy`` is an optional dict ``{"ip4_addresses": [...],
    "ip4_ranges": [...], "ip4_masks": [...]}`` (at most 10 of each) that limits
    the IP addresses allowed to use the issued tokens.
    """
    if namespace_version not in AUTH_NAMESPACES:
        raise XadesError("namespace_version must be '2.0' or '2.1', not %r." % (namespace_version,))
    if context_type not in CONTEXT_IDENTIFIER_TYPES:
        raise XadesError("context_type must be one of %s, not %r."
                         % (", ".join(CONTEXT_IDENTIFIER_TYPES), context_type))
    if subject_identifier_type not in SUBJECT_IDENTIFIER_TYPES:
        raise XadesError("subject_identifier_type must be 'certificateSubject' or 'certificateFingerprint', not %r."
                         % (subject_identifier_type,))
    ns = AUTH_NAMESPACES[namespace_version]
    root = etree.Element("{%s}AuthTokenRequest" % ns, nsmap={None: ns})
    etree.SubElement(root, "{%s}Challenge" % ns).text = str(challenge)
    context = etree.SubElement(root, "{%s}ContextIdentifier" % ns)
    etree.SubElement(context, "{%s}%s" % (ns, context_type)).text = str(context_identifier)
    etree.SubElement(root, "{%s}SubjectIdentifierType" % ns).text = subject_identifier_type
    if authorization_policy:
        if namespace_version == "2.0":
            raise XadesError("AuthorizationPolicy needs namespace_version='2.1': the 2.0 schema's IP patterns "
                             "cannot match any address.")
        policy = etree.SubElement(root, "{%s}AuthorizationPolicy" % ns)
        allowed = etree.SubElement(policy, "{%s}AllowedIps" % ns)
        for key, tag in (("ip4_addresses", "Ip4Address"), ("ip4_ranges", "Ip4Range"), ("ip4_masks", "Ip4Mask")):
            for value in authorization_policy.get(key) or ():
                etree.SubElement(allowed, "{%s}%s" % (ns, tag)).text = str(value)
        unknown = set(authorization_policy) - {"ip4_addresses", "ip4_ranges", "ip4_masks"}
        if unknown:
            raise XadesError("Unknown authorization_policy keys: %s." % ", ".join(sorted(unknown)))
    schema = _auth_schema(namespace_version)
    if not schema.validate(root):
        problems = "; ".join(sorted({e.message for e in schema.error_log}))
        raise XadesError("The AuthTokenRequest does not match the KSeF schema (check the challenge and the "
                         "context identifier): %s" % problems)
    return root


# --------------------------------------------------------------------------- signing

def _signature_method_for(private_key):
    if isinstance(private_key, rsa.RSAPrivateKey):
        return ALG_RSA_SHA256
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return ALG_ECDSA_SHA256
    raise XadesError("Only RSA and EC keys can sign the KSeF AuthTokenRequest.")


def _sign(private_key, data):
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    der = private_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return der_to_raw_ecdsa(der, private_key.curve.key_size)


def der_to_raw_ecdsa(der_signature, curve_bits):
    """Convert an ASN.1 DER ECDSA signature to the fixed-size ``R || S`` form XMLDSig 1.1 requires."""
    r, s = decode_dss_signature(der_signature)
    size = (curve_bits + 7) // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def raw_to_der_ecdsa(raw_signature):
    """Convert an ``R || S`` ECDSA signature back to ASN.1 DER (what cryptography verifies)."""
    if not raw_signature or len(raw_signature) % 2:
        raise XadesVerificationError("The ECDSA SignatureValue is not an R||S pair.")
    half = len(raw_signature) // 2
    return encode_dss_signature(int.from_bytes(raw_signature[:half], "big"),
                                int.from_bytes(raw_signature[half:], "big"))


def _format_signing_time(signing_time):
    if signing_time is None:
        signing_time = datetime.datetime.now(datetime.timezone.utc)
    elif signing_time.tzinfo is None:
        raise XadesError("signing_time must be timezone-aware.")
    return signing_time.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _add_reference(signed_info, uri, transforms, digest, reference_type=None, reference_id=None):
    reference = etree.SubElement(signed_info, _ds("Reference"))
    if reference_id:
        reference.set("Id", reference_id)
    if reference_type:
        reference.set("Type", reference_type)
    reference.set("URI", uri)
    transforms_el = etree.SubElement(reference, _ds("Transforms"))
    for algorithm in transforms:
        etree.SubElement(transforms_el, _ds("Transform")).set("Algorithm", algorithm)
    etree.SubElement(reference, _ds("DigestMethod")).set("Algorithm", ALG_SHA256)
    digest_value = etree.SubElement(reference, _ds("DigestValue"))
    digest_value.text = _b64(digest) if digest is not None else ""
    return digest_value


def _qualifying_properties(parent, signature_id, signed_properties_id, certificate, signing_time):
    qualifying = etree.SubElement(parent, _xades("QualifyingProperties"), nsmap={"xades": XADES_NS})
    qualifying.set("Target", "#" + signature_id)
    signed_properties = etree.SubElement(qualifying, _xades("SignedProperties"))
    signed_properties.set("Id", signed_properties_id)
    signature_properties = etree.SubElement(signed_properties, _xades("SignedSignatureProperties"))
    etree.SubElement(signature_properties, _xades("SigningTime")).text = _format_signing_time(signing_time)
    cert = etree.SubElement(etree.SubElement(signature_properties, _xades("SigningCertificate")), _xades("Cert"))
    cert_digest = etree.SubElement(cert, _xades("CertDigest"))
    etree.SubElement(cert_digest, _ds("DigestMethod")).set("Algorithm", ALG_SHA256)
    etree.SubElement(cert_digest, _ds("DigestValue")).text = _b64(
        hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest())
    issuer_serial = etree.SubElement(cert, _xades("IssuerSerial"))
    etree.SubElement(issuer_serial, _ds("X509IssuerName")).text = certificate.issuer.rfc4514_string()
    etree.SubElement(issuer_serial, _ds("X509SerialNumber")).text = str(certificate.serial_number)
    return signed_properties


def sign_xades_enveloped(root, certificate, private_key, *, signing_time=None):
    """Append an enveloped XAdES-BES ``ds:Signature`` to ``root`` (an lxml element) and return ``root``."""
    certificate = coerce_certificate(certificate)
    private_key = coerce_private_key(private_key)
    if not keys_match(certificate, private_key):
        raise CertificateError("The private key does not belong to the signing certificate.")
    token = uuid.uuid4().hex
    signature_id = "Signature-" + token
    signed_properties_id = "SignedProperties-" + token

    # The enveloped-signature transform removes the signature again, so the
    # document digest can be taken before the signature is attached.
    document_digest = hashlib.sha256(_c14n(root)).digest()

    signature = etree.SubElement(root, _ds("Signature"), nsmap={"ds": DS_NS})
    signature.set("Id", signature_id)
    signed_info = etree.SubElement(signature, _ds("SignedInfo"))
    etree.SubElement(signed_info, _ds("CanonicalizationMethod")).set("Algorithm", ALG_EXC_C14N)
    etree.SubElement(signed_info, _ds("SignatureMethod")).set("Algorithm", _signature_method_for(private_key))
    _add_reference(signed_info, "", (ALG_ENVELOPED, ALG_EXC_C14N), document_digest,
                   reference_id="Reference-" + token)
    properties_digest_value = _add_reference(signed_info, "#" + signed_properties_id, (ALG_EXC_C14N,), None,
                                             reference_type=SIGNED_PROPERTIES_TYPE)
    signature_value = etree.SubElement(signature, _ds("SignatureValue"))
    x509_data = etree.SubElement(etree.SubElement(signature, _ds("KeyInfo")), _ds("X509Data"))
    etree.SubElement(x509_data, _ds("X509Certificate")).text = _b64(
        certificate.public_bytes(serialization.Encoding.DER))
    signed_properties = _qualifying_properties(etree.SubElement(signature, _ds("Object")), signature_id,
                                               signed_properties_id, certificate, signing_time)

    # Digests and the signature are computed on the elements in place, so the
    # canonical forms carry exactly the namespace context a verifier sees.
    properties_digest_value.text = _b64(hashlib.sha256(_c14n(signed_properties)).digest())
    signature_value.text = _b64(_sign(private_key, _c14n(signed_info)))
    return root


def sign_auth_token_request(challenge, context_nip, certificate, private_key,
                            subject_identifier_type="certificateSubject", *, namespace_version="2.0",
                            signing_time=None, authorization_policy=None, context_type="Nip",
                            key_password=None):
    """Build, validate and sign the KSeF ``AuthTokenRequest``; returns the XML bytes to POST.

    ``challenge`` comes from ``POST /auth/challenge``; ``context_nip`` is the
    context identifier value (a NIP unless ``context_type`` says otherwise).
    ``certificate`` and ``private_key`` are cryptography objects or PEM/DER
    data (``key_password`` decrypts an encrypted key).  The body is sent with
    ``Content-Type: application/xml``.
    """
    certificate = coerce_certificate(certificate)
    private_key = coerce_private_key(private_key, key_password)
    root = build_auth_token_request(challenge, context_nip, subject_identifier_type, context_type=context_type,
                                    namespace_version=namespace_version,
                                    authorization_policy=authorization_policy)
    sign_xades_enveloped(root, certificate, private_key, signing_time=signing_time)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --------------------------------------------------------------------------- verification

def _parse(xml_bytes):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    try:
        return etree.fromstring(xml_bytes, parser)
    except etree.XMLSyntaxError as exc:
        raise XadesVerificationError("The document is not well-formed XML: %s" % exc) from None


def _find_by_id(root, wanted):
    matches = [el for el in root.iter() if isinstance(el.tag, str) and el.get("Id") == wanted]
    if len(matches) != 1:
        raise XadesVerificationError("Reference target #%s found %d times (expected once)." % (wanted, len(matches)))
    return matches[0]


def _reference_digest(root, signature, reference):
    uri = reference.get("URI")
    transforms = [t.get("Algorithm") for t in reference.findall(_ds("Transforms") + "/" + _ds("Transform"))]
    if uri == "":
        target = root
    elif uri and uri.startswith("#"):
        target = _find_by_id(root, uri[1:])
    else:
        raise XadesVerificationError("Unsupported Reference URI %r." % (uri,))
    if ALG_ENVELOPED in transforms:
        if target is not root:
            raise XadesVerificationError("The enveloped-signature transform is only supported on the whole document.")
        target = _copy_without(root, signature)
    c14n_algorithms = [t for t in transforms if t in _C14N_METHODS]
    unsupported = [t for t in transforms if t != ALG_ENVELOPED and t not in _C14N_METHODS]
    if unsupported or len(c14n_algorithms) > 1:
        raise XadesVerificationError("Unsupported transforms: %s." % ", ".join(unsupported or c14n_algorithms))
    # Without an explicit transform XML-DSig uses inclusive C14N 1.0; same-document
    # URIs ("" and "#id") drop comments before any transform, so they never count.
    exclusive = _C14N_METHODS[c14n_algorithms[0]][0] if c14n_algorithms else False
    data = _c14n(target, exclusive=exclusive, with_comments=False)
    method = reference.find(_ds("DigestMethod"))
    digest = _DIGESTS.get(method.get("Algorithm") if method is not None else None)
    if digest is None:
        raise XadesVerificationError("Unsupported DigestMethod in a Reference.")
    return digest(data).digest(), target


def _copy_without(root, signature):
    """Deep copy of the document without ``signature`` (a child of ``root``): the enveloped-signature transform."""
    position = list(root).index(signature)
    clone = etree.fromstring(etree.tostring(root))
    removed = clone[position]
    # The transform removes only the element node: the text after it stays.
    tail = removed.tail
    previous = removed.getprevious()
    clone.remove(removed)
    if tail:
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            clone.text = (clone.text or "") + tail
    return clone


def _verify_signature_value(certificate, method_uri, signature_bytes, signed_bytes):
    if method_uri not in _SIGNATURE_METHODS:
        raise XadesVerificationError("Unsupported SignatureMethod %s." % method_uri)
    key_kind, hash_class = _SIGNATURE_METHODS[method_uri]
    public_key = certificate.public_key()
    try:
        if key_kind == "RSA" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature_bytes, signed_bytes, padding.PKCS1v15(), hash_class())
        elif key_kind == "EC" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(raw_to_der_ecdsa(signature_bytes), signed_bytes, ec.ECDSA(hash_class()))
        else:
            raise XadesVerificationError("The SignatureMethod does not match the certificate's key type.")
    except InvalidSignature:
        raise XadesVerificationError("The SignatureValue does not verify with the certificate's public key.") from None


def verify_xades_signature(xml_bytes):
    """Verify the enveloped XAdES signature of ``xml_bytes``; return the signing certificate.

    Checks every Reference digest, the SignatureValue over the canonical
    SignedInfo, that a SignedProperties reference exists and that its
    SigningCertificate digest matches the certificate in KeyInfo.  Raises
    :class:`XadesVerificationError` otherwise.  Trust in the certificate
    itself (chain, revocation) is not checked.
    """
    root = _parse(xml_bytes)
    signatures = root.findall(_ds("Signature"))
    if len(signatures) != 1:
        raise XadesVerificationError("Expected exactly one ds:Signature under the root element, found %d."
                                     % len(signatures))
    signature = signatures[0]
    signed_info = signature.find(_ds("SignedInfo"))
    if signed_info is None:
        raise XadesVerificationError("ds:SignedInfo is missing.")
    certificate_el = signature.find("%s/%s/%s" % (_ds("KeyInfo"), _ds("X509Data"), _ds("X509Certificate")))
    if certificate_el is None or not (certificate_el.text or "").strip():
        raise XadesVerificationError("KeyInfo does not carry the signing certificate.")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(certificate_el.text.split())))
    except Exception:
        raise XadesVerificationError("The certificate in KeyInfo cannot be read.") from None

    signed_properties = None
    whole_document_signed = False
    for reference in signed_info.findall(_ds("Reference")):
        expected = base64.b64decode((reference.findtext(_ds("DigestValue")) or "").strip())
        actual, target = _reference_digest(root, signature, reference)
        if actual != expected:
            raise XadesVerificationError("Digest mismatch for Reference URI=%r: the signed content was changed."
                                         % reference.get("URI"))
        if reference.get("URI") == "":
            whole_document_signed = True
        if target.tag == _xades("SignedProperties"):
            signed_properties = target
    if not whole_document_signed:
        raise XadesVerificationError("No Reference covers the whole document (URI=\"\").")
    if signed_properties is None:
        raise XadesVerificationError("No Reference covers xades:SignedProperties (not a XAdES signature).")
    _check_signing_certificate(signed_properties, certificate)

    c14n_method = signed_info.find(_ds("CanonicalizationMethod"))
    algorithm = c14n_method.get("Algorithm") if c14n_method is not None else None
    if algorithm not in _C14N_METHODS:
        raise XadesVerificationError("Unsupported CanonicalizationMethod %s." % algorithm)
    exclusive, with_comments = _C14N_METHODS[algorithm]
    method = signed_info.find(_ds("SignatureMethod"))
    value = base64.b64decode("".join((signature.findtext(_ds("SignatureValue")) or "").split()))
    _verify_signature_value(certificate, method.get("Algorithm") if method is not None else None, value,
                            _c14n(signed_info, exclusive=exclusive, with_comments=with_comments))
    return certificate


def _check_signing_certificate(signed_properties, certificate):
    cert_digest = signed_properties.find(".//%s/%s" % (_xades("Cert"), _xades("CertDigest")))
    if cert_digest is None:
        raise XadesVerificationError("SignedProperties lack SigningCertificate/Cert/CertDigest.")
    method = cert_digest.find(_ds("DigestMethod"))
    digest = _DIGESTS.get(method.get("Algorithm") if method is not None else None)
    if digest is None:
        raise XadesVerificationError("Unsupported DigestMethod in CertDigest.")
    expected = base64.b64decode((cert_digest.findtext(_ds("DigestValue")) or "").strip())
    if digest(certificate.public_bytes(serialization.Encoding.DER)).digest() != expected:
        raise XadesVerificationError("SigningCertificate does not match the certificate in KeyInfo.")
