"""Handler modules. Each exposes ``register(app)`` and adds its routes with
``app.router.add(...)``. To add an area, create ``handlers/<area>.py`` and append
its name to ``MODULES`` (the only shared line)."""
import importlib

MODULES = [
    "admin",
    "security",
    "auth",
    "limits",
    "sessions",
    "batch",
    "session_status",
    "upo_download",
    "seeding",
    "receiving",      # metadata query, download, exports/HWM (second helper)
    "certificates",   # KSeF certificate enrollment (second helper)
    "tokens",         # KSeF token management (second helper)
    "attachments",    # consent to invoices with attachments (testdata + status)
    "collective",     # collective identifiers (IZ)
    "status_service", # KSeF's status service "Latarnia" and the API's answers during an outage
    "permissions",    # grants, queries, revocation, operation status (office mode)
]


def register_all(app):
    for name in MODULES:
        try:
            module = importlib.import_module("%s.%s" % (__name__, name))
        except ModuleNotFoundError as exc:
            if exc.name == "%s.%s" % (__name__, name):
                continue  # area not written yet
            raise
        module.register(app)
