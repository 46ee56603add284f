"""XSD validation of FA(3) (and FA(2)) documents with readable findings.

The compiled schemas are cached at module level: compiling FA(3) takes a
noticeable fraction of a second, validating one invoice a millisecond.
Besides the XSD, the transport rules KSeF checks before the schema (UTF-8
without BOM, no other encoding declared, no processing instructions, no
discouraged characters) are checked too.
"""
import os
import re
import threading
from typing import Dict, List

from lxml import etree

from .exceptions import Fa3Finding, Fa3ValidationError

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "schemas", "FA")
SCHEMA_FILES = {
    "FA3": "schemat_FA(3)_v1-0E.xsd",
    "FA2": "schemat_FA(2)_v1-0E.xsd",
}
_schemas: Dict[str, etree.XMLSchema] = {}
_enums: Dict[str, Dict[str, List[str]]] = {}
_lock = threading.Lock()

_DISCOURAGED = re.compile("[\x7f-\x84\x86-\x9f\ufdd0-\ufdef\ufffe\uffff]")
_NAMESPACE = re.compile(r"\{[^}]*\}")
_XPATH_STEP_NS = re.compile(r"[a-zA-Z_][\w.-]*:")
_DECLARED_ENCODING = re.compile(rb"^<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")


def get_schema(variant: str = "FA3") -> etree.XMLSchema:
    """The compiled XSD for "FA3" or "FA2" (compiled once per process)."""
    schema = _schemas.get(variant)
    if schema is None:
        with _lock:
            schema = _schemas.get(variant)
            if schema is None:
                path = os.path.join(SCHEMA_DIR, SCHEMA_FILES[variant])
                schema = _schemas[variant] = etree.XMLSchema(etree.parse(path))
    return schema


def _transport_findings(xml_bytes: bytes) -> List[Fa3Finding]:
    findings = []
    if xml_bytes.startswith(b"\xef\xbb\xbf"):
        findings.append(Fa3Finding("", "the file starts with a UTF-8 BOM, which KSeF rejects"))
    declared = _DECLARED_ENCODING.match(xml_bytes.lstrip(b"\xef\xbb\xbf"))
    if declared and declared.group(1).upper() not in (b"UTF-8", b"UTF8"):
        findings.append(Fa3Finding("", "the XML declares encoding %s; KSeF accepts only UTF-8"
                                   % declared.group(1).decode("ascii", "replace")))
    return findings


def element_path(element) -> str:
    """``Fa/FaWiersz[2]/P_12``: local names below the root, with a 1-based
    index where the element repeats among its siblings."""
    steps = []
    while element is not None and element.getparent() is not None:
        name = etree.QName(element).localname
        same = [e for e in element.getparent() if isinstance(e.tag, str) and e.tag == element.tag]
        steps.append("%s[%d]" % (name, same.index(element) + 1) if len(same) > 1 else name)
        element = element.getparent()
    return "/".join(reversed(steps))


def _readable_path(tree, path: str) -> str:
    # lxml reports positional XPaths such as /*/*[4]/*[8]; resolve them to names.
    try:
        found = tree.getroottree().xpath(path) if path else []
    except etree.XPathError:
        found = []
    if found and isinstance(found[0], etree._Element):
        return element_path(found[0])
    return _XPATH_STEP_NS.sub("", _NAMESPACE.sub("", path or "")).lstrip("/")


def _enumerations(variant: str) -> Dict[str, List[str]]:
    """Allowed values of enumerated simple types, by element name, so that an
    enumeration error can list them (lxml's message leaves the set empty)."""
    cached = _enums.get(variant)
    if cached is None:
        xs = "{http://www.w3.org/2001/XMLSchema}"
        root = etree.parse(os.path.join(SCHEMA_DIR, SCHEMA_FILES[variant])).getroot()
        by_type = {}
        for simple in root.iter(xs + "simpleType"):
            values = [e.get("value") for e in simple.iter(xs + "enumeration")]
            if simple.get("name") and values:
                by_type["tns:" + simple.get("name")] = values
        cached = {}
        for element in root.iter(xs + "element"):
            values = by_type.get(element.get("type"))
            if values is None:
                inline = element.find(xs + "simpleType")
                values = [e.get("value") for e in inline.iter(xs + "enumeration")] if inline is not None else None
            if values and len(values) <= 30:
                cached.setdefault(element.get("name"), values)
        _enums[variant] = cached
    return cached


def _readable_message(message: str, path: str, variant: str) -> str:
    message = _NAMESPACE.sub("", message).replace("Element '", "'").strip()
    if "[facet 'enumeration']" in message:
        name = path.rsplit("/", 1)[-1].split("[")[0]
        allowed = _enumerations(variant).get(name)
        if allowed:
            message = message.replace("is not an element of the set .",
                                      "is not allowed; use one of: %s." % ", ".join(allowed))
    return message


def validate_fa(xml_bytes: bytes, variant: str = "FA3") -> None:
    """Validate ``xml_bytes`` against the FA(3) (or FA(2)) XSD.

    Raises ``Fa3ValidationError`` whose ``errors`` name each field as an
    element path (``Fa/FaWiersz[2]/P_12``) with the source line number.
    """
    if not isinstance(xml_bytes, bytes):
        raise TypeError("validate_fa3 expects bytes (UTF-8 XML), got %s" % type(xml_bytes).__name__)
    findings = _transport_findings(xml_bytes)
    try:
        tree = etree.fromstring(xml_bytes, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                                   remove_blank_text=False))
    except etree.XMLSyntaxError as exc:
        findings.append(Fa3Finding("", "not well-formed XML: %s" % exc.msg, exc.lineno))
        raise Fa3ValidationError(findings) from None
    for node in tree.itersiblings(preceding=True):
        if isinstance(node, etree._ProcessingInstruction):
            findings.append(Fa3Finding("", "processing instruction <?%s?> is not allowed by KSeF" % node.target,
                                       node.sourceline))
    for node in tree.iter(etree.ProcessingInstruction):
        findings.append(Fa3Finding("", "processing instruction <?%s?> is not allowed by KSeF" % node.target,
                                   node.sourceline))
    for node in tree.iter():
        for value in (node.text, node.tail):
            if value and _DISCOURAGED.search(value):
                findings.append(Fa3Finding(element_path(node),
                                           "contains control or non-character code points (U+007F-U+009F, "
                                           "U+FDD0-U+FDEF, U+FFFE/U+FFFF) that KSeF rejects",
                                           node.sourceline))
                break
    schema = get_schema(variant)
    if not schema.validate(tree):
        for entry in schema.error_log:
            path = _readable_path(tree, entry.path)
            findings.append(Fa3Finding(path, _readable_message(entry.message, path, variant), entry.line))
    if findings:
        raise Fa3ValidationError(findings)


def validate_fa3(xml_bytes: bytes) -> None:
    """Validate an FA(3) document; raise ``Fa3ValidationError`` if invalid."""
    validate_fa(xml_bytes, "FA3")


def validate_fa2(xml_bytes: bytes) -> None:
    """Validate an FA(2) document; raise ``Fa3ValidationError`` if invalid."""
    validate_fa(xml_bytes, "FA2")
