"""FA(3) invoices: a neutral data model, XML builder, XSD validator and parser.

    from ksef_protocol.fa3 import build_fa3, parse_fa3, validate_fa3, Fa3ValidationError
    xml = build_fa3(invoice)        # bytes, deterministic, business rules checked
    validate_fa3(xml)               # raises Fa3ValidationError(.errors: readable findings)
    assert parse_fa3(xml) == invoice

The data model lives in ``ksef_protocol.fa3.model``; tax-rate buckets and a
totals helper in ``ksef_protocol.fa3.rates``.  Never imports odoo.
"""
from .builder import FA3_NAMESPACE, FA3_SCHEMA_VERSION, FA3_SYSTEM_CODE, build_fa3
from .exceptions import Fa3Finding, Fa3ValidationError
from .identity import content_hash, same_invoice
from .model import *  # noqa: F401,F403  (the data model is part of the public API)
from .model import Invoice
from .parser import parse_fa3
from .rates import TAX_RATES, bucket_of, compute_totals
from .rules import check_invoice, nip_is_valid
from .schema import get_schema, validate_fa2, validate_fa3

__all__ = [
    "content_hash", "same_invoice",
    "FA3_NAMESPACE", "FA3_SCHEMA_VERSION", "FA3_SYSTEM_CODE", "Fa3Finding", "Fa3ValidationError", "Invoice",
    "TAX_RATES", "build_fa3", "bucket_of", "check_invoice", "compute_totals", "get_schema", "nip_is_valid",
    "parse_fa3", "validate_fa2", "validate_fa3",
]
