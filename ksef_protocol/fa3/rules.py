"""Business rules the XSD cannot express, checked on the data model.

``check_invoice`` returns findings (empty when the invoice is consistent);
``build_fa3`` refuses an invoice with findings, so an inconsistent invoice is
never turned into XML that KSeF (or an auditor) would reject later.
"""
import re
from typing import List

from .exceptions import Fa3Finding
from .model import CORRECTION_KINDS, INVOICE_KINDS, KIND_ADVANCE, MARGIN_SCHEMES, Invoice, Party
from .rates import TAX_RATES, bucket_of

_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_NIP_PATTERN = re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$")


def nip_is_valid(nip: str) -> bool:
    """Polish NIP: 10 digits, FA(3) pattern, mod-11 checksum."""
    if not nip or not _NIP_PATTERN.match(nip):
        return False
    checksum = sum(int(d) * w for d, w in zip(nip, _NIP_WEIGHTS)) % 11
    return checksum != 10 and checksum == int(nip[9])


def has_exempt_amount(invoice: Invoice) -> bool:
    """True when the invoice reports exempt ("zw") sales, which is the only
    case where P_19 (and its legal basis) may be written."""
    if "7" in invoice.totals.buckets:
        return True
    lines = list(invoice.lines) + (list(invoice.order.lines) if invoice.order else [])
    return any(line.rate == "zw" for line in lines)


def _check_party(path: str, party: Party, findings: List[Fa3Finding]) -> None:
    if party.nip and not nip_is_valid(party.nip):
        findings.append(Fa3Finding(path + "/DaneIdentyfikacyjne/NIP",
                                   "NIP %r is not a valid Polish tax number (10 digits with a "
                                   "correct check digit, no prefix or dashes)" % party.nip))
    if party.eu_vat_number and not party.eu_country:
        findings.append(Fa3Finding(path + "/DaneIdentyfikacyjne/KodUE",
                                   "an EU VAT number needs its country code (KodUE)"))
    if party.eu_vat_number and party.eu_country and party.eu_vat_number.upper().startswith(party.eu_country):
        findings.append(Fa3Finding(path + "/DaneIdentyfikacyjne/NrVatUE",
                                   "give the EU VAT number without its country prefix %s" % party.eu_country))


def check_invoice(invoice: Invoice) -> List[Fa3Finding]:
    """Return the business-rule findings for ``invoice`` (empty when fine)."""
    findings: List[Fa3Finding] = []
    if not invoice.seller.nip:
        findings.append(Fa3Finding("Podmiot1/DaneIdentyfikacyjne/NIP", "the seller's NIP is missing"))
    _check_party("Podmiot1", invoice.seller, findings)
    if invoice.seller.vat_prefix not in (None, "PL"):
        findings.append(Fa3Finding("Podmiot1/PrefiksPodatnika", "the seller's VAT prefix can only be PL"))
    _check_party("Podmiot2", invoice.buyer, findings)
    for index, party in enumerate(invoice.third_parties, 1):
        _check_party("Podmiot3[%d]" % index, party, findings)
        if party.role is None and not party.other_role:
            findings.append(Fa3Finding("Podmiot3[%d]/Rola" % index, "a third party needs a role"))
    if invoice.kind not in INVOICE_KINDS:
        findings.append(Fa3Finding("Fa/RodzajFaktury", "unknown invoice kind %r" % invoice.kind))
    if invoice.kind in CORRECTION_KINDS and not (invoice.correction and invoice.correction.invoices):
        findings.append(Fa3Finding("Fa/DaneFaKorygowanej",
                                   "a correction must name the corrected invoice (date and number)"))
    if invoice.kind not in CORRECTION_KINDS and invoice.correction:
        findings.append(Fa3Finding("Fa/RodzajFaktury",
                                   "correction data is only allowed on KOR, KOR_ZAL or KOR_ROZ invoices"))
    if invoice.order and invoice.kind not in (KIND_ADVANCE, "KOR_ZAL"):
        findings.append(Fa3Finding("Fa/Zamowienie", "order data (Zamowienie) belongs to advance invoices only"))
    margin = invoice.annotations.margin_scheme
    if margin is not None and margin not in MARGIN_SCHEMES:
        findings.append(Fa3Finding("Fa/Adnotacje/PMarzy", "unknown margin scheme %r" % margin))

    if has_exempt_amount(invoice):
        ann = invoice.annotations
        if ann.exemption_basis_kind not in ("A", "B", "C") or not ann.exemption_basis:
            findings.append(Fa3Finding(
                "Fa/Adnotacje/Zwolnienie/P_19A",
                "the invoice has exempt (zw) sales but no legal basis of the exemption: set it "
                "on the exempt tax or the fiscal position"))

    all_lines = [("Fa/FaWiersz[%d]" % i, line) for i, line in enumerate(invoice.lines, 1)]
    if invoice.order:
        all_lines += [("Fa/Zamowienie/ZamowienieWiersz[%d]" % i, line)
                      for i, line in enumerate(invoice.order.lines, 1)]
    reverse_charge_reported = False
    for path, line in all_lines:
        if line.rate is not None and line.rate not in TAX_RATES:
            findings.append(Fa3Finding(path + "/P_12", "tax rate %r is not an FA(3) rate (%s)"
                                       % (line.rate, ", ".join(TAX_RATES))))
            continue
        if line.rate == "oo" and not invoice.annotations.reverse_charge and not reverse_charge_reported:
            reverse_charge_reported = True
            findings.append(Fa3Finding("Fa/Adnotacje/P_18",
                                       "a reverse-charge (oo) line needs the reverse charge annotation P_18"))
        if line.rate is None and line.oss_rate is None and not margin:
            continue
        bucket = bucket_of(line.rate, oss=line.oss_rate is not None, margin=bool(margin))
        if path.startswith("Fa/FaWiersz") and invoice.totals.buckets and bucket not in invoice.totals.buckets:
            findings.append(Fa3Finding(
                path + "/P_12", "the line's rate %s has no matching total P_13_%s" % (line.rate, bucket)))
    return findings
