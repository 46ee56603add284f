#!/usr/bin/env python3
"""Bounded schema-driven fuzzing of the emulator with schemathesis and open-api.json 2.9.0.

    python3 scripts/fuzz_emulator.py [--max-examples 20] [--max-time 240] [--phases examples,coverage,fuzzing]

Starts the emulator (``validateResponses`` on, rate limits off), logs in with a KSeF token holding every
token permission, and lets schemathesis send generated valid and invalid requests to every operation of
open-api.json with two checks: ``not_a_server_error`` and ``response_schema_conformance``. Runs in the
conformance virtualenv (built by scripts/conformance_venv.sh; the script re-executes itself there).

Prints the figures and exits non-zero unless both are 0:
    server errors: N
    response-schema violations: M   (schemathesis' check + the emulator's own RESPONSE-MISMATCH log)
"""
import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(ROOT, "ksef_emulator", "open-api.json")
NIP = "5265877635"
PERMISSIONS = ["InvoiceRead", "InvoiceWrite", "CredentialsRead", "CredentialsManage", "SubunitManage",
               "Introspection", "CollectiveIdentifierManage"]
# DELETE /auth/sessions/current and /{referenceNumber} would end the fuzzer's own login (the rest of
# the run would only see 401).
EXCLUDED_PATHS = r"^/auth/sessions/"


def _conformance_python():
    done = subprocess.run([os.path.join(ROOT, "scripts", "conformance_venv.sh")], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        sys.exit("fuzz: the conformance virtualenv could not be built")
    return done.stdout.strip().splitlines()[-1]


def _login(emulator):
    """Access token of a KSeF-token login (raw HTTP, crypto from ``cryptography``)."""
    import requests
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    token = emulator.create_token(NIP, PERMISSIONS, description="Fuzzing schemathesis")["token"]
    base = emulator.base_url
    keys = requests.get(base + "/security/public-key-certificates", timeout=30).json()
    item = [key for key in keys if "KsefTokenEncryption" in key["usage"]][0]
    public_key = x509.load_der_x509_certificate(base64.b64decode(item["certificate"])).public_key()
    challenge = requests.post(base + "/auth/challenge", timeout=30).json()
    encrypted = public_key.encrypt(("%s|%s" % (token, challenge["timestampMs"])).encode(), padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    init = requests.post(base + "/auth/ksef-token", timeout=30, json={
        "challenge": challenge["challenge"], "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": base64.b64encode(encrypted).decode(), "publicKeyId": item["publicKeyId"]}).json()
    bearer = {"Authorization": "Bearer " + init["authenticationToken"]["token"]}
    for _ in range(100):
        if requests.get(base + "/auth/" + init["referenceNumber"], headers=bearer, timeout=30).json()["status"]["code"] == 200:
            break
        time.sleep(0.05)
    redeemed = requests.post(base + "/auth/token/redeem", headers=bearer, timeout=30).json()
    return redeemed["accessToken"]["token"]


def _failures(report_dir):
    """``(server_errors, schema_violations, examples)`` from schemathesis' JUnit report."""
    server, schema, examples = 0, 0, []
    for name in os.listdir(report_dir):
        if not name.endswith(".xml"):
            continue
        for case in ElementTree.parse(os.path.join(report_dir, name)).getroot().iter("testcase"):
            for failure in list(case.iter("failure")) + list(case.iter("error")):
                text = (failure.get("message") or "") + (failure.text or "")
                found_server = len(re.findall(r"Server error", text))
                found_schema = len(re.findall(r"Response violates schema", text))
                server += found_server
                schema += found_schema
                if (found_server or found_schema) and len(examples) < 10:
                    examples.append("%s: %s" % (case.get("name"), " ".join(text.split())[:300]))
    return server, schema, examples


def _crashes(log):
    """``"ERROR <method> <path>: <last traceback line>"`` for every emulator bug in the log."""
    found, lines = [], log.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("ERROR "):
            cause = ""
            for following in lines[index + 1:]:
                if following.startswith(("Traceback", " ")):
                    continue
                cause = following
                break
            found.append("%s: %s" % (line, cause))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=20)
    parser.add_argument("--max-time", type=int, default=240, help="seconds for the whole schemathesis run")
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--workers", default="2")
    arguments = parser.parse_args()

    try:
        import schemathesis  # noqa: F401
    except ImportError:
        python = _conformance_python()
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])

    sys.path.insert(0, ROOT)
    from ksef_emulator.testing import start_emulator

    emulator = start_emulator(logRequests=False)
    started = time.monotonic()
    try:
        access = _login(emulator)
        report_dir = tempfile.mkdtemp(prefix="ksef-fuzz-")
        command = [os.path.join(os.path.dirname(sys.executable), "schemathesis"), "run", SPEC,
                   "--url", emulator.base_url, "--checks", "not_a_server_error,response_schema_conformance",
                   "--max-examples", str(arguments.max_examples), "--max-time", str(arguments.max_time),
                   "--phases", arguments.phases, "-w", arguments.workers, "--continue-on-failure",
                   "-H", "Authorization: Bearer " + access, "--request-timeout", "30",
                   "--suppress-health-check", "all", "--report", "junit", "--report-dir", report_dir,
                   "--warnings", "off"]
        command += ["--exclude-path-regex", EXCLUDED_PATHS]
        done = subprocess.run(command, capture_output=True, text=True)
        tail = done.stdout.strip().splitlines()
        summary = [line for line in tail if re.search(r"generated|Selected|Tested", line)]
        server, schema, examples = _failures(report_dir)
        mismatches = [line for line in emulator.log_text().splitlines() if line.startswith("RESPONSE-MISMATCH")]
        crashes = _crashes(emulator.log_text())
    finally:
        emulator.stop()
    print("schemathesis %s, %s; %.0f s" % (", ".join(line.strip() for line in summary) or "(no summary)",
                                           arguments.phases, time.monotonic() - started))
    for line in examples + mismatches[:5] + crashes[:5]:
        print("  " + line[:400])
    server_errors = server + len(crashes)
    violations = schema + len(mismatches)
    print("server errors: %d" % server_errors)
    print("response-schema violations: %d" % violations)
    if done.returncode not in (0, 1):
        print(done.stdout[-3000:], done.stderr[-3000:])
        return 2
    return 0 if server_errors == 0 and violations == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
