"""``GET /security/public-key-certificates``."""
from ..web import json_response


def public_key_certificates(request):
    return json_response(200, request.app.keys.public_key_certificates())


def register(app):
    app.router.add("GET", "/v2/security/public-key-certificates", public_key_certificates)
