"""``scripts/spec_diff.py OLD NEW`` on two tiny open-api.json files: every section reports what changed."""
import importlib.util
import json
import os
import subprocess
import sys

from ksef_emulator.testing import REPO_ROOT

SCRIPT = os.path.join(REPO_ROOT, "scripts", "spec_diff.py")


def _op(limits, group, codes, permissions=None, body=None, description="x"):
    table = "| ExceptionCode | ExceptionDescription | Details |\n|-|-|-|\n" + "".join(
        "| %d | opis | - |\n" % code for code in codes)
    operation = {"description": description, "x-rate-limits": limits, "responses": {
        "200": {"description": "OK"},
        "400": {"description": table},
        "429": {"description": "| | req / s | req / min | req / h | grupa\n| --- | --- | --- | --- | --- |\n"
                               "| **Limity liczby żądań** | 1 | 2 | 3 | %s\n" % group}}}
    if permissions:
        operation["x-required-permissions"] = permissions
    if body:
        operation["requestBody"] = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/%s" % body}}}}
    return operation


OLD = {
    "info": {"description": "**Wersja API:** 2.6.0"},
    "paths": {
        "/sessions/online/{ref}/close": {"post": _op({"perSecond": 10, "perMinute": 30, "perHour": 120}, "onlineSession", [21405])},
        "/gone": {"get": _op({"perSecond": 1}, "other", [])},
        "/tokens": {"post": _op({"perSecond": 1}, "other", [21405], ["CredentialsManage"], "TokenRequest")},
    },
    "components": {"schemas": {
        "TokenPermissionType": {"type": "string", "enum": ["InvoiceRead", "InvoiceWrite"]},
        "TokenRequest": {"type": "object", "required": ["permissions"], "properties": {
            "permissions": {"type": "array"}, "description": {"type": "string", "maxLength": 256}}},
        "Removed": {"type": "object"},
    }},
}
NEW = {
    "info": {"description": "**Wersja API:** 2.9.0"},
    "paths": {
        "/sessions/online/{ref}/close": {"post": _op({"perSecond": 20, "perMinute": 60, "perHour": 240}, "onlineSessionClose", [21405, 21184])},
        "/tokens": {"post": _op({"perSecond": 1}, "other", [21405, 21001], ["CredentialsManage", "CredentialsRead"], "TokenRequest", "y")},
        "/collective-identifiers": {"post": _op({"perSecond": 20}, "collectiveIdentifier", [71001])},
    },
    "components": {"schemas": {
        "TokenPermissionType": {"type": "string", "enum": ["InvoiceRead", "InvoiceWrite", "CollectiveIdentifierManage"]},
        "TokenRequest": {"type": "object", "required": ["permissions", "description"], "properties": {
            "permissions": {"type": "array"}, "description": {"type": "string", "minLength": 5, "maxLength": 256},
            "compressionType": {"type": "string", "enum": ["Zip", "TarGz"]}}},
        "Added": {"type": "object"},
    }},
}


def _module():
    spec = importlib.util.spec_from_file_location("spec_diff", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_section_reports_its_changes():
    report = "\n".join(_module().diff(OLD, NEW))
    operations = report.split("== Operations")[1].split("== Schemas")[0]
    assert "+ POST /collective-identifiers" in operations and "- GET /gone" in operations
    assert "~ POST /tokens: permissions ['CredentialsManage'] -> ['CredentialsManage', 'CredentialsRead']; " \
           "description changed" in operations
    schemas = report.split("== Schemas")[1].split("== Enum values")[0]
    assert "+ Added" in schemas and "- Removed" in schemas
    assert "property added: compressionType" in schemas and "required +['description']" in schemas
    assert 'property changed: description {"type": "string", "maxLength": 256} -> ' \
           '{"type": "string", "minLength": 5, "maxLength": 256}' in schemas
    enums = report.split("== Enum values")[1].split("== Rate limits")[0]
    assert "~ TokenPermissionType: +['CollectiveIdentifierManage']" in enums
    assert "+ TokenRequest.compressionType: Zip, TarGz" in enums
    limits = report.split("== Rate limits")[1].split("== Error codes")[0]
    assert "~ POST /sessions/online/{ref}/close: onlineSession 10/30/120 -> onlineSessionClose 20/60/240" in limits
    assert "~ POST /collective-identifiers: None -> collectiveIdentifier 20/-/-" in limits
    codes = report.split("== Error codes")[1]
    assert "~ POST /sessions/online/{ref}/close: +[21184]" in codes
    assert "~ POST /tokens: +[21001]" in codes
    assert "new codes anywhere: [21001, 21184, 71001]" in codes and "codes gone everywhere: none" in codes


def test_identical_specs_report_no_change_and_the_command_line_works(tmp_path):
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(OLD))
    new.write_text(json.dumps(NEW))
    same = _module().diff(OLD, OLD)
    assert not [line for line in same if line.startswith(("+", "-", "~"))]
    done = subprocess.run([sys.executable, SCRIPT, str(old), str(new)], capture_output=True, text=True, check=True)
    assert "NEW: **Wersja API:** 2.9.0" in done.stdout and "+ POST /collective-identifiers" in done.stdout
    assert subprocess.run([sys.executable, SCRIPT, str(old)], capture_output=True).returncode == 2
