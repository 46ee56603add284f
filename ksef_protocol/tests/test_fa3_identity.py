"""Same invoice or another document with the same number (440 duplicate told truthfully)."""
from ksef_protocol.fa3 import content_hash, same_invoice

DOC = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Faktura xmlns="http://crd.gov.pl/wzor/2025/06/25/13775/">'
       b'<Naglowek><KodFormularza>FA</KodFormularza><DataWytworzeniaFa>%s</DataWytworzeniaFa></Naglowek>'
       b'<Fa><P_2>FV/1</P_2><P_15>%s</P_15></Fa></Faktura>')


def test_same_bytes_are_the_same_invoice():
    doc = DOC % (b'2026-01-01T08:00:00Z', b'4920.00')
    assert same_invoice(doc, doc)


def test_another_rendering_of_the_same_invoice_is_the_same_invoice():
    first = DOC % (b'2026-01-01T08:00:00Z', b'4920.00')
    second = DOC % (b'2026-01-02T09:30:00Z', b'4920.00')
    assert first != second
    assert content_hash(first) == content_hash(second)
    assert same_invoice(first, second)


def test_other_amounts_are_another_document():
    ours = DOC % (b'2026-01-01T08:00:00Z', b'6150.00')
    theirs = DOC % (b'2026-01-01T08:00:00Z', b'4920.00')
    assert not same_invoice(ours, theirs)


def test_garbage_is_never_the_same_invoice():
    assert content_hash(b'not xml') is None
    assert not same_invoice(b'not xml', DOC % (b'x', b'1'))
