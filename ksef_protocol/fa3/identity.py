"""Is a document KSeF holds the same invoice as ours? (440 duplicate told truthfully)

KSeF reports a duplicate (440) when it already holds an invoice with the same seller NIP, invoice
type and number (P_2), whatever its content. The caller compares the original's bytes with its own:
equal bytes are the same file; otherwise the two are the same invoice only when they differ in
nothing but ``Naglowek/DataWytworzeniaFa`` (the moment the file was generated, which changes with
every rendering of one and the same invoice).
"""
import base64
import hashlib

from lxml import etree

#: Elements that describe the file, not the invoice (FA(3) header).
_FILE_ONLY_ELEMENTS = ("DataWytworzeniaFa", "SystemInfo")


def content_hash(xml_bytes):
    """SHA-256 (base64) of the invoice content: canonical XML without the file-only header elements.
    ``None`` when the bytes are not XML."""
    try:
        root = etree.fromstring(xml_bytes, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                                  remove_blank_text=True))
    except etree.XMLSyntaxError:
        return None
    for header in root:
        if etree.QName(header).localname == "Naglowek":
            for element in list(header):
                if etree.QName(element).localname in _FILE_ONLY_ELEMENTS:
                    header.remove(element)
    canonical = etree.tostring(root, method="c14n")
    return base64.b64encode(hashlib.sha256(canonical).digest()).decode("ascii")


def same_invoice(ours, theirs):
    """True when the two FA(3) files are one invoice (identical, or differing only in file-only elements)."""
    if ours == theirs:
        return True
    ours_hash = content_hash(ours)
    return ours_hash is not None and ours_hash == content_hash(theirs)
