"""XML-DSig / XAdES verification (authentication requests) and enveloped signing (UPO).

Verification covers what podpis-xades.md allows: enveloped or enveloping (not
detached) signatures, C14N 1.0 / 1.1 / exclusive (with or without comments),
the enveloped-signature and XPath ``not(ancestor-or-self::ds:Signature)``
transforms, RSA PKCS#1 v1.5 and RSA-PSS, ECDSA with raw ``R||S`` values, and
SHA-1/2/3 digests. Every reference is recomputed, including the XAdES
``SignedProperties``, and a XAdES ``SigningCertificate`` digest is compared with
the certificate in ``KeyInfo``.
"""
import base64
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.backends import default_backend
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from lxml import etree

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
NS = {"ds": DS, "xades": XADES}

C14N = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2006/12/xml-c14n11": (False, False),
    "http://www.w3.org/2006/12/xml-c14n11#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
}
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
BASE64_TRANSFORM = "http://www.w3.org/2000/09/xmldsig#base64"

DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-256": "sha3_256",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-384": "sha3_384",
    "http://www.w3.org/2007/05/xmldsig-more#sha3-512": "sha3_512",
}
_HASH_CLASSES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
                 "sha3_256": hashes.SHA3_256, "sha3_384": hashes.SHA3_384, "sha3_512": hashes.SHA3_512}
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_MORE07 = "http://www.w3.org/2007/05/xmldsig-more#"
_MORE21 = "http://www.w3.org/2021/04/xmldsig-more#"
SIGNATURE_METHODS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": ("rsa", "sha1"),
    _MORE + "rsa-sha256": ("rsa", "sha256"),
    _MORE + "rsa-sha384": ("rsa", "sha384"),
    _MORE + "rsa-sha512": ("rsa", "sha512"),
    _MORE07 + "sha1-rsa-MGF1": ("pss", "sha1"),
    _MORE07 + "sha256-rsa-MGF1": ("pss", "sha256"),
    _MORE07 + "sha384-rsa-MGF1": ("pss", "sha384"),
    _MORE07 + "sha512-rsa-MGF1": ("pss", "sha512"),
    _MORE07 + "sha3-256-rsa-MGF1": ("pss", "sha3_256"),
    _MORE07 + "sha3-384-rsa-MGF1": ("pss", "sha3_384"),
    _MORE07 + "sha3-512-rsa-MGF1": ("pss", "sha3_512"),
    _MORE + "ecdsa-sha1": ("ecdsa", "sha1"),
    _MORE + "ecdsa-sha256": ("ecdsa", "sha256"),
    _MORE + "ecdsa-sha384": ("ecdsa", "sha384"),
    _MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
    _MORE21 + "ecdsa-sha3-256": ("ecdsa", "sha3_256"),
    _MORE21 + "ecdsa-sha3-384": ("ecdsa", "sha3_384"),
    _MORE21 + "ecdsa-sha3-512": ("ecdsa", "sha3_512"),
}
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"


class SignatureError(Exception):
    """Verification failed; ``code`` is the KSeF exception code to answer with."""

    def __init__(self, code, detail):
        self.code = code
        self.detail = detail
        super().__init__(detail)


class VerifiedSignature:
    def __init__(self, certificate, signature_element, references):
        self.certificate = certificate
        self.signature_element = signature_element
        self.references = references  # list of (uri, type)


def _canonicalize(node, algorithm, inclusive_prefixes=None):
    if algorithm not in C14N:
        raise SignatureError(9105, "Nieobsługiwana kanonikalizacja: %s" % algorithm)
    exclusive, comments = C14N[algorithm]
    return etree.tostring(node, method="c14n", exclusive=exclusive, with_comments=comments,
                          inclusive_ns_prefixes=inclusive_prefixes if exclusive else None)


def _digest(algorithm, data):
    name = DIGESTS.get(algorithm)
    if name is None:
        raise SignatureError(9105, "Nieobsługiwany algorytm skrótu: %s" % algorithm)
    return hashlib.new(name.replace("_", "-") if name.startswith("sha3") else name, data).digest()


def _find_by_id(root, identifier):
    for attribute in ("Id", "ID", "id"):
        found = root.xpath("//*[@%s=$v]" % attribute, v=identifier)
        if found:
            return found[0]
    return None


def _reference_data(root, signature, reference):
    uri = reference.get("URI")
    transforms = reference.findall("ds:Transforms/ds:Transform", NS)
    if uri is None or (uri and not uri.startswith("#")):
        raise SignatureError(9101, "Podpis zewnętrzny (detached) nie jest akceptowany: URI=%r" % uri)
    if uri == "":
        target = root
    else:
        target = _find_by_id(root, uri[1:])
        if target is None:
            raise SignatureError(9105, "Nie znaleziono elementu wskazanego przez referencję %s" % uri)
    # Work on a copy so the enveloped transform does not touch the document.
    originals = list(root.iter())
    copy_root = etree.fromstring(etree.tostring(root.getroottree()))
    copies = list(copy_root.iter())
    node = copies[originals.index(target)]
    signature_copy = [copies[originals.index(signature)]]
    algorithm = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    prefixes = None
    for transform in transforms:
        name = transform.get("Algorithm")
        if name in (ENVELOPED, XPATH, XPATH_FILTER2):
            if name == XPATH_FILTER2 or name == XPATH:
                expression = "".join(transform.itertext())
                if "Signature" not in expression:
                    raise SignatureError(9105, "Nieobsługiwane przekształcenie XPath: %s" % expression.strip())
            for element in signature_copy:
                if element.getparent() is not None:
                    element.getparent().remove(element)
        elif name in C14N:
            algorithm = name
            inclusive = transform.find("{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces")
            prefixes = inclusive.get("PrefixList", "").split() if inclusive is not None else None
        elif name == BASE64_TRANSFORM:
            return base64.b64decode("".join(node.itertext()))
        else:
            raise SignatureError(9105, "Nieobsługiwane przekształcenie: %s" % name)
    if uri == "" and not any(t.get("Algorithm") in (ENVELOPED, XPATH, XPATH_FILTER2) for t in transforms):
        if signature_copy:
            raise SignatureError(9105, "Referencja do całego dokumentu wymaga przekształcenia enveloped-signature.")
    return _canonicalize(node, algorithm, prefixes)


def _verify_value(public_key, method, signed, value):
    kind, hash_name = SIGNATURE_METHODS[method]
    algorithm = _HASH_CLASSES[hash_name]()
    try:
        if kind == "rsa":
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureError(9105, "Algorytm RSA, ale klucz certyfikatu nie jest RSA.")
            public_key.verify(value, signed, padding.PKCS1v15(), algorithm)
        elif kind == "pss":
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureError(9105, "Algorytm RSA-PSS, ale klucz certyfikatu nie jest RSA.")
            public_key.verify(value, signed, padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
                              if hasattr(padding.PSS, "AUTO") else
                              padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size), algorithm)
        else:
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SignatureError(9105, "Algorytm ECDSA, ale klucz certyfikatu nie jest EC.")
            size = (public_key.curve.key_size + 7) // 8
            if len(value) != 2 * size:
                raise SignatureError(9105, "SignatureValue ECDSA musi mieć postać R||S (%d bajtów), otrzymano %d bajtów"
                                           " (czy to DER?)." % (2 * size, len(value)))
            der = utils.encode_dss_signature(int.from_bytes(value[:size], "big"), int.from_bytes(value[size:], "big"))
            public_key.verify(der, signed, ec.ECDSA(algorithm))
    except InvalidSignature:
        raise SignatureError(9105, "Nieprawidłowy podpis (SignatureValue nie zgadza się z SignedInfo).")


def verify(root, document=None):
    """Verify the single ds:Signature in ``root``; return :class:`VerifiedSignature`.

    ``document`` is the element the signature must cover (default ``root``; for an enveloping
    signature, the signed element inside ``ds:Object``)."""
    document = root if document is None else document
    signatures = root.xpath("//ds:Signature", namespaces=NS)
    if not signatures:
        raise SignatureError(9102, "Dokument nie zawiera podpisu ds:Signature.")
    if len(signatures) > 1:
        raise SignatureError(9103, "Dokument zawiera %d podpisy; dozwolony jest jeden." % len(signatures))
    signature = signatures[0]
    signed_info = signature.find("ds:SignedInfo", NS)
    if signed_info is None:
        raise SignatureError(9105, "Brak ds:SignedInfo.")
    c14n_element = signed_info.find("ds:CanonicalizationMethod", NS)
    method_element = signed_info.find("ds:SignatureMethod", NS)
    method = method_element.get("Algorithm") if method_element is not None else None
    if method not in SIGNATURE_METHODS:
        raise SignatureError(9105, "Nieobsługiwany algorytm podpisu: %s" % method)
    certificate_text = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    if not certificate_text:
        raise SignatureError(21115, "Brak certyfikatu w ds:KeyInfo/ds:X509Data/ds:X509Certificate.")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode("".join(certificate_text.split())), default_backend())
    except ValueError as exc:
        raise SignatureError(21115, "Nie można odczytać certyfikatu: %s" % exc)
    references = signed_info.findall("ds:Reference", NS)
    if not references:
        raise SignatureError(9105, "SignedInfo nie zawiera referencji.")
    covered_document = False
    seen = []
    for reference in references:
        digest_method = reference.find("ds:DigestMethod", NS)
        expected = base64.b64decode("".join((reference.findtext("ds:DigestValue", namespaces=NS) or "").split()))
        actual = _digest(digest_method.get("Algorithm") if digest_method is not None else None,
                         _reference_data(root, signature, reference))
        if actual != expected:
            raise SignatureError(9105, "Skrót referencji %r nie zgadza się z treścią (dokument zmieniony po podpisaniu?)."
                                 % reference.get("URI"))
        uri = reference.get("URI")
        target = root if uri == "" else _find_by_id(root, uri[1:])
        if target is not None and (target is document or any(node is document for node in target.iter())):
            covered_document = True
        seen.append((uri, reference.get("Type")))
    if not covered_document:
        raise SignatureError(9105, "Podpis nie obejmuje dokumentu AuthTokenRequest (brak referencji URI=\"\").")
    _check_signed_properties(root, signature, seen, certificate)
    c14n = c14n_element.get("Algorithm") if c14n_element is not None else "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    value = base64.b64decode("".join((signature.findtext("ds:SignatureValue", namespaces=NS) or "").split()))
    _verify_value(certificate.public_key(), method, _canonicalize(signed_info, c14n), value)
    return VerifiedSignature(certificate, signature, seen)


def _check_signed_properties(root, signature, seen, certificate):
    properties = signature.xpath(".//xades:SignedProperties", namespaces=NS)
    if not properties:
        return  # plain XML-DSig (XAdES-less) signatures are checked by their references only
    identifier = properties[0].get("Id")
    if not any(uri == "#%s" % identifier for uri, _ in seen):
        raise SignatureError(9105, "xades:SignedProperties nie są objęte referencją w SignedInfo.")
    der = certificate.public_bytes(serialization.Encoding.DER)
    digests = properties[0].xpath(".//xades:SigningCertificate//xades:CertDigest | .//xades:SigningCertificateV2//xades:CertDigest",
                                  namespaces=NS)
    if digests:
        matched = False
        for cert_digest in digests:
            method = cert_digest.find("ds:DigestMethod", NS)
            value = base64.b64decode("".join((cert_digest.findtext("ds:DigestValue", namespaces=NS) or "").split()))
            if method is not None and _digest(method.get("Algorithm"), der) == value:
                matched = True
        if not matched:
            raise SignatureError(9105, "xades:SigningCertificate/CertDigest nie odpowiada certyfikatowi z KeyInfo.")


def sign_enveloped(root, private_key, certificate_der, reference_id=None):
    """Append an enveloped RSA-SHA256 ds:Signature (exclusive C14N) to ``root``; return ``root``."""
    digest_uri = "http://www.w3.org/2001/04/xmlenc#sha256"
    exc = "http://www.w3.org/2001/10/xml-exc-c14n#"
    signature = etree.SubElement(root, "{%s}Signature" % DS, nsmap={"ds": DS})
    signed_info = etree.SubElement(signature, "{%s}SignedInfo" % DS)
    etree.SubElement(signed_info, "{%s}CanonicalizationMethod" % DS, Algorithm=exc)
    etree.SubElement(signed_info, "{%s}SignatureMethod" % DS, Algorithm=_MORE + "rsa-sha256")
    reference = etree.SubElement(signed_info, "{%s}Reference" % DS, URI="")
    transforms = etree.SubElement(reference, "{%s}Transforms" % DS)
    etree.SubElement(transforms, "{%s}Transform" % DS, Algorithm=ENVELOPED)
    etree.SubElement(transforms, "{%s}Transform" % DS, Algorithm=exc)
    etree.SubElement(reference, "{%s}DigestMethod" % DS, Algorithm=digest_uri)
    digest_value = etree.SubElement(reference, "{%s}DigestValue" % DS)
    # digest of the document without the signature
    parent = signature.getparent()
    parent.remove(signature)
    digest_value.text = base64.b64encode(hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True)).digest()).decode()
    parent.append(signature)
    value = etree.SubElement(signature, "{%s}SignatureValue" % DS)
    value.text = base64.b64encode(private_key.sign(
        etree.tostring(signed_info, method="c14n", exclusive=True), padding.PKCS1v15(), hashes.SHA256())).decode()
    key_info = etree.SubElement(signature, "{%s}KeyInfo" % DS)
    data = etree.SubElement(key_info, "{%s}X509Data" % DS)
    etree.SubElement(data, "{%s}X509Certificate" % DS).text = base64.b64encode(certificate_der).decode()
    return root
