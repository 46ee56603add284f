"""The emulator's view of the official ``open-api.json``.

The spec is OpenAPI 3.0 (``nullable`` instead of JSON Schema null types), so the
component schemas are converted once into draft-4 JSON Schema and validated with
``jsonschema``. Everything the emulator needs per operation (required
permissions, rate limits, security) is read from the same file, so the emulator
follows the spec rather than a hand-copied table.
"""
import copy
import datetime
import json
import os
import re
import threading

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "open-api.json")
_SPEC_URI = "urn:ksef:open-api"
_HTTP_METHODS = ("get", "post", "put", "delete", "patch")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
FORMAT_CHECKER = jsonschema.FormatChecker(())


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value):
    """``format: date``: a real calendar day ``YYYY-MM-DD`` (a malformed one is 21405, not a crash)."""
    if not isinstance(value, str):
        return True
    if len(value) != 10:
        return False
    datetime.date.fromisoformat(value)
    return True


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value):
    """``format: date-time``: ISO 8601 as .NET parses it (the offset may be missing: local time)."""
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.date.fromisoformat(value[:10])
    hour, minute = int(value[11:13]), int(value[14:16])
    return hour < 24 and minute < 60


def _convert_nullable(node):
    """Return ``node`` with OpenAPI 3.0 ``nullable: true`` expressed in JSON Schema."""
    if isinstance(node, list):
        return [_convert_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _convert_nullable(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"] if isinstance(node["type"], str) else node["type"] + ["null"]
            if "enum" in node:
                node["enum"] = list(node["enum"]) + [None]
        elif "allOf" in node or "$ref" in node:
            node = {"anyOf": [{"type": "null"}, node]}
    return node


class Operation:
    """One ``method path`` entry of the spec."""

    def __init__(self, method, path, raw):
        self.method = method.upper()
        self.path = path
        self.raw = raw
        self.secured = bool(raw.get("security"))
        self.required_permissions = list(raw.get("x-required-permissions") or [])
        self.rate_limits = raw.get("x-rate-limits")  # {"perSecond", "perMinute", "perHour"} or None
        self.parameters = raw.get("parameters") or []
        body = (raw.get("requestBody") or {}).get("content") or {}
        self.request_schema = (body.get("application/json") or {}).get("schema")
        self.request_content_types = list(body.keys())
        self.body_required = bool((raw.get("requestBody") or {}).get("required"))
        self.responses = raw.get("responses") or {}

    @property
    def key(self):
        return "%s %s" % (self.method, self.path)


class OpenApi:
    """Loads the spec and validates requests/responses against it (thread-safe)."""

    def __init__(self, path=SPEC_PATH):
        with open(path, "rb") as handle:
            self.spec = json.load(handle)
        self._registry_cache = None
        self._validators = {}
        self._lock = threading.Lock()
        self.operations = {}
        for spec_path, item in self.spec["paths"].items():
            for method, raw in item.items():
                if method in _HTTP_METHODS:
                    operation = Operation(method, spec_path, raw)
                    self.operations[operation.key] = operation

    @property
    def _registry(self):
        """The whole spec as a JSON Schema resource, for ``$ref``s left after inlining (built lazily)."""
        if self._registry_cache is None:
            converted = _convert_nullable(copy.deepcopy(self.spec))
            resource = Resource.from_contents(converted, default_specification=DRAFT4)
            self._registry_cache = Registry().with_resource(_SPEC_URI, resource)
        return self._registry_cache

    def operation(self, method, spec_path):
        """The :class:`Operation` for ``method`` and a spec path such as ``/auth/{referenceNumber}``."""
        return self.operations.get("%s %s" % (method.upper(), spec_path))

    # -- validation ---------------------------------------------------------------------------
    def _inline(self, node, depth=0):
        """Replace local ``$ref``s by their targets (much faster to validate); deep ones stay refs."""
        if isinstance(node, list):
            return [self._inline(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/") and depth < 12:
            target = self.spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            merged = dict(target)
            merged.update({k: v for k, v in node.items() if k != "$ref"})
            return self._inline(merged, depth + 1)
        return {key: (value if key in ("example", "examples") else self._inline(value, depth)) for key, value in node.items()}

    def _validator(self, cache_key, schema):
        validator = self._validators.get(cache_key)
        if validator is None:
            schema = _convert_nullable(self._rebase(self._inline(copy.deepcopy(schema))))
            validator = jsonschema.Draft4Validator(schema, registry=self._registry, format_checker=FORMAT_CHECKER)
            with self._lock:
                self._validators[cache_key] = validator
        return validator

    def _rebase(self, node):
        """Point local ``#/components/...`` references at the registered spec resource."""
        if isinstance(node, list):
            return [self._rebase(item) for item in node]
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#/"):
                    out[key] = _SPEC_URI + value
                else:
                    out[key] = self._rebase(value)
            return out
        return node

    def schema_errors(self, cache_key, schema, instance):
        """Readable messages for every violation of ``schema`` by ``instance`` (empty list if valid)."""
        validator = self._validator(cache_key, schema)
        messages = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            location = ".".join(str(part) for part in error.absolute_path) or "(body)"
            messages.append("%s: %s" % (location, error.message[:300]))
        return list(dict.fromkeys(messages))

    def component_errors(self, name, instance):
        """Validate ``instance`` against ``#/components/schemas/<name>``."""
        return self.schema_errors("component:" + name, {"$ref": "#/components/schemas/" + name}, instance)

    def request_body_errors(self, operation, body):
        if operation.request_schema is None:
            return []
        return self.schema_errors("req:" + operation.key, operation.request_schema, body)

    def parameter_errors(self, operation, path_params, query, headers):
        """Check path, query and header parameters (types, enums, min/max, required)."""
        messages = []
        for parameter in operation.parameters:
            name = parameter["name"]
            where = parameter.get("in")
            schema = parameter.get("schema") or {}
            if where == "path":
                values = [path_params.get(name)] if name in path_params else []
            elif where == "query":
                values = query.get(name, [])
            elif where == "header":
                value = headers.get(name)
                values = [value] if value is not None else []
            else:
                continue
            if not values:
                if parameter.get("required"):
                    messages.append("%s: required %s parameter is missing" % (name, where))
                continue
            item_schema = schema
            resolved = self._resolve(schema)
            if resolved.get("type") == "array":
                item_schema = resolved.get("items") or {}
            else:
                values = values[-1:]
            for value in values:
                coerced = _coerce(value, self._resolve(item_schema))
                for message in self.schema_errors("param:%s:%s:%s" % (operation.key, where, name), item_schema, coerced):
                    messages.append("%s (%s): %s" % (name, where, message.split(": ", 1)[-1]))
        return messages

    def _resolve(self, schema):
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 10:
            schema = self.spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            seen += 1
        if isinstance(schema, dict) and "allOf" in schema and len(schema["allOf"]) == 1 and "type" not in schema:
            return self._resolve(schema["allOf"][0])
        return schema if isinstance(schema, dict) else {}

    def response_errors(self, operation, status, content_type, body, headers=None):
        """Validate a response the emulator produced. ``body`` is parsed JSON, or bytes for XML;
        ``headers`` (name -> value) are checked against the headers the spec documents for the status."""
        spec_response = operation.responses.get(str(status))
        if spec_response is None:
            return ["status %s is not documented for %s" % (status, operation.key)]
        header_problems = self._header_errors(operation, status, spec_response, headers or {})
        return header_problems + self._body_errors(operation, status, spec_response, content_type, body)

    def _header_errors(self, operation, status, spec_response, headers):
        documented = {name.lower(): spec for name, spec in (spec_response.get("headers") or {}).items()}
        messages = []
        for name, value in headers.items():
            spec = documented.get(name.lower())
            if spec is None or "schema" not in spec:
                continue
            schema = spec["schema"]
            coerced = _coerce(value, self._resolve(schema))
            for message in self.schema_errors("hdr:%s:%s:%s" % (operation.key, status, name.lower()), schema, coerced):
                messages.append("header %s: %s" % (name, message.split(": ", 1)[-1]))
        return messages

    def _body_errors(self, operation, status, spec_response, content_type, body):
        content = spec_response.get("content") or {}
        if not content:
            return [] if body in (None, b"", "") else ["%s %s: documented without a body" % (operation.key, status)]
        base_type = (content_type or "").split(";")[0].strip()
        if base_type not in content:
            return ["%s %s: content type %r not in %s" % (operation.key, status, base_type, sorted(content))]
        schema = content[base_type].get("schema")
        if schema is None or not base_type.endswith("json"):
            return []
        return self.schema_errors("resp:%s:%s:%s" % (operation.key, status, base_type), schema, body)


def _coerce(value, schema):
    """Query/path values are strings; convert them to what the schema expects."""
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}.get(value.lower(), value)
    except (TypeError, ValueError):
        return value
    return value


_INSTANCE = None
_INSTANCE_LOCK = threading.Lock()


def get_openapi():
    """The process-wide :class:`OpenApi` (parsed once, ~50 ms)."""
    global _INSTANCE
    with _INSTANCE_LOCK:
        if _INSTANCE is None:
            _INSTANCE = OpenApi()
        return _INSTANCE
