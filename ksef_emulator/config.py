"""Run-time configuration of the emulator, changed with ``POST /admin/config``.

Values are persisted in the state database; ``start_emulator(**config)`` and the
``--config JSON`` command-line option apply overrides at start-up.
"""
import copy

DEFAULTS = {
    # authentication
    "accessTokenTtlSeconds": 900,
    "refreshTokenTtlSeconds": 7 * 24 * 3600,
    "authenticationTokenTtlSeconds": 3600,
    "challengeTtlSeconds": 600,
    "authProcessingDelaySeconds": 0.0,      # auth status stays 100 this long
    # XAdES chain rules: self-signed certificates are accepted as on TE unless disabled
    "xadesAllowSelfSigned": True,
    "xadesTrustedCaPem": [],                # PEM certificates of CAs whose issued certs are accepted
    # invoice processing (real seconds): 100 for acceptDelay, then 150 for processingDelay
    "invoiceAcceptDelaySeconds": 0.0,
    "invoiceProcessingDelaySeconds": 0.0,
    "permanentStorageDelaySeconds": 0.0,     # acquisition -> permanentStorageDate
    # sessions
    "onlineSessionLifetimeSeconds": 12 * 3600,
    "maxInvoiceSizeBytes": 1000000,
    "maxInvoiceWithAttachmentSizeBytes": 3000000,
    "maxInvoicesPerSession": 10000,
    "batchMaxParts": 50,
    "batchMaxPartSizeBytes": 100000000,
    "batchMaxPackageSizeBytes": 5000000000,  # whole ZIP before encryption (21405 at open)
    "batchPartWindowSecondsPerPart": 20 * 60,
    "presignedUrlTtlSeconds": 3600,
    "upoPageSize": 10000,                    # Dokument entries per session UPO page
    "upoEnvironmentSuffix": True,            # " - środowisko testowe (TE)" in NazwaPodmiotuPrzyjmujacego as in the
                                             # official TE samples (faktury/upo/przyklady); PRD has none
    "environment": "TE",                     # TE | TR | PRD: UPO receiver name suffix, FA(2) only on TE
    # receiving, KSeF certificates and tokens (handlers/receiving.py, certificates.py, tokens.py)
    "receivingTruncationLimit": 10000,       # records per query/export before isTruncated
    "permanentStorageHwmLagSeconds": 0.0,    # HWM = now - lag (the set at/below it is closed)
    "exportProcessingDelaySeconds": 0.0,     # export status stays 100 this long
    "exportPartSizeBytes": 50 * 1024 * 1024, # plaintext bytes per export part
    "exportMaxPackageBytes": 1024 ** 3,      # compressed invoices per export package (1 GiB), then isTruncated
    "maxConcurrentExports": 10,              # exports in progress per context (21182)
    "certificateEnrollmentDelaySeconds": 0.0,  # enrollment status stays 100 this long
    "tokenActivationDelaySeconds": 0.0,      # POST /tokens: Pending this long, then Active
    "permissionProcessingDelaySeconds": 0.0,  # /permissions/* operations stay 100 (and grants inactive) this long
    # limits and diagnostics
    "rateLimitsEnabled": True,
    "systemWarning": "",                    # X-System-Warning on every API answer, e.g. "[W1]: Planowana przerwa"
    "validateResponses": False,             # check every response against open-api.json (500 on mismatch)
    "logRequests": True,
}


class Config:
    def __init__(self, store, overrides=None):
        self._store = store
        self.values = copy.deepcopy(DEFAULTS)
        self.values.update(store.get_json("config", "current", {}))
        if overrides:
            self.update(overrides)

    def update(self, changes):
        """Merge ``changes``; raise ValueError naming unknown keys or wrong types."""
        unknown = sorted(set(changes) - set(DEFAULTS))
        if unknown:
            raise ValueError("unknown config keys %s; known keys: %s" % (unknown, ", ".join(sorted(DEFAULTS))))
        for key, value in changes.items():
            default = DEFAULTS[key]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError("%s must be true or false" % key)
            elif isinstance(default, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError("%s must be a number" % key)
            elif isinstance(default, list) and not isinstance(value, list):
                raise ValueError("%s must be a list" % key)
            elif isinstance(default, str) and not isinstance(value, str):
                raise ValueError("%s must be a string" % key)
        self.values.update(changes)
        self._store.put_json("config", "current", {k: v for k, v in self.values.items() if DEFAULTS[k] != v})
        return self.values

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key, default=None):
        return self.values.get(key, default)
