#!/usr/bin/env python3
"""What changed between two KSeF ``open-api.json`` files (the first step of following a release).

    python3 scripts/spec_diff.py OLD.json NEW.json

Prints, section by section: operations added/removed/changed (parameters, request body, responses,
permissions, description), component schemas added/removed/changed (properties, required, types,
limits), enum values added/removed, rate limits (``x-rate-limits`` and the 429 ``grupa``) and the error
codes of the 400 tables (per operation). Standard library only; exit status 0 (1 on unreadable input).
"""
import json
import re
import sys

METHODS = ("get", "post", "put", "delete", "patch")
_CODE_ROW = re.compile(r"^\|\s*(\d{3,6})\s*\|", re.M)
_GROUP_CELL = re.compile(r"\|\s*([A-Za-z]+)\s*$")
_SCHEMA_KEYS = ("type", "format", "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems",
                "pattern", "nullable", "$ref")


def load(path):
    with open(path, "rb") as handle:
        return json.load(handle)


def operations(spec):
    found = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if method in METHODS and isinstance(operation, dict):
                found["%s %s" % (method.upper(), path)] = operation
    return found


def error_codes(operation):
    text = ((operation.get("responses") or {}).get("400") or {}).get("description") or ""
    return sorted(set(int(code) for code in _CODE_ROW.findall(text)))


def rate_limit(operation):
    limits = operation.get("x-rate-limits") or {}
    description = (((operation.get("responses") or {}).get("429") or {}).get("description") or "").strip()
    group = _GROUP_CELL.search(description)
    values = "/".join(str(limits.get(name, "-")) for name in ("perSecond", "perMinute", "perHour"))
    return "%s %s" % (group.group(1) if group else "(no group)", values) if limits else None


def _schema_ref(node):
    if not isinstance(node, dict):
        return None
    content = node.get("content") or {}
    return {media: json.dumps((body or {}).get("schema"), sort_keys=True) for media, body in content.items()}


def operation_changes(old, new):
    changes = []
    old_params = {(p.get("in"), p.get("name")): json.dumps(p.get("schema"), sort_keys=True) + str(p.get("required"))
                  for p in old.get("parameters") or []}
    new_params = {(p.get("in"), p.get("name")): json.dumps(p.get("schema"), sort_keys=True) + str(p.get("required"))
                  for p in new.get("parameters") or []}
    for key in sorted(set(old_params) | set(new_params), key=str):
        if key not in new_params:
            changes.append("parameter removed: %s %s" % key)
        elif key not in old_params:
            changes.append("parameter added: %s %s" % key)
        elif old_params[key] != new_params[key]:
            changes.append("parameter changed: %s %s" % key)
    if _schema_ref(old.get("requestBody")) != _schema_ref(new.get("requestBody")):
        changes.append("request body changed")
    old_responses, new_responses = old.get("responses") or {}, new.get("responses") or {}
    for status in sorted(set(old_responses) | set(new_responses)):
        if status not in new_responses:
            changes.append("response %s removed" % status)
        elif status not in old_responses:
            changes.append("response %s added" % status)
        elif _schema_ref(old_responses[status]) != _schema_ref(new_responses[status]):
            changes.append("response %s body changed" % status)
        elif json.dumps(old_responses[status].get("headers"), sort_keys=True) != \
                json.dumps(new_responses[status].get("headers"), sort_keys=True):
            changes.append("response %s headers changed" % status)
    if old.get("x-required-permissions") != new.get("x-required-permissions"):
        changes.append("permissions %s -> %s" % (old.get("x-required-permissions"), new.get("x-required-permissions")))
    if old.get("security") != new.get("security"):
        changes.append("security changed")
    if (old.get("description") or "") != (new.get("description") or "") or old.get("summary") != new.get("summary"):
        changes.append("description changed")
    return changes


def _properties(schema):
    props = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or []:
        props.update(part.get("properties") or {})
    return props


def _shape(node):
    if not isinstance(node, dict):
        return node
    shape = {key: node[key] for key in _SCHEMA_KEYS if key in node}
    if "allOf" in node:
        shape["allOf"] = [_shape(part) for part in node["allOf"]]
    if "items" in node:
        shape["items"] = _shape(node["items"])
    return shape


def schema_changes(old, new):
    changes = []
    old_props, new_props = _properties(old), _properties(new)
    for name in sorted(set(old_props) | set(new_props)):
        if name not in new_props:
            changes.append("property removed: %s" % name)
        elif name not in old_props:
            changes.append("property added: %s" % name)
        elif _shape(old_props[name]) != _shape(new_props[name]):
            changes.append("property changed: %s %s -> %s" % (name, json.dumps(_shape(old_props[name])),
                                                           json.dumps(_shape(new_props[name]))))
    old_required, new_required = set(old.get("required") or []), set(new.get("required") or [])
    if old_required != new_required:
        added, removed = sorted(new_required - old_required), sorted(old_required - new_required)
        changes.append("required%s%s" % (" +%s" % added if added else "", " -%s" % removed if removed else ""))
    if _shape({k: v for k, v in old.items() if k != "properties"}) != \
            _shape({k: v for k, v in new.items() if k != "properties"}):
        changes.append("type/limits changed: %s -> %s" % (json.dumps(_shape(old)), json.dumps(_shape(new))))
    return changes


def enum_values(spec):
    """``{location: [values]}`` for every enum in the component schemas (top level and properties)."""
    found = {}
    for name, schema in ((spec.get("components") or {}).get("schemas") or {}).items():
        if isinstance(schema, dict) and "enum" in schema:
            found[name] = schema["enum"]
        for prop, sub in _properties(schema if isinstance(schema, dict) else {}).items():
            if isinstance(sub, dict) and "enum" in sub:
                found["%s.%s" % (name, prop)] = sub["enum"]
    return found


def _section(title, old_items, new_items, changes_of):
    """Added (+), removed (-) and changed (~) entries of one kind, as report lines."""
    lines = ["", "== %s (%d -> %d) ==" % (title, len(old_items), len(new_items))]
    lines += ["+ %s" % key for key in sorted(set(new_items) - set(old_items))]
    lines += ["- %s" % key for key in sorted(set(old_items) - set(new_items))]
    for key in sorted(set(old_items) & set(new_items)):
        changes = changes_of(old_items[key], new_items[key])
        if changes:
            lines.append("~ %s: %s" % (key, "; ".join(changes)))
    return lines


def diff(old_spec, new_spec):
    """The report as a list of lines."""
    lines = []
    old_version = (old_spec.get("info") or {}).get("description", "")[:80].splitlines()[0:1]
    new_version = (new_spec.get("info") or {}).get("description", "")[:80].splitlines()[0:1]
    lines.append("OLD: %s" % (old_version[0] if old_version else "?"))
    lines.append("NEW: %s" % (new_version[0] if new_version else "?"))

    old_ops, new_ops = operations(old_spec), operations(new_spec)
    lines += _section("Operations", old_ops, new_ops, operation_changes)
    lines += _section("Schemas", (old_spec.get("components") or {}).get("schemas") or {},
                      (new_spec.get("components") or {}).get("schemas") or {}, schema_changes)

    lines.append("")
    lines.append("== Enum values ==")
    old_enums, new_enums = enum_values(old_spec), enum_values(new_spec)
    for name in sorted(set(old_enums) | set(new_enums)):
        before, after = old_enums.get(name), new_enums.get(name)
        if before is None:
            lines.append("+ %s: %s" % (name, ", ".join(map(str, after))))
        elif after is None:
            lines.append("- %s" % name)
        else:
            added = [value for value in after if value not in before]
            removed = [value for value in before if value not in after]
            if added or removed:
                lines.append("~ %s:%s%s" % (name, " +%s" % added if added else "", " -%s" % removed if removed else ""))

    lines.append("")
    lines.append("== Rate limits (group req/s/min/h) ==")
    for key in sorted(set(old_ops) | set(new_ops)):
        before = rate_limit(old_ops[key]) if key in old_ops else None
        after = rate_limit(new_ops[key]) if key in new_ops else None
        if before != after:
            lines.append("~ %s: %s -> %s" % (key, before, after))

    lines.append("")
    lines.append("== Error codes (400 tables) ==")
    for key in sorted(set(old_ops) | set(new_ops)):
        before = set(error_codes(old_ops[key])) if key in old_ops else set()
        after = set(error_codes(new_ops[key])) if key in new_ops else set()
        if before != after:
            parts = []
            if after - before:
                parts.append("+%s" % sorted(after - before))
            if before - after:
                parts.append("-%s" % sorted(before - after))
            lines.append("~ %s: %s" % (key, " ".join(parts)))
    all_old = set(code for op in old_ops.values() for code in error_codes(op))
    all_new = set(code for op in new_ops.values() for code in error_codes(op))
    lines.append("new codes anywhere: %s" % (sorted(all_new - all_old) or "none"))
    lines.append("codes gone everywhere: %s" % (sorted(all_old - all_new) or "none"))
    return lines


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    try:
        old_spec, new_spec = load(argv[1]), load(argv[2])
    except (OSError, ValueError) as exc:
        sys.stderr.write("spec_diff: %s\n" % exc)
        return 1
    sys.stdout.write("\n".join(diff(old_spec, new_spec)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
