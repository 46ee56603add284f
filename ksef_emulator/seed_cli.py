"""``python -m ksef_emulator seed --url http://127.0.0.1:8765 FILE.xml [...]``: seed purchase invoices
into a running emulator (``POST /admin/purchase-invoices``) and print the answer as JSON."""
import argparse
import base64
import json
import sys
import urllib.error
import urllib.request


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m ksef_emulator seed",
                                     description="Seed FA(2)/FA(3) purchase invoices into a running emulator.")
    parser.add_argument("files", nargs="+", help="invoice XML files (each becomes one accepted invoice)")
    parser.add_argument("--url", default="http://127.0.0.1:8765",
                        help="emulator address (with or without /v2), default http://127.0.0.1:8765")
    parser.add_argument("--permanent-storage-date", help="ISO 8601 permanent storage date for all invoices")
    args = parser.parse_args(argv)
    invoices = []
    for path in args.files:
        try:
            with open(path, "rb") as handle:
                invoices.append({"xmlBase64": base64.b64encode(handle.read()).decode("ascii")})
        except OSError as exc:
            parser.error("cannot read %s: %s" % (path, exc.strerror))
    body = {"invoices": invoices}
    if args.permanent_storage_date:
        body["permanentStorageDate"] = args.permanent_storage_date
    base = args.url.rstrip("/")
    base = base[:-3] if base.endswith("/v2") else base
    request = urllib.request.Request(base + "/admin/purchase-invoices", data=json.dumps(body).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            print(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        sys.exit("seeding refused (%d): %s" % (exc.code, exc.read().decode("utf-8", "replace")))
    except urllib.error.URLError as exc:
        sys.exit("cannot reach the emulator at %s: %s (is it running?)" % (base, exc.reason))
