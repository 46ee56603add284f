"""``formCode`` objects for opening sessions (note the space in ``systemCode``, digest §4)."""

#: FA(3), the structured invoice accepted on every environment.
FA3_FORM_CODE = {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"}
#: FA(2), accepted on TEST only.
FA2_FORM_CODE = {"systemCode": "FA (2)", "schemaVersion": "1-0E", "value": "FA"}
#: FA_RR(1), invoices for flat-rate farmers.
FA_RR_FORM_CODE = {"systemCode": "FA_RR (1)", "schemaVersion": "1-1E", "value": "FA_RR"}
