"""XAdES signature of the AuthTokenRequest (ksef_protocol.xades).

Every signature is checked by an independent verifier, the xmlsec1 command line
tool (libxmlsec1 + OpenSSL), and separately with cryptography on the canonical
SignedInfo, besides our own verify_xades_signature.
"""
import base64
import datetime
import hashlib
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree

from ksef_protocol import certificates as certs
from ksef_protocol.xades import (
    DS_NS, XADES_NS, XadesError, XadesVerificationError, build_auth_token_request, sign_auth_token_request,
    verify_xades_signature)

NIP = "5265877635"
CHALLENGE = "20250625-CR-20F5EE4000-DA48AE4124-46"  # the example from open-api.json
NS = {"ds": DS_NS, "xades": XADES_NS}
XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 is not installed (apt-get install xmlsec1)")


@pytest.fixture(scope="module", params=["RSA", "EC"])
def signer(request):
    return certs.generate_test_certificate(NIP, key_type=request.param)


@pytest.fixture(scope="module")
def signed(signer):
    cert, key = signer
    return sign_auth_token_request(CHALLENGE, NIP, cert, key)


def xmlsec1_verify(tmp_path, xml_bytes, cert):
    """Run xmlsec1 with the signing certificate as the only trust anchor; return (ok, output)."""
    (tmp_path / "cert.pem").write_bytes(certs.certificate_to_pem(cert))
    (tmp_path / "doc.xml").write_bytes(xml_bytes)
    result = subprocess.run(
        [XMLSEC1, "--verify", "--enabled-reference-uris", "empty,same-doc",
         # SignedProperties is referenced by its Id attribute, which xmlsec1 must be told about.
         "--id-attr:Id", "%s:SignedProperties" % XADES_NS,
         "--trusted-pem", str(tmp_path / "cert.pem"), str(tmp_path / "doc.xml")],
        capture_output=True, text=True, timeout=30)
    return result.returncode == 0, result.stdout + result.stderr


@needs_xmlsec1
def test_xmlsec1_accepts_our_signature(tmp_path, signer, signed):
    ok, output = xmlsec1_verify(tmp_path, signed, signer[0])
    assert ok, output
    assert "SignedInfo References (ok/all): 2/2" in output


@needs_xmlsec1
def test_xmlsec1_rejects_tampered_content(tmp_path, signer, signed):
    tampered = signed.replace(b"<Nip>%s</Nip>" % NIP.encode(), b"<Nip>1111111111</Nip>")
    assert tampered != signed
    ok, output = xmlsec1_verify(tmp_path, tampered, signer[0])
    assert not ok, output


@needs_xmlsec1
def test_xmlsec1_rejects_a_signature_by_another_key(tmp_path, signer, signed):
    other_cert, _ = certs.generate_test_certificate(NIP, key_type="EC")
    ok, output = xmlsec1_verify(tmp_path, _swap_keyinfo_certificate(signed, other_cert), other_cert)
    assert not ok, output


def _swap_keyinfo_certificate(xml_bytes, cert):
    root = etree.fromstring(xml_bytes)
    node = root.find(".//ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    node.text = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return etree.tostring(root)


def test_cryptography_verifies_canonical_signed_info(signer, signed):
    """Recompute everything by hand from the document: digests and the signature value."""
    cert, _ = signer
    root = etree.fromstring(signed)
    signature = root[-1]
    signed_info = signature.find("ds:SignedInfo", NS)
    refs = signed_info.findall("ds:Reference", NS)
    # Reference 1: whole document without the signature, exclusive C14N, SHA-256.
    copy = etree.fromstring(signed)
    copy.remove(copy[-1])
    assert refs[0].get("URI") == ""
    assert base64.b64decode(refs[0].findtext("ds:DigestValue", namespaces=NS)) == hashlib.sha256(
        etree.tostring(copy, method="c14n", exclusive=True)).digest()
    # Reference 2: SignedProperties.
    properties = root.find(".//xades:SignedProperties", NS)
    assert refs[1].get("URI") == "#" + properties.get("Id")
    assert refs[1].get("Type") == "http://uri.etsi.org/01903#SignedProperties"
    assert base64.b64decode(refs[1].findtext("ds:DigestValue", namespaces=NS)) == hashlib.sha256(
        etree.tostring(properties, method="c14n", exclusive=True)).digest()
    # SignatureValue over canonical SignedInfo.
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=NS))
    public_key = cert.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        assert signed_info.find("ds:SignatureMethod", NS).get("Algorithm") == \
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        public_key.verify(value, canonical, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert signed_info.find("ds:SignatureMethod", NS).get("Algorithm") == \
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
        assert len(value) == 64  # raw R||S, not DER
        der = encode_dss_signature(int.from_bytes(value[:32], "big"), int.from_bytes(value[32:], "big"))
        public_key.verify(der, canonical, ec.ECDSA(hashes.SHA256()))


def test_structure_matches_ksef_requirements(signer, signed):
    cert, _ = signer
    assert signed.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(signed)
    assert root.tag == "{http://ksef.mf.gov.pl/auth/token/2.0}AuthTokenRequest"
    assert [etree.QName(c).localname for c in root] == [
        "Challenge", "ContextIdentifier", "SubjectIdentifierType", "Signature"]
    signature = root[-1]
    assert signature.tag == "{%s}Signature" % DS_NS
    assert signature.find("ds:SignedInfo/ds:CanonicalizationMethod", NS).get("Algorithm") == \
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    transforms = [t.get("Algorithm") for t in signature.findall("ds:SignedInfo/ds:Reference[1]//ds:Transform", NS)]
    assert transforms == ["http://www.w3.org/2000/09/xmldsig#enveloped-signature",
                          "http://www.w3.org/2001/10/xml-exc-c14n#"]
    assert {d.get("Algorithm") for d in signature.iterfind(".//ds:DigestMethod", NS)} == {
        "http://www.w3.org/2001/04/xmlenc#sha256"}
    qualifying = signature.find("ds:Object/xades:QualifyingProperties", NS)
    assert qualifying.get("Target") == "#" + signature.get("Id")
    cert_node = qualifying.find(".//xades:SigningCertificate/xades:Cert", NS)
    assert base64.b64decode(cert_node.findtext("xades:CertDigest/ds:DigestValue", namespaces=NS)) == \
        hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()
    assert cert_node.findtext("xades:IssuerSerial/ds:X509SerialNumber", namespaces=NS) == str(cert.serial_number)
    assert qualifying.findtext(".//xades:SigningTime", namespaces=NS).endswith("Z")


def test_our_verifier_returns_the_signing_certificate(signer, signed):
    assert verify_xades_signature(signed) == signer[0]


def test_our_verifier_rejects_tampered_document(signed):
    tampered = signed.replace(b"certificateSubject", b"certificateFingerprint")
    with pytest.raises(XadesVerificationError, match="Digest mismatch"):
        verify_xades_signature(tampered)


def test_our_verifier_rejects_tampered_signed_properties(signed):
    root = etree.fromstring(signed)
    root.find(".//xades:SigningTime", NS).text = "2001-01-01T00:00:00Z"
    with pytest.raises(XadesVerificationError, match="Digest mismatch"):
        verify_xades_signature(etree.tostring(root))


def test_our_verifier_rejects_changed_signature_value_and_foreign_certificate(signer, signed):
    root = etree.fromstring(signed)
    node = root.find(".//ds:SignatureValue", NS)
    raw = bytearray(base64.b64decode(node.text))
    raw[5] ^= 0x01
    node.text = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(XadesVerificationError):
        verify_xades_signature(etree.tostring(root))
    other_cert, _ = certs.generate_test_certificate(NIP, key_type="RSA")
    with pytest.raises(XadesVerificationError, match="SigningCertificate does not match"):
        verify_xades_signature(_swap_keyinfo_certificate(signed, other_cert))


def test_signing_time_is_injectable_and_must_be_aware(signer):
    cert, key = signer
    when = datetime.datetime(2026, 2, 1, 10, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    xml = sign_auth_token_request(CHALLENGE, NIP, cert, key, signing_time=when)
    assert etree.fromstring(xml).findtext(".//xades:SigningTime", namespaces=NS) == "2026-02-01T09:30:00Z"
    with pytest.raises(XadesError, match="timezone-aware"):
        sign_auth_token_request(CHALLENGE, NIP, cert, key, signing_time=datetime.datetime(2026, 2, 1))


def test_pem_inputs_and_encrypted_key(signer):
    cert, key = signer
    xml = sign_auth_token_request(CHALLENGE, NIP, certs.certificate_to_pem(cert),
                                  certs.private_key_to_pem(key, "pw-for-test"), key_password="pw-for-test",
                                  subject_identifier_type="certificateFingerprint")
    assert verify_xades_signature(xml) == cert
    assert b"<SubjectIdentifierType>certificateFingerprint</SubjectIdentifierType>" in xml


@needs_xmlsec1
def test_namespace_2_1_with_authorization_policy(tmp_path):
    cert, key = certs.generate_test_certificate(NIP, key_type="EC")
    policy = {"ip4_addresses": ["192.168.0.1"], "ip4_ranges": ["10.0.0.1-10.0.0.9"], "ip4_masks": ["172.16.0.0/12"]}
    xml = sign_auth_token_request(CHALLENGE, NIP, cert, key, namespace_version="2.1", authorization_policy=policy)
    root = etree.fromstring(xml)
    assert root.tag == "{http://ksef.mf.gov.pl/auth/token/2.1}AuthTokenRequest"
    ns = {"k": "http://ksef.mf.gov.pl/auth/token/2.1"}
    assert root.findtext("k:AuthorizationPolicy/k:AllowedIps/k:Ip4Mask", namespaces=ns) == "172.16.0.0/12"
    ok, output = xmlsec1_verify(tmp_path, xml, cert)
    assert ok, output


def test_authorization_policy_needs_namespace_2_1():
    with pytest.raises(XadesError, match="2.1"):
        build_auth_token_request(CHALLENGE, NIP, authorization_policy={"ip4_addresses": ["1.2.3.4"]})


@pytest.mark.parametrize("kwargs, message", [
    (dict(challenge="not-a-challenge"), "Challenge"),
    (dict(context_identifier="123"), "Nip"),
    (dict(context_identifier="%s-00001" % NIP, context_type="InternalId", namespace_version="2.1"), None),
    (dict(subject_identifier_type="pesel"), "subject_identifier_type"),
    (dict(context_type="Pesel"), "context_type"),
    (dict(namespace_version="3.0"), "namespace_version"),
    (dict(namespace_version="2.1", authorization_policy={"ip4_addresses": ["999.1.1.1"]}), "Ip4Address"),
])
def test_request_is_validated_against_the_xsd(kwargs, message):
    args = dict(challenge=CHALLENGE, context_identifier=NIP)
    args.update(kwargs)
    challenge = args.pop("challenge")
    context = args.pop("context_identifier")
    if message is None:
        root = build_auth_token_request(challenge, context, **args)
        assert etree.QName(root.find(".//{*}InternalId")).localname == "InternalId"
        return
    with pytest.raises(XadesError, match=message):
        build_auth_token_request(challenge, context, **args)


def test_key_not_matching_certificate_is_refused(signer):
    cert, _ = signer
    _, other_key = certs.generate_test_certificate(NIP, key_type="EC")
    with pytest.raises(certs.CertificateError, match="does not belong"):
        sign_auth_token_request(CHALLENGE, NIP, cert, other_key)


def test_verifier_reports_missing_signature():
    unsigned = etree.tostring(build_auth_token_request(CHALLENGE, NIP))
    with pytest.raises(XadesVerificationError, match="exactly one ds:Signature"):
        verify_xades_signature(unsigned)
    with pytest.raises(XadesVerificationError, match="not well-formed"):
        verify_xades_signature(b"<broken")


@needs_xmlsec1
def test_our_verifier_accepts_a_signature_made_by_xmlsec1(tmp_path):
    """Cross-check the verifier on a signature it did not produce (xmlsec1 signs a XAdES template)."""
    cert, key = certs.generate_test_certificate(NIP, key_type="RSA")
    (tmp_path / "key.pem").write_bytes(certs.private_key_to_pem(key))
    (tmp_path / "cert.pem").write_bytes(certs.certificate_to_pem(cert))
    cert_b64 = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    cert_digest = base64.b64encode(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()).decode()
    template = """<?xml version="1.0" encoding="UTF-8"?>
<AuthTokenRequest xmlns="http://ksef.mf.gov.pl/auth/token/2.0">
  <Challenge>{challenge}</Challenge>
  <ContextIdentifier><Nip>{nip}</Nip></ContextIdentifier>
  <SubjectIdentifierType>certificateSubject</SubjectIdentifierType>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="S1">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
      <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <ds:Reference URI="">
        <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>
      </ds:Reference>
      <ds:Reference URI="#SP1" Type="http://uri.etsi.org/01903#SignedProperties">
        <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    <ds:Object><xades:QualifyingProperties xmlns:xades="{xades}" Target="#S1">
      <xades:SignedProperties Id="SP1"><xades:SignedSignatureProperties>
        <xades:SigningTime>2026-01-01T00:00:00Z</xades:SigningTime>
        <xades:SigningCertificate><xades:Cert><xades:CertDigest>
          <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>{digest}</ds:DigestValue>
        </xades:CertDigest></xades:Cert></xades:SigningCertificate>
      </xades:SignedSignatureProperties></xades:SignedProperties>
    </xades:QualifyingProperties></ds:Object>
  </ds:Signature>
</AuthTokenRequest>
""".format(challenge=CHALLENGE, nip=NIP, cert=cert_b64, xades=XADES_NS, digest=cert_digest)
    (tmp_path / "template.xml").write_text(template)
    subprocess.run([XMLSEC1, "--sign", "--privkey-pem", str(tmp_path / "key.pem"),
                    "--id-attr:Id", "%s:SignedProperties" % XADES_NS, "--output", str(tmp_path / "signed.xml"),
                    str(tmp_path / "template.xml")], check=True, capture_output=True, timeout=30)
    signed = (tmp_path / "signed.xml").read_bytes()
    assert verify_xades_signature(signed) == cert
    with pytest.raises(XadesVerificationError):
        verify_xades_signature(signed.replace(b"certificateSubject", b"certificateFingerprint"))
