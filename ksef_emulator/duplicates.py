"""The duplicate rule (``faktury/weryfikacja-faktury.md``, "Unikalność faktury").

KSeF holds at most one accepted invoice per seller NIP (``Podmiot1/NIP``) + ``RodzajFaktury`` +
invoice number (``P_2``), across every context and every way an invoice gets in (online, batch,
seeded). The invoice worker answers a duplicate with status 440; seeding answers it with the
original's KSeF number. Call :func:`find_original` and store the new invoice inside one
``store.transaction()``, so two writers never both accept the same key.
"""
DUPLICATE_CODE = 440
DUPLICATE_DESCRIPTION = "Duplikat faktury"


def find_original(store, facts):
    """The accepted ``invoices`` row with the same key as ``facts`` (from ``extract_facts``), or None."""
    key = (facts.get("seller_nip"), facts.get("rodzaj_faktury"), facts.get("invoice_number"))
    if None in key:
        return None
    return store.one("SELECT * FROM invoices WHERE seller_nip=? AND invoice_type=? AND invoice_number=?"
                     " AND status_code=200 ORDER BY acquisition_ts LIMIT 1", key)


def duplicate_status(original):
    """``(details, extensions)`` of status 440 for a duplicate of the accepted row ``original``."""
    session = original["session_reference"]
    detail = "Duplikat faktury. Faktura o numerze KSeF: %s została już prawidłowo przesłana do systemu" \
             % original["ksef_number"]
    detail += " w sesji: %s" % session if session else "."
    return [detail], {"originalSessionReferenceNumber": session, "originalKsefNumber": original["ksef_number"]}
