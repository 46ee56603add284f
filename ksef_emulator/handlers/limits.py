"""``GET /rate-limits`` and ``GET /limits/context``: the effective values the emulator applies."""
from ..ratelimit import DEFAULT_LIMITS, GROUPS
from ..web import json_response


def rate_limits(request):
    openapi = request.app.openapi
    body = {"other": dict(DEFAULT_LIMITS)}
    for key, group in GROUPS.items():
        method, path = key.split(" ", 1)
        operation = openapi.operation(method, path)
        if operation is not None and operation.rate_limits and group not in body:
            body[group] = {name: operation.rate_limits[name] for name in ("perSecond", "perMinute", "perHour")}
    return json_response(200, body)


def context_limits(request):
    config = request.app.config
    session = {"maxInvoiceSizeInMB": config["maxInvoiceSizeBytes"] // 1000000,
               "maxInvoiceWithAttachmentSizeInMB": config["maxInvoiceWithAttachmentSizeBytes"] // 1000000,
               "maxInvoices": config["maxInvoicesPerSession"]}
    return json_response(200, {"onlineSession": dict(session), "batchSession": dict(session)})


def register(app):
    app.router.add("GET", "/v2/rate-limits", rate_limits, permissions=[])
    app.router.add("GET", "/v2/limits/context", context_limits, permissions=[])
